"""Explainable (surrogate) models for :class:`~scoring_explainers.explainers.MimicExplainer`.

Each wraps a scikit-learn or LightGBM learner with defaults that generalise (a surrogate that
memorises its training rows replicates the teacher there and nowhere else), scales inputs
where the learner needs it (linear and SGD), and is explained exactly by a scoring
explainer (tree or linear).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

__all__ = [
    "DecisionTreeExplainableModel",
    "ExplainableModel",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "SGDExplainableModel",
]

Target = Literal["regression", "classification"]


class ExplainableModel:
    """A surrogate learner: ``fit(X, y, target)`` then ``model_``.

    Parameters
    ----------
    random_state : int, default=0
    **params :
        Passed to the underlying learner, overriding the defaults.
    """

    method: ClassVar[str]
    kind: ClassVar[Literal["tree", "linear"]]

    def __init__(self, *, random_state: int = 0, **params: Any) -> None:
        self.random_state = random_state
        self.params = params

    def _make(self, target: Target, n_rows: int) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any, target: Target) -> ExplainableModel:
        """Fit on rows ``X`` (n_rows, n_features) and the teacher's targets ``y``."""
        self.model_ = self._make(target, len(X))
        self.model_.fit(X, y)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


class LGBMExplainableModel(ExplainableModel):
    """Gradient-boosted trees (LightGBM), regularised: shallow leaves, shrinkage, a
    minimum leaf size that grows with the data, row and column subsampling."""

    method = "mimic.lightgbm"
    kind = "tree"

    def _make(self, target: Target, n_rows: int) -> Any:
        import lightgbm as lgb

        params = {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": max(5, min(20, n_rows // 50)),
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "random_state": self.random_state,
            "n_jobs": 1,
            "verbose": -1,
            **self.params,
        }
        return (
            lgb.LGBMRegressor(**params) if target == "regression" else lgb.LGBMClassifier(**params)
        )


class DecisionTreeExplainableModel(ExplainableModel):
    """One decision tree (depth 8, at least 5 rows per leaf by default)."""

    method = "mimic.decision_tree"
    kind = "tree"

    def _make(self, target: Target, n_rows: int) -> Any:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        params = {"max_depth": 8, "min_samples_leaf": 5, "random_state": self.random_state}
        params.update(self.params)
        cls = DecisionTreeRegressor if target == "regression" else DecisionTreeClassifier
        return cls(**params)


class LinearExplainableModel(ExplainableModel):
    """Standardised inputs + ridge regression (regression targets) or logistic regression."""

    method = "mimic.linear"
    kind = "linear"

    def _make(self, target: Target, n_rows: int) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if target == "regression":
            learner: Any = Ridge(**{"alpha": 1.0, **self.params})
        else:
            learner = LogisticRegression(**{"max_iter": 2000, **self.params})
        return make_pipeline(StandardScaler(), learner)


class SGDExplainableModel(ExplainableModel):
    """Standardised inputs + a stochastic-gradient linear model (squared or log loss)."""

    method = "mimic.sgd"
    kind = "linear"

    def _make(self, target: Target, n_rows: int) -> Any:
        from sklearn.linear_model import SGDClassifier, SGDRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        params = {"random_state": self.random_state, "max_iter": 2000, "tol": 1e-4}
        if target == "regression":
            learner: Any = SGDRegressor(**{**params, **self.params})
        else:
            learner = SGDClassifier(**{"loss": "log_loss", **params, **self.params})
        return make_pipeline(StandardScaler(), learner)
