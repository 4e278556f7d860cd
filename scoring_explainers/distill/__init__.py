"""The distill side: fitted models and full explainers -> scoring explainers.

Conversion to ONNX (``to_onnx``; binary SVC/SVR as a dense graph; tree ensembles as a graph
built from their trees), tree extraction, background summaries, and the bodies of the
scoring explainers' ``from_model`` and ``from_explainer``. Needs the ``distill`` extra
(scikit-learn, skl2onnx, onnx, ...), imported where a function needs it.

Importing this package registers those bodies with the runtime
(:func:`scoring_explainers.runtime.register_builder`); the runtime imports it by name the
first time a ``from_model``/``from_explainer`` is called, and never otherwise. May import the
runtime, never the full explainers (they import this package).
"""

from __future__ import annotations

from typing import Any

from ..runtime import register_builder
from ._convert import ConvertedModel, check_agreement, preprocessing_to_onnx, to_onnx
from ._estimator import final_estimator, gives_probabilities, is_classifier
from ._explainers import binary_classifier, distill, scoring_explainer_for
from ._kernel import from_model as _kernel_from_model
from ._linear import from_model as _linear_from_model
from ._prepare import resolve_features
from ._raw import infer_schema
from ._raw_kernel import raw_kernel
from ._tree import from_model as _tree_from_model

__all__ = [
    "ConvertedModel",
    "binary_classifier",
    "check_agreement",
    "distill",
    "final_estimator",
    "gives_probabilities",
    "infer_schema",
    "is_classifier",
    "preprocessing_to_onnx",
    "raw_kernel",
    "resolve_features",
    "scoring_explainer_for",
    "to_onnx",
]


def _from_explainer(kind: str) -> Any:
    def build(explainer: Any, X: Any) -> Any:
        return distill(explainer, kind, initialization_examples=X)

    return build


for _kind, _from_model in (
    ("kernel", _kernel_from_model),
    ("tree", _tree_from_model),
    ("linear", _linear_from_model),
):
    register_builder(_kind, "from_model", _from_model)
    register_builder(_kind, "from_explainer", _from_explainer(_kind))
