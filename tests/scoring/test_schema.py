"""The raw schema: JSON round trip and rejections, and the one encoder of rows, on every
input form the library takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring_explainers import InputError
from scoring_explainers.runtime import Column, RawSchema
from tests.frames import adult, passenger

NAN = np.nan
SCHEMA = RawSchema(
    [
        Column("age", "numeric", "number", True),
        Column("fare", "numeric", "number", True),
        Column("sex", "categorical", "string", False, ("female", "male"), "error"),
        Column("embarked", "categorical", "string", True, ("C", "Q", "S"), "code"),
        Column("cabin", "categorical", "string", True, tuple("ABCDEFGT"), "code"),
        Column("pclass", "categorical", "integer", False, (1, 2, 3), "error"),
    ]
)
# embarked: K=3 -> missing 3, unknown 4; cabin: K=8 -> missing 8, unknown 9
ROWS = [
    [22.0, 7.25, "male", "S", None, 3],
    [NAN, 71.3, "female", "C", "C", 1],
    [35.0, None, "female", None, "T", 2],
    [54.0, 51.9, "male", "X", float("nan"), 1],
]
CODES = np.array(
    [
        [22.0, 7.25, 1, 2, 8, 2],
        [NAN, 71.3, 0, 0, 2, 0],
        [35.0, NAN, 0, 3, 7, 1],
        [54.0, 51.9, 1, 4, 8, 0],
    ]
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=SCHEMA.names)


# -- JSON -------------------------------------------------------------------------------
def test_json_round_trip():
    data = SCHEMA.to_json()
    assert data[2] == {
        "name": "sex",
        "kind": "categorical",
        "type": "string",
        "missing": False,
        "categories": ["female", "male"],
        "unknown": "error",
    }
    assert data[0] == {"name": "age", "kind": "numeric", "type": "number", "missing": True}
    again = RawSchema.from_json(json.loads(json.dumps(data)))
    assert again == SCHEMA
    assert again.to_json() == data
    assert RawSchema.numeric(["a", "b"], missing=False).to_json() == [
        {"name": "a", "kind": "numeric", "type": "number", "missing": False},
        {"name": "b", "kind": "numeric", "type": "number", "missing": False},
    ]


def _column(**change):
    base = {
        "name": "c",
        "kind": "categorical",
        "type": "string",
        "missing": True,
        "categories": ["a", "b"],
        "unknown": "code",
    }
    base.update(change)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "non-empty list of columns"),
        ([], "non-empty list of columns"),
        (["age"], "a column must be a JSON object"),
        ([_column(name=...)], r"needs the keys \['name'\]"),
        ([_column(name="")], "the name must be a non-empty string"),
        ([_column(kind="ordinal")], "kind must be one of"),
        ([_column(type="date")], "a categorical column's type must be one of"),
        ([_column(missing="yes")], "missing must be true or false"),
        ([_column(categories=[])], "non-empty list of categories"),
        ([_column(categories="ab")], "categories must be a list"),
        ([_column(categories=["a", "a"])], "categories repeat a value"),
        ([_column(categories=["a", 1])], "categories of type 'string' cannot hold 1"),
        ([_column(type="integer", categories=[1, True])], "cannot hold True"),
        ([_column(type="integer", categories=[1, 2.5])], "cannot hold 2.5"),
        ([_column(type="boolean", categories=[0, 1])], "cannot hold 0"),
        ([_column(unknown="ignore")], "unknown must be one of"),
        ([_column(extra=1)], r"unexpected keys \['extra'\]"),
        ([{"name": "x", "kind": "numeric", "type": "string", "missing": True}], "numeric"),
        (
            [
                {
                    "name": "x",
                    "kind": "numeric",
                    "type": "number",
                    "missing": True,
                    "categories": [1],
                }
            ],
            r"unexpected keys \['categories'\]",
        ),
        ([_column(), _column()], r"column names \['c'\] appear more than once"),
    ],
)
def test_bad_schema_json_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        RawSchema.from_json(data)


# -- input forms ---------------------------------------------------------------------------
def _same(codes: np.ndarray, want: np.ndarray = CODES) -> None:
    np.testing.assert_array_equal(codes, want)


def test_object_dataframe_with_none_and_nan():
    _same(SCHEMA.encode(_frame()))


def test_pandas_string_and_category_dtypes():
    frame = _frame()
    as_str = frame.astype({"sex": "str", "embarked": "str", "cabin": "str"})
    assert str(as_str["sex"].dtype) in ("str", "string")
    _same(SCHEMA.encode(as_str))
    as_category = frame.astype(
        {"sex": "category", "embarked": "category", "cabin": "category", "pclass": "category"}
    )
    _same(SCHEMA.encode(as_category))
    nullable = frame.astype({"pclass": "Int64", "age": "Float64"})
    _same(SCHEMA.encode(nullable))


def test_dataframe_columns_in_any_order():
    frame = _frame()
    _same(SCHEMA.encode(frame[list(reversed(SCHEMA.names))]))


def test_numpy_object_array_lists_records_and_one_row():
    _same(SCHEMA.encode(np.array(ROWS, dtype=object)))
    _same(SCHEMA.encode(ROWS))
    _same(SCHEMA.encode([tuple(r) for r in ROWS]))
    records = [dict(zip(SCHEMA.names, r, strict=True)) for r in ROWS]
    _same(SCHEMA.encode(records))
    _same(SCHEMA.encode(ROWS[0]), CODES[:1])
    _same(SCHEMA.encode(np.array(ROWS[0], dtype=object)), CODES[:1])


def test_series_is_one_row_by_name():
    frame = _frame()
    row = frame.iloc[2]
    _same(SCHEMA.encode(row), CODES[2:3])
    _same(SCHEMA.encode(row[list(reversed(SCHEMA.names))]), CODES[2:3])
    with pytest.raises(InputError, match=r"missing columns \['fare'\]"):
        SCHEMA.encode(row.drop("fare"))


def test_numeric_float_arrays_keep_the_fast_path():
    schema = RawSchema.numeric(["a", "b"], missing=True)
    X = np.array([[1.0, NAN], [2.0, 3.0]])
    out = schema.encode(X)
    np.testing.assert_array_equal(out, X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(schema.encode(np.array([[1, 2]], dtype=np.int32)), [[1, 2]])
    np.testing.assert_array_equal(schema.encode(np.array([[True, False]])), [[1, 0]])


@pytest.mark.parametrize("value", [3, 3.0, np.int64(3), np.float32(3.0)])
def test_integer_categories_take_integers_and_integral_floats(value):
    column = Column("pclass", "categorical", "integer", False, (1, 2, 3), "code")
    assert column.code(value) == 2


@pytest.mark.parametrize(
    ("value", "code"),
    [(3.5, 4.0), (7, 4.0)],  # a non-integral float is an unknown value, as sklearn
)
def test_integer_categories_unknowns(value, code):
    column = Column("pclass", "categorical", "integer", False, (1, 2, 3), "code")
    assert column.code(value) == code


@pytest.mark.parametrize("value", [True, np.bool_(True), "3"])
def test_integer_categories_refuse_booleans_and_strings(value):
    column = Column("pclass", "categorical", "integer", False, (1, 2, 3), "code")
    with pytest.raises(InputError, match="row 5, column 'pclass': expected an integer category"):
        column.code(value, row=5)


def test_boolean_and_number_columns():
    flag = Column("member", "numeric", "boolean", False)
    assert flag.code(True) == 1.0 and flag.code(np.bool_(False)) == 0.0
    with pytest.raises(InputError, match="expected true or false, got 1"):
        flag.code(1)
    categories = Column("flag", "categorical", "boolean", True, (False, True), "error")
    assert categories.code(True) == 1.0 and categories.code(None) == 2.0
    with pytest.raises(InputError, match="expected a boolean category, got 1"):
        categories.code(1)
    rates = Column("rate", "categorical", "number", False, (0.5, 1.5), "code")
    assert rates.code(1.5) == 1.0 and rates.code(2.5) == 3.0


def test_empty_string_is_a_value_not_missing():
    column = Column("c", "categorical", "string", False, ("", "a"), "error")
    assert column.code("") == 0.0
    with pytest.raises(InputError, match="missing value"):
        column.code(None)


def test_pandas_na_and_nat_are_missing():
    column = Column("c", "categorical", "string", True, ("a",), "code")
    assert column.code(pd.NA) == 1.0
    assert column.code(pd.NaT) == 1.0
    assert Column("x", "numeric", "number", True).code(pd.NA) != Column(
        "x", "numeric", "number", True
    ).code(pd.NA)  # NaN


# -- bad values: messages name row, column and value ---------------------------------------
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age", "abc", "row 2, column 'age': non-numeric value 'abc' (expected a number)"),
        ("age", True, "row 2, column 'age': non-numeric value True (expected a number)"),
        ("age", float("inf"), "row 2, column 'age': infinite value inf"),
        ("fare", 1e39, "row 2, column 'fare': value 1e+39 is beyond the float32 range"),
        ("sex", "other", "row 2, column 'sex': unknown category 'other'; the fitted encoder"),
        ("sex", None, "row 2, column 'sex': missing value; the preprocessing does not fill"),
        ("sex", NAN, "row 2, column 'sex': missing value"),
        ("sex", 1, "row 2, column 'sex': expected a string category, got 1"),
        ("pclass", 4, "row 2, column 'pclass': unknown category 4; the fitted encoder raises"),
        ("pclass", "first", "row 2, column 'pclass': expected an integer category, got 'first'"),
    ],
)
def test_bad_values_name_row_column_and_value(column, value, message):
    rows = [list(r) for r in ROWS]
    rows[2][SCHEMA.names.index(column)] = value
    for form in (rows, np.array(rows, dtype=object), pd.DataFrame(rows, columns=SCHEMA.names)):
        with pytest.raises(InputError) as raised:
            SCHEMA.encode(form)
        assert str(raised.value).startswith(message), str(raised.value)


def test_unknown_error_lists_the_known_categories():
    with pytest.raises(InputError, match=r"\(known: \['female', 'male'\]\)$"):
        SCHEMA.encode([[1.0, 2.0, "x", "S", "A", 1]])
    many = Column("c", "categorical", "integer", False, tuple(range(30)), "error")
    with pytest.raises(InputError, match=r"\(known: \[0, 1, .*, 19, \.\.\.\]\)$"):
        many.code(99)


def test_missing_numeric_values_where_not_allowed():
    schema = RawSchema.numeric(["a", "b"], missing=False)
    with pytest.raises(InputError, match="row 1, column 'b': missing value"):
        schema.encode(np.array([[1.0, 2.0], [3.0, NAN]]))
    with pytest.raises(InputError, match="row 0, column 'a': missing value"):
        schema.encode([[None, 1.0]])


def test_the_first_problem_by_row_is_raised_and_all_are_collected():
    rows = [list(r) for r in ROWS]
    rows[3][0] = "old"  # row 3, first column
    rows[1][5] = 9  # row 1, last column
    rows[1][2] = "x"  # row 1, an earlier column
    with pytest.raises(InputError, match="^row 1, column 'sex': unknown category 'x'"):
        SCHEMA.encode(rows)
    codes, problems = SCHEMA.encode(rows, errors="collect")
    assert [row for row, _ in problems] == [1, 3]
    assert problems[0][1].startswith("row 1, column 'sex': unknown category 'x'")
    assert problems[1][1] == "row 3, column 'age': non-numeric value 'old' (expected a number)"
    assert np.isnan(codes[1, 2]) and np.isnan(codes[1, 5]) and np.isnan(codes[3, 0])
    np.testing.assert_array_equal(codes[[0, 2]], CODES[[0, 2]])
    assert SCHEMA.problems(rows) == problems
    assert SCHEMA.problems(ROWS) == []


def test_column_encoder_counts_rows_from_first_row():
    encode = SCHEMA.column_encoder(3)
    np.testing.assert_array_equal(encode(["S", None, "Z"], 10), [2, 3, 4])
    strict = SCHEMA.column_encoder(2)
    with pytest.raises(InputError, match="^row 11, column 'sex': unknown category 'Z'"):
        strict(["male", "Z"], 10)


def test_example_codes_are_valid_rows():
    codes = SCHEMA.example_codes(3)
    assert codes.shape == (3, 6)
    np.testing.assert_array_equal(codes[:, 2:], 0)  # the first category's code


# -- structure: InputError on every path --------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.zeros((0, 6)), "empty batch"),
        ([], "empty batch"),
        (pd.DataFrame(columns=SCHEMA.names), "empty batch"),
        (np.zeros((2, 5)), "expected 6 features per row, got 5"),
        (np.zeros((2, 0)), "expected 6 features per row, got 0"),
        (np.empty((2, 0), dtype=object), "expected 6 features per row, got 0"),
        ([ROWS[0], ROWS[1][:5]], "expected 6 features per row, got 5 in row 1"),
        (np.zeros((2, 3, 6)), "2-D array"),
        (np.zeros(4), "2-D array"),
        ({"age": [1.0]}, "a dict is not rows"),
        (_frame().drop(columns=["cabin"]), r"missing columns \['cabin'\]"),
        (_frame().assign(extra=1), r"unknown columns \['extra'\]"),
        (
            pd.DataFrame([ROWS[0] + [1]], columns=[*SCHEMA.names, "age"]),
            r"duplicate column names: \['age'\]",
        ),
        (
            [{"age": 1.0, "fare": 2.0, "sex": "male", "embarked": "S", "cabin": "A"}],
            r"record 0: missing columns \['pclass'\]",
        ),
    ],
)
def test_structural_problems_are_input_errors(rows, message):
    with pytest.raises(InputError, match=message):
        SCHEMA.encode(rows)


def test_generated_frames_encode():
    frame, _ = passenger(200, seed=1)
    schema = RawSchema(
        [
            Column("age", "numeric", "number", True),
            Column("fare", "numeric", "number", True),
            Column("sex", "categorical", "string", False, ("female", "male"), "error"),
            Column("embarked", "categorical", "string", True, ("C", "Q", "S"), "code"),
            Column("cabin", "categorical", "string", True, tuple("ABCDEF"), "code"),
            Column("pclass", "categorical", "integer", False, (1, 2, 3), "error"),
        ]
    )
    codes = schema.encode(frame)
    assert codes.shape == (200, 6)
    assert set(np.unique(codes[:, 3])) <= {0, 1, 2, 3, 4}
    assert (codes[frame["embarked"].isna().to_numpy(), 3] == 3).all()
    assert (codes[(frame["embarked"] == "X").to_numpy(), 3] == 4).all()
    assert (codes[frame["cabin"].isin(["G", "T"]).to_numpy(), 4] == 7).all()
    big, _ = adult(300, seed=2)
    assert big.shape == (300, 12)
    assert big["workclass"].isna().any() and big["age"].isna().any()
    assert big["education_num"].dtype.kind == "i"


# -- runtime import hygiene -----------------------------------------------------------------
V1 = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts" / "v1"


def test_scoring_a_dataframe_imports_no_pandas_or_sklearn_in_the_runtime(tmp_path):
    """A DataFrame is duck-typed: scoring one imports nothing heavy, and a frame-like object
    scores without pandas ever being imported."""
    script = f"""
import json, sys
import numpy as np
from scoring_explainers import load
scorer = load({str(V1 / "tree_preprocess")!r})
rows = np.array([[30.0, 1.0], [np.nan, 2.0]])

class Column:
    def __init__(self, values): self.values = np.asarray(values); self.dtype = self.values.dtype
    def to_numpy(self, dtype=None, na_value=None): return self.values.astype(dtype or object)

class Frame:  # what the runtime needs of a DataFrame, without pandas
    def __init__(self, columns, matrix):
        self.columns, self._m = list(columns), matrix
        self.dtypes = [matrix.dtype] * len(columns)
    def __len__(self): return len(self._m)
    def to_numpy(self, dtype=None): return self._m
    @property
    def iloc(self):
        frame = self
        class At:
            def __getitem__(self, key): return Column(frame._m[:, key[1]])
        return At()

duck = scorer.explain(Frame(["region", "age"], rows[:, ::-1].copy())).tolist()
before = sorted(m for m in ("pandas", "sklearn", "shap", "onnx", "scipy") if m in sys.modules)
import pandas as pd
frame = pd.DataFrame({{"region": ["a", "b"], "age": rows[:, 0]}}).assign(region=rows[:, 1])
real = scorer.explain(frame).tolist()
after = sorted(m for m in ("sklearn", "shap", "onnx", "skl2onnx") if m in sys.modules)
print(json.dumps({{"duck": duck, "real": real, "before": before, "after": after}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["before"] == []
    assert report["after"] == []
    from scoring_explainers import load

    want = load(V1 / "tree_preprocess").explain(np.array([[30.0, 1.0], [NAN, 2.0]]))
    np.testing.assert_array_equal(report["duck"], want)
    np.testing.assert_array_equal(report["real"], want)
