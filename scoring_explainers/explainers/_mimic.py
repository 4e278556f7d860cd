"""MimicExplainer: a surrogate model trained on the teacher's outputs, explained exactly."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from .._errors import InputError, UnsupportedModelError
from ..distill import binary_classifier
from ..distill import is_classifier as _is_classifier
from ..explanation import GlobalExplanation, LocalExplanation
from ..runtime import LinearScoringExplainer, ScoringExplainer, TreeScoringExplainer
from ..surrogates import ExplainableModel, Target
from ._common import ExplainedModel, ModelTask, dense, explained_model, to_explanation

__all__ = ["MimicExplainer"]

#: Teacher log-odds are clipped to this magnitude before the surrogate regresses on them
#: (probabilities of exactly 0 or 1 would give infinite targets).
LOGIT_CLIP = 10.0
#: Rows the augmented training set aims for when the data is small.
AUGMENT_TARGET_ROWS = 5_000
#: Noise added to augmented copies, in standard deviations of each column.
AUGMENT_JITTER = 0.1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    logit: np.ndarray = np.clip(np.log(p) - np.log1p(-p), -LOGIT_CLIP, LOGIT_CLIP)
    return logit


def _r2(truth: np.ndarray, guess: np.ndarray) -> float:
    """Coefficient of determination of ``guess`` against ``truth`` (pooled over columns)."""
    truth = truth.reshape(len(truth), -1)
    guess = guess.reshape(len(guess), -1)
    total = float(((truth - truth.mean(axis=0)) ** 2).sum())
    if total == 0.0:
        return 1.0 if np.allclose(truth, guess) else 0.0
    return 1.0 - float(((truth - guess) ** 2).sum()) / total


class MimicExplainer:
    """Explain a model through a surrogate trained to mimic it.

    The teacher labels the data; the surrogate learns (binary: a regressor on the
    teacher's class-1 log-odds; multiclass: a classifier on its predicted classes;
    regression: a regressor on its predictions) and is explained exactly. How well it
    mimics the teacher is measured on held-out rows (``fidelity``) and carried in every
    explanation's metadata.

    Parameters
    ----------
    model : fitted estimator with ``predict`` (and ``predict_proba`` for classifiers)
    initialization_examples : ndarray, DataFrame or scipy sparse (n_rows, n_raw)
    explainable_model : ExplainableModel subclass or instance
        ``LGBMExplainableModel``, ``LinearExplainableModel``, ``SGDExplainableModel``,
        ``DecisionTreeExplainableModel``.
    explainable_model_args : dict, optional
        Parameters of the surrogate learner (when a class is given).
    augment_data : bool, default=True
        Add copies of the training rows with each column shuffled independently, labelled
        by the teacher, until about 5,000 rows (at most ``max_num_of_augmentations``
        copies): the surrogate then also sees the teacher away from the data's joint
        distribution.
    holdout_fraction : float, default=0.2
        Share of the rows kept out of training to measure fidelity.
    features, classes, transformations, allow_all_transformations, model_task :
        As :class:`~scoring_explainers.explainers.TabularExplainer`.
    random_state : int, default=0
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        explainable_model: type[ExplainableModel] | ExplainableModel,
        *,
        explainable_model_args: dict[str, Any] | None = None,
        augment_data: bool = True,
        max_num_of_augmentations: int = 10,
        holdout_fraction: float = 0.2,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        model_task: ModelTask = "auto",
        random_state: int = 0,
    ) -> None:
        if isinstance(explainable_model, type):
            if not issubclass(explainable_model, ExplainableModel):
                raise InputError("explainable_model must be an ExplainableModel class")
            surrogate = explainable_model(
                random_state=random_state, **(explainable_model_args or {})
            )
        elif isinstance(explainable_model, ExplainableModel):
            surrogate = explainable_model
        else:
            raise InputError(
                f"explainable_model must be an ExplainableModel, got {explainable_model!r}"
            )
        if not 0.0 < holdout_fraction < 0.9:
            raise InputError("holdout_fraction must be in (0, 0.9)")
        self.model = model
        self.initialization_examples = dense(initialization_examples)
        explained = explained_model(
            model,
            self.initialization_examples,
            features=features,
            transformations=transformations,
            allow_all_transformations=allow_all_transformations,
            split_pipeline=False,
        )
        X = np.asarray(explained.model_input(self.initialization_examples), dtype=np.float64)
        if len(X) < 10:
            raise InputError("MimicExplainer needs at least 10 initialization examples")
        is_classifier = _is_classifier(model) and model_task != "regression"
        if (is_classifier or model_task == "classification") and not hasattr(
            model, "predict_proba"
        ):
            raise InputError(
                f"{type(model).__name__} is a classifier without predict_proba: a surrogate "
                "mimics the teacher's probabilities; wrap it in "
                "CalibratedClassifierCV(..., ensemble=False)"
            )
        is_classifier = is_classifier or model_task == "classification"
        self.model_task = "classification" if is_classifier else "regression"
        rng = np.random.default_rng(random_state)
        order = rng.permutation(len(X))
        n_holdout = max(1, round(holdout_fraction * len(X)))
        held, train = order[:n_holdout], order[n_holdout:]
        X_train = X[train]
        if augment_data:
            copies = min(
                max_num_of_augmentations, math.ceil(AUGMENT_TARGET_ROWS / len(X_train)) - 1
            )
            spread = AUGMENT_JITTER * np.nanstd(X_train, axis=0)
            jittered = [
                X_train + rng.normal(size=X_train.shape) * spread for _ in range(max(0, copies))
            ]
            X_train = np.vstack([X_train, *jittered])
        self.classes_ = None
        teacher_classes: list[Any] | None = None
        if is_classifier:
            teacher_classes = [c.item() if isinstance(c, np.generic) else c for c in model.classes_]
            if classes is not None and len(classes) != len(teacher_classes):
                raise InputError(
                    f"{len(classes)} class names given, the model has {len(teacher_classes)}"
                )
            self.classes_ = list(classes) if classes is not None else teacher_classes
        self.teacher_classes_ = teacher_classes
        self._binary = is_classifier and len(teacher_classes or []) == 2
        target, y = self._targets(X_train)
        if target == "classification":
            X_train, y = self._every_class(X_train, y)
        surrogate.fit(X_train, y, target)
        self.surrogate_ = surrogate
        self.explained_ = replace(explained, estimator=surrogate.model_)
        names = explained.model_features
        engine_classes = None if target == "regression" else self.classes_
        if surrogate.kind == "tree":
            engine: Any = TreeScoringExplainer.from_model(
                surrogate.model_, X_train[:1000], features=names, classes=engine_classes
            )
        else:
            engine = LinearScoringExplainer.from_model(
                surrogate.model_, X_train, features=names, classes=engine_classes
            )
        self.engine_ = engine
        self.method = surrogate.method
        self.fidelity = self._fidelity(X[held])

    # -- teacher targets --------------------------------------------------------------------
    def _teacher(self, X: np.ndarray) -> np.ndarray:
        """The teacher's probabilities (n_rows, n_classes) or predictions (n_rows,)."""
        rows: Any = X
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None and len(names) == X.shape[1]:
            import pandas as pd

            rows = pd.DataFrame(X, columns=list(names))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.model_task == "classification":
                return np.asarray(self.model.predict_proba(rows), dtype=np.float64)
            return np.asarray(self.model.predict(rows), dtype=np.float64).reshape(len(X))

    def _targets(self, X: np.ndarray) -> tuple[Target, np.ndarray]:
        outputs = self._teacher(X)
        if self.model_task == "regression":
            return "regression", outputs
        if self._binary:
            return "regression", _logit(outputs[:, 1])
        return "classification", np.argmax(outputs, axis=1)

    def _every_class(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Make sure every class appears once (the teacher's most confident row for it)."""
        n_classes = len(self.classes_ or [])
        missing = sorted(set(range(n_classes)) - set(y.tolist()))
        if not missing:
            return X, y
        proba = self._teacher(X)
        rows = [int(np.argmax(proba[:, c])) for c in missing]
        return np.vstack([X, X[rows]]), np.concatenate([y, np.array(missing)])

    def _surrogate_outputs(self, X: np.ndarray) -> np.ndarray:
        model = self.surrogate_.model_
        if self.model_task == "classification" and not self._binary:
            return np.asarray(model.predict_proba(X), dtype=np.float64)
        return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X))

    def _fidelity(self, X: np.ndarray) -> dict[str, Any]:
        teacher = self._teacher(X)
        guess = self._surrogate_outputs(X)
        if self.model_task == "regression":
            return {"r2": _r2(teacher, guess), "label_agreement": None, "n_rows": len(X)}
        if self._binary:
            truth = _logit(teacher[:, 1])
            agreement = float(np.mean((guess > 0) == (teacher[:, 1] > 0.5)))
            return {"r2": _r2(truth, guess), "label_agreement": agreement, "n_rows": len(X)}
        agreement = float(np.mean(np.argmax(guess, 1) == np.argmax(teacher, 1)))
        return {"r2": _r2(teacher, guess), "label_agreement": agreement, "n_rows": len(X)}

    def _scoring_engine(
        self, kind: str | None, X: Any
    ) -> tuple[ScoringExplainer, ExplainedModel, Any]:
        """What a scoring explainer is distilled from: the surrogate's engine (for a binary
        teacher as two classes in log-odds), which must be of ``kind`` when one is asked
        for, the explained model and the initialization rows (``X`` is not used: the
        surrogate was trained on them; see :func:`scoring_explainers.distill.distill`)."""
        engine = self.engine_
        if self._binary:
            engine = binary_classifier(
                engine,
                teacher_classes=list(self.teacher_classes_ or []),
                classes=list(self.classes_ or []),
                fidelity=self.fidelity,
            )
        if kind is not None and kind != engine.kind:
            raise UnsupportedModelError(
                f"this MimicExplainer's surrogate ({self.method}) is explained by the "
                f"{engine.kind} scoring explainer, not {kind}; use scoring_explainer_for()"
            )
        return engine, self.explained_, self.initialization_examples

    def get_surrogate_model_replication_measure(self, training_data: Any) -> float:
        """How well the surrogate replicates the teacher on ``training_data`` (raw rows):
        label agreement for classifiers, R² of the teacher's outputs for regressors."""
        X = np.asarray(self.explained_.model_input(dense(training_data)), dtype=np.float64)
        measure = self._fidelity(X)
        value = measure["label_agreement"] if self.model_task == "classification" else None
        return float(measure["r2"] if value is None else value)

    # -- description ------------------------------------------------------------------------
    @property
    def features(self) -> list[str]:
        fmap = self.explained_.fmap
        return self.explained_.raw_features if fmap is not None else self.explained_.model_features

    @property
    def classes(self) -> list[Any] | None:
        return None if self.classes_ is None else list(self.classes_)

    # -- explanations -------------------------------------------------------------------------
    def _explain(self, X: Any, *, is_global: bool, include_local: bool = True) -> Any:
        X = dense(X)
        metadata: dict[str, Any] = {
            "fidelity": self.fidelity,
            "surrogate": repr(self.surrogate_),
            "output_space": "log_odds" if self._binary else self.engine_.output_space,
        }
        teacher = self._teacher(np.asarray(self.explained_.model_input(X), dtype=np.float64))
        if self.model_task == "classification":
            labels = np.asarray(self.classes_, dtype=object)[np.argmax(teacher, axis=1)]
            metadata.update(
                predictions=labels.tolist(), probabilities=teacher, classes=self.classes_
            )
        else:
            metadata.update(predictions=teacher, probabilities=None)
        explanation = to_explanation(
            self.engine_,
            self.explained_,
            X,
            method=self.method,
            subset=None,
            is_global=is_global,
            include_local=include_local,
            metadata=metadata,
            binary_margin=self._binary,
        )
        return explanation

    def explain_local(self, evaluation_examples: Any) -> LocalExplanation:
        """Local importances (surrogate log-odds for classifiers) of raw rows."""
        explanation = self._explain(evaluation_examples, is_global=False)
        assert isinstance(explanation, LocalExplanation)
        return explanation

    def explain_global(
        self, evaluation_examples: Any = None, *, include_local: bool = True
    ) -> GlobalExplanation:
        """Global importances by the one definition (mean |local|), on
        ``evaluation_examples`` or, without them, on the initialization examples."""
        rows = self.initialization_examples if evaluation_examples is None else evaluation_examples
        explanation = self._explain(rows, is_global=True, include_local=include_local)
        assert isinstance(explanation, GlobalExplanation)
        return explanation

    def __repr__(self) -> str:
        return f"MimicExplainer(method={self.method!r}, fidelity={self.fidelity})"
