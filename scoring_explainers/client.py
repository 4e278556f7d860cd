"""``ExplanationClient``: upload explanations to the service's store and read them back.

    from scoring_explainers.client import ExplanationClient

    client = ExplanationClient("http://scorer:8000", run_id="train-2024-05-01")
    client.upload_model_explanation(explanation, comment="validation set")
    same = client.download_model_explanation(comment="validation set")
    top5 = client.download_model_explanation(top_k=5)   # only the 5 largest global values
    client.list_model_explanations(raw=False)           # a list of dicts

The client uses only the standard library (``urllib``): it needs neither the service's
dependencies nor an HTTP package. Every failure is a :class:`ClientError`: the server's
answer (status and its message) or, for an unreachable service,
:class:`ServiceConnectionError`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ._errors import ClientError, ServiceConnectionError
from .explanation import GlobalExplanation, LocalExplanation

__all__ = ["ClientError", "ExplanationClient", "ServiceConnectionError"]

#: Environment variables read by :meth:`ExplanationClient.from_run`.
URL_ENV = "SCORING_EXPLANATIONS_URL"
API_KEY_ENV = "SCORING_API_KEY"


#: Run and explanation ids, as the service accepts them.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _snippet(body: bytes, size: int = 200) -> str:
    """The start of an answer's body, as text (for error messages)."""
    text = body[:size].decode("utf-8", errors="replace").strip()
    return text + ("…" if len(body) > size else "")


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"{what} must be 1-128 letters, digits or '._:-' (starting with a letter or "
            f"digit), got {value!r:.140}"
        )
    return value


class ExplanationClient:
    """Explanations of one run in the explanation store of a scoring service.

    Parameters
    ----------
    url : str
        Base URL of the service, e.g. ``http://127.0.0.1:8000``.
    run_id : str
        The run the explanations belong to (letters, digits and ``._:-``).
    api_key : str, optional
        Sent as ``Authorization: Bearer <key>`` when the service requires a key.
    timeout : float, default=60
        Seconds to wait for the service on each call.
    """

    def __init__(
        self, url: str, run_id: str, *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        _check_id(run_id, "run_id")
        self.url = url.rstrip("/")
        self.run_id = run_id
        self.timeout = timeout
        self._api_key = api_key.strip() if api_key else None

    @classmethod
    def from_run(
        cls, run_id: str, *, url: str | None = None, api_key: str | None = None
    ) -> ExplanationClient:
        """A client for ``run_id``; ``url`` and ``api_key`` default to the environment
        variables ``SCORING_EXPLANATIONS_URL`` and ``SCORING_API_KEY``."""
        url = url or os.environ.get(URL_ENV)
        if not url:
            raise ValueError(f"give the service url, or set {URL_ENV}")
        return cls(url, run_id, api_key=api_key or os.environ.get(API_KEY_ENV) or None)

    def __repr__(self) -> str:
        return f"ExplanationClient(url={self.url!r}, run_id={self.run_id!r})"

    # -- HTTP -------------------------------------------------------------------------------
    def _address(self, path: str, query: dict[str, Any] | None = None) -> str:
        run = urllib.parse.quote(self.run_id, safe="")
        address = f"{self.url}/explanations/{run}{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return address + ("?" + urllib.parse.urlencode(params) if params else "")

    def _call(self, method: str, address: str, body: bytes | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(address, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise self._server_error(exc, address) from exc
        except TimeoutError as exc:
            raise ServiceConnectionError(
                f"the explanation service at {self.url} did not answer {method} within "
                f"{self.timeout:g} s",
                url=address,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            # refused, reset, DNS, TLS (URLError is an OSError), or an answer that is not
            # HTTP at all (BadStatusLine, IncompleteRead, RemoteDisconnected)
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, TimeoutError):
                raise ServiceConnectionError(
                    f"the explanation service at {self.url} did not answer {method} within "
                    f"{self.timeout:g} s",
                    url=address,
                ) from exc
            raise ServiceConnectionError(
                f"cannot reach the explanation service at {self.url}: "
                f"{type(reason).__name__}: {str(reason).strip()}",
                url=address,
            ) from exc
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise ClientError(
                f"the service answered {method} {address} with {status} but not JSON: "
                f"{_snippet(payload)!r}",
                status=status,
                url=address,
            ) from exc

    @staticmethod
    def _server_error(exc: urllib.error.HTTPError, address: str) -> ClientError:
        """The server's error answer as a :class:`ClientError`: its ``{"error": ...}``
        message, else the start of whatever it sent (a proxy's HTML page, plain text)."""
        try:
            body = exc.read()
        except (OSError, http.client.HTTPException):
            body = b""
        detail = ""
        try:
            answer = json.loads(body)
            if isinstance(answer, dict) and answer.get("error"):
                detail = str(answer["error"])
        except ValueError:
            pass
        if not detail and body:
            detail = repr(_snippet(body))
        message = f"the service answered {exc.code} {exc.reason}"
        return ClientError(
            f"{message}: {detail}" if detail else message, status=exc.code, url=address
        )

    # -- the familiar API -------------------------------------------------------------------
    def upload_model_explanation(
        self,
        explanation: LocalExplanation,
        *,
        top_k: int | None = None,
        comment: str | None = None,
        true_ys: Any = None,
    ) -> dict[str, Any]:
        """Store ``explanation`` under the run.

        Parameters
        ----------
        explanation : LocalExplanation or GlobalExplanation
        top_k : int, optional
            Keep only the ``top_k`` features with the largest global importance (their
            global and per-class values; no rows).
        comment : str, optional
            A note to find the explanation by (``comment=`` filters of list and download).
        true_ys : array-like of shape (n_rows,), optional
            True labels of the explained rows (shown by the dashboard).

        Returns
        -------
        dict
            The stored record: ``id`` (the explanation's id), ``run_id``, ``comment``,
            ``upload_time``, ``method``, ``model_task``, ``is_raw``, ``is_engineered``, ...
        """
        if not isinstance(explanation, LocalExplanation):
            raise TypeError(
                f"expected a LocalExplanation or GlobalExplanation, got {explanation!r}"
            )
        if true_ys is not None:
            true_ys = true_ys.tolist() if hasattr(true_ys, "tolist") else list(true_ys)
            # numpy scalars in a plain list are not JSON: their Python values are
            true_ys = [y.item() if hasattr(y, "item") else y for y in true_ys]
        body = {"explanation": explanation.to_dict(), "comment": comment, "true_ys": true_ys}
        try:
            data = json.dumps(body, allow_nan=False).encode()
        except ValueError as exc:
            raise ClientError(f"the explanation or true_ys hold a non-finite value: {exc}") from exc
        record: dict[str, Any] = self._call("POST", self._address("", {"top_k": top_k}), data)
        return record

    def download_model_explanation(
        self,
        *,
        explanation_id: str | None = None,
        top_k: int | None = None,
        comment: str | None = None,
        raw: bool | None = None,
        engineered: bool | None = None,
    ) -> LocalExplanation | GlobalExplanation:
        """The explanation ``explanation_id``, else the latest one matching the filters
        (with an id, the filters must match it too).

        With ``top_k`` only the top-k ranked global values come back: a
        :class:`GlobalExplanation` of those ``top_k`` features in rank order, without rows.
        A missing explanation is a :class:`ClientError` with ``status == 404``.
        """
        return LocalExplanation.from_dict(
            self._download(
                explanation_id=explanation_id,
                top_k=top_k,
                comment=comment,
                raw=raw,
                engineered=engineered,
            )["explanation"]
        )

    def download_true_ys(self, *, explanation_id: str | None = None) -> list[Any] | None:
        """The true labels uploaded with an explanation (the latest when no id is given)."""
        true_ys: list[Any] | None = self._download(explanation_id=explanation_id)["true_ys"]
        return true_ys

    def _download(self, *, explanation_id: str | None = None, **query: Any) -> dict[str, Any]:
        query = {k: _flag(v) if isinstance(v, bool) else v for k, v in query.items()}
        if explanation_id is None:
            path = "/latest"
        else:
            path = "/" + urllib.parse.quote(_check_id(explanation_id, "explanation_id"), safe="")
        body: dict[str, Any] = self._call("GET", self._address(path, query))
        return body

    def list_model_explanations(
        self,
        *,
        comment: str | None = None,
        raw: bool | None = None,
        engineered: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The run's explanations matching the filters, oldest upload first.

        Returns
        -------
        list of dict
            One dict per explanation: ``id``, ``run_id``, ``comment``, ``upload_time``
            (ISO 8601, UTC), ``kind`` (``"local"`` or ``"global"``), ``method``,
            ``model_task``, ``is_raw``, ``is_engineered``, ``num_features``,
            ``num_examples`` and ``num_classes`` (``None`` when unknown or regression),
            ``top_k`` (set when only the top-k global values were kept), ``has_eval_data``,
            ``has_true_ys``. An unknown run gives an empty list.
        """
        query = {"comment": comment, "raw": _flag(raw), "engineered": _flag(engineered)}
        records: list[dict[str, Any]] = self._call("GET", self._address("", query))
        return records

    def delete_model_explanation(self, explanation_id: str) -> None:
        """Remove one explanation of the run (a :class:`ClientError` 404 if there is none)."""
        _check_id(explanation_id, "explanation_id")
        self._call("DELETE", self._address("/" + urllib.parse.quote(explanation_id, safe="")))
