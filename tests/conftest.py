"""Shared fitted models and data (session-scoped: fitted once per run), and the markers
that narrow the suite (registered in pyproject.toml; ``make test-quick`` leaves them out)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from itertools import product
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
#: Markers given by where a test is or what it uses; ``slow`` is written on each test.
BY_DIRECTORY = {"spark": TESTS / "spark"}
BY_FIXTURE = {"browser": "chromium", "postgres": "postgres_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/spark`` ``spark`` (a local Spark on a JVM), every test
    using the ``chromium`` fixture ``browser`` and every test using ``postgres_url`` (also
    through ``empty_postgres``) ``postgres``. Tests that ask for a server by
    ``request.getfixturevalue`` carry the marker themselves."""
    for item in items:
        path = Path(str(item.path))
        for marker, directory in BY_DIRECTORY.items():
            if path.is_relative_to(directory):
                item.add_marker(marker)
        fixtures = getattr(item, "fixturenames", ())
        for marker, fixture in BY_FIXTURE.items():
            if fixture in fixtures:
                item.add_marker(marker)


ROOT = Path(__file__).resolve().parents[1]
# Hypothesis (and schemathesis through it) keeps its example database and caches in
# ``.hypothesis/`` of the working directory unless told otherwise; it reads this variable
# on first use, so it is set before any test runs.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = tempfile.mkdtemp(prefix="hypothesis-")
    atexit.register(shutil.rmtree, os.environ["HYPOTHESIS_STORAGE_DIRECTORY"], True)


@pytest.fixture(scope="session", autouse=True)
def outside_the_checkout(tmp_path_factory) -> Iterator[Path]:
    """Tests, and the processes they start, run in a temporary working directory: nothing
    written to a relative path (a store's default file, Spark's warehouse, a load test's
    reports) lands in the checkout. ``PYTHONPATH`` is made absolute, with this checkout
    first, so that subprocesses still import this checkout's code from there."""
    work = tmp_path_factory.mktemp("cwd")
    before = Path.cwd()
    old_path = os.environ.get("PYTHONPATH")
    entries = [str(before / p) for p in (old_path or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(ROOT), *entries]))
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(before)
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path


@pytest.fixture(scope="session")
def seed_data():
    """The seed example: breast cancer, 455 train / 114 test rows, 30 features."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=0
    )
    return x_train, x_test, y_train, y_test, list(data.feature_names)


@pytest.fixture(scope="session")
def seed_svc(seed_data):
    from sklearn import svm

    x_train, _, y_train, _, _ = seed_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return svm.SVC(gamma=0.001, C=100.0, probability=True).fit(x_train, y_train)


@pytest.fixture(scope="session")
def small_classification():
    """8 features, 3 classes: small enough for brute-force Shapley values."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=400, n_features=8, n_informative=5, n_classes=3, random_state=1
    )
    return X, y


@pytest.fixture(scope="session")
def small_mlp(small_classification):
    from sklearn.neural_network import MLPClassifier

    X, y = small_classification
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier((16,), max_iter=300, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def small_regression():
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=300, n_features=6, noise=1.0, random_state=2)
    return X, y


def brute_force_shapley(
    f, x: np.ndarray, background: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Exact Shapley values of v(S) = sum_b w_b f(x_S, b_notS), over all 2^M coalitions.

    Returns (n_features, n_outputs).
    """
    m = len(x)
    masks = np.array(list(product([False, True], repeat=m)))
    synthetic = np.where(masks[:, None, :], x[None, None, :], background[None, :, :])
    out = f(synthetic.reshape(-1, m))
    out = out.reshape(len(masks), len(background), -1)
    v = np.einsum("sbk,b->sk", out, weights)
    index = {tuple(mask): i for i, mask in enumerate(masks)}
    from math import factorial

    phi = np.zeros((m, v.shape[1]))
    for i, mask in enumerate(masks):
        size = int(mask.sum())
        for j in range(m):
            if mask[j]:
                continue
            with_j = mask.copy()
            with_j[j] = True
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            phi[j] += weight * (v[index[tuple(with_j)]] - v[i])
    return phi


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, seed_svc, seed_data, small_regression):
    """A Kernel (seed SVC) and a Linear (ridge) artifact on disk."""
    from sklearn.linear_model import Ridge

    from scoring_explainers.scoring import KernelScoringExplainer, LinearScoringExplainer, save

    root = tmp_path_factory.mktemp("artifacts")
    x_train, _, _, _, names = seed_data
    kernel = KernelScoringExplainer.from_model(
        seed_svc, x_train, features=names, classes=["malignant", "benign"], nsamples=300
    )
    save(kernel, root / "svc")
    X, y = small_regression
    linear = LinearScoringExplainer.from_model(Ridge().fit(X, y), X)
    save(linear, root / "ridge")
    return {"svc": root / "svc", "ridge": root / "ridge"}
