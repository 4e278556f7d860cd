"""Raw rows with strings, None and booleans served over real HTTP on 127.0.0.1: every
``/score`` body shape and pandas orientation, V2 per-column BYTES/INT64/BOOL inputs and one
mixed BYTES tensor, answer as the library's in-process ``score(df)``; bad values are 422s
naming row, column and value; repeated keys stay a 400; the documents (OpenAPI, V2
metadata, ``GET /score/schema``) state each column's type and categories; the fast path and
Litestar's handler answer string bodies alike; version-1 artifacts serve as before."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from scoring_explainers import load
from tests.service import raw_artifact as ra
from tests.service.conftest import start_server
from tests.service.test_lean_score import _app, _both

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts" / "v1"
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ra.build(tmp_path_factory.mktemp("raw-strings"))


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    strings, _ = built
    tmp = tmp_path_factory.mktemp("raw-strings-server")
    server = start_server(strings, tmp, env={"SCORING_MODEL_NAME": "passengers"})
    with httpx.Client(base_url=server.url, timeout=30, headers=JSON_HEADERS) as client:
        yield client, load(strings)
    server.stop()


def _values(frame: pd.DataFrame) -> list[list]:
    """Rows as JSON-native lists: None for NaN/None, Python bools and ints."""
    return [
        [None if (v is None or (isinstance(v, float) and v != v)) else v for v in row]
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]


def _assert_same(body: dict, want) -> None:
    assert body["features"] == ra.RAW
    assert body["predictions"] == want.predictions.tolist()
    np.testing.assert_array_equal(
        np.array(body["local_importance_values"]), want.local_importance_values
    )
    np.testing.assert_array_equal(np.array(body["probabilities"]), want.probabilities)
    np.testing.assert_array_equal(np.array(body["expected_values"]), want.expected_values)


def _bodies(frame: pd.DataFrame) -> dict[str, str]:
    records = [dict(zip(ra.RAW, row, strict=True)) for row in _values(frame)]
    return {
        "data lists": json.dumps({"data": _values(frame)}),
        "data records": json.dumps({"data": records}),
        "records list": json.dumps(records),
        "one flat row": json.dumps({"data": _values(frame)[0]}),
        **{f"pandas {orient}": frame.to_json(orient=orient) for orient in ORIENTS},
        "pandas columns reordered": frame[ra.RAW[::-1]].to_json(),
        "pandas split reordered": frame[ra.RAW[::-1]].to_json(orient="split"),
    }


ORIENTS = ["columns", "index", "split", "records", "values", "table"]


def test_every_body_shape_and_orient_equals_in_process_score(served):
    client, library = served
    frame = ra.rows()
    # strings, None (missing categories), NaN ages, an unknown category on a "code"
    # column, booleans and integer categories are all there
    assert frame["embarked"].isna().any() and frame["age"].isna().any()
    assert "Z" in set(frame["embarked"]) and frame["alone"].dtype == bool
    want = library.score(frame)
    for label, body in _bodies(frame).items():
        response = client.post("/score", content=body)
        assert response.status_code == 200, (label, response.text)
        expected = library.score(frame.head(1)) if label == "one flat row" else want
        _assert_same(response.json(), expected)


def test_string_body_with_top_k(served):
    client, library = served
    frame = ra.rows()
    response = client.post("/score", params={"top_k": 2}, content=frame.to_json())
    assert response.status_code == 200
    names, values = library.score(frame).top_features(2)
    top = response.json()["top_k"]
    assert top["features"] == np.asarray(names).tolist()
    np.testing.assert_array_equal(top["values"], values)


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (1, "age", "row 1, column 'age': non-numeric value 'old' (expected a number)"),
        (0, "fare", "row 0, column 'fare': non-numeric value '12.5' (expected a number)"),
        (1, "alone", "row 1, column 'alone': expected true or false, got 1"),
        (0, "sex", "row 0, column 'sex': missing value; the preprocessing does not fill it"),
        (1, "pclass", "row 1, column 'pclass': expected an integer category, got 'first'"),
    ],
)
def test_a_wrong_value_is_a_422_naming_row_and_column(served, row, column, message):
    client, _ = served
    frame = ra.rows(2).astype(object)
    frame.loc[row, column] = {
        "age": "old",
        "fare": "12.5",
        "alone": 1,
        "sex": None,
        "pclass": "first",
    }[column]
    for body in (json.dumps({"data": _values(frame)}), frame.to_json(orient="records")):
        response = client.post("/score", content=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"].startswith(message)


@pytest.mark.parametrize(("column", "value"), [("sex", "unknown"), ("pclass", 4)])
def test_an_unknown_category_on_an_error_column_is_a_422_naming_column_and_value(
    served, column, value
):
    client, _ = served
    frame = ra.rows(3).astype(object)
    frame.loc[2, column] = value
    for orient in ORIENTS:
        response = client.post("/score", content=frame.to_json(orient=orient))
        assert response.status_code == 422, (orient, response.text)
        known = "'female', 'male'" if column == "sex" else "1, 2, 3"
        assert response.json()["error"] == (
            f"row 2, column {column!r}: unknown category {value!r}; the fitted encoder "
            f"raises for it (known: [{known}])"
        )


def test_an_unknown_category_on_a_code_column_is_scored(served):
    client, library = served
    frame = ra.rows(2)
    frame.loc[0, "embarked"] = "Southampton"
    frame.loc[1, "cabin"] = ""  # a value, not a missing one
    response = client.post("/score", content=frame.to_json(orient="records"))
    assert response.status_code == 200
    _assert_same(response.json(), library.score(frame))


ROW = '[30.5, 7.25, "male", "S", null, 3, false]'


@pytest.mark.parametrize(
    "body",
    [
        '{"data": [' + ROW + '], "data": [' + ROW + "]}",
        '[{"age": 1, "age": 2, "fare": 1, "sex": "male", "embarked": "S", "cabin": null,'
        ' "pclass": 3, "alone": true}]',
        '{"age": {"0": 1}, "fare": {"0": 1}, "sex": {"0": "male"}, "embarked": {"0": "S",'
        ' "0": "C"}, "cabin": {"0": null}, "pclass": {"0": 3}, "alone": {"0": true}}',
        # a repeated key is a 400 even where the rows would be a 422
        '{"data": [[30.5, 7.25, "none", "S", null, 3, false]], "data": [' + ROW + "]}",
    ],
)
def test_a_repeated_key_in_a_string_body_is_still_a_400(served, body):
    client, _ = served
    response = client.post("/score", content=body)
    assert response.status_code == 400, response.text
    assert "duplicate key" in response.json()["error"]


def test_escaped_quotes_in_a_string_value(served):
    """A string value with escaped quotes holds more quote characters than the count
    expects: the body takes the full key check and is scored (an unknown cabin)."""
    client, library = served
    response = client.post(
        "/score", content='{"data": [[30.5, 7.25, "male", "S", "\\"A\\"", 3, false]]}'
    )
    assert response.status_code == 200
    frame = pd.DataFrame([[30.5, 7.25, "male", "S", '"A"', 3, False]], columns=ra.RAW)
    _assert_same(response.json(), library.score(frame))


# -- V2 -------------------------------------------------------------------------------------
_V2_TYPES = {
    "age": "FP64",
    "fare": "FP64",
    "sex": "BYTES",
    "embarked": "BYTES",
    "cabin": "BYTES",
    "pclass": "INT64",
    "alone": "BOOL",
}


def _v2_columns(frame: pd.DataFrame, datatypes: dict[str, str] | None = None) -> dict:
    values = _values(frame)
    return {
        "inputs": [
            {
                "name": name,
                "shape": [len(values)],
                "datatype": (datatypes or _V2_TYPES)[name],
                "data": [row[j] for row in values],
            }
            for j, name in enumerate(ra.RAW)
        ]
    }


def _v2_outputs(body: dict) -> dict:
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in body["outputs"]}


def test_v2_per_column_and_mixed_tensor_inputs_equal_score(served):
    client, library = served
    frame = ra.rows()
    want = library.score(frame)
    served_score = client.post("/score", content=frame.to_json()).json()
    values = _values(frame)
    mixed = {
        "inputs": [
            {
                "name": "rows",
                "shape": [len(values), len(ra.RAW)],
                "datatype": "BYTES",
                "data": values,
            }
        ]
    }
    int32 = _v2_columns(frame, {**_V2_TYPES, "pclass": "INT32", "age": "FP32"})
    for label, body in {"per column": _v2_columns(frame), "mixed": mixed, "int32": int32}.items():
        response = client.post("/v2/models/passengers/infer", json=body)
        assert response.status_code == 200, (label, response.text)
        outputs = _v2_outputs(response.json())
        np.testing.assert_array_equal(
            outputs["local_importance_values"], want.local_importance_values
        )
        np.testing.assert_array_equal(
            outputs["local_importance_values"], np.array(served_score["local_importance_values"])
        )
        assert outputs["predictions"].tolist() == served_score["predictions"]
        np.testing.assert_array_equal(outputs["probabilities"], want.probabilities)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sex": "FP64"}, "input 'sex': datatype FP64; this column takes BYTES"),
        ({"alone": "INT64"}, "input 'alone': datatype INT64; this column takes BOOL"),
        ({"age": "BYTES"}, "input 'age': datatype BYTES; this column takes FP64"),
    ],
)
def test_v2_a_column_of_the_wrong_datatype_is_a_422(served, change, message):
    client, _ = served
    body = _v2_columns(ra.rows(2), {**_V2_TYPES, **change})
    response = client.post("/v2/models/passengers/infer", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == message


def test_v2_bad_values_are_422s_naming_row_column_and_value(served):
    client, _ = served
    frame = ra.rows(2).astype(object)
    frame.loc[1, "pclass"] = 7
    response = client.post("/v2/models/passengers/infer", json=_v2_columns(frame))
    assert response.status_code == 422
    assert response.json()["error"].startswith(
        "row 1, column 'pclass': unknown category 7; the fitted encoder raises for it"
    )
    values = _values(ra.rows(1))
    values[0][0] = "thirty"
    mixed = {"inputs": [{"name": "rows", "shape": [1, 7], "datatype": "BYTES", "data": values}]}
    response = client.post("/v2/models/passengers/infer", json=mixed)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "input 'rows': row 0, column 'age': non-numeric value 'thirty' (expected a number)"
    )
    repeated = json.dumps(_v2_columns(ra.rows(1)))[:-1] + ', "inputs": []}'
    response = client.post("/v2/models/passengers/infer", content=repeated)
    assert response.status_code == 400 and "duplicate key" in response.json()["error"]


# -- what the documents say -----------------------------------------------------------------
def test_v2_metadata_states_each_column(served):
    client, _ = served
    body = client.get("/v2/models/passengers").json()
    inputs = {i["name"]: i for i in body["inputs"]}
    assert list(inputs) == ra.RAW
    assert {name: i["datatype"] for name, i in inputs.items()} == _V2_TYPES
    assert all(i["shape"] == [-1] for i in inputs.values())
    assert inputs["embarked"]["parameters"] == {
        "kind": "categorical",
        "type": "string",
        "missing": True,
        "categories": ["C", "Q", "S", "X"],
        "unknown": "code",
    }
    assert inputs["pclass"]["parameters"]["categories"] == [1, 2, 3]
    assert inputs["age"]["parameters"] == {"kind": "numeric", "type": "number", "missing": True}
    assert body["parameters"]["raw_schema"] == ra.SCHEMA.to_json()


def test_openapi_and_score_schema_state_each_column(served):
    client, _ = served
    assert client.get("/score/schema").json() == ra.SCHEMA.to_json()
    document = client.get("/schema/openapi.json").json()
    body = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    rows, records, by_column = body["schema"]["oneOf"]
    columns = records["items"]["properties"]
    assert list(columns) == ra.RAW
    assert records["items"]["required"] == ra.RAW
    assert columns["age"] == {"type": ["number", "null"], "description": "age: numeric (number)"}
    assert columns["alone"]["type"] == "boolean"
    assert columns["sex"]["type"] == "string"
    assert columns["sex"]["enum"] == ["female", "male"]  # unknown: "error" - the only values
    assert columns["pclass"]["type"] == "integer" and columns["pclass"]["enum"] == [1, 2, 3]
    known, other = columns["embarked"]["anyOf"]  # unknown: "code" - others are taken
    assert known["enum"] == ["C", "Q", "S", "X", None]
    assert other["type"] == ["string", "null"]
    row = rows["properties"]["data"]["items"]["oneOf"][0]
    assert row["prefixItems"] == [columns[name] for name in ra.RAW]
    assert row["minItems"] == row["maxItems"] == 7
    assert by_column["properties"]["cabin"]["additionalProperties"] == columns["cabin"]
    assert "/score/schema" in document["paths"]


# -- the fast path and Litestar's handler ---------------------------------------------------
def test_the_fast_path_answers_string_bodies_as_litestar(built, tmp_path):
    strings, _ = built
    app, spy = _app(strings, tmp_path)
    frame = ra.rows(4)
    wrong = frame.astype(object)
    wrong.loc[1, "age"] = "old"
    unknown = frame.astype(object)
    unknown.loc[3, "sex"] = "other"
    cases = {
        **{label: (body, 200) for label, body in _bodies(frame).items()},
        "string in a numeric column": (wrong.to_json(), 422),
        "unknown on an error column": (unknown.to_json(orient="table"), 422),
        "repeated key": ('{"data": [' + ROW + '], "data": [' + ROW + "]}", 400),
    }
    for label, (body, status) in cases.items():
        got, taken, answer = _both(app, spy, [body.encode()])
        assert got == status, (label, answer)
        assert taken, label


# -- numeric artifacts ------------------------------------------------------------------------
def test_codes_sent_to_the_numeric_twin_equal_strings(served, built, tmp_path):
    """The workaround the benchmark compares with: the same model over an all-numeric
    schema, the client sending codes, gives the same numbers."""
    client, _ = served
    _, codes = built
    server = start_server(codes, tmp_path)
    try:
        frame = ra.rows()
        matrix = ra.SCHEMA.encode(frame)
        body = json.dumps({"data": [[None if v != v else v for v in r] for r in matrix.tolist()]})
        numeric = httpx.post(server.url + "/score", content=body, headers=JSON_HEADERS)
        assert numeric.status_code == 200
        strings = client.post("/score", content=frame.to_json()).json()
        assert numeric.json()["local_importance_values"] == strings["local_importance_values"]
        meta = httpx.get(server.url + "/v2/models/codes").json()
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 7]}]
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["kernel_preprocess", "tree", "linear_preprocess"])
def test_version_1_artifacts_serve_as_written(name, tmp_path):
    expected = json.loads((V1 / name / "expected.json").read_text())
    server = start_server(V1 / name, tmp_path)
    try:
        bodies = [
            json.dumps({"data": expected["rows"]}),
            json.dumps([dict(zip(expected["features"], r, strict=True)) for r in expected["rows"]]),
        ]
        for body in bodies:
            response = httpx.post(server.url + "/score", content=body, headers=JSON_HEADERS)
            assert response.status_code == 200, response.text
            got, want = response.json(), expected["score"]
            assert got["predictions"] == want["predictions"]
            assert got["features"] == want["features"]
            np.testing.assert_allclose(
                got["local_importance_values"], want["local_importance_values"], rtol=1e-12
            )
        strings = json.dumps({"data": [["a"] * len(expected["features"])]})
        response = httpx.post(server.url + "/score", content=strings, headers=JSON_HEADERS)
        assert response.status_code == 422
        assert response.json()["error"] == (
            f"row 0, feature {expected['features'][0]!r}: values must be numbers (null for a "
            "missing value), got 'a'"
        )
    finally:
        server.stop()
