"""Request bodies from hostile clients: types, nesting, duplicate keys, memory.

Strings and booleans where numbers belong are a 422 naming the row and feature in every
body shape; ``/v2`` refuses deep nesting and repeated keys with a 400; and a real server
under 16 concurrent bodies just under the size limit stays within a few hundred MB.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pandas as pd
import pytest

from scoring_explainers import InputError
from scoring_explainers.runtime import _payload as payload
from scoring_explainers.scoring import load
from service.payload import (
    BodyTooLarge,
    MalformedBody,
    ParseSlots,
    check_size,
    parse_rows,
    scan,
    value_budget,
)
from service.settings import Settings
from tests.service.conftest import start_server
from tests.store.conftest import classification_explanation

HEADERS = {"content-type": "application/json"}
V2 = "/v2/models/svc/infer"


# -- the structure scan ------------------------------------------------------------------
def _reference(text: bytes) -> tuple[int, int, int]:
    """Commas, containers and depth outside strings, one character at a time."""
    commas = containers = depth = deepest = 0
    in_string = escaped = False
    for c in text.decode():
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            containers += 1
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
        elif c == ",":
            commas += 1
    return commas, containers, deepest


def _random_json(rng: random.Random, depth: int = 0) -> object:
    """Nested values whose strings are full of quotes, backslashes and brackets."""
    alphabet = ['"', "\\", ",", "[", "]", "{", "}", "a", "\u00e9", "\u2603", " ", ":"]
    kind = rng.randrange(6 if depth < 6 else 3)
    if kind == 0:
        return rng.random()
    if kind == 1:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 2:
        return rng.choice([None, True, 7])
    if kind in (3, 4):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(6))): _random_json(rng, depth + 1)
        for _ in range(rng.randrange(5))
    }


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 18])
def test_scan_counts_what_a_parser_sees(monkeypatch, chunk):
    monkeypatch.setattr(payload, "_SCAN_CHUNK", chunk)
    rng = random.Random(chunk)
    texts = [
        b'"\\\\"',
        b'["\\\\\\"", [1]]',
        b'{"a\\\\\\\\": [1, {"b": "]}\\"[{,"}], "c": ",,,"}',
        b"[" * 50 + b"]" * 50,
        b'"' + b"\\" * 9 + b'"",[1]',  # two values, the first ending in an escaped quote
    ]
    for _ in range(150):
        value = _random_json(rng)
        texts.append(json.dumps(value).encode())
        texts.append(json.dumps(value, ensure_ascii=False).encode())
    for text in texts:
        found = scan(text)
        assert (found.commas, found.containers, found.depth) == _reference(text), text


def test_scan_sees_an_escaped_quote_across_chunks(monkeypatch):
    monkeypatch.setattr(payload, "_SCAN_CHUNK", 4)
    # the string holds 6 backslashes then an escaped quote, then a comma and a bracket
    text = b'["' + b"\\" * 7 + b'",[",[1,2]]'
    json.loads(text)  # valid JSON
    found = scan(text)
    assert (found.commas, found.containers, found.depth) == _reference(text) == (2, 2, 2)


# -- the size check before parsing -------------------------------------------------------
NAMES = [f"feature, no. {i} [unit]" for i in range(30)]  # commas and brackets in names


def _legal_bodies(n_rows: int, names: list[str]) -> dict[str, bytes]:
    """Every accepted body shape at ``n_rows`` rows, numbers as long as JSON allows."""
    rng = np.random.default_rng(0)
    values = rng.integers(-400, 400, size=(n_rows, len(names))) / 8  # exact in any writer
    frame = pd.DataFrame(values, columns=names)
    rows = frame.to_numpy().tolist()
    flat = frame.to_numpy().reshape(-1).tolist()
    per_feature = [
        {"name": n, "shape": [n_rows], "datatype": "FP64", "data": frame[n].tolist()} for n in names
    ]
    nested_per_feature = [
        {
            "name": n,
            "shape": [n_rows, 1],
            "datatype": "FP64",
            "data": [[v] for v in frame[n]],
            "parameters": {"content_type": "np", "note": "x"},
        }
        for n in names
    ]
    outputs = [{"name": o} for o in ("predictions", "local_importance_values")]
    bodies = {
        "rows": {"data": rows},
        "records": frame.to_dict(orient="records"),
        "data records": {"data": frame.to_dict(orient="records")},
        "v2 flat": {
            "id": "r",
            "inputs": [
                {"name": "input-0", "shape": [n_rows, len(names)], "datatype": "FP64", "data": flat}
            ],
            "parameters": {"top_k": 3},
            "outputs": outputs,
        },
        "v2 nested": {
            "inputs": [
                {"name": "input-0", "shape": [n_rows, len(names)], "datatype": "FP64", "data": rows}
            ]
        },
        "v2 per feature": {"inputs": per_feature},
        "v2 nested per feature": {"inputs": nested_per_feature, "outputs": outputs},
    }
    out = {k: json.dumps(v).encode() for k, v in bodies.items()}
    out["columns"] = frame.to_json().encode()
    out["split"] = frame.to_json(orient="split").encode()
    out["index"] = frame.to_json(orient="index").encode()
    return out


@pytest.mark.parametrize(("n_rows", "n_names"), [(1, 1), (1, 30), (200, 30), (50, 3)])
def test_every_legal_body_fits_the_budget(n_rows, n_names):
    names = NAMES[:n_names]
    budget = value_budget(len(names), n_rows)
    for shape, body in _legal_bodies(n_rows, names).items():
        assert scan(body).values <= budget, shape
        check_size(body, len(names), n_rows)  # nothing raised


def test_legal_bodies_give_the_same_rows():
    bodies = _legal_bodies(20, NAMES)
    want = parse_rows(bodies["rows"], NAMES, max_rows=20)
    for shape in ("records", "data records", "columns", "split", "index"):
        np.testing.assert_array_equal(parse_rows(bodies[shape], NAMES, max_rows=20), want)


def test_oversized_bodies_are_refused_before_parsing():
    row = "[" + ",".join(["0.5"] * 30) + "]"
    too_many = ('{"data": [' + ",".join([row] * 5000) + "]}").encode()
    with pytest.raises(BodyTooLarge, match=r"about 155,001 values; a request takes at most 1000"):
        check_size(too_many, 30, 1000)
    wide = ('{"data": [[' + ",".join(["0.5"] * 100_000) + "]]}").encode()
    with pytest.raises(
        InputError, match=r"expected 30 features per row, got a row of about 100,000"
    ):
        check_size(wide, 30, 1000)
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MalformedBody, match="nested 100000 levels deep; at most 1024"):
        check_size(deep, 30, 1000)


def test_commas_inside_strings_are_not_values():
    # each record holds 30 names of 1 comma and 2 brackets: the raw byte counts are over
    # the budget, the values are not
    rows = 1000
    body = pd.DataFrame(np.ones((rows, 30)), columns=NAMES).to_json(orient="records").encode()
    assert body.count(b",") + body.count(b"[") > value_budget(30, rows)
    check_size(body, 30, rows)
    assert parse_rows(body, NAMES, max_rows=rows).shape == (rows, 30)


# -- the parse slots ---------------------------------------------------------------------
def _in_own_thread(func: Any, *args: Any) -> Any:
    """``func(*args)`` in a thread of its own: an event loop left running in this thread by
    another test (Playwright's sync API keeps one) would refuse a second ``anyio.run``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(func, *args).result()


def test_parse_slots_bound_the_parses_at_once():
    import time

    slots = ParseSlots(2)
    running = [0]
    most = [0]
    lock = threading.Lock()

    def parse(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return i

    async def main() -> list[int]:
        results = [0] * 8

        async def one(i: int) -> None:
            results[i] = await slots.run(parse, i)

        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(one, i)
        return results

    assert _in_own_thread(anyio.run, main) == list(range(8))
    assert most[0] == 2
    assert _in_own_thread(anyio.run, main) == list(range(8))  # a new loop: its own slots


def test_max_concurrent_parses_setting():
    assert Settings.from_env({"SCORING_MAX_CONCURRENT_PARSES": "3"}).max_concurrent_parses == 3
    assert Settings().max_concurrent_parses == 2
    with pytest.raises(ValueError, match="SCORING_MAX_CONCURRENT_PARSES"):
        Settings.from_env({"SCORING_MAX_CONCURRENT_PARSES": "0"})


# -- strings and booleans where numbers belong: 422, named -------------------------------
@pytest.fixture(scope="module")
def names(artifacts) -> list[str]:
    return load(artifacts["svc"]).features


def _bad_bodies(names: list[str]) -> dict[str, tuple[str, bytes, str]]:
    """Body shapes with one string or boolean at row 1, feature 3: (path, body, message)."""
    rows = [[1.0] * 30 for _ in range(2)]
    frame = pd.DataFrame(rows, columns=names).astype(object)
    want = f"row 1, feature {names[3]!r}: values must be numbers (null for a missing value), got"

    def with_value(value: object) -> list[list[object]]:
        out = [list(r) for r in rows]
        out[1][3] = value
        return out

    def tensor(data: object, datatype: str = "FP64") -> bytes:
        item = {"name": "input-0", "shape": [2, 30], "datatype": datatype, "data": data}
        return json.dumps({"inputs": [item]}).encode()

    def per_feature(value: object) -> bytes:
        inputs = [
            {"name": n, "shape": [2], "datatype": "FP64", "data": [1.0, value if j == 3 else 1.0]}
            for j, n in enumerate(names)
        ]
        return json.dumps({"inputs": inputs}).encode()

    frame_string = frame.copy()
    frame_string.iloc[1, 3] = "1.0"
    frame_bool = frame.copy()
    frame_bool.iloc[1, 3] = True
    return {
        "rows string": (
            "/score",
            json.dumps({"data": with_value("1.0")}).encode(),
            f"{want} '1.0'",
        ),
        "rows true": ("/score", json.dumps({"data": with_value(True)}).encode(), f"{want} True"),
        "rows false": ("/score", json.dumps(with_value(False)).encode(), f"{want} False"),
        "one flat row": (
            "/score",
            json.dumps({"data": [1.0, 1.0, 1.0, "x", *[1.0] * 26]}).encode(),
            f"row 0, feature {names[3]!r}: values must be numbers (null for a missing value), "
            "got 'x'",
        ),
        "records": ("/score", frame_string.to_json(orient="records").encode(), f"{want} '1.0'"),
        "columns": ("/score", frame_bool.to_json().encode(), f"{want} True"),
        "split": ("/score", frame_string.to_json(orient="split").encode(), f"{want} '1.0'"),
        "index": ("/score", frame_bool.to_json(orient="index").encode(), f"{want} True"),
        "v2 flat string": (
            V2,
            tensor([v for r in with_value("2") for v in r]),
            f"input 'input-0', {want} '2'",
        ),
        "v2 flat boolean": (
            V2,
            tensor([v for r in with_value(True) for v in r]),
            f"input 'input-0', {want} True",
        ),
        "v2 nested string": (V2, tensor(with_value("2")), f"input 'input-0', {want} '2'"),
        "v2 nested boolean": (V2, tensor(with_value(False)), f"input 'input-0', {want} False"),
        "v2 per feature string": (
            V2,
            per_feature("2"),
            f"input {names[3]!r}, row 1: values must be numbers (null for a missing value), "
            "got '2'",
        ),
        "v2 per feature boolean": (
            V2,
            per_feature(True),
            f"input {names[3]!r}, row 1: values must be numbers (null for a missing value), "
            "got True",
        ),
    }


CASES = [
    "rows string",
    "rows true",
    "rows false",
    "one flat row",
    "records",
    "columns",
    "split",
    "index",
    "v2 flat string",
    "v2 flat boolean",
    "v2 nested string",
    "v2 nested boolean",
    "v2 per feature string",
    "v2 per feature boolean",
]


@pytest.mark.parametrize("case", CASES)
def test_strings_and_booleans_are_a_422_naming_the_value(client, names, case):
    path, body, message = _bad_bodies(names)[case]
    response = client.post(path, content=body)
    assert response.status_code == 422, response.text
    assert response.json() == {"error": message, "status": 422}


def _assert_library(body: dict, want) -> None:
    outputs = {o["name"]: o for o in body["outputs"]} if "outputs" in body else None
    if outputs is None:
        np.testing.assert_array_equal(
            np.array(body["local_importance_values"]), want.local_importance_values
        )
        assert body["predictions"] == want.predictions.tolist()
    else:
        values = outputs["local_importance_values"]
        np.testing.assert_array_equal(
            np.array(values["data"]).reshape(values["shape"]), want.local_importance_values
        )
        assert outputs["predictions"]["data"] == want.predictions.tolist()


def test_valid_rows_give_the_library_numbers(client, artifacts, seed_data):
    _, x_test, *_ = seed_data
    explainer = load(artifacts["svc"])
    rows = x_test[:3].copy()
    rows[1, 4] = 0.0  # a zero and integers, as JSON integers
    ints = rows.round().astype(int)
    for matrix, content in [
        (rows, json.dumps({"data": rows.tolist()})),
        (ints.astype(float), json.dumps({"data": ints.tolist()})),
        (rows[:1], json.dumps({"data": rows[0].tolist()})),  # one flat row
        (rows, json.dumps(rows.tolist())),
    ]:
        response = client.post("/score", content=content)
        assert response.status_code == 200, response.text
        _assert_library(response.json(), explainer.score(matrix))
    # a BOOL tensor takes true/false (and numbers), as 1.0 and 0.0
    flags = np.where(x_test[:2] > 1, 1.0, 0.0)
    item = {
        "name": "input-0",
        "shape": [2, 30],
        "datatype": "BOOL",
        "data": [[bool(v) for v in r] for r in flags],
    }
    response = client.post(V2, content=json.dumps({"inputs": [item]}))
    assert response.status_code == 200, response.text
    _assert_library(response.json(), explainer.score(flags))


def _long(value: float) -> str:
    """``value`` as JSON with 120 more digits (trailing zeros: the same float)."""
    text = repr(float(value))
    return text + "0" * 120 if "." in text and "e" not in text else text


def test_large_valid_bodies_parsed_in_a_slot_give_the_library_numbers(client, artifacts, seed_data):
    x_train, *_ = seed_data
    explainer = load(artifacts["svc"])
    rows = x_train[:20]
    want = explainer.score(rows)
    nested = "[" + ",".join("[" + ",".join(_long(v) for v in r) + "]" for r in rows) + "]"
    content = '{"data": ' + nested + "}"
    assert len(content) > 64 * 1024  # over the inline size: parsed in a parse slot
    response = client.post("/score", content=content)
    assert response.status_code == 200, response.text
    _assert_library(response.json(), want)
    item = '{"name": "input-0", "shape": [20, 30], "datatype": "FP64", "data": ' + nested + "}"
    response = client.post(V2, content='{"inputs": [' + item + "]}")
    assert response.status_code == 200, response.text
    _assert_library(response.json(), want)


# -- /v2: deep nesting, duplicate keys, size -> 400 / 413 -------------------------------
ROW = [1.0] * 30
GOOD_INPUT = '{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ' + json.dumps(ROW) + "}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested 100000 levels deep; at most 1024"),
        (b'{"a":' * 30_000 + b"1" + b"}" * 30_000, "nested 30000 levels deep; at most 1024"),
        (
            b'{"inputs": ['
            + GOOD_INPUT.encode()
            + b'], "parameters": {"x": '
            + b"[" * 5_000
            + b"]" * 5_000
            + b"}}",
            "JSON nested too deeply",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": '
            + b"[" * 50_000
            + b"]" * 50_000
            + b"}]}",
            "nested 50003 levels deep; at most 1024",
        ),
    ],
    ids=["arrays", "objects", "deep-parameters", "deep-data"],
)
def test_deep_v2_bodies_are_a_400(client, content, message):
    assert len(content) <= 200_000  # the session server's body limit
    response = client.post(V2, content=content)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"inputs": [' + GOOD_INPUT + '], "inputs": [' + GOOD_INPUT + "]}", "inputs"),
        (
            '{"inputs": [{"name": "x", "name": "y", "shape": [1, 30], "datatype": "FP64", '
            '"data": ' + json.dumps(ROW) + "}]}",
            "name",
        ),
        (
            '{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [], '
            '"data": ' + json.dumps(ROW) + "}]}",
            "data",
        ),
        ('{"inputs": [' + GOOD_INPUT + '], "parameters": {"top_k": 1, "top_k": 2}}', "top_k"),
        ('{"id": "a", "inputs": [' + GOOD_INPUT + '], "\\u0069d": "b"}', "id"),
        ('{"inputs": [' + GOOD_INPUT + '], "outputs": [{"name": "a", "name": "b"}]}', "name"),
        ('{"inputs": [' + GOOD_INPUT + '], "extra": {"k": 1, "k": 2}}', "k"),
    ],
    ids=["inputs", "input-name", "input-data", "parameters", "escaped-id", "outputs", "unknown"],
)
def test_duplicate_keys_in_v2_are_a_400(client, content, key):
    response = client.post(V2, content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"duplicate key {key!r} in a JSON object"


def test_a_deep_member_of_a_score_body_is_a_400(client):
    # legal for orjson (under 1024 levels), too deep for the duplicate-key check's parser
    content = b'{"data": [' + json.dumps(ROW).encode() + b'], "note": "x", "deep": '
    content += b"[" * 1000 + b"]" * 1000 + b"}"
    response = client.post("/score", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "JSON nested too deeply to check its keys"


def test_v2_bodies_have_the_score_size_limits(client):
    # the session server: 200 rows, 200,000 bytes
    too_long = json.dumps({"inputs": [json.loads(GOOD_INPUT)], "pad": " " * 200_000})
    response = client.post(V2, content=too_long)
    assert response.status_code == 413, response.text
    too_many = '{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ['
    too_many += ",".join(["1"] * 90_000) + "]}]}"
    assert len(too_many) < 200_000
    response = client.post(V2, content=too_many)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == (
        # 89,999 + 4 commas and 5 containers
        "the body holds about 90,008 values; a request takes at most 200 rows of 30 features "
        "(the limit is 15,344 values)"
    )


# -- memory under 16 concurrent near-limit bodies ----------------------------------------
LIMIT = 10 * 2**20  # SCORING_MAX_BODY_BYTES's default


def _near_limit(head: bytes, unit: bytes, tail: bytes) -> bytes:
    n = (LIMIT - 100 - len(head) - len(tail)) // (len(unit) + 1)
    body = head + b",".join([unit] * n) + tail
    assert LIMIT - 2000 < len(body) <= LIMIT
    return body


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _post_all(url: str, requests: list[tuple[str, bytes]]) -> list[httpx.Response]:
    results: list[httpx.Response | BaseException | None] = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def send(i: int) -> None:
        path, content = requests[i]
        try:
            with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as c:
                barrier.wait()
                results[i] = c.post(path, content=content)
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(isinstance(r, httpx.Response) for r in results), results
    return [r for r in results if isinstance(r, httpx.Response)]


def test_16_concurrent_near_limit_bodies_stay_within_a_few_hundred_mb(
    artifacts, small_regression, tmp_path
):
    """Before the size check and the parse slots this server peaked at 1.4-2.2 GB."""
    explainer = load(artifacts["ridge"])
    names = explainer.features
    server = start_server(
        artifacts["ridge"],
        tmp_path,
        env={"SCORING_STORE_PATH": str(tmp_path / "store.sqlite3")},
    )
    try:
        row = b"[" + b",".join([b"0.5"] * len(names)) + b"]"
        record = json.dumps(dict.fromkeys(names, 0.5)).encode()
        hostile = {
            "rows": ("/score", _near_limit(b'{"data": [', row, b"]}"), 413),
            "wide row": ("/score", _near_limit(b'{"data": [[', b"0.5", b"]]}"), 422),
            "records": ("/score", _near_limit(b"[", record, b"]"), 413),
            "deep": (
                "/score",
                _near_limit(b'{"data": [[1]], "x": [', b"[" * 500 + b"]" * 500, b"]}"),
                413,
            ),
            "v2": (
                "/v2/models/ridge/infer",
                _near_limit(
                    b'{"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP64", "data": [',
                    b"0.5",
                    b"]}]}",
                ),
                413,
            ),
        }
        kinds = [*hostile] * 4
        answers = _post_all(server.url, [hostile[k][:2] for k in kinds[:16]])
        for kind, response in zip(kinds, answers, strict=False):
            assert response.status_code == hostile[kind][2], (kind, response.text[:200])
        values = hostile["wide row"][1].count(b",") + 1
        assert answers[1].json()["error"] == (
            f"expected 6 features per row, got a row of about {values:,} values"
        )

        # 16 legal bodies near the limit (numbers written with many digits): scored
        X, _ = small_regression
        rows = X[:1000] if len(X) >= 1000 else np.resize(X, (1000, X.shape[1]))
        text = ",".join("[" + ",".join(f"{v:.17f}".ljust(1700, "0") for v in r) + "]" for r in rows)
        legal = ('{"data": [' + text + "]}").encode()
        assert LIMIT - 300_000 < len(legal) <= LIMIT
        answers = _post_all(server.url, [("/score", legal)] * 16)
        want = explainer.score(np.array([[float(f"{v:.17f}") for v in r] for r in rows]))
        for response in answers:
            assert response.status_code == 200, response.text[:200]
        np.testing.assert_array_equal(
            np.array(answers[0].json()["local_importance_values"]), want.local_importance_values
        )

        # explanation uploads are decoded in the same slots
        uploads = [
            json.dumps({"explanation": classification_explanation(1000, 30, seed=i).to_dict()})
            for i in range(6)
        ]
        answers = _post_all(server.url, [("/explanations/hostile", u.encode()) for u in uploads])
        assert [r.status_code for r in answers] == [201] * 6, [r.text[:200] for r in answers]
        listed = httpx.get(server.url + "/explanations/hostile", timeout=30).json()
        assert len(listed) == 6

        peak = _peak_mib(server.process.pid)
        assert peak < 600, f"peak RSS {peak:.0f} MiB"
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        one = httpx.post(
            server.url + "/score",
            content=json.dumps({"data": [rows[0].tolist()]}),
            headers=HEADERS,
            timeout=30,
        )
        np.testing.assert_array_equal(
            np.array(one.json()["local_importance_values"]),
            explainer.score(rows[:1]).local_importance_values,
        )
    finally:
        server.stop()
