"""Standard errors and tolerance of Kernel explanations: the sampling units of a design,
the delete-a-group jackknife over them, prefixes checked against a tolerance, the artifact.

Exact values come from full-enumeration designs over the same background and model;
onnxruntime runs every graph.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from scoring_explainers import ArtifactError, load, save
from scoring_explainers.distill._design import _draw_pairs, coalition_design
from scoring_explainers.runtime._design import (
    CoalitionDesign,
    check_units,
    checkpoints,
    projection,
    sub_design,
)
from scoring_explainers.scoring import (
    KernelScoringExplainer,
    LinearScoringExplainer,
    TreeScoringExplainer,
)

M = 10


@pytest.fixture(scope="module")
def problem():
    """A 10-feature binary problem, an MLP and an RBF SVC fitted on it."""
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    X, y = make_classification(
        n_samples=500, n_features=M, n_informative=6, n_classes=2, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "mlp": MLPClassifier((32,), max_iter=500, random_state=0).fit(X[:400], y[:400]),
            "svc": SVC(gamma=0.1, probability=True, random_state=0).fit(X[:400], y[:400]),
        }
    return X, models


@pytest.fixture(scope="module")
def exact(problem):
    """Full-enumeration explainers (2**10 - 2 coalitions) per model."""
    X, models = problem
    return {
        name: KernelScoringExplainer.from_model(model, X[:400], nclusters=8, nsamples=2**M)
        for name, model in models.items()
    }


def _sampled(base: KernelScoringExplainer, budget: int, seed: int, **extra):
    """``base``'s model and background with a sampled design of ``budget`` coalitions."""
    design = coalition_design(base.masks_.shape[1], budget, np.random.default_rng(seed))
    return KernelScoringExplainer(
        model=base.model,
        background=base.background_,
        background_weights=base.background_weights_,
        masks=design.masks,
        coalition_weights=design.weights,
        exact=design.exact,
        coalition_units=design.units,
        features=base.features,
        classes=base.classes,
        output_space=base.output_space,
        expected_values=base.expected_values,
        allow_missing=False,
        **extra,
    )


# -- the design ----------------------------------------------------------------------------
def test_sampled_pairs_are_distinct_in_draw_order_with_units():
    design = coalition_design(30, 500, np.random.default_rng(7))
    units = check_units(design.units, design.masks)
    n_fixed = int((units == -1).sum())
    assert n_fixed == 60  # sizes 1 and 29 enumerated
    assert len(design.masks) == 500
    assert len({m.tobytes() for m in design.masks}) == 500  # no coalition twice
    pairs = design.masks[n_fixed:].reshape(-1, 2, 30)
    np.testing.assert_array_equal(pairs[:, 1], ~pairs[:, 0])
    np.testing.assert_array_equal(units[n_fixed:], np.repeat(np.arange(220), 2))
    # sampled coalitions share one weight (no merged duplicates)
    assert np.ptp(design.weights[n_fixed:]) == 0


def test_prefix_of_the_draws_is_the_design_of_a_smaller_draw():
    # Draw order: the first pairs do not depend on how many are drawn after them.
    open_sizes = np.arange(2, 29)
    p = np.full(len(open_sizes), 1 / len(open_sizes))
    many = _draw_pairs(30, open_sizes, p, 100, np.random.default_rng(3))
    few = _draw_pairs(30, open_sizes, p, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(many, few)
    assert many.shape == (200, 30)


def test_drawing_stops_when_the_open_sizes_run_out_of_pairs():
    # size 3 of 6 features: 20 coalitions, 10 complementary pairs
    drawn = _draw_pairs(6, np.array([3]), np.array([1.0]), 50, np.random.default_rng(0))
    assert drawn.shape == (20, 6)
    assert len({m.tobytes() for m in drawn}) == 20


def test_exact_design_has_only_enumerated_units():
    design = coalition_design(6, 62, np.random.default_rng(0))
    assert design.exact and (design.units == -1).all()


def test_sub_design_rule():
    design = coalition_design(12, 300, np.random.default_rng(0))
    units = design.units
    fixed = units < 0
    keep = fixed | ((units >= 0) & (units < 20))
    sub = sub_design(design, keep)
    np.testing.assert_array_equal(sub.weights[fixed[keep]], design.weights[fixed])
    ratio = design.weights[~fixed].sum() / design.weights[keep & ~fixed].sum()
    np.testing.assert_allclose(sub.weights[~fixed[keep]], design.weights[keep & ~fixed] * ratio)
    assert sub.weights.sum() == pytest.approx(1.0)
    whole = sub_design(design, np.ones(len(units), dtype=bool))
    np.testing.assert_array_equal(whole.weights, design.weights)
    # every prefix is a valid design: it recovers a linear game exactly
    beta = np.random.default_rng(1).normal(size=12)
    P, q = projection(sub)
    np.testing.assert_allclose(P @ (sub.masks @ beta) + q * beta.sum(), beta, atol=1e-10)


def test_checkpoints_double_and_end_at_the_budget():
    assert checkpoints(0) == [0]
    assert checkpoints(3) == [3]
    assert checkpoints(90) == [8, 16, 32, 64, 90]
    assert checkpoints(1024) == [64, 128, 256, 512, 1024]
    assert checkpoints(220) == [14, 28, 56, 112, 220]


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ([-1, -1, 0, 0, 1], "shape"),
        ([-1, 0, 0, -1, 1, 1], "enumerated coalitions (-1) must come first"),
        ([-1, -1, 1, 1, 0, 0], "expected 0"),
        ([-1, -1, 0, 0, 0, 1], "expected 1"),
        ([-1, -1, 0, 1, 1, 2], "expected 0"),
        ([-1, -1, -1, 0, 0, 0], "odd count"),
        ([-1, -1, 0, 0, 1, 7], "below n_coalitions"),
        ([-2, -1, 0, 0, 1, 1], "below n_coalitions"),
        ([-1.0, -1.0, 0.5, 0.5, 1, 1], "integers"),
    ],
)
def test_check_units_refuses(units, message):
    masks = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=bool)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_units(np.array(units), masks)


def test_check_units_refuses_a_unit_that_is_not_a_complementary_pair():
    masks = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=bool)
    with pytest.raises(ValueError, match="unit 1's two coalitions are not complements"):
        check_units(np.array([0, 0, 1, 1]), masks)


# -- standard errors -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "svc"])
def test_standard_errors_cover_the_exact_values(problem, exact, name):
    """|error| <= 2 se for at least 85% of the values, on 40 rows, 3 budgets, 2 seeds."""
    X, _ = problem
    rows = X[400:440]
    truth = exact[name].explain(rows)
    covered, total = 0, 0
    for budget in (64, 128, 256):
        for seed in (0, 1):
            result = _sampled(exact[name], budget, seed).score(rows, uncertainty=True)
            error = np.abs(result.local_importance_values - truth)
            covered += int((error <= 2 * result.standard_errors).sum())
            total += error.size
    assert covered / total >= 0.85, covered / total


def test_standard_errors_shrink_as_the_budget_grows(problem, exact):
    X, _ = problem
    rows = X[400:420]
    mean_se = [
        _sampled(exact["mlp"], budget, 0).score(rows, uncertainty=True).standard_errors.mean()
        for budget in (64, 256, 800)
    ]
    assert mean_se[0] > mean_se[1] > mean_se[2] > 0, mean_se


def test_zero_for_an_exact_design_and_values_unchanged(problem, exact):
    X, _ = problem
    explainer = exact["mlp"]
    result = explainer.score(X[400:405], uncertainty=True)
    assert result.standard_errors.shape == (2, 5, M)
    assert (result.standard_errors == 0).all()
    np.testing.assert_array_equal(result.coalitions_used, np.full(5, 2**M - 2))
    np.testing.assert_array_equal(
        result.local_importance_values, explainer.score(X[400:405]).local_importance_values
    )
    # a tolerance changes nothing for an exact design
    assert (explainer.score(X[400:405], tolerance=1e-9).coalitions_used == 2**M - 2).all()


def test_values_with_uncertainty_are_the_plain_values(problem, exact):
    X, _ = problem
    explainer = _sampled(exact["svc"], 200, 0)
    plain = explainer.score(X[400:410])
    result = explainer.score(X[400:410], uncertainty=True)
    np.testing.assert_array_equal(result.local_importance_values, plain.local_importance_values)
    assert plain.standard_errors is None and plain.coalitions_used is None
    np.testing.assert_array_equal(result.coalitions_used, np.full(10, 200))
    # efficiency holds per row and class
    total = result.local_importance_values.sum(-1) + result.expected_values[:, None]
    np.testing.assert_allclose(total, result.probabilities.T, atol=1e-6)


@pytest.mark.parametrize("tolerance", [None, 0.004])
def test_same_row_same_values_and_errors_whatever_the_batch(problem, exact, tolerance):
    X, _ = problem
    explainer = _sampled(exact["mlp"], 300, 0, max_synthetic_rows=500)
    batch = explainer.score(X[400:430], uncertainty=True, tolerance=tolerance)
    if tolerance is not None:  # some rows stop early, others do not
        assert len(set(batch.coalitions_used.tolist())) > 1
    for i in (0, 7, 29):
        alone = explainer.score(X[400 + i : 401 + i], uncertainty=True, tolerance=tolerance)
        np.testing.assert_array_equal(
            alone.local_importance_values[:, 0], batch.local_importance_values[:, i]
        )
        np.testing.assert_array_equal(alone.standard_errors[:, 0], batch.standard_errors[:, i])
        assert alone.coalitions_used[0] == batch.coalitions_used[i]


def test_seeded_design_gives_identical_errors(problem, exact):
    X, _ = problem
    a = _sampled(exact["mlp"], 200, 5).score(X[400:405], uncertainty=True)
    b = _sampled(exact["mlp"], 200, 5).score(X[400:405], uncertainty=True)
    np.testing.assert_array_equal(a.standard_errors, b.standard_errors)


def test_max_features_keeps_the_same_features_in_every_replicate(problem, exact):
    X, _ = problem
    explainer = _sampled(exact["svc"], 200, 0, max_features=4)
    plain = explainer.score(X[400:410])
    result = explainer.score(X[400:410], uncertainty=True)
    np.testing.assert_array_equal(result.local_importance_values, plain.local_importance_values)
    zero = result.local_importance_values == 0
    assert (zero.sum(-1) == M - 4).all()
    # dropped features stay dropped in every replicate: their error is 0; kept ones vary
    assert (result.standard_errors[zero] == 0).all()
    assert (result.standard_errors[~zero] > 0).all()
    tolerant = explainer.score(X[400:410], tolerance=0.01)
    assert (tolerant.coalitions_used <= 200).all()


# -- tolerance -------------------------------------------------------------------------------
def _one_row_background(base: KernelScoringExplainer, row: np.ndarray, budget: int):
    """A sampled explainer whose background is the single row ``row``."""
    design = coalition_design(M, budget, np.random.default_rng(0))
    return KernelScoringExplainer(
        model=base.model,
        background=row[None],
        background_weights=np.ones(1),
        masks=design.masks,
        coalition_weights=design.weights,
        exact=False,
        coalition_units=design.units,
        features=base.features,
        classes=base.classes,
        output_space=base.output_space,
        expected_values=base.model.outputs(row[None])[0],
        allow_missing=False,
    )


def test_tolerance_stops_early_for_an_easy_row_and_never_exceeds_the_budget(problem, exact):
    X, _ = problem
    explainer = _one_row_background(exact["svc"], X[0], 300)
    first = explainer._n_fixed + 2 * explainer.unit_checkpoints()[0]
    assert explainer.unit_checkpoints() == [8, 16, 32, 64, 95]
    # X[0] is the background: a constant game, zero values and zero errors at once
    result = explainer.score(np.stack([X[0], X[401], X[402]]), tolerance=1e-3)
    assert result.coalitions_used[0] == first == 110 + 2 * 8
    assert (result.standard_errors[:, 0] == 0).all()
    assert (result.local_importance_values[:, 0] == 0).all()
    # the other rows are hard at 1e-3: more coalitions, never more than the design
    assert (result.coalitions_used[1:] > first).all()
    assert (result.coalitions_used <= explainer.n_coalitions).all()
    hopeless = explainer.score(X[401:404], tolerance=1e-12)
    np.testing.assert_array_equal(hopeless.coalitions_used, np.full(3, 300))
    np.testing.assert_array_equal(
        hopeless.local_importance_values, explainer.score(X[401:404]).local_importance_values
    )


def test_a_row_stopped_early_meets_its_tolerance(problem, exact):
    X, _ = problem
    explainer = _sampled(exact["mlp"], 800, 0)
    result = explainer.score(X[400:420], tolerance=0.005)
    early = result.coalitions_used < explainer.n_coalitions
    assert early.any()
    assert (result.standard_errors[:, early].max(axis=(0, 2)) <= 0.005).all()
    assert result.coalitions_used.dtype == np.int64
    # stopping early keeps additivity
    total = result.local_importance_values.sum(-1) + result.expected_values[:, None]
    np.testing.assert_allclose(total, result.probabilities.T, atol=1e-6)
    # and the looser the tolerance, the fewer coalitions
    loose = explainer.score(X[400:420], tolerance=0.02)
    assert loose.coalitions_used.sum() < result.coalitions_used.sum()


@pytest.mark.parametrize("tolerance", [0, -1.0, float("nan"), float("inf"), True, "0.1"])
def test_invalid_tolerance_is_refused(problem, exact, tolerance):
    X, _ = problem
    with pytest.raises(ValueError, match="tolerance must be a positive"):
        exact["mlp"].score(X[:2], tolerance=tolerance)


def test_legacy_design_without_units_asks_to_redistill(problem, exact):
    X, _ = problem
    base = exact["mlp"]
    design = coalition_design(M, 200, np.random.default_rng(0))
    legacy = KernelScoringExplainer(
        model=base.model,
        background=base.background_,
        background_weights=base.background_weights_,
        masks=design.masks,
        coalition_weights=design.weights,
        exact=False,
        features=base.features,
        classes=base.classes,
        output_space="probability",
        expected_values=base.expected_values,
        allow_missing=False,
    )
    assert legacy.units_ is None
    legacy.score(X[:2])  # the plain path works
    for keywords in ({"uncertainty": True}, {"tolerance": 0.01}):
        with pytest.raises(ValueError, match="re-distill it for uncertainty or tolerance"):
            legacy.score(X[:2], **keywords)


def test_tree_and_linear_are_exact(small_regression, seed_data):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    X, y = small_regression
    forest = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    tree = TreeScoringExplainer.from_model(forest)
    result = tree.score(X[:4], tolerance=0.5)
    assert result.standard_errors.shape == result.local_importance_values.shape == (4, 6)
    assert (result.standard_errors == 0).all()
    np.testing.assert_array_equal(result.coalitions_used, np.zeros(4, dtype=np.int64))
    np.testing.assert_array_equal(
        result.local_importance_values, tree.score(X[:4]).local_importance_values
    )
    x_train, x_test, y_train, *_ = seed_data
    linear = LinearScoringExplainer.from_model(
        LogisticRegression(max_iter=5000).fit(x_train, y_train), x_train
    )
    result = linear.score(x_test[:3], uncertainty=True)
    assert result.standard_errors.shape == (2, 3, 30) and (result.standard_errors == 0).all()
    with pytest.raises(ValueError, match="tolerance must be a positive"):
        linear.score(x_test[:3], tolerance=-1)


def test_body_gains_the_keys_only_when_asked(problem, exact):
    X, _ = problem
    explainer = _sampled(exact["mlp"], 200, 0)
    plain = explainer.score(X[400:402]).to_body(top_k=2)
    assert "standard_errors" not in plain and "coalitions_used" not in plain
    body = explainer.score(X[400:402], uncertainty=True).to_body(top_k=2)
    assert list(body)[: len(plain)] == list(plain)
    assert list(body)[len(plain) :] == ["standard_errors", "coalitions_used"]
    assert np.array(body["standard_errors"]).shape == (2, 2, M)
    assert body["coalitions_used"] == [200, 200]
    assert json.loads(json.dumps(body)) == body
    as_dict = explainer.score(X[400:402], uncertainty=True).to_dict()
    assert as_dict["coalitions_used"] == [200, 200]


def test_shared_between_threads(problem, exact):
    """Prefix maps are made lazily: threads asking at once get the same answers."""
    from concurrent.futures import ThreadPoolExecutor

    X, _ = problem
    explainer = _sampled(exact["mlp"], 400, 2)
    reference = _sampled(exact["mlp"], 400, 2).score(X[400:404], tolerance=0.003)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: explainer.score(X[400:404], tolerance=0.003), range(8)))
    for result in results:
        np.testing.assert_array_equal(result.standard_errors, reference.standard_errors)
        np.testing.assert_array_equal(result.coalitions_used, reference.coalitions_used)


# -- the artifact -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(problem, exact, tmp_path_factory):
    explainer = _sampled(exact["mlp"], 200, 0)
    directory = tmp_path_factory.mktemp("artifact") / "kernel"
    save(explainer, directory)
    return explainer, directory


def test_round_trip_keeps_units_and_errors(problem, saved):
    X, _ = problem
    explainer, directory = saved
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["settings"]["units"] is True
    assert manifest["format_version"] == 2
    loaded = load(directory)
    np.testing.assert_array_equal(loaded.units_, explainer.units_)
    a = explainer.score(X[400:405], tolerance=0.004)
    b = loaded.score(X[400:405], tolerance=0.004)
    np.testing.assert_array_equal(a.standard_errors, b.standard_errors)
    np.testing.assert_array_equal(a.coalitions_used, b.coalitions_used)


def _rewrite(source, target, *, arrays=None, settings=None):
    """A copy of the artifact with replaced arrays/settings and consistent hashes."""
    import hashlib
    import io

    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    if arrays is not None:
        with np.load(target / "arrays.npz", allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
        members.update(arrays)
        members = {k: v for k, v in members.items() if v is not None}
        buffer = io.BytesIO()
        np.savez(buffer, **members)
        (target / "arrays.npz").write_bytes(buffer.getvalue())
    if settings is not None:
        manifest["settings"].update(settings)
        manifest["settings"] = {k: v for k, v in manifest["settings"].items() if v is not None}
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((target / name).read_bytes()).hexdigest()
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_rewrite_helper_keeps_a_valid_artifact(saved, tmp_path):
    _, directory = saved
    load(_rewrite(directory, tmp_path / "same", arrays={}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("pair", "unit 3's two coalitions are not complements"),
        ("order", "units: coalition 20 has unit 1, expected 0"),
        ("fixed_late", "the enumerated coalitions \\(-1\\) must come first"),
        ("float", "units must be an integer array, got dtype float64"),
        ("short", "units must have shape \\(200,\\)"),
        ("flag_string", "settings.units must be true or false"),
        ("flag_string_with_array", "members .* do not match the expected"),
    ],
)
def test_crafted_units_are_refused(saved, tmp_path, change, message):
    explainer, directory = saved
    units = explainer.units_.copy()
    masks = explainer.masks_.copy()
    arrays: dict = {}
    settings = None
    if change == "pair":  # unit 3's second coalition is not the complement of its first
        masks[20 + 7] = masks[20 + 6]
        masks[20 + 7, 0] = ~masks[20 + 7, 0]
        arrays = {"masks": masks}
    elif change == "order":
        units[20:22], units[22:24] = 1, 0
        arrays = {"units": units}
    elif change == "fixed_late":
        units[40] = -1
        arrays = {"units": units}
    elif change == "float":
        arrays = {"units": units.astype(np.float64)}
    elif change == "short":
        arrays = {"units": units[:-2]}
    elif change == "flag_string":
        arrays, settings = {"units": None}, {"units": "yes"}
    else:
        settings = {"units": "yes"}
    target = _rewrite(directory, tmp_path / "crafted", arrays=arrays, settings=settings)
    with pytest.raises(ArtifactError, match="arrays.npz") as caught:
        load(target)
    assert caught.match(message)


def test_units_without_the_flag_or_the_flag_without_units_are_refused(saved, tmp_path):
    _, directory = saved
    no_flag = _rewrite(directory, tmp_path / "no_flag", settings={"units": None})
    with pytest.raises(ArtifactError, match="arrays.npz.*do not match the expected"):
        load(no_flag)
    no_array = _rewrite(directory, tmp_path / "no_array", arrays={"units": None})
    with pytest.raises(ArtifactError, match="arrays.npz.*do not match the expected"):
        load(no_array)


def test_legacy_artifact_loads_without_units(saved, tmp_path, problem):
    """An artifact written before units (no flag, no array) loads and scores as before."""
    X, _ = problem
    explainer, directory = saved
    legacy = _rewrite(
        directory, tmp_path / "legacy", arrays={"units": None}, settings={"units": None}
    )
    loaded = load(legacy)
    assert loaded.units_ is None
    np.testing.assert_array_equal(
        loaded.score(X[400:403]).local_importance_values,
        explainer.score(X[400:403]).local_importance_values,
    )
    with pytest.raises(ValueError, match="re-distill"):
        loaded.score(X[400:403], uncertainty=True)


def test_design_dataclass_default_keeps_old_constructor():
    design = CoalitionDesign(np.eye(3, dtype=bool), np.full(3, 1 / 3), False)
    assert design.units is None


# -- raw players and cancellation ---------------------------------------------------------------
def test_raw_players_have_standard_errors_over_the_raw_game():
    """A Pipeline on a mixed frame: the players are the 12 raw columns (masks over players);
    the errors cover the exact raw-game values (every coalition enumerated)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tests.frames import adult, adult_transformer

    frame, y = adult(600, seed=0)
    pipe = make_pipeline(adult_transformer(), LogisticRegression(max_iter=2000)).fit(frame, y)
    sampled = KernelScoringExplainer.from_model(pipe, frame, nclusters=5, nsamples=300)
    exact = KernelScoringExplainer.from_model(pipe, frame, nclusters=5, nsamples=2**12)
    assert sampled.players == exact.players == "raw"
    assert exact.exact_ and not sampled.exact_ and sampled.n_units > 0
    np.testing.assert_array_equal(sampled.background_, exact.background_)
    rows = frame.iloc[:30]
    result = sampled.score(rows, uncertainty=True)
    assert result.standard_errors.shape == (2, 30, 12)
    error = np.abs(result.local_importance_values - exact.explain(rows))
    assert (error <= 2 * result.standard_errors).mean() >= 0.85
    tolerant = sampled.score(rows, tolerance=0.01)
    assert (tolerant.coalitions_used <= 300).all()
    early = tolerant.coalitions_used < 300
    assert early.any()
    assert (tolerant.standard_errors[:, early].max(axis=(0, 2)) <= 0.01).all()


class _SetAfter:
    """A token that turns set at its ``n + 1``-th check, counting the checks."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


@pytest.mark.parametrize("keywords", [{"uncertainty": True}, {"tolerance": 1e-9}])
def test_cancel_is_checked_per_chunk(problem, exact, keywords):
    from scoring_explainers.scoring import ExplanationCancelled

    X, _ = problem
    explainer = _sampled(exact["mlp"], 300, 0, max_synthetic_rows=8 * 300)  # a row a chunk
    token = _SetAfter(3)
    with pytest.raises(ExplanationCancelled):
        explainer.score(X[400:410], cancel=token, **keywords)
    assert token.checks == 4


@pytest.mark.parametrize("name", ["kernel", "kernel_preprocess"])
def test_committed_v1_kernel_artifacts_are_exact_legacy_designs(name):
    """The frozen version-1 Kernel artifacts (no units, every coalition enumerated) load,
    score as before and give zero errors."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts" / "v1" / name
    expected = json.loads((root / "expected.json").read_text())
    rows = np.array([[np.nan if v is None else v for v in row] for row in expected["rows"]])
    scorer = load(root)
    assert scorer.units_ is None and scorer.exact_
    result = scorer.score(rows, uncertainty=True, tolerance=0.01)
    np.testing.assert_allclose(
        result.local_importance_values,
        expected["score"]["local_importance_values"],
        rtol=1e-6,
        atol=1e-9,
    )
    assert (result.standard_errors == 0).all()
    np.testing.assert_array_equal(result.coalitions_used, np.full(len(rows), scorer.n_coalitions))
