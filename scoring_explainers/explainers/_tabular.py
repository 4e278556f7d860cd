"""TabularExplainer: picks the exact tree or linear path, else Kernel SHAP."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._errors import ConversionError, InputError, UnsupportedModelError
from ..distill import final_estimator
from ..explanation import GlobalExplanation, LocalExplanation
from ..runtime import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    ScoringExplainer,
    TreeScoringExplainer,
)
from ._common import (
    ExplainedModel,
    ModelTask,
    dense,
    explained_model,
    numeric,
    raw_names,
    to_explanation,
)
from ._dispatch import Kind, choose

__all__ = ["TabularExplainer", "build_engine"]

METHODS: dict[str, str] = {"tree": "shap.tree", "linear": "shap.linear", "kernel": "shap.kernel"}


def build_engine(
    kind: Kind,
    explained: ExplainedModel,
    X_model: Any,
    *,
    classes: list[Any] | None,
    nclusters: int | None = 10,
    nsamples: int | Literal["auto"] = "auto",
    random_state: int = 0,
    require_onnx: bool = False,
    raw_examples: Any = None,
) -> ScoringExplainer:
    """A scoring explainer of ``kind`` over ``explained.estimator`` on model-space rows.

    Kernel with a feature map (and ``raw_examples``) explains the raw features as players
    (:func:`scoring_explainers.distill.raw_kernel`): the engine takes codes."""
    if kind == "kernel" and explained.fmap is not None and raw_examples is not None:
        from ..distill import raw_kernel

        return raw_kernel(
            explained.estimator,
            raw_examples,
            explained.fmap,
            classes=classes,
            nclusters=nclusters,
            nsamples=nsamples,
            random_state=random_state,
            require_onnx=require_onnx,
        )
    common: dict[str, Any] = {"features": explained.model_features, "classes": classes}
    if kind == "tree":
        return TreeScoringExplainer.from_model(explained.estimator, X_model, **common)
    if kind == "linear":
        return LinearScoringExplainer.from_model(explained.estimator, X_model, **common)
    return KernelScoringExplainer.from_model(
        explained.estimator,
        X_model,
        nclusters=nclusters,
        nsamples=nsamples,
        random_state=random_state,
        require_onnx=require_onnx,
        **common,
    )


class TabularExplainer:
    """Explain any tabular model: exact TreeSHAP for tree ensembles, exact linear SHAP for
    linear models, Kernel SHAP otherwise (chosen by the model's type; see ``method`` and
    ``method_reason``).

    Parameters
    ----------
    model : fitted estimator or Pipeline (scikit-learn, LightGBM, XGBoost)
        A Pipeline ending in a tree ensemble or linear model is explained exactly, its
        leading steps read as ``transformations`` (values for the Pipeline's input
        columns); other Pipelines are explained whole by Kernel SHAP.
    initialization_examples : ndarray, DataFrame or scipy sparse of shape (n_rows, n_raw)
        Training data: the Kernel background (weighted k-means summary) and the linear
        reference point; the ONNX conversion is checked on it.
    features : list of str, optional
        Raw feature names (default: DataFrame columns or the model's).
    classes : list, optional
        Class names reported instead of the model's labels.
    transformations : fitted ColumnTransformer or list of (columns, transformer), optional
        The model takes their output; explanations are for the raw columns (values summed
        over the engineered columns each raw column produced).
    allow_all_transformations : bool, default=False
        Accept transformers that mix columns (their outputs are spread evenly).
    explain_subset : list of int, optional
        Report only these features (indices into the reported features: the Pipeline's
        input columns when a Pipeline is split, else the model's); the values are the
        full explanation's, sliced. Not with ``transformations``.
    model_task : {"auto", "classification", "regression"}
        Checked against the model.
    nclusters, nsamples, random_state :
        Kernel path settings (background summary size, coalitions per row, seed).
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        *,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        explain_subset: list[int] | None = None,
        model_task: ModelTask = "auto",
        nclusters: int | None = 10,
        nsamples: int | Literal["auto"] = "auto",
        random_state: int = 0,
    ) -> None:
        if explain_subset is not None and transformations is not None:
            raise InputError("explain_subset cannot be combined with transformations")
        if model_task not in ("auto", "classification", "regression"):
            raise InputError(f"model_task must be auto, classification or regression: {model_task}")
        from ..distill._prepare import check_fitted, is_function

        check_fitted(model, transformations)
        self.model = model
        self.initialization_examples = dense(initialization_examples)
        if not raw_names(self.initialization_examples, None, features):
            raise InputError("the data has no columns: nothing to explain (zero features)")
        final = final_estimator(model)
        kind, reason = choose(final)
        self.nclusters, self.nsamples, self.random_state = nclusters, nsamples, random_state
        self.explain_subset = None
        self.transformations = transformations
        if is_function(model) and transformations is None:
            self._function(model, features, classes, model_task)
            return
        explained = explained_model(
            model,
            self.initialization_examples,
            features=features,
            transformations=transformations,
            allow_all_transformations=allow_all_transformations,
            # Kernel explains a Pipeline whole, unless its input is not numeric: then its
            # leading steps are the transformations (Kernel on their output, mapped back)
            split_pipeline=kind != "kernel" or numeric(self.initialization_examples) is None,
        )
        split = transformations is None and len(getattr(model, "steps", None) or []) > 1
        if kind != "kernel" and split and explained.fmap is None:
            kind = "kernel"
            reason += (
                "; but the Pipeline's leading steps have no feature map, so Kernel SHAP "
                "explains the whole Pipeline"
            )
        X_model = explained.model_input(self.initialization_examples)
        settings: dict[str, Any] = {
            "nclusters": nclusters,
            "nsamples": nsamples,
            "random_state": random_state,
        }
        settings["raw_examples"] = self.initialization_examples
        try:
            engine = build_engine(kind, explained, X_model, classes=classes, **settings)
        except (UnsupportedModelError, ConversionError) as exc:
            if kind == "kernel":
                raise
            reason += f"; refused ({exc}), so Kernel SHAP instead"
            kind = "kernel"
            engine = build_engine(kind, explained, X_model, classes=classes, **settings)
        if kind == "kernel" and explained.fmap is not None:
            reason += "; Kernel SHAP with the raw features as players"
        if model_task != "auto" and engine.task != model_task:
            raise InputError(f"model_task={model_task!r} but the model is a {engine.task} model")
        if explain_subset is not None:
            reported = explained.raw_features if explained.fmap else explained.model_features
            n = len(reported)
            if not all(isinstance(i, int | np.integer) and 0 <= i < n for i in explain_subset):
                raise InputError(
                    f"explain_subset must hold indices of the {n} reported features "
                    f"{reported[:5]}{'...' if n > 5 else ''} in [0, {n})"
                )
        self.explain_subset = None if explain_subset is None else [int(i) for i in explain_subset]
        self.transformations = transformations
        self.explained_ = explained
        self.engine_ = engine
        self.kind: Kind = kind
        self.method = METHODS[kind]
        self.method_reason = reason
        self.nclusters, self.nsamples, self.random_state = nclusters, nsamples, random_state

    def _function(
        self, function: Any, features: list[str] | None, classes: Any, model_task: str
    ) -> None:
        """A function of raw rows (``pipeline.predict_proba``): Kernel SHAP over the raw
        columns, the function called in Python (explains in-process, not distillable)."""
        from ..distill._raw_kernel import function_kernel

        names = raw_names(self.initialization_examples, None, features)
        engine = function_kernel(
            function,
            self.initialization_examples,
            names,
            classes=classes,
            nclusters=self.nclusters,
            nsamples=self.nsamples,
            random_state=self.random_state,
        )
        if model_task != "auto" and engine.task != model_task:
            raise InputError(f"model_task={model_task!r} but the function is a {engine.task}")
        self.explained_ = ExplainedModel(function, names, names, None, None)
        self.engine_ = engine
        self.kind = "kernel"
        self.method = METHODS["kernel"]
        self.method_reason = (
            "a function: Kernel SHAP with the raw features as players, the function called "
            "in Python"
        )

    # -- description --------------------------------------------------------------------
    @property
    def features(self) -> list[str]:
        """Names the explanations use (raw features when there is a feature map)."""
        names = (
            self.explained_.raw_features
            if self.explained_.fmap is not None
            else self.explained_.model_features
        )
        return names if self.explain_subset is None else [names[i] for i in self.explain_subset]

    @property
    def classes(self) -> list[Any] | None:
        return self.engine_.classes

    @property
    def expected_values(self) -> list[float] | float:
        values = self.engine_.expected_values
        return values.tolist() if self.engine_.task == "classification" else float(values[0])

    @property
    def output_space(self) -> str:
        return self.engine_.output_space

    @property
    def model_task(self) -> str:
        return self.engine_.task

    # -- explanations -------------------------------------------------------------------
    def explain_local(self, evaluation_examples: Any) -> LocalExplanation:
        """Local importances of ``evaluation_examples`` (raw rows)."""
        explanation = self._explain(evaluation_examples, is_global=False)
        assert isinstance(explanation, LocalExplanation)
        return explanation

    def explain_global(
        self, evaluation_examples: Any, *, include_local: bool = True
    ) -> GlobalExplanation:
        """Global importances (mean |local| per class, then over classes) of the rows."""
        explanation = self._explain(
            evaluation_examples, is_global=True, include_local=include_local
        )
        assert isinstance(explanation, GlobalExplanation)
        return explanation

    def _explain(
        self, X: Any, *, is_global: bool, include_local: bool = True
    ) -> LocalExplanation | GlobalExplanation:
        return to_explanation(
            self.engine_,
            self.explained_,
            X,
            method=self.method,
            subset=self.explain_subset,
            is_global=is_global,
            include_local=include_local,
            metadata=self._metadata(),
        )

    def _scoring_engine(
        self, kind: str | None, X: Any
    ) -> tuple[ScoringExplainer, ExplainedModel, Any]:
        """What a scoring explainer of ``kind`` (default: this explainer's) is distilled
        from: the engine (this explainer's own for its kind, unless other rows ``X`` are
        given), the explained model and the raw rows (see
        :func:`scoring_explainers.distill.distill`)."""
        explained = self.explained_
        raw_examples = self.initialization_examples if X is None else X
        if kind is None or (kind == self.kind and X is None):
            return self.engine_, explained, raw_examples
        if kind not in ("tree", "linear", "kernel"):
            raise InputError(f"unknown scoring explainer kind {kind!r}")
        engine = build_engine(
            kind,  # type: ignore[arg-type]
            explained,
            explained.model_input(raw_examples),
            classes=self.classes,
            nclusters=self.nclusters,
            nsamples=self.nsamples,
            random_state=self.random_state,
            require_onnx=True,
            raw_examples=raw_examples,
        )
        return engine, explained, raw_examples

    def _metadata(self) -> dict[str, Any]:
        return {
            "method_reason": self.method_reason,
            "output_space": self.engine_.output_space,
            "model_type": type(self.model).__qualname__,
        }

    def __repr__(self) -> str:
        return f"TabularExplainer(method={self.method!r}, features={len(self.features)})"
