"""Service settings: environment variables with one prefix, ``SCORING_``."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "SCORING_"
#: Settings whose empty value is a choice of its own, unlike their default.
EMPTY_IS_A_VALUE = frozenset({"store_path"})


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    """How the service runs. Each field is read from ``SCORING_<FIELD NAME IN CAPITALS>``.

    A variable set to the empty string is taken as given where empty is a value of the
    setting: the settings whose default is empty (``SCORING_API_KEY``: no key,
    ``SCORING_DATABASE_URL``: no PostgreSQL, ``SCORING_MODEL_NAME``: the artifact's
    directory name) and ``SCORING_STORE_PATH`` (empty switches the store off, while unset
    keeps the default file). For every other setting (numbers, the artifact, the host, the
    log level) an empty variable is refused with a ``ValueError`` naming it: it is a
    mistake in the configuration, not a request for the default.
    """

    artifact: str = "artifacts/demo"
    """Directory of the scoring-explainer artifact to serve (``SCORING_ARTIFACT``)."""

    model_name: str = ""
    """Name of the model in the V2 protocol (``/v2/models/<name>``); default: the
    artifact directory's name."""

    host: str = "127.0.0.1"
    """Address to bind; ``0.0.0.0`` inside a container."""

    port: int = 8000
    """Port to listen on."""

    workers: int = 1
    """Server processes. One per pod is the intended setup (scale with replicas)."""

    api_key: str = ""
    """When set, every endpoint but the probes, ``/metrics`` and the dashboard's page and
    files (which hold no data: the page asks for the key) needs
    ``Authorization: Bearer <key>``; that includes every ``/explanations`` endpoint."""

    max_rows: int = 1000
    """Most rows one request may carry; more is a 413. Bounds the work of one request: a
    Kernel artifact spends ~20 ms per row, so 1000 rows is ~20 s of CPU."""

    max_body_bytes: int = 10 * 2**20
    """Largest request body in bytes; more is a 413."""

    max_concurrent_parses: int = 2
    """Request bodies over 64 KiB (``/score``, ``/v2``) and explanation uploads parsed at
    once; more wait for a turn holding only their bytes. Bounds the memory of parsing."""

    ort_threads: int = 1
    """onnxruntime intra-op threads of the model's session (shared by all requests; 1 keeps
    latency flat under concurrent load)."""

    log_level: str = "info"
    """Log level of the server: debug, info, warning, error."""

    top_k_max: int = 100
    """Largest ``top_k`` a request may ask for."""

    load_retry_seconds: int = 10
    """While the artifact cannot be loaded the service stays up, not ready, logs the
    reason and tries again this often (0: try once)."""

    trusted_keys: str = ""
    """Comma-separated paths of Ed25519 public keys (PEM). When set, only an artifact whose
    ``manifest.json.sig`` is a signature of its manifest by one of them is loaded; an
    unsigned, wrongly signed or changed artifact keeps the service not ready with the
    reason. Needs the ``cryptography`` package (in the ``serve`` extra)."""

    allow_loop: bool = False
    """Load artifacts whose ONNX graphs use ``Loop`` (refused by default: its number of
    iterations can come from the request). ``true``/``false`` (also ``1``/``0``)."""

    store_path: str = "data/explanations.sqlite3"
    """SQLite file of the explanation store (``/explanations``, the dashboard), created with
    its directory at start-up; a relative path is taken from the working directory; empty
    switches the store off. One file serves one replica. When it cannot be created (a
    read-only directory) the service still starts and scores: the log has a warning and
    ``/explanations`` answers 503 with the reason."""

    database_url: str = ""
    """PostgreSQL URL (``postgresql://user:password@host:5432/db``) of the explanation
    store; when set it replaces the SQLite file, so several replicas share the store."""

    store_max_bytes: int = 64 * 2**20
    """Largest explanation upload in bytes; more is a 413 (a classifier's explanation of
    5,000 rows x 30 features with its data is about 10 MB)."""

    header_timeout_seconds: int = 5
    """A request's headers must arrive within this many seconds of its first byte (of the
    connection opening, for a new connection); else 408 and the connection is closed."""

    body_timeout_seconds: int = 5
    """Longest wait for the next chunk of a request's body (else 408 and the connection is
    closed; the whole body must also arrive within ``request_timeout_seconds``), and for a
    client to take the next part of its answer (else the connection is closed)."""

    max_connections: int = 1000
    """Open connections at most (per server process). A new connection beyond it closes
    the one that has waited longest without a request in progress (idle, or headers still
    incomplete); when every connection has a request in progress, requests beyond it are
    answered 503 at once, except the probes (``/healthz``, ``/readyz``,
    ``/v2/health/*``), which are served."""

    request_timeout_seconds: int = 30
    """Deadline of a request: its body must arrive within this many seconds of its headers
    (else 408), and an explanation still running this long after the request was taken
    stops at its next chunk and is answered 503. 0: no deadline."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``SCORING_*`` variables, then ``overrides`` (e.g. CLI options)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            variable = ENV_PREFIX + f.name.upper()
            raw = env.get(variable)
            if raw is None:
                continue
            if raw == "" and f.default != "" and f.name not in EMPTY_IS_A_VALUE:
                raise ValueError(
                    f"{variable} is set but empty: unset it for the default "
                    f"({f.default!r}) or give a value"
                )
            if f.type in ("bool", bool):
                values[f.name] = _flag(variable, raw)
            elif f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{variable} must be an integer, got {raw!r}") from None
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        key = values.get("api_key")
        if isinstance(key, str):
            if key and not key.strip():
                raise ValueError(f"{ENV_PREFIX}API_KEY is only whitespace")
            values["api_key"] = key.strip()  # a Secret made from a file ends in a newline
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in (
            "port",
            "workers",
            "max_rows",
            "max_body_bytes",
            "max_concurrent_parses",
            "ort_threads",
            "top_k_max",
            "load_retry_seconds",
            "store_max_bytes",
        ):
            if int(getattr(self, name)) < (0 if name in ("port", "load_retry_seconds") else 1):
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a positive integer")
        for name in ("header_timeout_seconds", "body_timeout_seconds", "max_connections"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a positive integer")
        if int(self.request_timeout_seconds) < 0:
            raise ValueError(f"{ENV_PREFIX}REQUEST_TIMEOUT_SECONDS must be 0 (none) or more")

    @property
    def trusted_key_paths(self) -> list[str] | None:
        """``trusted_keys`` as a list of paths; ``None`` when signatures are not checked."""
        paths = [p.strip() for p in self.trusted_keys.split(",") if p.strip()]
        return paths or None

    @property
    def name(self) -> str:
        """The V2 model name."""
        return self.model_name or os.path.basename(os.path.normpath(self.artifact)) or "model"
