"""Raw tabular data end to end: string categoricals, missing values and unseen categories
from the full explainer to the distilled, saved and loaded scoring explainer; the codes
preprocessing graph against scikit-learn; Kernel SHAP over raw players against the
brute-force Shapley values of the raw game; what a migrating user hits."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
    TargetEncoder,
)
from sklearn.svm import SVC

import scoring_explainers as se
from scoring_explainers import ConversionError, InputError
from scoring_explainers.distill import distill
from scoring_explainers.distill._preprocess import check_preprocessing, preprocessing_graph
from scoring_explainers.distill._raw import infer_columns, probe_rows
from scoring_explainers.distill._raw_kernel import raw_kernel
from scoring_explainers.explainers import TabularExplainer
from scoring_explainers.runtime import RawSchema
from scoring_explainers.transformations import feature_map
from tests.frames import (
    ADULT_CATEGORIES,
    ADULT_NUMERIC,
    PASSENGER_CATEGORICAL,
    PASSENGER_NUMERIC,
    adult,
    adult_transformer,
    passenger,
    passenger_transformer,
)

pytestmark = pytest.mark.filterwarnings("ignore")

FRAMES = {
    "passenger": (
        lambda: passenger(240, 0),
        passenger_transformer,
        PASSENGER_NUMERIC,
        PASSENGER_CATEGORICAL,
    ),
    "adult": (
        lambda: adult(300, 1),
        adult_transformer,
        ADULT_NUMERIC,
        [*ADULT_CATEGORIES, "education_num"],
    ),
}


def _pairs(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> list[Any]:
    """The sklearn-pandas style list of (columns, fitted transformer) pairs."""
    out: list[Any] = []
    for c in numeric:
        step = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        out.append(([c], step.fit(frame[[c]])))
    for c in categorical:
        step = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="missing")
            if frame[c].dtype != np.int64
            else SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore"),
        )
        out.append(([c], step.fit(frame[[c]])))
    return out


def _hostile(frame: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """Rows with unseen categories and missing values in every column kind."""
    rows = frame.iloc[:6].copy().astype(object)
    for i, c in enumerate(categorical[:3]):
        rows.iloc[i, rows.columns.get_loc(c)] = "never-seen" if i != 2 else None
    rows.iloc[3, rows.columns.get_loc(numeric[0])] = np.nan
    rows.iloc[4, rows.columns.get_loc(categorical[-1])] = 99  # unseen integer category
    rows.iloc[5, rows.columns.get_loc(categorical[0])] = np.nan
    return rows.infer_objects()


def _model(name: str) -> Any:
    if name == "lr":
        return LogisticRegression(max_iter=500)
    if name == "rf":
        return RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)
    if name == "lgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=20, num_leaves=8, verbose=-1, random_state=0)
    return SVC(probability=True, random_state=0)


@pytest.mark.parametrize("shape", ["column_transformer", "pairs", "pipeline"])
@pytest.mark.parametrize("model_name", ["lr", "rf", "lgbm", "svc"])
@pytest.mark.parametrize("frame_name", ["passenger", "adult"])
def test_explainer_distilled_saved_loaded_scores_raw_rows(frame_name, model_name, shape, tmp_path):
    make, transformer, numeric, categorical = FRAMES[frame_name]
    frame, y = make()
    if shape == "pairs":
        transformations: Any = _pairs(frame, numeric, categorical)
    else:
        transformations = transformer().fit(frame)
    engineered = feature_map(transformations, list(frame.columns)).transform(frame)
    model = _model(model_name).fit(engineered, y)
    if shape == "pipeline":  # the Pipeline's leading steps are the transformations
        pipeline = Pipeline([("pre", transformations), ("m", model)])
        explainer = TabularExplainer(pipeline, frame, nclusters=5, nsamples=300)
    else:
        explainer = TabularExplainer(
            model, frame, transformations=transformations, nclusters=5, nsamples=300
        )
    rows = _hostile(frame, categorical, numeric)
    expected = explainer.explain_local(rows)
    scoring = distill(explainer)
    se.save(scoring, tmp_path / "artifact")
    loaded = se.load(tmp_path / "artifact")
    got = loaded.score(rows)
    assert list(loaded.schema.names) == list(frame.columns)
    np.testing.assert_allclose(
        got.local_importance_values, expected.local_importance_values, atol=1e-5
    )
    np.testing.assert_allclose(got.expected_values, expected.expected_values, atol=1e-6)
    # every path is additive: values + expected value = each class's output
    values = np.asarray(got.local_importance_values)
    total = values.sum(axis=-1) + np.asarray(got.expected_values)[:, None]
    probabilities = np.asarray(got.probabilities)
    if loaded.output_space == "log_odds":
        probabilities = np.log(probabilities / (1 - probabilities))
    np.testing.assert_allclose(total.T, probabilities, atol=1e-4)
    if explainer.kind == "kernel":
        assert loaded.features == list(frame.columns)  # raw players


CATS = PASSENGER_CATEGORICAL
ENCODERS = {
    "onehot_ignore": lambda: passenger_transformer(),
    "onehot_error": lambda: ColumnTransformer(
        [
            ("n", SimpleImputer(), PASSENGER_NUMERIC),
            ("c", OneHotEncoder(handle_unknown="error"), CATS),
        ]
    ),
    "onehot_infrequent_drop": lambda: ColumnTransformer(
        [
            ("n", SimpleImputer(), PASSENGER_NUMERIC),
            (
                "c",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, drop="first"),
                CATS,
            ),
        ]
    ),
    "ordinal_unknown_value": lambda: ColumnTransformer(
        [
            ("n", SimpleImputer(), PASSENGER_NUMERIC),
            (
                "c",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
                ),
                CATS,
            ),
        ]
    ),
    "target": lambda: ColumnTransformer(
        [("n", SimpleImputer(), PASSENGER_NUMERIC), ("c", TargetEncoder(random_state=0), CATS)]
    ),
    "pipeline_post_step": lambda: make_pipeline(
        passenger_transformer(), StandardScaler(with_mean=False)
    ),
    "remainder": lambda: ColumnTransformer(
        [
            (
                "c",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                CATS,
            )
        ],
        remainder=SimpleImputer(),
    ),
}


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_codes_graph_equals_sklearn_on_known_missing_and_unseen_values(encoder):
    frame, y = passenger(240, 0)
    transformations = ENCODERS[encoder]().fit(frame, y)
    fmap = feature_map(transformations, list(frame.columns))
    raw = infer_columns(frame, fmap, model_handles_missing=False)
    schema = RawSchema.from_json(raw.columns)
    graph = preprocessing_graph(fmap, raw)
    probes = probe_rows(frame, raw.columns, fmap.raw_features)
    report = check_preprocessing(graph, fmap, schema, frame, probes=probes)
    assert report["max_relative_diff"] < 1e-6
    assert report["rows"] > 200
    by_name = {c["name"]: c for c in raw.columns}
    if encoder == "onehot_error":
        assert by_name["sex"]["unknown"] == "error" and by_name["sex"]["missing"] is False
        bad = frame.iloc[:2].copy()
        bad.loc[bad.index[1], "embarked"] = "Z"
        with pytest.raises(InputError, match=r"row 1, column 'embarked'.*'Z'"):
            schema.encode(bad)
    elif encoder == "ordinal_unknown_value":
        assert by_name["embarked"]["unknown"] == "code" and by_name["embarked"]["missing"]
        assert by_name["age"]["missing"] is True  # imputed
    else:
        assert all(c.get("unknown", "code") == "code" for c in raw.columns)


def test_string_categorical_in_numeric_transformer_is_refused():
    frame, _y = passenger(120, 0)
    ct = ColumnTransformer([("all", SimpleImputer(strategy="most_frequent"), ["age", "sex"])])
    fmap = feature_map(ct.fit(frame), list(frame.columns))
    with pytest.raises(ConversionError, match="categorical and numeric columns together"):
        infer_columns(frame, fmap, model_handles_missing=False)


def _brute_force(model, transformations, rows, background, weights):
    """Shapley values of the raw game v(S) = sum_b w_b f(T(x_S, b_~S)), every coalition
    enumerated, the synthetic raw rows through the real sklearn transform."""
    m = rows.shape[1]
    out = np.zeros((len(rows), m, 2))
    for r in range(len(rows)):
        values: dict[tuple[int, ...], np.ndarray] = {}
        for size in range(m + 1):
            for S in itertools.combinations(range(m), size):
                synthetic = background.copy()
                for j in S:
                    synthetic.iloc[:, j] = [rows.iloc[r, j]] * len(background)
                prob = model.predict_proba(transformations.transform(synthetic))
                values[S] = weights @ prob
        for j in range(m):
            for S, v in values.items():
                if j in S:
                    continue
                k = len(S)
                share = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                with_j = tuple(sorted((*S, j)))
                out[r, j] += share * (values[with_j] - v)
    return out


@pytest.mark.parametrize("masking", ["engineered", "raw", "non_separable"])
def test_kernel_raw_players_equal_brute_force_shapley_of_the_raw_game(masking):
    frame, y = passenger(200, 0)
    transformations: Any = passenger_transformer().fit(frame)
    if masking == "non_separable":  # a post step mixing columns: codes are masked
        transformations = make_pipeline(passenger_transformer(), Normalizer()).fit(frame)
    model = SVC(probability=True, random_state=0).fit(transformations.transform(frame), y)
    fmap = feature_map(transformations, list(frame.columns))
    if masking == "engineered":
        engine = TabularExplainer(model, frame, transformations=transformations, nclusters=4)
        engine = engine.engine_
    else:
        engine = raw_kernel(
            model,
            frame,
            fmap,
            classes=None,
            nclusters=4,
            nsamples="auto",
            random_state=0,
            require_onnx=True,
            masking="auto" if masking == "non_separable" else "raw",
        )
    assert engine.metadata["masking"] == ("engineered" if masking == "engineered" else "raw")
    assert fmap.separable is (masking != "non_separable")
    assert engine.exact_  # 6 raw players: every coalition enumerated
    background = frame.iloc[engine.metadata["background_rows"]].reset_index(drop=True)
    rows = _hostile(frame, PASSENGER_CATEGORICAL, PASSENGER_NUMERIC).iloc[:4]
    got = np.asarray(engine.score(rows).local_importance_values)  # (K, r, M)
    reference = _brute_force(
        model,
        transformations,
        rows.astype(object),
        background.astype(object),
        engine.background_weights_,
    )
    np.testing.assert_allclose(np.moveaxis(got, 0, -1), reference, atol=2e-5)


def test_background_rows_are_rows_of_the_data_with_cluster_shares():
    frame, y = adult(300, 2)
    ct = adult_transformer().fit(frame)
    model = SVC(probability=True, random_state=0).fit(ct.transform(frame), y)
    explainer = TabularExplainer(model, frame, transformations=ct, nclusters=7, nsamples=200)
    engine = explainer.engine_
    rows = engine.metadata["background_rows"]
    assert len(rows) == len(set(rows)) == 7
    # the background is those rows of the data, transformed
    np.testing.assert_allclose(engine.background_, ct.transform(frame.iloc[rows]), atol=1e-5)
    np.testing.assert_allclose(engine.background_weights_.sum(), 1.0)
    counts = engine.background_weights_ * 300
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # cluster shares


# -- what a migrating user hits ---------------------------------------------------------
def _pipeline(model: Any) -> Pipeline:
    return Pipeline([("pre", passenger_transformer()), ("m", model)])


def test_unfitted_model_or_transformer_says_fit_it_first():
    frame, y = passenger(100, 0)
    with pytest.raises(
        InputError, match=r"Pipeline step 'pre' \(ColumnTransformer\) is not fitted: fit it first"
    ):
        TabularExplainer(_pipeline(LogisticRegression()), frame)
    ct = passenger_transformer()
    model = LogisticRegression().fit(passenger_transformer().fit_transform(frame), y)
    with pytest.raises(
        InputError, match=r"the transformations \(ColumnTransformer\) is not fitted"
    ):
        TabularExplainer(model, frame, transformations=ct)
    with pytest.raises(InputError, match=r"the model \(SVC\) is not fitted: fit it first"):
        se.KernelScoringExplainer.from_model(SVC(probability=True), np.zeros((5, 2)))


class _ProbabilitiesOnly:
    """A model with predict_proba and no classes_ (a hand-written wrapper)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._model.predict_proba(X)


def test_predict_proba_without_classes_takes_classes():
    frame, y = passenger(150, 0)
    ct = passenger_transformer().fit(frame)
    model = _ProbabilitiesOnly(
        RandomForestClassifier(10, random_state=0).fit(ct.transform(frame), y)
    )
    explainer = TabularExplainer(
        model, frame, transformations=ct, classes=["died", "survived"], nsamples=100
    )
    explanation = explainer.explain_local(frame.iloc[:3])
    assert explanation.classes == ["died", "survived"]
    assert set(explanation.eval_y_predicted) <= {"died", "survived"}


def test_a_function_is_explained_by_kernel_and_refused_by_distilling():
    frame, y = passenger(150, 0)
    pipe = _pipeline(LogisticRegression(max_iter=500)).fit(frame, y)
    explainer = TabularExplainer(pipe.predict_proba, frame, nclusters=4)
    assert explainer.kind == "kernel" and "function" in explainer.method_reason
    explanation = explainer.explain_local(frame.iloc[:3])
    values = np.asarray(explanation.local_importance_values)
    assert values.shape == (2, 3, 6)
    total = values.sum(axis=-1) + np.asarray(explanation.expected_values)[:, None]
    np.testing.assert_allclose(total.T, pipe.predict_proba(frame.iloc[:3]), atol=1e-9)
    with pytest.raises(ConversionError, match="pass the fitted model itself"):
        distill(explainer)


def test_transformations_of_another_width_are_refused_naming_both():
    frame, y = passenger(150, 0)
    ct = passenger_transformer().fit(frame)
    engineered = ct.transform(frame)
    model = LogisticRegression().fit(engineered[:, :-2], y)
    with pytest.raises(
        InputError,
        match=rf"transformations give {engineered.shape[1]} columns but the model takes "
        rf"{engineered.shape[1] - 2}",
    ):
        TabularExplainer(model, frame, transformations=ct)


def test_knn_ties_fall_back_to_python_and_distilling_names_the_cause():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (200, 4)).astype(float)  # many equal distances
    y = (X.sum(axis=1) > 3).astype(int)
    knn = KNeighborsClassifier(5).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explainer = TabularExplainer(knn, X)
    assert any("distance ties" in str(w.message) and "Python" in str(w.message) for w in caught)
    values = explainer.explain_local(X[:2]).local_importance_values
    assert np.asarray(values).shape == (2, 2, 4)
    with pytest.raises(ConversionError, match=r"distance ties.*weights='distance'"):
        distill(explainer)


def test_zero_features_is_an_input_error():
    with pytest.raises(InputError, match="zero features"):
        TabularExplainer(LogisticRegression().fit(np.ones((4, 1)), [0, 1, 0, 1]), np.zeros((4, 0)))


def test_from_model_with_a_pipeline_on_string_columns_has_raw_players(tmp_path):
    frame, y = passenger(200, 0)
    pipe = _pipeline(SVC(probability=True, random_state=0)).fit(frame, y)
    scoring = se.KernelScoringExplainer.from_model(pipe, frame, nclusters=4)
    assert scoring.features == list(frame.columns)
    assert scoring.metadata["players"] == "raw"
    se.save(scoring, tmp_path / "a")
    loaded = se.load(tmp_path / "a")
    rows = _hostile(frame, PASSENGER_CATEGORICAL, PASSENGER_NUMERIC)
    result = loaded.score(rows)
    np.testing.assert_allclose(result.probabilities, pipe.predict_proba(rows), atol=1e-5)
    values = np.asarray(result.local_importance_values)
    total = values.sum(axis=-1) + np.asarray(result.expected_values)[:, None]
    np.testing.assert_allclose(total.T, result.probabilities, atol=1e-5)


def test_a_dropped_string_column_is_accepted_and_ignored():
    frame, y = passenger(150, 0)
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(), PASSENGER_NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "pclass"]),
        ]
    ).fit(frame)  # embarked and cabin are dropped
    model = LogisticRegression(max_iter=500).fit(ct.transform(frame), y)
    scoring = distill(TabularExplainer(model, frame, transformations=ct))
    rows = frame.head(3).assign(cabin=["never-seen", None, "A"])
    values = np.asarray(scoring.score(rows).local_importance_values)
    assert np.all(values[..., [3, 4]] == 0)  # embarked, cabin: no engineered columns
    assert scoring.schema.columns[4].unknown == "code"


def test_none_as_a_fitted_category_is_the_missing_value():
    frame = pd.DataFrame(
        {
            "x": np.linspace(0, 1, 60),
            "c": pd.Series(["a", None, "b", "a", "b", "a"] * 10, dtype=object),
        }
    )
    ct = ColumnTransformer(
        [("n", "passthrough", ["x"]), ("c", OneHotEncoder(handle_unknown="ignore"), ["c"])]
    ).fit(frame)
    fmap = feature_map(ct, ["x", "c"])
    raw = infer_columns(frame, fmap, model_handles_missing=False)
    assert raw.columns[1]["categories"] == ["a", "b"] and raw.columns[1]["missing"]
    schema = RawSchema.from_json(raw.columns)
    report = check_preprocessing(preprocessing_graph(fmap, raw), fmap, schema, frame)
    assert report["rows"] == 60 and report["max_relative_diff"] < 1e-6
    both = frame.assign(c=pd.Series(["a", None, np.nan, "b"] * 15, dtype=object))
    ct_both = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["c"])])
    fmap_both = feature_map(ct_both.fit(both), ["x", "c"])
    with pytest.raises(ConversionError, match="both None and NaN"):
        infer_columns(both, fmap_both, model_handles_missing=False)


@pytest.mark.parametrize("model_name", ["rf", "svc"])
def test_explanations_keep_mixed_rows_and_the_raw_schema(model_name):
    """A local explanation of raw rows with categories keeps the rows as given (strings and
    None, not dropped), and survives its JSON round trip; a Kernel explanation over raw
    players also carries the raw schema (categories for the dashboard)."""
    frame, y = passenger(200, 3)
    ct = passenger_transformer().fit(frame)
    model = _model(model_name).fit(ct.transform(frame), y)
    explainer = TabularExplainer(model, frame, transformations=ct)
    rows = _hostile(frame, PASSENGER_CATEGORICAL, PASSENGER_NUMERIC)
    local = explainer.explain_local(rows)
    kept = local.eval_data
    assert kept is not None and len(kept) == len(rows)
    column = list(rows.columns).index(PASSENGER_CATEGORICAL[0])
    assert kept[0][column] == "never-seen"
    assert kept[5][column] is None
    back = type(local).from_json(local.to_json())
    assert back.eval_data == kept
    assert explainer.method == ("shap.kernel" if model_name == "svc" else "shap.tree")
    if model_name != "svc":
        return
    schema = RawSchema.from_json(local.metadata["raw_schema"])
    assert schema.names == list(rows.columns)
    assert schema.columns[column].kind == "categorical"
    assert back.metadata["raw_schema"] == local.metadata["raw_schema"]
