"""The hook's error handling; its happy path runs against a real Airflow in tests/integration."""

import json

import httpx
import pytest

from airflow_healer.exceptions import AirflowApiError, RunNotFound
from airflow_healer.hooks.airflow_api import AirflowApiHook


@pytest.fixture
def api_conn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HEALER_API", json.dumps(
        {"conn_type": "http", "host": "http://airflow.test:8080", "login": "healer", "password": "pw"}))


class Script:
    """Answers requests from a list of (status, body) per path; records what was sent."""

    def __init__(self, answers):
        self.answers = answers
        self.sent = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path, json.loads(request.content or b"null")))
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": f"tok{len(self.sent)}"})
        status, body = self.answers.pop(0)
        return httpx.Response(status, json=body)


def hook(script):
    return AirflowApiHook(transport=httpx.MockTransport(script), backoff=0)


def test_clear_sends_a_real_clear_of_only_failed_tasks_in_the_same_run(api_conn):
    script = Script([(200, {"task_instances": [{"task_id": "extract"}], "total_entries": 1})])
    cleared = hook(script).clear("etl", "manual__2026-01-01T00:00:00+00:00", ["extract", "load"], note="retry 1")
    assert cleared == [{"task_id": "extract"}]
    assert script.sent[0] == ("POST", "/auth/token", {"username": "healer", "password": "pw"})
    method, path, body = script.sent[1]
    assert (method, path) == ("POST", "/api/v2/dags/etl/clearTaskInstances")
    assert body == {"dry_run": False, "dag_run_id": "manual__2026-01-01T00:00:00+00:00",
                    "task_ids": ["extract", "load"], "only_failed": True, "include_upstream": False,
                    "include_downstream": False, "reset_dag_runs": False, "prevent_running_task": True,
                    "note": "retry 1"}


def test_server_errors_are_retried_then_reported(api_conn):
    script = Script([(500, {"detail": "database is locked"}), (200, {"task_instances": [], "total_entries": 0})])
    assert hook(script).clear("etl", "r", ["t"]) == []
    script = Script([(503, {"detail": "busy"})] * 6)  # every one of its tries
    with pytest.raises(AirflowApiError, match="503"):
        hook(script).clear("etl", "r", ["t"])


def test_an_expired_token_is_renewed_once(api_conn):
    script = Script([(401, {"detail": "expired"}), (200, {"task_instances": [], "total_entries": 0})])
    assert hook(script).task_instances("etl", "r") == []
    assert [p for _, p, _ in script.sent].count("/auth/token") == 2


def test_a_run_that_no_longer_exists_is_run_not_found(api_conn):
    script = Script([(404, {"detail": "DagRun not found"})])
    with pytest.raises(RunNotFound, match="DagRun not found"):
        hook(script).task_instances("etl", "gone")


def test_task_instances_are_paged(api_conn):
    page = [{"task_id": f"t{n}"} for n in range(100)]
    script = Script([(200, {"task_instances": page, "total_entries": 150}),
                     (200, {"task_instances": page[:50], "total_entries": 150})])
    assert len(hook(script).task_instances("etl", "r")) == 150
