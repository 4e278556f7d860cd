"""One exception tree for the library, grouped by cause."""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ConversionError",
    "InputError",
    "ScoringExplainersError",
    "UnsupportedModelError",
]


class ScoringExplainersError(Exception):
    """Base class of every error raised on purpose by scoring-explainers."""


class InputError(ScoringExplainersError, ValueError):
    """Rows given to ``explain``/``score`` (or to a distiller) are unusable.

    The message names the problem: wrong number of features, unknown or missing
    columns, non-numeric or non-finite values, an empty batch.
    """


class ConversionError(ScoringExplainersError, ValueError):
    """A fitted model could not be turned into an ONNX graph, or the graph disagrees with it."""


class ArtifactError(ScoringExplainersError, ValueError):
    """An artifact could not be written or read; the message names the file and the problem."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


class UnsupportedModelError(ScoringExplainersError, TypeError):
    """The model is of a kind this explainer cannot explain (e.g. not linear for Linear)."""


class ClientError(ScoringExplainersError):
    """A call to the explanation service failed: the server answered with an error, or the
    answer was not what the client expects.

    ``status`` is the HTTP status the server answered (``None`` when there was no answer)
    and the message carries the server's own explanation of the problem.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ServiceConnectionError(ClientError):
    """The service could not be reached (connection refused, DNS, timeout, TLS)."""
