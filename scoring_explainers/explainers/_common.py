"""What the full explainers share: input handling, the explained model, raw mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._errors import InputError, UnsupportedModelError
from ..distill import final_estimator, resolve_features
from ..explanation import GlobalExplanation, LocalExplanation, global_from_local
from ..runtime import ScoringExplainer
from ..transformations import FeatureMap, feature_map

__all__ = ["ExplainedModel", "dense", "explained_model", "to_explanation"]

ModelTask = Literal["auto", "classification", "regression"]
#: Largest sparse matrix densified for explaining (cells).
MAX_DENSE_CELLS = 50_000_000


def dense(X: Any) -> Any:
    """Numpy / pandas input as is; scipy sparse densified (bounded)."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        cells = X.shape[0] * X.shape[1]
        if cells > MAX_DENSE_CELLS:
            raise InputError(
                f"a sparse matrix of {X.shape[0]} x {X.shape[1]} is too large to explain at "
                f"once (limit {MAX_DENSE_CELLS:,} cells); explain it in batches"
            )
        return X.toarray()
    if isinstance(X, list):
        return np.asarray(X)
    if not hasattr(X, "shape"):
        raise InputError(f"expected a numpy array, DataFrame or scipy sparse matrix, got {type(X)}")
    return X


def _width(X: Any) -> int:
    shape = np.shape(X)
    if len(shape) != 2:
        raise InputError(f"expected a 2-D table of rows, got shape {shape}")
    return int(shape[1])


def raw_names(X: Any, model: Any, features: list[str] | None) -> list[str]:
    """Names of the raw columns (:func:`~scoring_explainers.distill.resolve_features` with
    ``model`` the model, or the transformations that take the raw rows), one per column."""
    width = _width(X)
    names = resolve_features(X, model, features)
    if len(names) != width:
        raise InputError(f"{len(names)} feature names for {width} columns")
    return names


@dataclass
class ExplainedModel:
    """The estimator an engine explains, and how raw rows reach it.

    ``estimator`` takes ``model_input(raw)``; ``fmap`` (if any) maps its columns back to
    the raw features. ``preprocessing`` is the fitted object the map was read from (the
    user's ``transformations`` or a Pipeline's leading steps).
    """

    estimator: Any
    raw_features: list[str]
    model_features: list[str]
    fmap: FeatureMap | None
    preprocessing: Any

    def model_input(self, X: Any) -> Any:
        """Raw rows -> what ``estimator`` takes (the transformations' output, if any)."""
        X = dense(X)
        if self.fmap is None:
            return X if hasattr(X, "columns") else np.asarray(X)
        transformations = self.fmap.transformations
        by_name = isinstance(transformations, list | tuple) or (
            getattr(transformations, "feature_names_in_", None) is not None
        )
        if by_name and not hasattr(X, "columns"):
            import pandas as pd

            X = pd.DataFrame(np.asarray(X), columns=self.raw_features)
        return self.fmap.transform(X)

    def raw_matrix(self, X: Any) -> np.ndarray | None:
        """Raw rows as float64 (what a scoring explainer takes), or ``None`` when a column
        is not numeric."""
        return numeric(X)


def explained_model(
    model: Any,
    X: Any,
    *,
    features: list[str] | None,
    transformations: Any,
    allow_all_transformations: bool,
    split_pipeline: bool,
) -> ExplainedModel:
    """Work out what is explained: the model on (engineered) columns, and the raw map.

    With ``transformations`` the model takes their output. Without them, a Pipeline whose
    final estimator is to be explained on its own (``split_pipeline``) has its leading
    steps read as the transformations.
    """
    X = dense(X)
    if transformations is not None:
        names = raw_names(X, transformations, features)
        given = feature_map(
            transformations, names, allow_all_transformations=allow_all_transformations
        )
        takes = getattr(model, "n_features_in_", None)
        if takes is not None and int(takes) != len(given.engineered_features):
            raise InputError(
                f"the transformations give {len(given.engineered_features)} columns but the "
                f"model takes {int(takes)}: they do not belong together"
            )
        return ExplainedModel(model, names, given.engineered_features, given, transformations)
    steps = getattr(model, "steps", None)
    names = raw_names(X, model, features)
    if split_pipeline and steps and len(steps) > 1:
        preprocessing = model[:-1]
        fmap: FeatureMap | None = None
        try:
            fmap = feature_map(
                preprocessing, names, allow_all_transformations=allow_all_transformations
            )
        except UnsupportedModelError:
            pass
        if fmap is not None:
            return ExplainedModel(
                final_estimator(model), names, fmap.engineered_features, fmap, preprocessing
            )
    return ExplainedModel(model, names, names, None, None)


def numeric(X: Any) -> np.ndarray | None:
    """The rows as float64 if every column is numeric, else ``None``."""
    try:
        matrix = np.asarray(dense(X), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return matrix if matrix.ndim == 2 else None


def _as_frame(X: Any, names: list[str]) -> Any:
    """Raw rows as the schema takes them: a DataFrame as is, else rows in raw order."""
    if hasattr(X, "columns"):
        return X
    array = np.asarray(X, dtype=object)
    return array if array.ndim == 2 else array.reshape(1, -1)


def _eval_data(X: Any, explained: ExplainedModel) -> Any:
    """The rows kept in an explanation: float64 when every column is numeric, else the raw
    values as given (strings, None and numbers: explanations keep mixed rows)."""
    rows = numeric(X)
    return rows if rows is not None else _as_frame(X, explained.raw_features)


def to_explanation(
    engine: ScoringExplainer,
    explained: ExplainedModel,
    X: Any,
    *,
    method: str,
    subset: list[int] | None,
    is_global: bool,
    include_local: bool = True,
    keep_data: bool = True,
    metadata: dict[str, Any] | None = None,
    binary_margin: bool = False,
) -> LocalExplanation | GlobalExplanation:
    """Explain ``X`` (raw rows) with ``engine`` and wrap the values as an explanation."""
    X = dense(X)
    raw_players = engine.metadata.get("players") == "raw"
    if raw_players:  # the engine takes the raw rows and gives raw values
        result = engine.score(_as_frame(X, explained.raw_features))
    else:
        result = engine.score(explained.model_input(X))
    values = result.local_importance_values
    expected = result.expected_values
    task = engine.task
    classes = result.classes
    if binary_margin:  # a regressor on the class-1 log-odds: present as two classes
        values = np.stack([-values, values])
        expected = np.array([-float(expected), float(expected)])
        task = "classification"
        classes = (metadata or {}).get("classes")
    features = list(explained.model_features)
    if explained.fmap is not None:
        if not raw_players:
            values = explained.fmap.to_raw(values)
        features = list(explained.raw_features)
    if subset is not None:
        values = values[..., subset]
        features = [features[i] for i in subset]
    common: dict[str, Any] = {
        "features": features,
        "classes": classes,
        "expected_values": expected,
        "method": method,
        "is_raw": explained.fmap is not None,
        "eval_data": (_eval_data(X, explained) if keep_data and subset is None else None),
        "eval_y_predicted": (metadata or {}).get("predictions", result.predictions),
        "eval_y_predicted_proba": (metadata or {}).get("probabilities", result.probabilities),
        "metadata": {
            k: v
            for k, v in (metadata or {}).items()
            if k not in ("predictions", "probabilities", "classes")
        },
    }
    schema = engine.schema
    if subset is None and not schema.numeric_only and schema.names == features:
        # which features are categories, and which: for the dashboard's what-if and ICE
        common["metadata"]["raw_schema"] = schema.to_json()
    if is_global:
        return global_from_local(values, model_task=task, include_local=include_local, **common)
    return LocalExplanation(local_importance_values=values, model_task=task, **common)
