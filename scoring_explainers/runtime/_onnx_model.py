"""The prediction model at run time: an ONNX graph evaluated by onnxruntime."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import onnxruntime as ort

from .._errors import ArtifactError

__all__ = ["LABEL_OUTPUT", "PREDICTION_OUTPUT", "PROBABILITY_OUTPUT", "OnnxModel", "OnnxTransform"]

#: Output names every graph made by :mod:`scoring_explainers.convert` carries.
LABEL_OUTPUT = "label"
PROBABILITY_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "predictions"

Task = Literal["classification", "regression"]


#: Where onnxruntime looks for the external data of a model loaded from bytes: a path below
#: a file that is not a directory, where no file can ever exist, so any external-data
#: reference fails (the artifact audit refuses such graphs first; this is the second wall).
NO_EXTERNAL_DATA_FOLDER = os.devnull


def session_options(threads: int) -> ort.SessionOptions:
    """Session options for per-request work: ``threads`` intra-op threads, no spinning.

    Also: the bytes are always parsed as ONNX (never as onnxruntime's own ORT format, which
    the artifact audit does not read), and external data can be read from nowhere.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.load_model_format", "ONNX")
    options.add_session_config_entry(
        "session.model_external_initializers_file_folder_path", NO_EXTERNAL_DATA_FOLDER
    )
    options.log_severity_level = 3
    return options


class OnnxModel:
    """A classifier or regressor held as ONNX bytes and run by onnxruntime.

    The graph has one 2-D numeric input of ``n_features`` columns and the outputs
    ``label`` + ``probabilities`` (classification) or ``predictions`` (regression).
    ``run`` is thread-safe: onnxruntime sessions may be shared between threads.

    Parameters
    ----------
    model_bytes : bytes
        The serialised ONNX model.
    task : {"classification", "regression"}
    n_features : int
    threads : int, default=1
        onnxruntime intra-op threads. One thread is right for per-request work;
        more only pays for large batches on a quiet machine.
    """

    def __init__(self, model_bytes: bytes, *, task: Task, n_features: int, threads: int = 1):
        try:
            self._session = ort.InferenceSession(
                model_bytes, session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError("model.onnx", f"onnxruntime cannot load the model: {exc}") from exc
        self.model_bytes = model_bytes
        self.task: Task = task
        self.n_features = n_features
        self.threads = threads
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ArtifactError("model.onnx", f"expected one input tensor, found {len(inputs)}")
        self._input_name = inputs[0].name
        self._input_dtype = np.float64 if inputs[0].type == "tensor(double)" else np.float32
        outputs = {o.name for o in self._session.get_outputs()}
        wanted = (
            [LABEL_OUTPUT, PROBABILITY_OUTPUT] if task == "classification" else [PREDICTION_OUTPUT]
        )
        missing = [name for name in wanted if name not in outputs]
        if missing:
            raise ArtifactError(
                "model.onnx", f"missing output(s) {missing}; the graph has {sorted(outputs)}"
            )
        self._value_output = PROBABILITY_OUTPUT if task == "classification" else PREDICTION_OUTPUT

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """Explained model outputs: probabilities or predictions.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)

        Returns
        -------
        ndarray of shape (n_rows, n_outputs), float64
            Class probabilities (classification) or the prediction as one column.
        """
        feed = {self._input_name: np.ascontiguousarray(X, dtype=self._input_dtype)}
        (values,) = self._session.run([self._value_output], feed)
        return np.asarray(values, dtype=np.float64).reshape(len(X), -1)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and explained outputs in one call.

        Returns
        -------
        predictions : ndarray of shape (n_rows,)
            Class labels (classification) or predicted values (regression).
        outputs : ndarray of shape (n_rows, n_outputs), float64
            As :meth:`outputs`.
        """
        feed = {self._input_name: np.ascontiguousarray(X, dtype=self._input_dtype)}
        if self.task == "classification":
            labels, probabilities = self._session.run([LABEL_OUTPUT, PROBABILITY_OUTPUT], feed)
            values = np.asarray(probabilities, dtype=np.float64).reshape(len(X), -1)
            return np.asarray(labels).reshape(len(X)), values
        (predictions,) = self._session.run([PREDICTION_OUTPUT], feed)
        values = np.asarray(predictions, dtype=np.float64).reshape(len(X), -1)
        return values[:, 0].copy(), values


class OnnxTransform:
    """Preprocessing as an ONNX graph: raw rows in, engineered float rows out.

    Parameters
    ----------
    model_bytes : bytes
        A graph with one 2-D numeric input of ``n_inputs`` columns and one float output.
    n_inputs, n_outputs : int
    threads : int, default=1
    """

    def __init__(self, model_bytes: bytes, *, n_inputs: int, n_outputs: int, threads: int = 1):
        try:
            self._session = ort.InferenceSession(
                model_bytes, session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ArtifactError(
                "preprocess.onnx", f"onnxruntime cannot load the graph: {exc}"
            ) from exc
        self.model_bytes = model_bytes
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ArtifactError(
                "preprocess.onnx",
                f"expected one input and one output, found {len(inputs)} and {len(outputs)}",
            )
        self._input_name = inputs[0].name
        self._input_dtype = np.float64 if inputs[0].type == "tensor(double)" else np.float32

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw rows (n_rows, n_inputs) -> engineered rows (n_rows, n_outputs), float64."""
        feed = {self._input_name: np.ascontiguousarray(X, dtype=self._input_dtype)}
        (values,) = self._session.run(None, feed)
        out = np.asarray(values, dtype=np.float64).reshape(len(X), -1)
        if out.shape[1] != self.n_outputs:
            raise ArtifactError(
                "preprocess.onnx", f"gives {out.shape[1]} columns, expected {self.n_outputs}"
            )
        return out
