"""``score(..., cancel=)`` and ``explain(..., cancel=)``: the work stops at the next chunk."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scoring_explainers import ScoringExplainersError
from scoring_explainers.scoring import (
    ExplanationCancelled,
    KernelScoringExplainer,
    LinearScoringExplainer,
)


class SetAfter:
    """A token that turns set at its ``n + 1``-th check, counting the checks."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


class CountingEvent(threading.Event):
    """A ``threading.Event`` that counts its checks, and the checks made before ``set``."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0
        self.checks_before_set: int | None = None
        self.first_check = threading.Event()

    def is_set(self) -> bool:
        self.checks += 1
        self.first_check.set()
        return super().is_set()

    def set(self) -> None:
        self.checks_before_set = self.checks
        super().set()


@pytest.fixture(scope="module")
def chunked(small_mlp, small_classification):
    """254 coalitions x 5 background rows per row; two rows per chunk."""
    X, _ = small_classification
    explainer = KernelScoringExplainer.from_model(
        small_mlp, X[:300], nclusters=5, max_synthetic_rows=2 * 254 * 5
    )
    return explainer, X[300:320]


def test_the_chunk_loop_stops_at_the_next_chunk(chunked):
    explainer, rows = chunked
    assert len(list(explainer.chunk_plan(len(rows)))) == 10
    token = SetAfter(3)
    with pytest.raises(ExplanationCancelled, match="cancelled before it finished"):
        explainer.score(rows, cancel=token)
    assert token.checks == 4  # three chunks ran; the fourth check stopped the loop
    token = SetAfter(0)
    with pytest.raises(ExplanationCancelled):
        explainer.explain(rows, cancel=token)
    assert token.checks == 1
    assert issubclass(ExplanationCancelled, ScoringExplainersError)


def test_an_event_set_from_another_thread_stops_the_work(chunked):
    explainer, rows = chunked
    many = np.tile(rows, (50, 1))  # 500 chunks
    event = CountingEvent()
    outcome: list[BaseException | np.ndarray] = []

    def work() -> None:
        try:
            outcome.append(explainer.explain(many, cancel=event))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    assert event.first_check.wait(30)
    event.set()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], ExplanationCancelled)
    assert event.checks_before_set is not None
    assert event.checks - event.checks_before_set <= 1
    assert event.checks < 500


def test_a_token_never_set_changes_nothing(chunked):
    explainer, rows = chunked
    state = dict(vars(explainer))
    plain = explainer.score(rows)
    token = SetAfter(10**9)
    watched = explainer.score(rows, cancel=token)
    np.testing.assert_array_equal(watched.local_importance_values, plain.local_importance_values)
    np.testing.assert_array_equal(watched.probabilities, plain.probabilities)
    assert token.checks == 10
    assert vars(explainer).keys() == state.keys()  # explain stays pure: no per-call state
    assert all(vars(explainer)[k] is v for k, v in state.items())


def test_explainers_without_chunks_check_before_the_work(small_regression):
    from sklearn.linear_model import Ridge

    X, y = small_regression
    explainer = LinearScoringExplainer.from_model(Ridge().fit(X, y), X)
    done = threading.Event()
    done.set()
    with pytest.raises(ExplanationCancelled):
        explainer.score(X[:3], cancel=done)
    np.testing.assert_array_equal(
        explainer.score(X[:3], cancel=threading.Event()).local_importance_values,
        explainer.score(X[:3]).local_importance_values,
    )


def test_the_tree_explainer_stops_at_the_next_chunk_of_rows(small_classification):
    """Tree explainers work in chunks of ``ROW_CHUNK`` rows and check the token before each
    one: a deadline or a departed client stops them too."""
    from sklearn.ensemble import RandomForestClassifier

    from scoring_explainers.runtime._tree import ROW_CHUNK
    from scoring_explainers.scoring import TreeScoringExplainer

    X, y = small_classification
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    explainer = TreeScoringExplainer.from_model(forest, X)
    rows = np.tile(X[:20], (5, 1))[: 3 * ROW_CHUNK]  # three chunks
    token = SetAfter(2)
    with pytest.raises(ExplanationCancelled):
        explainer.explain(rows, cancel=token)
    assert token.checks == 3  # before the work, then before chunks 2 and 3: the third stops it
    token = SetAfter(10**9)
    np.testing.assert_array_equal(explainer.explain(rows, cancel=token), explainer.explain(rows))
    assert token.checks == 3
