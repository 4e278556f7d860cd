"""Tree ensembles -> plain node arrays and root-to-leaf paths (distill side).

Supported: scikit-learn DecisionTree*, RandomForest*, ExtraTrees*, GradientBoosting*,
HistGradientBoosting* (numeric splits); XGBoost (XGBClassifier, XGBRegressor, Booster);
LightGBM (LGBMClassifier, LGBMRegressor, Booster). Each tree becomes arrays of children,
split feature, threshold, the direction of a missing value, node cover and leaf values; the
explainer only needs the paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._errors import UnsupportedModelError
from ._estimator import final_estimator

__all__ = ["Ensemble", "Tree", "extract", "paths"]


@dataclass
class Tree:
    """One tree. ``left``/``right`` are -1 at leaves; ``value`` is (n_nodes, n_outputs)."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    zero_missing: np.ndarray | None = None


@dataclass
class Ensemble:
    """Trees whose leaf values add up (with ``base``) to the explained output.

    ``decision``: ``"le"`` (x <= t goes left) or ``"lt"`` (x < t); ``dtype``: the precision
    the library compares in; ``binary_margin``: one margin output for a two-class model.
    """

    trees: list[Tree]
    base: np.ndarray
    decision: Literal["le", "lt"]
    dtype: Literal["float32", "float64"]
    task: Literal["classification", "regression"]
    output_space: Literal["probability", "log_odds", "raw"]
    binary_margin: bool = False
    n_features: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


def _boosted(
    trees: list[Tree],
    k: int,
    decision: Literal["le", "lt"],
    dtype: Literal["float32", "float64"],
    classifier: bool,
    n_features: int,
    raw_margin: Any,
) -> Ensemble:
    """A boosted ensemble whose base offset is read off the model itself:
    ``raw_margin(zero row) - sum of the trees at the zero row``."""
    ensemble = Ensemble(
        trees,
        np.zeros(k),
        decision,
        dtype,
        "classification" if classifier else "regression",
        "log_odds" if classifier else "raw",
        binary_margin=classifier and k == 1,
        n_features=n_features,
    )
    probe = np.zeros((1, n_features), dtype=np.float32 if dtype == "float32" else np.float64)
    margin = np.atleast_1d(np.asarray(raw_margin(probe), dtype=np.float64).reshape(-1))
    ensemble.base = margin - _tree_sum(ensemble, probe)[0]
    return ensemble


def _sklearn_tree(tree: Any, scale: float, outputs: str) -> Tree:
    t = tree.tree_
    value = t.value[:, 0, :] if outputs == "proba" else t.value[:, :, 0]
    if outputs == "proba":
        value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
    missing_left = getattr(t, "missing_go_to_left", None)
    if missing_left is None:
        missing_left = np.zeros(t.node_count, dtype=bool)
    return Tree(
        left=t.children_left.astype(np.int64),
        right=t.children_right.astype(np.int64),
        feature=t.feature.astype(np.int64),
        threshold=t.threshold.astype(np.float64),
        nan_left=np.asarray(missing_left, dtype=bool),
        cover=t.weighted_n_node_samples.astype(np.float64),
        value=np.asarray(value, dtype=np.float64) * scale,
    )


def _hist_tree(nodes: np.ndarray, column: int, k: int) -> Tree:
    """One HistGradientBoosting predictor (its ``nodes`` structured array) as a Tree."""
    leaf = nodes["is_leaf"].astype(bool)
    if np.any(nodes["is_categorical"].astype(bool) & ~leaf):
        raise UnsupportedModelError(
            "HistGradientBoosting categorical splits are not supported; one-hot or "
            "ordinal-encode the categories before the model (numeric splits only)"
        )
    value = np.zeros((len(nodes), k))
    value[leaf, column] = nodes["value"][leaf]
    return Tree(
        left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
        right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
        feature=np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
        threshold=nodes["num_threshold"].astype(np.float64),
        nan_left=nodes["missing_go_to_left"].astype(bool),
        cover=nodes["count"].astype(np.float64),
        value=value,
    )


def _sklearn_hist(model: Any) -> Ensemble:
    """HistGradientBoosting{Classifier,Regressor}: ``x <= threshold`` in float64, NaN to
    the learned side, raw margin = baseline + the leaf values (already shrunk)."""
    name = type(model).__name__
    categorical = getattr(model, "is_categorical_", None)
    if (categorical is not None and np.any(categorical)) or getattr(
        model, "_preprocessor", None
    ) is not None:
        raise UnsupportedModelError(
            f"{name} with categorical features is not supported (numeric splits only)"
        )
    link = type(model._loss.link).__name__
    classifier = name.endswith("Classifier")
    if not classifier and link != "IdentityLink":
        raise UnsupportedModelError(
            f"{name}(loss={model.loss!r}) predicts through a {link}; only losses whose "
            "prediction is the raw margin (squared_error, absolute_error, quantile) are "
            "supported"
        )
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    k = len(base)
    trees = [
        _hist_tree(predictor.nodes, j, k)
        for stage in model._predictors
        for j, predictor in enumerate(stage)
    ]
    return Ensemble(
        trees,
        base,
        "le",
        "float64",
        "classification" if classifier else "regression",
        "log_odds" if classifier else "raw",
        binary_margin=classifier and k == 1,
        n_features=int(model.n_features_in_),
    )


def _sklearn(model: Any) -> Ensemble:
    name = type(model).__name__
    if name.startswith("HistGradientBoosting"):
        return _sklearn_hist(model)
    n_features = int(model.n_features_in_)
    if name.startswith(("DecisionTree", "RandomForest", "ExtraTrees")):
        estimators = [model] if name.startswith("DecisionTree") else list(model.estimators_)
        classifier = name.endswith("Classifier")
        if classifier and getattr(model, "n_outputs_", 1) != 1:
            raise UnsupportedModelError(f"multi-output {name} is not supported")
        trees = [
            _sklearn_tree(e, 1.0 / len(estimators), "proba" if classifier else "reg")
            for e in estimators
        ]
        k = trees[0].value.shape[1]
        return Ensemble(
            trees,
            np.zeros(k),
            "le",
            "float32",
            "classification" if classifier else "regression",
            "probability" if classifier else "raw",
            n_features=n_features,
        )
    if name.startswith("GradientBoosting"):
        lr = float(model.learning_rate)
        stages = model.estimators_  # (n_stages, K)
        k = stages.shape[1]
        trees = []
        for stage in stages:
            for j, est in enumerate(stage):
                tree = _sklearn_tree(est, lr, "reg")
                value = np.zeros((len(tree.value), k))
                value[:, j] = tree.value[:, 0]
                tree.value = value
                trees.append(tree)
        classifier = name.endswith("Classifier")
        raw = model.decision_function if classifier else model.predict
        return _boosted(trees, k, "le", "float32", classifier, n_features, raw)
    raise UnsupportedModelError(f"{name} is not a supported tree model")


def _xgboost(model: Any) -> Ensemble:
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree":
        raise UnsupportedModelError(f"XGBoost booster {gbm.get('name')!r} is not a tree model")
    objective = learner["objective"]["name"]
    n_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
    k = max(1, n_class)
    info = gbm["model"]["tree_info"]
    trees = []
    for spec, group in zip(gbm["model"]["trees"], info, strict=True):
        left = np.asarray(spec["left_children"], dtype=np.int64)
        if any(spec.get("split_type", [])) or spec.get("categories"):
            raise UnsupportedModelError("XGBoost categorical splits are not supported")
        leaf = left == -1
        value = np.zeros((len(left), k))
        value[leaf, group] = np.asarray(spec["split_conditions"], dtype=np.float64)[leaf]
        trees.append(
            Tree(
                left=left,
                right=np.asarray(spec["right_children"], dtype=np.int64),
                feature=np.where(leaf, -2, np.asarray(spec["split_indices"], dtype=np.int64)),
                threshold=np.asarray(spec["split_conditions"], dtype=np.float32).astype(np.float64),
                nan_left=np.asarray(spec["default_left"], dtype=bool),
                cover=np.asarray(spec["sum_hessian"], dtype=np.float64),
                value=value,
            )
        )
    classifier = objective.startswith(("binary:", "multi:"))
    n_features = int(learner["learner_model_param"]["num_feature"])
    import xgboost

    def margin(probe: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(xgboost.DMatrix(probe), output_margin=True))

    return _boosted(trees, k, "lt", "float32", classifier, n_features, margin)


def _lightgbm_nodes(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes of a dumped LightGBM tree in pre-order, children linked by index."""
    nodes: list[dict[str, Any]] = []
    stack: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = [(root, None, "")]
    while stack:
        node, parent, side = stack.pop()
        if parent is not None:
            parent[side] = len(nodes)
        nodes.append(node)
        if "leaf_index" not in node and "split_index" in node:
            if node.get("decision_type", "<=") != "<=":
                raise UnsupportedModelError("LightGBM categorical splits are not supported")
            stack.append((node["right_child"], node, "_right"))
            stack.append((node["left_child"], node, "_left"))
    return nodes


def _lightgbm(model: Any) -> Ensemble:
    booster = model.booster_ if hasattr(model, "booster_") else model
    dump = booster.dump_model()
    k = int(dump.get("num_tree_per_iteration", 1))
    objective = str(dump.get("objective", ""))
    trees = []
    for i, info in enumerate(dump["tree_info"]):
        nodes = _lightgbm_nodes(info["tree_structure"])
        n = len(nodes)
        left = np.full(n, -1, dtype=np.int64)
        right = np.full(n, -1, dtype=np.int64)
        feature = np.full(n, -2, dtype=np.int64)
        threshold = np.zeros(n)
        nan_left = np.zeros(n, dtype=bool)
        zero_missing = np.zeros(n, dtype=bool)
        cover = np.zeros(n)
        value = np.zeros((n, k))
        for j, node in enumerate(nodes):
            if "_left" in node:
                left[j], right[j] = node["_left"], node["_right"]
                feature[j] = node["split_feature"]
                threshold[j] = node["threshold"]
                missing = node.get("missing_type", "None")
                default_left = bool(node.get("default_left", True))
                if missing == "NaN":
                    nan_left[j] = default_left
                elif missing == "Zero":
                    nan_left[j] = default_left
                    zero_missing[j] = True
                else:  # NaN is read as 0.0
                    nan_left[j] = 0.0 <= threshold[j]
                cover[j] = node["internal_count"]
            else:
                cover[j] = node.get("leaf_count", 0)
                value[j, i % k] = node.get("leaf_value", node.get("internal_value", 0.0))
        trees.append(
            Tree(
                left,
                right,
                feature,
                threshold,
                nan_left,
                cover,
                value,
                zero_missing if zero_missing.any() else None,
            )
        )
    classifier = objective.startswith(("binary", "multiclass"))
    n_features = int(dump["max_feature_idx"]) + 1

    def margin(probe: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(probe, raw_score=True))

    return _boosted(trees, k, "le", "float64", classifier, n_features, margin)


def _go_left(tree: Tree, x: np.ndarray, decision: str) -> np.ndarray:
    """Direction at every node for rows x (n, M): (n, n_nodes) bool."""
    feature = np.maximum(tree.feature, 0)
    values = x[:, feature]
    left = values <= tree.threshold if decision == "le" else values < tree.threshold
    missing = np.isnan(values)
    if tree.zero_missing is not None:
        missing |= tree.zero_missing & (np.abs(np.nan_to_num(values)) <= 1e-35)
    return np.where(missing, tree.nan_left, left)


def _tree_sum(ensemble: Ensemble, X: np.ndarray) -> np.ndarray:
    """Sum of the leaf values each row reaches, (n, n_outputs)."""
    x = X.astype(np.float32 if ensemble.dtype == "float32" else np.float64)
    out = np.zeros((len(X), len(ensemble.base)))
    for tree in ensemble.trees:
        go_left = _go_left(tree, x, ensemble.decision)
        node = np.zeros(len(X), dtype=np.int64)
        rows = np.arange(len(X))
        while True:
            internal = tree.left[node] >= 0
            if not internal.any():
                break
            nxt = np.where(go_left[rows, node], tree.left[node], tree.right[node])
            node = np.where(internal, nxt, node)
        out += tree.value[node]
    return out


def extract(model: Any) -> Ensemble:
    """The tree ensemble of a fitted model (the last step of a Pipeline)."""
    final = final_estimator(model)
    module = type(final).__module__
    if module.startswith("xgboost"):
        return _xgboost(final)
    if module.startswith("lightgbm"):
        return _lightgbm(final)
    if module.startswith("sklearn"):
        return _sklearn(final)
    raise UnsupportedModelError(f"{type(final).__name__} is not a supported tree model")


def paths(ensemble: Ensemble) -> dict[str, np.ndarray]:
    """Root-to-leaf paths with one element per (leaf, feature), as flat arrays.

    Node arrays are concatenated over trees (``node_*``); each leaf has ``leaf_len``
    elements starting at ``leaf_start``; each element (a feature on the path) has its
    conditions starting at ``elem_cond_start`` (``cond_node``, ``cond_left``: the path
    goes left there), its ``elem_feature`` and zero fraction ``elem_z`` (product of
    cover(child)/cover(parent) over its conditions).
    """
    node_feature, node_threshold, node_nan_left, node_zero = [], [], [], []
    cond_node: list[int] = []
    cond_left: list[bool] = []
    elem_cond_start: list[int] = []
    elem_feature: list[int] = []
    elem_z: list[float] = []
    leaf_start: list[int] = []
    leaf_len: list[int] = []
    leaf_value: list[np.ndarray] = []
    expected = ensemble.base.astype(np.float64).copy()
    offset = 0
    for tree in ensemble.trees:
        node_feature.append(np.maximum(tree.feature, 0))
        node_threshold.append(tree.threshold)
        node_nan_left.append(tree.nan_left)
        node_zero.append(
            tree.zero_missing
            if tree.zero_missing is not None
            else np.zeros(len(tree.left), dtype=bool)
        )
        root_cover = tree.cover[0] if tree.cover[0] > 0 else 1.0
        stack: list[tuple[int, list[tuple[int, bool, int]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if tree.left[node] < 0:
                expected += tree.value[node] * tree.cover[node] / root_cover
                groups: dict[int, tuple[list[tuple[int, bool]], list[float]]] = {}
                for parent, went_left, child in path:
                    conds, zs = groups.setdefault(int(tree.feature[parent]), ([], []))
                    conds.append((parent + offset, went_left))
                    zs.append(
                        tree.cover[child] / tree.cover[parent] if tree.cover[parent] > 0 else 0.0
                    )
                if not groups:  # a one-leaf tree: a constant, already in `expected`
                    continue
                leaf_start.append(len(elem_feature))
                leaf_len.append(len(groups))
                leaf_value.append(tree.value[node])
                for feature, (conds, zs) in groups.items():
                    elem_cond_start.append(len(cond_node))
                    for n, went_left in conds:
                        cond_node.append(n)
                        cond_left.append(went_left)
                    elem_feature.append(feature)
                    elem_z.append(float(np.prod(zs)))
            else:
                stack.append((int(tree.right[node]), [*path, (node, False, int(tree.right[node]))]))
                stack.append((int(tree.left[node]), [*path, (node, True, int(tree.left[node]))]))
        offset += len(tree.left)
    return {
        "node_feature": np.concatenate(node_feature).astype(np.int64),
        "node_threshold": np.concatenate(node_threshold).astype(np.float64),
        "node_nan_left": np.concatenate(node_nan_left).astype(bool),
        "node_zero_missing": np.concatenate(node_zero).astype(bool),
        "cond_node": np.asarray(cond_node, dtype=np.int64),
        "cond_left": np.asarray(cond_left, dtype=bool),
        "elem_cond_start": np.asarray(elem_cond_start, dtype=np.int64),
        "elem_feature": np.asarray(elem_feature, dtype=np.int64),
        "elem_z": np.asarray(elem_z, dtype=np.float64),
        "leaf_start": np.asarray(leaf_start, dtype=np.int64),
        "leaf_len": np.asarray(leaf_len, dtype=np.int64),
        "leaf_value": np.asarray(leaf_value, dtype=np.float64).reshape(
            len(leaf_value), len(ensemble.base)
        ),
        "expected": expected,
    }
