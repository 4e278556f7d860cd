"""The scoring runtime: loads the artifact once, scores bodies. Shared by HTTP and run()."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import orjson

from scoring_explainers import InputError
from scoring_explainers.runtime import (
    FORMAT_VERSION,
    CancelToken,
    KernelScoringExplainer,
    LinearScoringExplainer,
    ScoreResult,
    ScoringExplainer,
    check_tolerance,
    load,
)

from .metrics import Metrics
from .payload import ParseSlots, check_size, parse_rows
from .settings import Settings

__all__ = ["NotReady", "ScoringRuntime"]

log = logging.getLogger("service")


class NotReady(RuntimeError):
    """The artifact is not loaded (yet)."""


def encode(body: dict[str, Any] | list[Any]) -> bytes:
    """JSON with numpy arrays serialised natively (no per-element Python floats)."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


#: Requests of an artifact whose cost is bounded by construction (``_bounded_cost``) that
#: are measured to take less than this are scored on the event loop.
INLINE_SECONDS = 0.0005


def _bounded_cost(explainer: ScoringExplainer) -> bool:
    """Whether scoring runs no ONNX graph: a linear explainer whose link is computed in
    numpy (identity, logistic, softmax), without preprocessing. Its cost is a few array
    operations on (n_rows, n_features, n_outputs): nothing in the artifact can make one
    request slower than its shape says. Any other artifact runs a graph whose cost the
    artifact decides, so its requests never run on the event loop."""
    return (
        isinstance(explainer, LinearScoringExplainer)
        and explainer.link != "onnx"
        and explainer.preprocessor is None
    )


def _warm_up(explainer: ScoringExplainer) -> float:
    """Score a few rows (first-call costs) and return the seconds per row: the best of 5
    runs when the cost is bounded (the event-loop decision rests on it), else of 1.

    A failure here means the artifact cannot score at all: it is a load failure.
    """
    rows = explainer.schema.example_codes(4)  # zeros: 0, or a column's first category
    explainer.score_codes(rows[:1])
    best = float("inf")
    for _ in range(5 if _bounded_cost(explainer) else 1):
        start = time.perf_counter()
        result = explainer.score_codes(rows)
        best = min(best, time.perf_counter() - start)
    if not np.all(np.isfinite(result.local_importance_values)):
        raise ValueError("the artifact gives non-finite values for an example row")
    return best / len(rows)


class ScoringRuntime:
    """One loaded artifact and what it takes to serve it.

    ``load()`` reads the artifact; ``ready`` is true afterwards. ``respond`` is safe from
    many threads at once (it only updates the metrics and a running cost estimate).
    """

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._explainer: ScoringExplainer | None = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None
        self._inline_seconds_per_row = float("inf")  # until measured: off the event loop
        self.load_error: str | None = None
        #: Bounds the large bodies (/score, /v2, explanation uploads) parsed at once.
        self.parse_slots = ParseSlots(settings.max_concurrent_parses)

    @property
    def ready(self) -> bool:
        return self._explainer is not None

    @property
    def explainer(self) -> ScoringExplainer:
        if self._explainer is None:
            raise NotReady(self.not_ready_reason)
        return self._explainer

    @property
    def not_ready_reason(self) -> str:
        if self.load_error:
            return f"the artifact is not loaded: {self.load_error}"
        return "the artifact is not loaded yet"

    def try_load(self) -> bool:
        """Load, recording the reason on failure instead of raising. True when ready."""
        try:
            self.load()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if reason != self.load_error:
                log.error("cannot load the artifact from %s: %s", self.settings.artifact, reason)
            self.load_error = reason
            return False
        self.load_error = None
        return True

    def load(self) -> ScoringExplainer:
        with self._lock:
            if self._explainer is None:
                start = time.perf_counter()
                explainer = load(
                    self.settings.artifact,
                    threads=self.settings.ort_threads,
                    trusted_keys=self.settings.trusted_key_paths,
                    allow_loop=self.settings.allow_loop,
                )
                seconds_per_row = _warm_up(explainer)
                if _bounded_cost(explainer):
                    self._inline_seconds_per_row = seconds_per_row
                self.metrics.set_artifact(
                    kind=explainer.kind,
                    task=explainer.task,
                    output_space=explainer.output_space,
                    format_version=FORMAT_VERSION,  # the only version ``load`` reads
                    features=explainer.features,
                )
                self.load_seconds = time.perf_counter() - start
                self._explainer = explainer
                log.info(
                    "loaded %s artifact from %s in %.3f s (%d features)",
                    explainer.kind,
                    self.settings.artifact,
                    self.load_seconds,
                    explainer.n_features,
                )
            return self._explainer

    @property
    def estimates_errors(self) -> bool:
        """Whether the artifact answers ``uncertainty`` and ``tolerance``: every one but a
        sampled Kernel design without sampling units (distilled before they were kept) or
        with a single one (no error to estimate from), which the library refuses."""
        explainer = self.explainer
        if not isinstance(explainer, KernelScoringExplainer):
            return True
        return not ((explainer.units_ is None and not explainer.exact_) or explainer.n_units == 1)

    # -- scoring -------------------------------------------------------------------------
    def check_top_k(self, top_k: int | None) -> int | None:
        if top_k is None:
            return None
        if not 1 <= top_k <= self.settings.top_k_max:
            raise InputError(f"top_k must be between 1 and {self.settings.top_k_max}")
        return top_k

    @staticmethod
    def check_tolerance(tolerance: float | None) -> float | None:
        """``tolerance`` when it is ``None`` or a positive finite number, else an
        :class:`InputError` (a 422) saying so: the library's own check."""
        return check_tolerance(tolerance)

    def score_matrix(
        self,
        matrix: np.ndarray,
        cancel: CancelToken | None = None,
        *,
        uncertainty: bool = False,
        tolerance: float | None = None,
    ) -> ScoreResult:
        """Score rows encoded by the artifact's schema (what :meth:`parse` and the V2
        parser return); ``cancel`` (a request's lifetime) stops the work at its next
        chunk. ``uncertainty`` adds the standard errors, ``tolerance`` (checked by
        :meth:`check_tolerance`) stops each row's coalitions once every standard error
        is below it. An artifact that cannot estimate its error (a Kernel artifact
        distilled before designs kept their sampling units) refuses both with the
        library's message, as an :class:`InputError` (a 422)."""
        timings: dict[str, float] = {}
        tolerance = self.check_tolerance(tolerance)
        if not (uncertainty or tolerance is not None):  # the path of every plain request
            result = self.explainer.score_codes(matrix, timings=timings, cancel=cancel)
        else:
            # An artifact that cannot estimate its error refuses with an InputError.
            result = self.explainer.score_codes(
                matrix,
                timings=timings,
                cancel=cancel,
                uncertainty=uncertainty,
                tolerance=tolerance,
            )
        self.metrics.observe_score(len(matrix), timings, result.local_importance_values)
        if tolerance is not None and result.coalitions_used is not None:
            self.metrics.observe_coalitions(result.coalitions_used)
        return result

    def is_cheap(self, n_rows: int) -> bool:
        """Whether ``n_rows`` may be scored on the event loop: only for an artifact whose
        cost is bounded by construction (``_bounded_cost``), measured at load time to take
        under ``INLINE_SECONDS`` for this many rows."""
        return self._inline_seconds_per_row * n_rows < INLINE_SECONDS

    def parse(self, raw: bytes | bytearray | str) -> np.ndarray:
        """A ``/score`` body as the code matrix of the artifact's raw schema, in feature
        order (numbers as floats, categories as codes; see :func:`parse_rows`). A body
        larger than any request the artifact can take is refused before it is parsed
        (``check_size``)."""
        explainer = self.explainer
        check_size(raw, explainer.n_features, self.settings.max_rows)
        return parse_rows(raw, explainer.schema, max_rows=self.settings.max_rows)

    def respond(
        self,
        matrix: np.ndarray,
        top_k: int | None = None,
        cancel: CancelToken | None = None,
        *,
        uncertainty: bool = False,
        tolerance: float | None = None,
    ) -> dict[str, Any]:
        """Score rows; the ``/score`` response as a dict of arrays (``ScoreResult.to_body``,
        numeric arrays left for :func:`encode` to write natively): ``standard_errors``
        with ``uncertainty`` or ``tolerance``, ``coalitions_used`` with ``tolerance``
        (see :meth:`score_matrix`)."""
        top_k = self.check_top_k(top_k)
        result = self.score_matrix(matrix, cancel, uncertainty=uncertainty, tolerance=tolerance)
        return result.to_body(top_k, arrays=True)

    def score_body(
        self,
        raw: bytes | str,
        top_k: int | None = None,
        cancel: CancelToken | None = None,
        *,
        uncertainty: bool = False,
        tolerance: float | None = None,
    ) -> dict[str, Any]:
        """Parse and score a ``/score`` body (what ``run()`` and large requests use)."""
        return self.respond(
            self.parse(raw), top_k, cancel, uncertainty=uncertainty, tolerance=tolerance
        )
