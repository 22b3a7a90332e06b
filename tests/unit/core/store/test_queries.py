import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.store import rows as store_rows
from airflow_healer.core.store import sqlite as sqlite_store
from airflow_healer.core.store.base import linear_forecast
from airflow_healer.core.store.sqlite import SQLiteStore
from airflow_healer.core.types import Action, Classification, ErrorType, IncidentStatus, Outcome
from tests.unit.core.store.conftest import run_sql

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
STATUSES = ["open", "healing", "recovered", "not_recovered", "escalated"]


def at(days: float = 0, **delta: float) -> str:
    """The store's spelling of NOW minus ``days`` (and hours=, minutes=, seconds=)."""
    return (NOW - timedelta(days=days, **delta)).isoformat(timespec="milliseconds")


def insert(store, *incidents: dict, actions: tuple[tuple, ...] = ()) -> None:
    """Incidents (dicts over the incidents table's columns) and actions (incident_id, strategy, outcome,
    started_at) written with SQL, as many as a test needs, without the ledger."""
    for n, row in enumerate(incidents):
        row = {"run_id": f"run_{n}", "task_id": "extract", "status": "open", "last_try_number": 1, **row}
        row.setdefault("updated_at", row["created_at"])
        run_sql(store, f"INSERT INTO incidents ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()))
    if actions:
        run_sql(store, "INSERT INTO actions (incident_id, strategy, attempt, outcome, started_at) VALUES (?, ?, 1, ?, ?)",
                list(actions))


@pytest.fixture
def many(store):
    """237 incidents over 3 DAGs, 5 statuses and 3 types, several created in the same millisecond."""
    rows = [{"id": f"i{n:03d}", "dag_id": "abc"[n % 3], "task_id": f"t{n % 4}", "status": STATUSES[n % 5],
             "error_type": ["network_timeout", "rate_limiting", None][n % 7 % 3],
             "message": "Read timed out" if n % 6 == 0 else f"error {n}", "created_at": at(hours=n // 3)}
            for n in range(237)]
    insert(store, *rows)
    return rows


def newest_first(rows: list[dict]) -> list[str]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


@pytest.mark.parametrize("filters, keep", [
    ({}, lambda r: True),
    ({"dag_id": "b"}, lambda r: r["dag_id"] == "b"),
    ({"status": "recovered"}, lambda r: r["status"] == "recovered"),
    ({"status": IncidentStatus.OPEN, "dag_id": "a"}, lambda r: r["status"] == "open" and r["dag_id"] == "a"),
    ({"error_type": ErrorType.RATE_LIMITING}, lambda r: r["error_type"] == "rate_limiting"),
    ({"since": NOW - timedelta(hours=20)}, lambda r: r["created_at"] >= at(hours=20)),
    ({"search": "TIMED out", "dag_id": "c"}, lambda r: r["message"] == "Read timed out" and r["dag_id"] == "c"),
    ({"search": "t3"}, lambda r: r["task_id"] == "t3"),
])
def test_pages_walk_every_match_once_newest_first(store, many, filters, keep):
    expected = newest_first([r for r in many if keep(r)])
    seen, cursor, pages = [], None, 0
    while True:
        page = store.incident_page(limit=10, before=cursor, **filters)
        assert page["total"] == len(expected)
        assert len(page["incidents"]) <= 10
        seen += [i["id"] for i in page["incidents"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == max(1, -(-len(expected) // 10))


def test_a_search_matches_its_text_literally(store):
    insert(store, *[{"id": f"i{n}", "dag_id": dag, "task_id": task, "message": message, "created_at": at(minutes=n)}
                    for n, (dag, task, message) in enumerate([
                        ("etl", "load", "disk 100% full"), ("etl", "load", "disk 1000 full"),
                        ("etl", "a_b", "ok"), ("etl", "axb", "ok"), ("etl", "load", r"C:\tmp\x is missing"),
                        ("Sales_Daily", "load", "ok")])])

    def found(text: str) -> list[str]:
        return [i["id"] for i in store.incident_page(search=text)["incidents"]]

    assert found("100%") == ["i0"]
    assert found("a_b") == ["i2"]
    assert found(r"\tmp\x") == ["i4"]
    assert found("DISK") == ["i0", "i1"]
    assert found("sales_d") == ["i5"]
    assert found("%") == ["i0"]


def test_a_cursor_that_is_not_one_is_a_clear_error(store, many):
    for cursor in ("nonsense", "WyJhIl0", ""):
        with pytest.raises(ValueError, match="cursor"):
            store.incident_page(before=cursor)


def test_a_summary_says_what_happened_in_a_line(store):
    incident_id = store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r1",
                                                    message="x" * 1000, operator="PythonOperator"))
    store.set_classification(incident_id, Classification(ErrorType.NETWORK_TIMEOUT, 0.9))
    store.finish_action(store.add_action(incident_id, Action("retry", 1)), Outcome.FAILED)
    store.add_action(incident_id, Action("retry_with_backoff", 2))
    store.set_status(incident_id, IncidentStatus.HEALING, "y" * 400)
    store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r2", message="no actions yet"))

    summaries = {i["run_id"]: i for i in store.incident_page()["incidents"]}
    assert (summaries["r2"]["actions"], summaries["r2"]["last_action"]) == (0, None)
    summary = summaries["r1"]
    assert {k: summary[k] for k in ("id", "dag_id", "task_id", "run_id", "map_index", "error_type", "confidence",
                                    "status", "last_try_number", "actions", "last_action")} == {
        "id": incident_id, "dag_id": "etl", "task_id": "extract", "run_id": "r1", "map_index": -1,
        "error_type": "network_timeout", "confidence": 0.9, "status": "healing", "last_try_number": 1,
        "actions": 2, "last_action": "retry_with_backoff:pending"}
    assert (summary["message"], summary["reason"]) == ("x" * 300, "y" * 300)
    assert summary["created_at"] <= summary["updated_at"]


def test_the_overview_counts_the_window_and_lists_what_is_active(store):
    insert(store, *[
        {"id": f"old{n}", "dag_id": "old_dag", "status": "recovered", "created_at": at(days=3, minutes=n)}
        for n in range(4)
    ], *[
        {"id": f"new{n}", "dag_id": "busy" if n < 25 else "quiet", "status": STATUSES[n % 5],
         "created_at": at(minutes=10 * n)} for n in range(30)
    ], {"id": "future", "dag_id": "busy", "status": "open", "created_at": at(minutes=-5)})
    store.set_status("new1", IncidentStatus.NOT_RECOVERED, "gave up")

    view = store.overview(now=NOW, window_hours=24)

    assert view["by_status"] == {"open": 7, "healing": 5, "recovered": 10, "not_recovered": 7, "escalated": 6}
    assert (view["total"], view["in_window"], view["active"]) == (35, 30, 18)
    active = [i["id"] for i in view["active_incidents"]]
    assert len(active) == 18 and active[:4] == ["future", "new0", "new4", "new5"]
    assert view["dags"] == [
        {"dag_id": "busy", "failures": 25, "recovered": 5, "not_recovered": 6, "open": 14},
        {"dag_id": "quiet", "failures": 5, "recovered": 1, "not_recovered": 1, "open": 3},
    ]
    assert view["pending_proposals"] == 0
    assert [(e["kind"], e["incident_id"], e["text"]) for e in view["events"]] == [
        ("status", "new1", "not_recovered gave up")]
    assert view["last_event_at"] == view["events"][0]["at"]


def test_pending_proposals_leave_out_the_decided_and_the_expired(store):
    incident = store.get_incident(store.record_failure(make_failure(dag_id="etl", task_id="load", run_id="r1")))
    store.add_proposal(incident, "grant_access", "grant the role", ttl_seconds=3600)
    decided = store.add_proposal(incident, "grant_access", "grant the role", ttl_seconds=3600)
    store.add_proposal(incident, "grant_access", "grant the role", ttl_seconds=-1)
    store.decide_proposal(decided["id"], approve=True, user="ana")
    view = store.overview()
    assert view["pending_proposals"] == 1
    assert [(e["kind"], e["text"]) for e in view["events"][:2]] == [("decision", "approved ana"),
                                                                   ("proposal", "grant_access")]


def test_the_events_feed_is_the_last_thirty_entries(store):
    for n in range(40):
        store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id=f"r{n}", try_number=2, message="x"))
    events = store.overview()["events"]
    assert len(events) == 30 and events[0]["text"] == "etl.extract try 2"
    assert [e["seq"] for e in events] == list(range(40, 10, -1))


def test_analytics_counts_every_day_type_strategy_and_recovery(store):
    insert(store, *[
        # Day 6 ago: 1, 5 ago: 2, ... today: 7 (a line), two older than the window, and one tomorrow.
        {"id": f"d{back}_{k}", "dag_id": f"dag{k % 3}", "task_id": f"t{k % 2}", "created_at": at(days=back),
         "error_type": "rate_limiting" if k % 2 else "network_timeout", "status": "open"}
        for back in range(7) for k in range(7 - back)
    ], {"id": "old1", "dag_id": "dag0", "created_at": at(days=7, hours=1)},
        {"id": "old2", "dag_id": "dag0", "created_at": at(days=40)},
        {"id": "later", "dag_id": "dag0", "created_at": at(days=-1)},
        *[{"id": f"r{n}", "dag_id": "dag9", "status": "recovered", "created_at": at(days=1, hours=n),
           "updated_at": at(days=1, hours=n, seconds=-seconds)} for n, seconds in enumerate([60, 300, 120])],
        actions=(("d0_0", "retry", "success", at()), ("d0_1", "retry", "success", at()), ("d0_2", "retry", "failed", at()),
                 ("d0_3", "retry", "pending", at()), ("d1_0", "rescale", "skipped", at(days=1)),
                 ("old2", "retry", "failed", at(days=40))))

    report = store.analytics(days=7, now=NOW)

    assert (report["days"], report["since"], report["until"]) == (7, "2026-03-04", "2026-03-11")
    assert report["daily"] == [{"date": f"2026-03-{d:02d}", "count": d - 3 + (3 if d == 9 else 0)}
                               for d in range(4, 11)]
    assert report["total"] == 31
    assert report["error_types"] == [{"error_type": "network_timeout", "count": 16},
                                     {"error_type": "rate_limiting", "count": 12}, {"error_type": None, "count": 3}]
    assert report["strategies"] == [
        {"strategy": "retry", "success": 2, "failed": 1, "total": 4, "success_rate": 0.6667},
        {"strategy": "rescale", "success": 0, "failed": 0, "total": 1, "success_rate": None},
    ]
    assert report["recovery"] == {"count": 3, "mean_seconds": 160.0, "median_seconds": 120.0, "median_of": 3}
    assert report["top_dags"] == [{"dag_id": "dag0", "count": 12}, {"dag_id": "dag1", "count": 9},
                                  {"dag_id": "dag2", "count": 7}, {"dag_id": "dag9", "count": 3}]
    assert report["top_tasks"][:2] == [{"dag_id": "dag0", "task_id": "t0", "count": 8},
                                       {"dag_id": "dag1", "task_id": "t1", "count": 6}]
    assert len(report["top_tasks"]) == 7
    assert [f["date"] for f in report["forecast"]] == [f"2026-03-{d:02d}" for d in range(11, 18)]
    assert all(isinstance(f["count"], float) and f["count"] >= 0 for f in report["forecast"])


def test_the_median_is_of_the_newest_recoveries_past_the_sample(store, monkeypatch):
    monkeypatch.setattr(store_rows, "MEDIAN_SAMPLE", 2)
    insert(store, *[{"id": f"r{n}", "dag_id": "etl", "status": "recovered", "created_at": at(hours=n),
                     "updated_at": at(hours=n, seconds=-seconds)} for n, seconds in enumerate([10, 30, 1000, 2000])])
    assert store.analytics(days=2, now=NOW)["recovery"] == {"count": 4, "mean_seconds": 760.0, "median_seconds": 20.0,
                                                            "median_of": 2}


@pytest.mark.parametrize("counts, expected", [
    ([1, 2, 3, 4, 5, 6, 7], [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0]),
    ([5, 5, 5], [5.0] * 7),
    ([9, 6, 3], [0.0] * 7),
    ([4], [4.0] * 7),
    ([], [0.0] * 7),
])
def test_the_forecast_carries_the_least_squares_line_on(counts, expected):
    assert linear_forecast(counts) == expected


def test_an_empty_store_answers_every_query(store):
    assert store.incident_page() == {"incidents": [], "next": None, "total": 0}
    view = store.overview()
    assert view["by_status"] == dict.fromkeys(STATUSES, 0)
    assert (view["total"], view["in_window"], view["active"], view["pending_proposals"]) == (0, 0, 0, 0)
    assert (view["active_incidents"], view["dags"], view["events"], view["last_event_at"]) == ([], [], [], None)
    report = store.analytics(days=3)
    assert [d["count"] for d in report["daily"]] == [0, 0, 0]
    assert (report["total"], report["error_types"], report["strategies"], report["top_dags"], report["top_tasks"]) == (
        0, [], [], [], [])
    assert report["recovery"] == {"count": 0, "mean_seconds": None, "median_seconds": None, "median_of": 0}
    assert [f["count"] for f in report["forecast"]] == [0.0] * 7


def _indexes(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
    finally:
        conn.close()


def test_a_version_5_store_gets_the_indexes_and_keeps_its_rows(tmp_path):
    path = tmp_path / "healer.db"
    store = SQLiteStore(path)
    incident_id = store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r1", message="timeout"))
    store.add_action(incident_id, Action("retry", 1))
    store.close()
    added = _indexes(path) - {"incidents_fingerprint"}
    assert {"incidents_search", "incidents_status", "actions_incident"} <= added
    conn = sqlite3.connect(path)  # as schema v5 left a store
    for name in added:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("CREATE INDEX incidents_created ON incidents (created_at)")
    conn.execute("DROP TABLE pipeline_jobs")  # v5 had none: it is created on the upgrade
    conn.execute("PRAGMA user_version=5")
    conn.commit()
    conn.close()

    reopened = SQLiteStore(path)
    incident = reopened.get_incident(incident_id)
    reopened.close()

    assert _indexes(path) == added | {"incidents_fingerprint"}
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION == 8
    assert (incident.message, [a.strategy for a in incident.actions], len(incident.failures)) == ("timeout", ["retry"], 1)
    assert [e["kind"] for e in SQLiteStore(path).ledger(incident_id)] == ["failure", "action"]


def test_a_version_7_store_is_upgraded_in_place_and_says_so(tmp_path):
    path = tmp_path / "healer.db"
    store = SQLiteStore(path)
    incident_id = store.record_failure(make_failure(dag_id="etl", task_id="extract", run_id="r1", message="timeout"))
    store.close()
    conn = sqlite3.connect(path)  # as the previous release left a store: no schema_migrations
    conn.execute("DROP TABLE schema_migrations")
    conn.execute("PRAGMA user_version=7")
    conn.commit()
    conn.close()
    old = SQLiteStore(path)
    assert old.schema_version() == 7
    assert old.migrate() == [8] and old.migrate() == []
    assert [m["version"] for m in old.migrations()] == [8]
    assert old.get_incident(incident_id).message == "timeout"


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    from airflow_healer.exceptions import StoreSchemaError

    path = tmp_path / "healer.db"
    SQLiteStore(path).ledger()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StoreSchemaError, match="newer than this airflow_healer"):
        SQLiteStore(path).ledger()
