"""Which exact or model-agnostic path explains a model: a table, not trial and error."""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["Kind", "choose"]

Kind = Literal["tree", "linear", "kernel"]

#: Tree ensembles with exact TreeSHAP, by top-level package and class name.
TREE_MODELS: dict[str, frozenset[str]] = {
    "sklearn": frozenset(
        {
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
            "GradientBoostingClassifier",
            "GradientBoostingRegressor",
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
        }
    ),
    "lightgbm": frozenset({"LGBMClassifier", "LGBMRegressor", "Booster"}),
    "xgboost": frozenset({"XGBClassifier", "XGBRegressor", "Booster"}),
}
#: Linear models (margin = X @ coef + intercept) with the exact closed form.
LINEAR_MODELS: dict[str, frozenset[str]] = {
    "sklearn": frozenset(
        {
            "LogisticRegression",
            "LogisticRegressionCV",
            "LinearRegression",
            "Ridge",
            "RidgeCV",
            "Lasso",
            "LassoCV",
            "ElasticNet",
            "ElasticNetCV",
            "Lars",
            "LassoLars",
            "BayesianRidge",
            "ARDRegression",
            "HuberRegressor",
            "SGDClassifier",
            "SGDRegressor",
            "LinearSVR",
        }
    ),
}


def choose(estimator: Any) -> tuple[Kind, str]:
    """The path for ``estimator`` (a final estimator, not a Pipeline) and why."""
    root = type(estimator).__module__.split(".")[0]
    name = type(estimator).__name__
    if name in TREE_MODELS.get(root, ()):
        return "tree", f"{name} is a tree ensemble: exact TreeSHAP"
    if name in LINEAR_MODELS.get(root, ()):
        return "linear", f"{name} is a linear model: exact linear SHAP"
    return "kernel", f"{name} is neither a tree ensemble nor a linear model: Kernel SHAP"
