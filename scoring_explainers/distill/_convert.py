"""Fitted models -> one ONNX graph (distill side only).

Every graph made here has one float input ``X`` of shape ``(None, n_features)`` and the
outputs ``label`` + ``probabilities`` (classifiers, no ZipMap) or ``predictions``
(regressors), which is the contract :class:`~scoring_explainers.runtime.OnnxModel` reads.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._errors import ConversionError
from ..runtime._onnx_model import LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITY_OUTPUT
from ._estimator import final_estimator, gives_probabilities

__all__ = ["ConvertedModel", "check_agreement", "preprocessing_to_onnx", "to_onnx"]

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ConvertedModel:
    """An ONNX graph with what the explainers need to know about it.

    Attributes
    ----------
    onnx_bytes : bytes
    task : {"classification", "regression"}
    classes : list or None
        The model's class labels, in the column order of ``probabilities``.
    n_features : int
    source : str
        What was converted (``"sklearn.svm._classes.SVC"``, ``"onnx"``, ...).
    feature_names : list of str or None
        ``feature_names_in_`` of the model, when it has them.
    notes : dict
        What the conversion chose, for kernel SVMs with an rbf or sigmoid kernel:
        ``kernel_exp`` ("float32" or "float64") and ``kernel_exp_check`` (see
        :func:`scoring_explainers.distill._svm_onnx.checked_graph`). Empty otherwise.
    """

    onnx_bytes: bytes
    task: Task
    classes: list[Any] | None
    n_features: int
    source: str
    feature_names: list[str] | None = field(default=None)
    notes: dict[str, Any] = field(default_factory=dict)


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


_BOOSTERS_REGISTERED = False


def _register_boosters() -> None:
    """Teach skl2onnx the LightGBM and XGBoost converters (so they work inside Pipelines)."""
    global _BOOSTERS_REGISTERED
    if _BOOSTERS_REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    except ImportError:  # pragma: no cover - lightgbm is optional
        pass
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
    except ImportError:  # pragma: no cover - xgboost is optional
        pass
    _BOOSTERS_REGISTERED = True


def _unconvertible_step(model: Any, exc: Exception) -> str:
    """Name the estimator skl2onnx could not convert, from its error or the pipeline."""
    text = str(exc)
    parts = [model]
    steps = getattr(model, "steps", None)
    if steps:
        parts = [step for _, step in steps]
    for part in parts:
        name = type(part).__name__
        if name in text:
            return _qualname(part)
    return _qualname(model)


def _default_opset(target_opset: int | None) -> dict[str, int]:
    """Main opset as given (else skl2onnx's newest tested); ``ai.onnx.ml`` 3, which the
    LightGBM and XGBoost converters require and onnxruntime runs everywhere."""
    from skl2onnx import get_latest_tested_opset_version

    return {"": target_opset or get_latest_tested_opset_version(), "ai.onnx.ml": 3}


def _selects_by_name(model: Any) -> bool:
    """Whether a ColumnTransformer in ``model`` picks columns by name."""
    stack = [model]
    while stack:
        item = stack.pop()
        if hasattr(item, "transformers_"):
            for _, transformer, columns in item.transformers_:
                specs = [columns] if isinstance(columns, str) else list(np.ravel(columns))
                if any(isinstance(c, str) for c in specs):
                    return True
                stack.append(transformer)
        stack.extend(step for _, step in getattr(item, "steps", []))
    return False


def _one_input(onx: Any, names: list[str]) -> None:
    """Feed a graph with one input per column (in column order, as converted from
    ``names``; the converter may sanitise the names) from one (n_rows, n_columns) input."""
    from onnx import TensorProto, helper, numpy_helper

    graph = onx.graph
    old = list(graph.input)
    if len(old) != len(names):
        raise ConversionError(
            f"the converted graph has {len(old)} inputs for {len(names)} named columns"
        )
    elem = old[0].type.tensor_type.elem_type if old else TensorProto.FLOAT
    nodes = []
    for j, item in enumerate(old):
        index = f"__column_index_{j}"
        graph.initializer.append(numpy_helper.from_array(np.array([j], dtype=np.int64), index))
        nodes.append(helper.make_node("Gather", ["X", index], [item.name], axis=1))
    for item in old:
        graph.input.remove(item)
    graph.input.append(helper.make_tensor_value_info("X", elem, [None, len(names)]))
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)


def _convert_sklearn(
    model: Any,
    n_features: int,
    target_opset: int | None,
    *,
    names: list[str] | None = None,
) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _register_boosters()
    options = {"zipmap": False} if gives_probabilities(model) else None
    if names is None:
        fitted = getattr(model, "feature_names_in_", None)
        names = None if fitted is None else [str(f) for f in fitted]
    by_name = names is not None and len(names) == n_features and _selects_by_name(model)
    initial_types = (
        [(name, FloatTensorType([None, 1])) for name in names or []]
        if by_name
        else [("X", FloatTensorType([None, n_features]))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            onx = convert_sklearn(
                model,
                initial_types=initial_types,
                options=options,
                target_opset=_default_opset(target_opset),
            )
        except Exception as exc:
            culprit = _unconvertible_step(model, exc)
            raise ConversionError(f"cannot convert {culprit} to ONNX: {exc}") from exc
    if by_name:
        _one_input(onx, names or [])
    return onx


def preprocessing_to_onnx(
    preprocessing: Any,
    raw_features: list[str],
    *,
    target_opset: int | None = None,
) -> bytes:
    """Fitted transformers (ColumnTransformer, Pipeline of transformers...) as an ONNX graph
    from one ``(n_rows, n_raw)`` input to one float output (the engineered columns).

    Raises
    ------
    ConversionError
        Naming the transformer that could not be converted.
    """
    if isinstance(preprocessing, list | tuple):
        raise ConversionError(
            "a list of (columns, transformer) pairs cannot be converted to ONNX; build the "
            "explainer with an equivalent fitted ColumnTransformer to distill it"
        )
    onx = _convert_sklearn(preprocessing, len(raw_features), target_opset, names=raw_features)
    if len(onx.graph.output) != 1:
        raise ConversionError(
            f"the preprocessing graph has {len(onx.graph.output)} outputs, expected one"
        )
    return bytes(onx.SerializeToString())


def _dense_builder(final: Any) -> Any:
    """The dense-graph builder for ``final`` (an SVM or a nearest-neighbour classifier
    these modules write as matrix products), or ``None``."""
    from ._knn_onnx import dense_knn_graph
    from ._knn_onnx import supports as knn_supports
    from ._svm_onnx import dense_calibrated_graph, dense_svm_graph, supports, supports_calibrated

    if supports(final):
        return dense_svm_graph
    if supports_calibrated(final):
        return dense_calibrated_graph
    if knn_supports(final):
        return dense_knn_graph
    return None


def _convert_dense(
    model: Any, n_features: int, target_opset: int | None, build: Any, svm_exp: str = "auto"
) -> tuple[Any, dict[str, Any]]:
    """An SVC / NuSVC (probability=True), SVR / NuSVR, sigmoid-calibrated SVC / NuSVC or
    KNeighborsClassifier, alone or ending a Pipeline, as a GEMM-based graph made by
    ``build``; and the notes of the SVM's exp precision (``svm_exp``: "auto" or "float64",
    see :func:`~scoring_explainers.distill._svm_onnx.checked_graph`)."""
    import onnx
    from onnx import compose

    from ._svm_onnx import checked_graph, dense_calibrated_graph, dense_svm_graph

    final = final_estimator(model)
    opsets = _default_opset(target_opset)
    notes: dict[str, Any] = {}

    def make(width: int, **kwargs: Any) -> Any:
        nonlocal notes
        if build in (dense_svm_graph, dense_calibrated_graph):
            onx, notes = checked_graph(final, build, width, exp=svm_exp, **kwargs)
            return onx
        return build(final, width, **kwargs)

    if final is model:
        return make(n_features, opset=opsets[""]), notes
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prefix = convert_sklearn(
                Pipeline(model.steps[:-1]),
                initial_types=[("X", FloatTensorType([None, n_features]))],
                target_opset=opsets,
            )
        except Exception as exc:
            culprit = _unconvertible_step(model, exc)
            raise ConversionError(f"cannot convert {culprit} to ONNX: {exc}") from exc
    middle = prefix.graph.output[0]
    width = int(final.n_features_in_)
    tail = make(
        width,
        input_name="dense_input",
        input_type=middle.type.tensor_type.elem_type,
        opset=opsets[""],
    )
    tail.ir_version = prefix.ir_version
    del tail.opset_import[:]
    tail.opset_import.extend(prefix.opset_import)
    merged = compose.merge_models(prefix, tail, io_map=[(middle.name, "dense_input")])
    onnx.checker.check_model(merged)
    return merged, notes


def _convert_booster(model: Any, n_features: int, target_opset: int | None) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    initial_types = [("X", FloatTensorType([None, n_features]))]
    module = type(model).__module__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if module.startswith("lightgbm"):
                return onnxmltools.convert_lightgbm(
                    model, initial_types=initial_types, zipmap=False, target_opset=target_opset
                )
            return onnxmltools.convert_xgboost(
                model, initial_types=initial_types, target_opset=target_opset
            )
        except Exception as exc:
            raise ConversionError(f"cannot convert {_qualname(model)} to ONNX: {exc}") from exc


def _strip_zipmap(graph: Any) -> None:
    """Replace a ZipMap output (list of dicts) by the probability tensor feeding it."""
    for node in list(graph.node):
        if node.op_type != "ZipMap":
            continue
        source, target = node.input[0], node.output[0]
        graph.node.remove(node)
        for out in graph.output:
            if out.name == target:
                graph.output.remove(out)
                break
        from onnx import TensorProto, helper

        graph.output.append(helper.make_tensor_value_info(source, TensorProto.FLOAT, None))


def _zipmap_classes(graph: Any) -> list[Any] | None:
    for node in graph.node:
        if node.op_type == "ZipMap":
            for attr in node.attribute:
                if attr.name == "classlabels_int64s":
                    return list(attr.ints)
                if attr.name == "classlabels_strings":
                    return [s.decode() for s in attr.strings]
    return None


def _rename(graph: Any, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new``, first moving any other tensor called ``new``."""
    if old == new:
        return
    used = {name for node in graph.node for name in (*node.input, *node.output)}
    if new in used:
        spare = new
        while spare in used:
            spare += "_"
        _replace(graph, new, spare)
    _replace(graph, old, new)


def _replace(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for out in graph.output:
        if out.name == old:
            out.name = new


def _normalise_outputs(onx: Any, task: Task) -> None:
    """Name the graph's outputs ``label``/``probabilities`` or ``predictions``."""
    from onnx import TensorProto

    graph = onx.graph
    _strip_zipmap(graph)
    outputs = list(graph.output)
    floats = [
        o
        for o in outputs
        if o.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.DOUBLE, 0)
    ]
    others = [o for o in outputs if o not in floats]
    if task == "classification":
        if not others or not floats:
            raise ConversionError(
                "a classifier graph needs a label output and a float probability output; "
                f"found {[o.name for o in outputs]}"
            )
        _rename(graph, others[0].name, LABEL_OUTPUT)
        _rename(graph, floats[-1].name, PROBABILITY_OUTPUT)
        keep = {LABEL_OUTPUT, PROBABILITY_OUTPUT}
    else:
        if not floats:
            raise ConversionError(
                f"a regressor graph needs a float output; found {[o.name for o in outputs]}"
            )
        _rename(graph, floats[0].name, PREDICTION_OUTPUT)
        keep = {PREDICTION_OUTPUT}
    for out in list(graph.output):
        if out.name not in keep:
            graph.output.remove(out)


def _load_onnx(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return copy
    try:
        if isinstance(model, bytes | bytearray):
            return onnx.load_from_string(bytes(model))
        return onnx.load(str(model))
    except Exception as exc:
        raise ConversionError(f"cannot read ONNX model {str(model)[:80]!r}: {exc}") from exc


def _onnx_task(onx: Any) -> Task:
    from onnx import TensorProto

    kinds = [o.type.WhichOneof("value") for o in onx.graph.output]
    if "sequence_type" in kinds:
        return "classification"
    non_float = [
        o
        for o in onx.graph.output
        if o.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE)
    ]
    return "classification" if non_float and len(onx.graph.output) >= 2 else "regression"


def to_onnx(
    model: Any,
    n_features: int,
    *,
    classes: list[Any] | None = None,
    target_opset: int | None = None,
    svm_exp: Literal["auto", "float64"] = "auto",
) -> ConvertedModel:
    """Convert a fitted model to one ONNX graph with normalised outputs.

    Parameters
    ----------
    model : estimator, Pipeline, LightGBM/XGBoost model or Booster, or ONNX
        scikit-learn estimators and Pipelines (``ColumnTransformer``, ``StandardScaler``,
        ``OneHotEncoder``, ``SimpleImputer`` ... as skl2onnx supports them), LightGBM and
        XGBoost models (also inside a Pipeline), or an existing ONNX model given as
        ``onnx.ModelProto``, bytes or a file path.
    n_features : int
        Number of numeric input columns.
    classes : list, optional
        Class labels for an ONNX classifier whose labels cannot be read from the graph.
    target_opset : int, optional
    svm_exp : {"auto", "float64"}
        The precision of the rbf (sigmoid) kernel's exp (tanh) in the dense graphs of
        kernel SVMs. ``"auto"``: float32, several times faster, when the float32 graph
        differs from the model by at most 1e-6 (probabilities; relative to the largest
        prediction for regressors) with equal labels on rows made from the support vectors,
        else float64; ``"float64"``: always float64. The choice is in
        ``ConvertedModel.notes``.

    Returns
    -------
    ConvertedModel

    Raises
    ------
    ConversionError
        Naming the estimator that could not be converted.
    """
    import onnx

    if svm_exp not in ("auto", "float64"):
        raise ConversionError(f"svm_exp must be 'auto' or 'float64', not {svm_exp!r}")
    notes: dict[str, Any] = {}
    source = _qualname(model)
    feature_names = getattr(model, "feature_names_in_", None)
    if isinstance(model, onnx.ModelProto | bytes | bytearray | str | Path):
        onx = _load_onnx(model)
        task = _onnx_task(onx)
        model_classes = _zipmap_classes(onx.graph) or classes
        source = "onnx"
        if len(onx.graph.input) != 1:
            raise ConversionError(
                f"the ONNX model has {len(onx.graph.input)} inputs; one 2-D numeric input "
                "tensor is supported"
            )
    else:
        module = type(model).__module__
        if module.startswith(("lightgbm.basic", "xgboost.core")):
            onx = _convert_booster(model, n_features, target_opset)
            task = "classification" if _booster_is_classifier(model) else "regression"
            model_classes = classes
        elif hasattr(model, "fit") and hasattr(model, "predict"):
            build = _dense_builder(final_estimator(model))
            if build is not None:
                onx, notes = _convert_dense(model, n_features, target_opset, build, svm_exp)
            else:
                onx = _convert_sklearn(model, n_features, target_opset)
            task = "classification" if gives_probabilities(model) else "regression"
            model_classes = (
                list(final_estimator(model).classes_) if task == "classification" else None
            )
        else:
            raise ConversionError(f"cannot convert {source} to ONNX: not a fitted model")
    _normalise_outputs(onx, task)
    if model_classes is not None:
        model_classes = [c.item() if isinstance(c, np.generic) else c for c in model_classes]
    return ConvertedModel(
        onnx_bytes=onx.SerializeToString(),
        task=task,
        classes=model_classes,
        n_features=n_features,
        source=source,
        feature_names=None if feature_names is None else [str(f) for f in feature_names],
        notes=notes,
    )


def _booster_is_classifier(model: Any) -> bool:
    if type(model).__module__.startswith("lightgbm"):
        objective = str(model.params.get("objective", "")) if hasattr(model, "params") else ""
        return objective.startswith(("binary", "multiclass", "multiclassova"))
    import json

    config = json.loads(model.save_config())
    objective = config["learner"]["objective"]["name"]
    return str(objective).startswith(("binary:", "multi:"))


def check_agreement(
    model: Any, converted: ConvertedModel, X: np.ndarray, *, threads: int = 1
) -> dict[str, float]:
    """Compare the ONNX graph with the original model on rows ``X``.

    Returns
    -------
    dict
        ``max_abs_diff`` of probabilities (or predictions), ``output_scale`` (largest
        absolute output), ``label_agreement`` (share of equal labels; classification
        only) and ``rows``.
    """
    from ..runtime._onnx_model import OnnxModel

    runtime = OnnxModel(
        converted.onnx_bytes, task=converted.task, n_features=converted.n_features, threads=threads
    )
    labels, outputs = runtime.predict(X)
    report: dict[str, float] = {"rows": float(len(X))}
    X_in: Any = X
    if converted.feature_names is not None:
        import pandas as pd

        X_in = pd.DataFrame(X, columns=converted.feature_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if converted.task == "classification":
            expected = np.asarray(model.predict_proba(X_in), dtype=np.float64)
            report["label_agreement"] = float(
                np.mean(np.asarray(model.predict(X_in)).astype(str) == labels.astype(str))
            )
        else:
            expected = np.asarray(model.predict(X_in), dtype=np.float64).reshape(len(X), -1)
    report["max_abs_diff"] = float(np.max(np.abs(expected - outputs)))
    report["output_scale"] = float(np.max(np.abs(expected)))
    return report
