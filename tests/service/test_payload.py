"""Duplicate keys are refused in every body shape, with or without the full second parse."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring_explainers.runtime._payload import MalformedBody, _distinct_strings, decode

NAMES = ["a", "b"]
FRAME = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=NAMES)

USUAL = {
    "data lists": json.dumps({"data": [[1, 2], [3, 4]]}),
    "data records": json.dumps({"data": FRAME.to_dict(orient="records")}),
    "records": FRAME.to_json(orient="records"),
    "columns": FRAME.to_json(),
    "split": FRAME.to_json(orient="split"),
    "index": FRAME.to_json(orient="index"),
}


@pytest.mark.parametrize("name", list(USUAL))
def test_usual_bodies_skip_the_second_parse(name):
    body = USUAL[name]
    payload = decode(body.encode())
    assert payload == json.loads(body) == decode(body)
    assert body.count('"') == 2 * _distinct_strings(payload)  # proven free of duplicates


@pytest.mark.parametrize(
    "body",
    [
        '{"data": [[1, 2]], "data": [[3, 4]]}',
        '{"data": [[1, 2]], "d\\u0061ta": [[3, 4]]}',
        '[{"a": 1, "a": 2, "b": 3}]',
        '[{"a": 1, "b": 2}, {"a": 1, "b": 2, "b": 3}]',
        '{"data": [{"a": 1, "a": 2}]}',
        '{"a": {"0": 1, "0": 2}, "b": {"0": 3}}',
        '{"0": {"a": 1, "b": 2}, "0": {"a": 3, "b": 4}}',
        '{"columns": ["a", "b"], "index": [0], "data": [[1, 2]], "index": [1]}',
        '{"data": [[1, 2]], "meta": {"x": {"y": 1, "y": 2}}}',
        '{"data": [[1, 2]], "x": ["s", {"k": 1, "k": 2}]}',
    ],
)
def test_duplicate_keys_are_refused(body):
    for raw in (body, body.encode()):
        with pytest.raises(MalformedBody, match="duplicate key"):
            decode(raw)


def test_strings_that_are_not_counted_take_the_full_check():
    body = '{"data": [[1, 2]], "note": "a \\"quoted\\" word"}'
    payload = decode(body)
    assert payload["note"] == 'a "quoted" word'
    assert body.count('"') > 2 * _distinct_strings(payload)
