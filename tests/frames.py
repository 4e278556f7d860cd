"""Generated raw tables for the mixed-data tests: numeric columns with NaN, string
categoricals with None and rare values, an integer category.

``passenger(n, seed)`` is passenger-manifest-like (6 raw columns), ``adult(n, seed)`` is
census-like (12 raw columns, about 120 engineered ones once one-hot encoded). Each returns
``(frame, y)`` with a binary target that depends on numeric and categorical columns.
``passenger_transformer()`` / ``adult_transformer()`` make the usual
``ColumnTransformer`` (median imputer + scaler on numbers; constant imputer + one-hot
encoder with ``handle_unknown='ignore'`` on categories).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ADULT_CATEGORIES",
    "ADULT_NUMERIC",
    "PASSENGER_CATEGORICAL",
    "PASSENGER_NUMERIC",
    "adult",
    "adult_transformer",
    "passenger",
    "passenger_transformer",
]

PASSENGER_NUMERIC = ["age", "fare"]
PASSENGER_CATEGORICAL = ["sex", "embarked", "cabin", "pclass"]
#: Adult-like categorical columns and their number of levels (Zipf-distributed: rare tails).
ADULT_CATEGORIES = {
    "workclass": 8,
    "education": 16,
    "marital_status": 7,
    "occupation": 14,
    "relationship": 6,
    "race": 5,
    "native_country": 40,
}
ADULT_NUMERIC = ["age", "fnlwgt", "capital_gain", "hours_per_week"]


def passenger(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A passenger-like frame.

    Columns: ``age``, ``fare`` (float with NaN), ``sex``, ``embarked``, ``cabin`` (strings,
    ``embarked`` and ``cabin`` with None and a rare value), ``pclass`` (int 1-3).

    Returns
    -------
    frame : DataFrame of shape (n, 6)
    y : ndarray of shape (n,), int (0/1)
    """
    rng = np.random.default_rng(seed)
    age = rng.normal(30, 12, n).clip(1, 80)
    age[rng.random(n) < 0.15] = np.nan
    fare = rng.lognormal(3, 1, n)
    fare[rng.random(n) < 0.03] = np.nan
    sex = rng.choice(["male", "female"], n).astype(object)
    embarked = rng.choice(["S", "C", "Q", "X"], n, p=[0.7, 0.18, 0.1, 0.02]).astype(object)
    embarked[rng.random(n) < 0.05] = None
    cabin = rng.choice(list("ABCDEFGT"), n, p=[0.2, 0.2, 0.2, 0.15, 0.1, 0.1, 0.04, 0.01]).astype(
        object
    )
    cabin[rng.random(n) < 0.3] = None
    pclass = rng.choice([1, 2, 3], n, p=[0.25, 0.25, 0.5])
    logit = (
        -1
        + 2.0 * (sex == "female")
        - 0.6 * (pclass - 2)
        - 0.02 * np.nan_to_num(age - 30)
        + 0.3 * (embarked == "C")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "age": age,
            "fare": fare,
            "sex": sex,
            "embarked": embarked,
            "cabin": cabin,
            "pclass": pclass,
        }
    )
    return frame, y


def adult(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """An adult-census-like frame.

    Columns: ``age``, ``fnlwgt``, ``capital_gain``, ``hours_per_week`` (float; ``age`` and
    ``hours_per_week`` with NaN), the seven string columns of :data:`ADULT_CATEGORIES`
    (Zipf-distributed levels ``"<3 letters>_<i>"``, 4 % None) and ``education_num``
    (integer category 1-16).

    Returns
    -------
    frame : DataFrame of shape (n, 12)
    y : ndarray of shape (n,), int (0/1)
    """
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "age": rng.normal(40, 13, n).clip(17, 90),
        "fnlwgt": rng.lognormal(12, 0.5, n),
        "capital_gain": np.where(rng.random(n) < 0.1, rng.lognormal(8, 1, n), 0.0),
        "hours_per_week": rng.normal(40, 10, n).clip(1, 99),
    }
    data["age"][rng.random(n) < 0.05] = np.nan
    data["hours_per_week"][rng.random(n) < 0.03] = np.nan
    score = (
        0.03 * np.nan_to_num(data["age"] - 40)
        + 0.3 * (data["capital_gain"] > 0)
        + 0.02 * np.nan_to_num(data["hours_per_week"] - 40)
    )
    for name, k in ADULT_CATEGORIES.items():
        p = 1 / np.arange(1, k + 1) ** 1.3
        p /= p.sum()
        index = rng.choice(k, n, p=p)
        column = np.array([f"{name[:3]}_{i}" for i in index], dtype=object)
        column[rng.random(n) < 0.04] = None
        data[name] = column
        score = score + rng.normal(0, 0.8, k)[index]
    data["education_num"] = rng.integers(1, 17, n)
    score = (
        score
        + 0.15 * (data["education_num"] - 9)
        + 0.5 * (data["education_num"] > 12) * (np.nan_to_num(data["age"]) > 35)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(score - 0.5)))).astype(int)
    return pd.DataFrame(data), y


def passenger_transformer(handle_unknown: str = "ignore", **encoder: Any) -> Any:
    """The usual ColumnTransformer for :func:`passenger` (unfitted)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())])
    categorical = Pipeline(
        [
            ("imp", SimpleImputer(strategy="constant", fill_value="missing")),
            ("oh", OneHotEncoder(handle_unknown=handle_unknown, **encoder)),
        ]
    )
    return ColumnTransformer(
        [("num", numeric, PASSENGER_NUMERIC), ("cat", categorical, PASSENGER_CATEGORICAL)],
        sparse_threshold=0,
    )


def adult_transformer() -> Any:
    """The usual ColumnTransformer for :func:`adult` (unfitted)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            (
                "num",
                Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]),
                ADULT_NUMERIC,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("imp", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("oh", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                list(ADULT_CATEGORIES),
            ),
            ("int", OneHotEncoder(handle_unknown="ignore"), ["education_num"]),
        ],
        sparse_threshold=0,
    )
