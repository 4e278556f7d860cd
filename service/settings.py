"""Service settings: environment variables with one prefix, ``SCORING_``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "SCORING_"


@dataclass(frozen=True)
class Settings:
    """How the service runs. Each field is read from ``SCORING_<FIELD NAME IN CAPITALS>``."""

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

    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``SCORING_*`` variables, then ``overrides`` (e.g. CLI options)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = int(raw) if f.type in ("int", int) else raw
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
    def name(self) -> str:
        """The V2 model name."""
        return self.model_name or os.path.basename(os.path.normpath(self.artifact)) or "model"
