import numpy as np
import pytest

from scoring_explainers.distill._design import auto_nsamples, coalition_design
from scoring_explainers.runtime._design import CoalitionDesign, projection


def test_auto_budget_is_shaps():
    assert auto_nsamples(30) == 2108


def test_full_enumeration_when_budget_allows():
    design = coalition_design(6, 62, np.random.default_rng(0))
    assert design.exact
    assert len(design.masks) == 62
    assert len({tuple(m) for m in design.masks}) == 62
    assert design.weights.sum() == pytest.approx(1.0)


def test_sampled_design_is_deterministic_and_paired():
    a = coalition_design(30, 500, np.random.default_rng(7))
    b = coalition_design(30, 500, np.random.default_rng(7))
    assert not a.exact
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert len(a.masks) <= 500
    # sizes 1 and 29 are enumerated completely
    sizes = a.masks.sum(1)
    assert (sizes == 1).sum() == 30 and (sizes == 29).sum() == 30
    # every sampled coalition comes with its complement
    rows = {tuple(m) for m in a.masks}
    assert all(tuple(~np.array(m)) in rows for m in rows)


def test_projection_is_additive():
    design = coalition_design(12, 300, np.random.default_rng(0))
    P, q = projection(design)
    np.testing.assert_allclose(P.sum(0), 0.0, atol=1e-10)
    assert q.sum() == pytest.approx(1.0)


def test_projection_recovers_a_linear_game_exactly():
    # v(z) = z . beta is additive: any design must return beta.
    rng = np.random.default_rng(3)
    beta = rng.normal(size=10)
    design = coalition_design(10, 120, np.random.default_rng(1))
    P, q = projection(CoalitionDesign(design.masks, design.weights, design.exact))
    y = design.masks.astype(float) @ beta
    np.testing.assert_allclose(P @ y + q * beta.sum(), beta, atol=1e-10)
