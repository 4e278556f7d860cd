"""The explanation dashboard: its pages, and ``ExplanationDashboard`` for notebooks.

The same three files (``dashboard_static/``: HTML, JavaScript, CSS; no external network,
no build step) are served by the scoring service at ``/dashboard`` and by
:class:`ExplanationDashboard`, a small standard-library server on 127.0.0.1 that answers the
few endpoints the page reads (``/explanations/...`` for one explanation, and ``/score``
from the ``model`` given) — so the dashboard works without the service deployed::

    from scoring_explainers.dashboard import ExplanationDashboard

    dashboard = ExplanationDashboard(explanation, scoring_explainer, datasetX=x_test,
                                     true_y=y_test)
    dashboard.url        # http://127.0.0.1:PORT/dashboard?run=local
    dashboard.stop()
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import numpy as np

from ._dashboard_assets import ASSETS, CONTENT_SECURITY_POLICY, asset
from ._errors import InputError
from .explanation import LocalExplanation, _mixed_rows, _with_nulls
from .runtime import RawSchema
from .runtime._payload import parse_rows

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "ExplanationDashboard", "asset"]

RUN_ID = "local"
#: Largest ``/score`` body the local dashboard reads (what-if and ICE send a few rows).
MAX_SCORE_BYTES = 10 * 2**20
#: Most rows in one ``/score`` request to the local dashboard.
MAX_SCORE_ROWS = 100_000


def _value_rows(payload: Any, features: Sequence[str]) -> list[list[Any]]:
    """``{"data": [[...]]}`` or records ``[{feature: value}]`` as rows of JSON values in
    feature order (numbers, category strings, None)."""
    if isinstance(payload, dict) and "data" in payload:
        payload = payload["data"]
    if not isinstance(payload, list) or not payload:
        raise InputError('send {"data": [[...]]} or a list of records')
    if all(isinstance(row, dict) for row in payload):
        missing = [f for f in features if f not in payload[0]]
        if missing:
            raise InputError(f"records miss the model's features {missing[:5]}")
        payload = [[row.get(f) for f in features] for row in payload]
    if not all(isinstance(row, list) and len(row) == len(features) for row in payload):
        raise InputError(f"rows must be lists of {len(features)} values")
    return cast("list[list[Any]]", payload)


def _rows_from_body(payload: Any, features: Sequence[str]) -> np.ndarray:
    """``{"data": [[...]]}`` or records ``[{feature: value}]`` as a float matrix."""
    rows = _value_rows(payload, features)
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"rows must be numbers: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != len(features):
        raise InputError(f"rows must have {len(features)} values, got shape {matrix.shape}")
    return matrix


def _has_categories(explanation: LocalExplanation) -> bool:
    """Whether the explained rows hold categories (a categorical raw schema, or strings)."""
    schema = explanation.raw_schema
    if schema is not None and not schema.numeric_only:
        return True
    data = explanation.eval_data or []
    return any(isinstance(v, str | bool) for row in data for v in row)


class _Scorer:
    """``/score`` for the local dashboard from a scoring explainer or a plain model."""

    def __init__(self, model: Any, explanation: LocalExplanation) -> None:
        self.model = model
        self.explainer = callable(getattr(model, "score", None)) and hasattr(model, "features")
        self.features = list(model.features) if self.explainer else explanation.features
        self.classes = explanation.classes
        # a plain model of raw rows with categories takes them as a DataFrame
        self.frame = not self.explainer and _has_categories(explanation)

    def _rows(self, payload: Any) -> Any:
        if self.explainer:  # its raw schema encodes (and checks) the values
            return _value_rows(payload, self.features)
        if self.frame:
            import pandas as pd

            return pd.DataFrame(_value_rows(payload, self.features), columns=self.features)
        return _rows_from_body(payload, self.features)

    def __call__(self, body: bytes) -> dict[str, Any]:
        """A ``/score`` body's answer: the body parsed as the service parses it (every shape
        ``POST /score`` takes, categories encoded by the scoring explainer's raw schema), at
        most ``MAX_SCORE_ROWS`` rows."""
        if self.explainer:
            codes = parse_rows(body, self.model.schema, max_rows=MAX_SCORE_ROWS)
            answer: dict[str, Any] = self.model.score_codes(codes).to_body()
            return answer
        if self.frame:
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, ValueError) as exc:
                raise InputError(f"the body is not JSON: {exc}") from exc
            return self.score_values(payload)
        return self.score(parse_rows(body, self.features, max_rows=MAX_SCORE_ROWS))

    def score_values(self, payload: Any) -> dict[str, Any]:
        """``{"data": [[...]]}`` or records of JSON values (numbers, categories, None)
        scored as :meth:`score` does."""
        return self.score(self._rows(payload))

    def score(self, matrix: Any) -> dict[str, Any]:
        """Rows scored (an ndarray of shape (n_rows, n_features), raw rows of values for a
        scoring explainer, a DataFrame for a plain model of raw columns): the service's
        ``/score`` body (:meth:`ScoreResult.to_body`) from a scoring explainer, predictions
        (and probabilities) from a plain model."""
        if self.explainer:
            body: dict[str, Any] = self.model.score(matrix).to_body()
            return body
        body = {"predictions": np.asarray(self.model.predict(matrix)).tolist()}
        body["features"] = self.features
        if callable(getattr(self.model, "predict_proba", None)):
            body["probabilities"] = np.asarray(self.model.predict_proba(matrix)).tolist()
            classes = getattr(self.model, "classes_", None)
            body["classes"] = self.classes or np.asarray(classes).tolist()
        return body


def _dataset_rows(datasetX: Any, n_features: int) -> list[list[Any]]:
    """``datasetX`` as rows of JSON values: numbers, or numbers, categories and None."""
    try:
        matrix = np.asarray(datasetX, dtype=np.float64)
    except (TypeError, ValueError):  # categories among the values
        try:
            return _mixed_rows(datasetX, n_features)
        except InputError as exc:
            raise InputError(f"datasetX: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != n_features:
        raise InputError(f"datasetX must be (n_rows, {n_features}), got {matrix.shape}")
    return _with_nulls(matrix)


class ExplanationDashboard:
    """The dashboard for one explanation, served on 127.0.0.1 from this process.

    Parameters
    ----------
    explanation : LocalExplanation or GlobalExplanation
    model : optional
        What answers what-if and ICE: a scoring explainer (``predict`` with importances,
        e.g. :class:`~scoring_explainers.scoring.KernelScoringExplainer`; its raw schema
        checks the rows) or any model with ``predict`` (and ``predict_proba``) taking an
        ``ndarray of shape (n_rows, n_features)``, or a pandas DataFrame when the rows hold
        categories (a Pipeline on raw columns). Without it the global and local views work,
        what-if and ICE say why they cannot.
    datasetX : array-like of shape (n_rows, n_features), optional
        The explained rows, when the explanation does not carry them (``eval_data``): a
        numeric array, or raw rows with categories (a DataFrame with string columns, an
        object array). A feature is shown as categorical when the explanation's
        ``metadata["raw_schema"]`` (or the scoring explainer's schema) says so, else when
        its values are strings: what-if offers its categories in a list, ICE scores one
        row per category and the exploration views draw a band per category.
    true_y : array-like of shape (n_rows,), optional
        True labels, shown next to the predictions.
    port : int, optional
        Port on 127.0.0.1; default: a free one.

    The server runs in a daemon thread until :meth:`stop` (or the end of the process).
    ``url`` is the page's address; it is printed when the dashboard starts.
    """

    def __init__(
        self,
        explanation: LocalExplanation,
        model: Any = None,
        *,
        datasetX: Any = None,
        true_y: Any = None,
        port: int | None = None,
    ) -> None:
        if not isinstance(explanation, LocalExplanation):
            raise TypeError(f"expected a LocalExplanation or GlobalExplanation: {explanation!r}")
        data = explanation.to_dict()
        if datasetX is not None:
            data["eval_data"] = _dataset_rows(datasetX, explanation.num_features)
        schema = getattr(model, "schema", None)
        if (
            data["metadata"].get("raw_schema") is None
            and isinstance(schema, RawSchema)
            and not schema.numeric_only
            and schema.names == explanation.features
        ):  # the model's categories, for the what-if and ICE views
            data["metadata"] = {**data["metadata"], "raw_schema": schema.to_json()}
        if data["eval_y_predicted"] is None and data["eval_data"] is not None and model is not None:
            with_data = LocalExplanation.from_dict(data)
            scored = _Scorer(model, with_data).score_values({"data": data["eval_data"]})
            data["eval_y_predicted"] = scored["predictions"]
            data["eval_y_predicted_proba"] = scored.get("probabilities")
        self.explanation = LocalExplanation.from_dict(data)  # checks the combination
        n_rows = len(data["eval_data"]) if data["eval_data"] is not None else None
        labels = None if true_y is None else np.asarray(true_y).tolist()
        if labels is not None and (n_rows is None or len(labels) != n_rows):
            raise InputError(f"true_y has {len(labels)} labels for {n_rows} rows")
        self._scorer = None if model is None else _Scorer(model, self.explanation)
        self._record = self._describe(self.explanation, labels is not None)
        self._download = json.dumps(
            {"record": self._record, "true_ys": labels, "explanation": data}, allow_nan=False
        ).encode()
        self._server = ThreadingHTTPServer(("127.0.0.1", port or 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/dashboard?run={RUN_ID}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="explanation-dashboard", daemon=True
        )
        self._thread.start()
        print(f"Explanation dashboard: {self.url}")

    @staticmethod
    def _describe(explanation: LocalExplanation, has_true_ys: bool) -> dict[str, Any]:
        rows = explanation.num_examples if explanation.has_local else None
        return {
            "id": explanation.id,
            "run_id": RUN_ID,
            "comment": None,
            "upload_time": datetime.fromtimestamp(time.time(), tz=UTC).isoformat(),
            "kind": explanation.kind,
            "method": explanation.method,
            "model_task": explanation.model_task,
            "is_raw": explanation.is_raw,
            "is_engineered": explanation.is_engineered,
            "num_features": explanation.num_features,
            "num_examples": rows,
            "num_classes": explanation.num_classes,
            "top_k": None,
            "has_eval_data": explanation.eval_data is not None,
            "has_true_ys": has_true_ys,
        }

    def _routes(self, path: str) -> tuple[int, bytes, str]:
        """Status, body and media type of a GET."""
        json_type = "application/json"
        if path == "/dashboard":
            return 200, asset("index.html"), ASSETS["index.html"]
        if path.startswith("/dashboard/static/"):
            name = path.rsplit("/", 1)[1]
            if name in ASSETS:
                return 200, asset(name), ASSETS[name]
        record = self._record
        runs = [{"run_id": RUN_ID, "count": 1, "latest_upload_time": record["upload_time"]}]
        answers = {
            "/explanations": json.dumps(runs).encode(),
            f"/explanations/{RUN_ID}": json.dumps([record]).encode(),
            f"/explanations/{RUN_ID}/latest": self._download,
            f"/explanations/{RUN_ID}/{record['id']}": self._download,
        }
        if path in answers:
            return 200, answers[path], json_type
        return 404, _error(404, f"nothing at {path}"), json_type

    def _score(self, body: bytes) -> tuple[int, bytes]:
        if self._scorer is None:
            message = "no model: pass model= to ExplanationDashboard for what-if and ICE"
            return 503, _error(503, message)
        try:
            return 200, json.dumps(self._scorer(body), allow_nan=False).encode()
        except (ValueError, InputError) as exc:
            return 422, _error(422, str(exc))
        except Exception as exc:  # the user's model failed: say how, keep serving
            return 500, _error(500, f"the model failed: {type(exc).__name__}: {exc}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, media_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/dashboard/":  # the page's URLs are relative to /dashboard
                    location = "/dashboard" + (f"?{url.query}" if url.query else "")
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(*dashboard._routes(url.path))

            def do_POST(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                declared = self.headers.get("Content-Length") or "0"
                if not declared.isdigit() or int(declared) > MAX_SCORE_BYTES:
                    message = f"Content-Length must be at most {MAX_SCORE_BYTES} bytes"
                    self.close_connection = True
                    self._send(413, _error(413, message), "application/json")
                    return
                body = self.rfile.read(int(declared))
                if path != "/score":
                    self._send(404, _error(404, f"nothing at {path}"), "application/json")
                    return
                status, answer = dashboard._score(body)
                self._send(status, answer, "application/json")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a notebook is no place for an access log

        return Handler

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> ExplanationDashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        """In a notebook: the dashboard in a frame, with its link."""
        return (
            f'<a href="{self.url}" target="_blank">{self.url}</a><br>'
            f'<iframe src="{self.url}" width="100%" height="900" style="border:0"></iframe>'
        )

    def __repr__(self) -> str:
        return f"ExplanationDashboard(url={self.url!r})"


def _error(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}).encode()
