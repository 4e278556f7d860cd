"""The store's table on SQLite and on a real PostgreSQL server: the same truths on both."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import orjson
import pytest

from scoring_explainers import InputError
from scoring_explainers.explanation import GlobalExplanation, LocalExplanation
from service.payload import MalformedBody
from service.store import (
    Conflict,
    NotFound,
    SQLiteRepository,
    StoreConfig,
    StoreUnavailable,
    open_repository,
)
from service.store.records import parse_upload, top_k_explanation

from .conftest import classification_explanation, regression_explanation


def upload(explanation, comment=None, true_ys=None, **extra) -> bytes:
    body = {"explanation": explanation.to_dict(), "comment": comment, "true_ys": true_ys}
    return json.dumps({**body, **extra}).encode()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def repo(request, tmp_path):
    if request.param == "sqlite":
        config = StoreConfig(sqlite_path=str(tmp_path / "store" / "explanations.sqlite3"))
    else:
        config = StoreConfig(database_url=request.getfixturevalue("empty_postgres"))
    repository = open_repository(config)
    yield repository
    repository.close()


def test_round_trip_is_exact(repo):
    exp = classification_explanation()
    labels = [int(v) for v in np.arange(40) % 2]
    record = repo.add(parse_upload(upload(exp, "validation", labels), "run-1"))
    assert record["id"] == exp.id and record["comment"] == "validation"
    assert record["num_examples"] == 40 and record["num_classes"] == 2
    found, body, true_ys = repo.find("run-1")
    back = LocalExplanation.from_dict(orjson.loads(body))
    assert isinstance(back, GlobalExplanation)
    assert back == exp  # every member, floats bit for bit
    assert back.local_importance_array.tobytes() == exp.local_importance_array.tobytes()
    assert orjson.loads(true_ys) == labels
    assert found == record


def test_regression_local_round_trip(repo):
    exp = regression_explanation()
    repo.add(parse_upload(upload(exp), "run-1"))
    _, body, true_ys = repo.find("run-1", explanation_id=exp.id)
    assert LocalExplanation.from_dict(orjson.loads(body)) == exp and true_ys is None


def test_list_filters_and_latest(repo):
    first = classification_explanation(seed=1)
    raw = classification_explanation(seed=2, is_raw=True)
    second = classification_explanation(seed=3)
    repo.add(parse_upload(upload(first, "a"), "run-1"))
    repo.add(parse_upload(upload(raw, "b"), "run-1"))
    repo.add(parse_upload(upload(second, "a"), "run-1"))
    repo.add(parse_upload(upload(regression_explanation(), "a"), "run-2"))
    assert [r["id"] for r in repo.list("run-1")] == [first.id, raw.id, second.id]
    assert [r["id"] for r in repo.list("run-1", comment="a")] == [first.id, second.id]
    assert [r["id"] for r in repo.list("run-1", is_raw=True)] == [raw.id]
    assert [r["is_engineered"] for r in repo.list("run-1", is_raw=False)] == [True, True]
    assert repo.list("no-such-run") == []
    assert repo.find("run-1")[0]["id"] == second.id
    assert repo.find("run-1", is_raw=True)[0]["id"] == raw.id
    assert repo.find("run-1", comment="b")[0]["id"] == raw.id
    runs = repo.runs()
    assert [(r["run_id"], r["count"]) for r in runs] == [("run-1", 3), ("run-2", 1)]
    with pytest.raises(NotFound):
        repo.find("run-1", comment="nothing")
    with pytest.raises(NotFound):
        repo.find("run-1", explanation_id=raw.id, is_raw=False)


def test_top_k_keeps_the_ranked_global_values(repo):
    exp = classification_explanation(n_features=9)
    repo.add(parse_upload(upload(exp), "run-1"))
    _, summary, _ = repo.find("run-1", summary_only=True)
    top = top_k_explanation(orjson.loads(summary), 4)
    assert top.features == exp.get_ranked_global_names(4)
    assert top.get_ranked_global_values() == exp.get_ranked_global_values(4)
    assert top.global_importance_values == exp.get_ranked_global_values(4)
    order = exp.global_importance_rank[:4]
    assert top.per_class_values == np.asarray(exp.per_class_values)[:, order].tolist()
    assert not top.has_local and top.eval_data is None and top.id == exp.id


def test_top_k_of_a_local_explanation_uses_the_one_definition(repo):
    exp = regression_explanation()
    repo.add(parse_upload(upload(exp), "run-1", top_k=2))
    record, body, _ = repo.find("run-1")
    stored = LocalExplanation.from_dict(orjson.loads(body))
    mean_abs = np.abs(exp.local_importance_array).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:2]
    assert record["top_k"] == 2 and record["num_features"] == 2
    assert stored.features == [exp.features[i] for i in order]
    assert stored.get_ranked_global_values() == mean_abs[order].tolist()


def test_duplicate_id_is_a_conflict_and_keeps_the_first(repo):
    exp = classification_explanation()
    repo.add(parse_upload(upload(exp, "first"), "run-1"))
    with pytest.raises(Conflict):
        repo.add(parse_upload(upload(exp, "second"), "run-1"))
    assert [r["comment"] for r in repo.list("run-1")] == ["first"]
    repo.add(parse_upload(upload(exp, "other run"), "run-2"))  # ids are per run


def test_delete(repo):
    one, two = classification_explanation(seed=1), classification_explanation(seed=2)
    repo.add(parse_upload(upload(one), "run-1"))
    repo.add(parse_upload(upload(two), "run-1"))
    assert repo.delete("run-1", one.id) == 1
    assert [r["id"] for r in repo.list("run-1")] == [two.id]
    with pytest.raises(NotFound):
        repo.delete("run-1", one.id)
    assert repo.delete("run-1") == 1
    assert repo.list("run-1") == [] and repo.runs() == []


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "e.sqlite3"
    repo = SQLiteRepository(path)
    record = parse_upload(upload(classification_explanation()), "run-1")
    connect = repo._connect

    class FailsAfterInsert:
        """The INSERT runs, then the disk fails before the commit."""

        def __init__(self) -> None:
            self.conn = connect()

        def execute(self, sql, params=()):
            cursor = self.conn.execute(sql, params)
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("disk I/O error")
            return cursor

        def __getattr__(self, name):
            return getattr(self.conn, name)

    monkeypatch.setattr(repo, "_connect", FailsAfterInsert)
    with pytest.raises(StoreUnavailable, match="disk I/O error"):
        repo.add(record)
    monkeypatch.undo()
    assert repo.list("run-1") == []
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM explanations").fetchone() == (0,)


def test_sqlite_file_is_in_wal_mode(tmp_path):
    path = tmp_path / "deep" / "dir" / "e.sqlite3"
    SQLiteRepository(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_stores_are_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable, match="cannot open"):
        open_repository(StoreConfig(sqlite_path=str(blocker / "e.sqlite3")))
    with pytest.raises(StoreUnavailable, match="off"):
        open_repository(StoreConfig(sqlite_path=""))
    with pytest.raises(StoreUnavailable, match="PostgreSQL"):
        open_repository(StoreConfig(database_url="postgresql://nobody@127.0.0.1:1/none"))


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"{", MalformedBody, "not valid JSON"),
        (b"[]", MalformedBody, "must be"),
        (b'{"explanation": {}, "extra": 1}', MalformedBody, "unknown members"),
        (b'{"explanation": {"format_version": 9}}', InputError, "format_version"),
        (b'{"explanation": {"format_version": 1, "kind": "local"}}', InputError, "missing"),
        (b'{"explanation": {"local_importance_values": [1e400]}}', MalformedBody, "infinity"),
        (b'{"explanation": {"local_importance_values": [NaN]}}', MalformedBody, "not valid"),
    ],
)
def test_malformed_uploads(body, error, match):
    with pytest.raises(error, match=match):
        parse_upload(body, "run-1")


def _broken(**changes):
    data = classification_explanation(n_rows=5, n_features=3).to_dict()
    data.update(changes)
    return json.dumps({"explanation": data}).encode()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_broken(local_importance_values=[[[1.0, 2.0]]]), "shaped"),
        (_broken(global_importance_values=[1.0, 2.0]), "3 values"),
        (_broken(eval_data=[[1.0, 2.0, 3.0]]), "eval_data must be shaped"),
        (_broken(eval_y_predicted=[1, 0]), "eval_y_predicted has 2 values for 5 rows"),
        (_broken(eval_y_predicted_proba=[[1.0]] * 5), "eval_y_predicted_proba"),
        (_broken(id="../../etc"), "explanation id"),
    ],
)
def test_inconsistent_explanations_are_refused(body, match):
    with pytest.raises(InputError, match=match):
        parse_upload(body, "run-1")


def test_true_ys_and_comment_are_checked():
    exp = classification_explanation(n_rows=5)
    with pytest.raises(InputError, match="true_ys has 3 labels for 5 rows"):
        parse_upload(upload(exp, true_ys=[1, 0, 1]), "run-1")
    with pytest.raises(InputError, match="numbers, strings"):
        parse_upload(upload(exp, true_ys=[[1]] * 5), "run-1")
    with pytest.raises(InputError, match="comment"):
        parse_upload(upload(exp, comment="x" * 1001), "run-1")
