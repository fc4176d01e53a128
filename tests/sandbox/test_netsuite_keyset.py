"""Key-set pages served from one sorted result: which queries qualify, and when the result is run again."""

from __future__ import annotations

import sqlite3

from sqlglot import exp, parse_one

from tieout.sandbox.netsuite.keyset import SortedResults, split


def _tree(sql: str) -> exp.Expression:
    return parse_one(sql, dialect="sqlite")


def _db(values: list[tuple[object, int]]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (k, id INTEGER PRIMARY KEY, other INTEGER)")
    db.executemany("INSERT INTO t (k, id, other) VALUES (?, ?, ?)", [(k, i, i % 3) for k, i in values])
    return db


def _after(k: str, i: int, *, direction: str = "") -> str:
    return (
        f"SELECT id, k FROM t WHERE other >= 0 AND ((k > {k}) OR (k = {k} AND id > {i})) "
        f"ORDER BY k{direction}, id{direction}"
    )


def test_only_a_key_set_condition_on_the_ascending_order_keys_qualifies() -> None:
    assert split(_tree(_after("'b'", 2))) is not None
    assert split(_tree(_after("'b'", 2, direction=" DESC"))) is None
    assert (
        split(_tree("SELECT id, k FROM t WHERE (k > 'b') OR (k = 'b' AND other > 2) ORDER BY k, id")) is None
    )
    assert split(_tree("SELECT id, k FROM t WHERE (k > 'b') OR (k = 'c' AND id > 2) ORDER BY k, id")) is None
    assert (
        split(_tree("SELECT DISTINCT id, k FROM t WHERE (k > 'b') OR (k = 'b' AND id > 2) ORDER BY k, id"))
        is None
    )
    assert split(_tree("SELECT id, k FROM t WHERE k > 'b' ORDER BY k")) is not None  # one key: k > bound


def test_pages_are_what_sqlite_answers_and_mixed_kinds_fall_back() -> None:
    db = _db([(f"k{n % 7}", n) for n in range(1, 60)])
    results = SortedResults()
    for bound in (("'k3'", 10), ("'k0'", 0), ("'k6'", 59), ("'a'", 0)):
        query = split(_tree(_after(*bound)))
        assert query is not None
        served = results.page(db, query, 5, 2)
        expected = db.execute(_after(*bound) + " LIMIT 5 OFFSET 2").fetchall()
        total = db.execute(f"SELECT COUNT(*) FROM ({_after(*bound)})").fetchone()[0]
        assert served == (expected, total)
    # A number bound on text keys: SQLite orders numbers before text, Python cannot compare them.
    numeric_bound = split(_tree(_after("5", 10)))
    assert numeric_bound is not None and results.page(db, numeric_bound, 5, 0) is None
    mixed = _db([("k1", 1), (2, 2), ("k3", 3)])
    query = split(_tree(_after("'k1'", 1)))
    assert query is not None and SortedResults().page(mixed, query, 5, 0) is None


def test_the_sorted_result_is_run_once_until_a_write_and_survives_the_queries_between_its_pages() -> None:
    db = _db([(f"k{n:03d}", n) for n in range(1, 200)])
    runs: list[str] = []
    db.set_trace_callback(lambda sql: runs.append(sql) if "__keyset_" in sql else None)
    results = SortedResults()
    header = split(_tree(_after("'k010'", 10)))
    details = [split(_tree(_after("'k010'", 10).replace("other >= 0", f"other = {n % 3}"))) for n in range(3)]
    assert header is not None and all(details)
    results.page(db, header, 10, 0)
    for detail in details:
        assert detail is not None
        results.page(db, detail, 10, 0)
        results.page(db, header, 10, 0)
    assert len(runs) == 1 + 3
    db.execute("UPDATE t SET k = 'k999' WHERE id = 50")
    rows, total = results.page(db, header, 200, 0) or ([], 0)
    assert len(runs) == 5 and rows[-1] == (50, "k999") and total == 189
