"""Every route of the Healer page: who may read and act, validation, escaping, a store that is down."""

from __future__ import annotations

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.store import open_store
from airflow_healer.core.types import Classification, ErrorType

XSS = "<script>alert(1)</script>"


@pytest.fixture
def store(ui_config):
    return open_store(ui_config.store_url)


@pytest.fixture
def incident(store):
    incident_id = store.record_failure(make_failure(
        dag_id="orders", task_id="load", run_id="scheduled__2026-12-01", try_number=1,
        message=f"403 Permission 'bigquery.tables.getData' denied {XSS}"))
    store.set_classification(incident_id, Classification(ErrorType.PERMISSION_DENIED, 0.97, "test", [XSS]))
    return store.get_incident(incident_id)


@pytest.fixture
def proposal(store, incident):
    return store.add_proposal(incident, "grant_permission", f"grant roles/bigquery.dataViewer {XSS}", 3600,
                              content={"kind": "grant_permission", "steps": [f"gcloud ... {XSS}"]})


PAGES = ["/", "/incidents", "/analytics", "/approvals", "/jobs"]


@pytest.mark.parametrize("path", [*PAGES, "/api/overview", "/api/incidents", "/api/analytics", "/api/proposals",
                                  "/api/mode"])
def test_no_login_is_401_and_a_viewer_reads(client, auth, path):
    assert client.get(path).status_code == 401
    response = client.get(path, headers=auth.bearer("viewer"))
    assert response.status_code == 200, response.text


def test_a_user_without_a_role_may_not_read(client, auth):
    response = client.get("/api/overview", headers=auth.bearer("nobody"))
    assert response.status_code == 403 and "read DAGs" in response.json()["detail"]


def test_error_texts_show_as_text_everywhere(client, auth, incident, proposal):
    for path in ("/incidents", f"/incidents/{incident.id}", "/approvals", "/"):
        html = client.get(path, headers=auth.bearer("viewer")).text
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or path == "/", path


def test_the_incident_page_shows_what_decided_and_links_into_airflow(client, auth, incident, proposal):
    html = client.get(f"/incidents/{incident.id}", headers=auth.bearer("viewer")).text
    assert "permission_denied" in html and "0.97" in html
    assert "grant_permission" in html and proposal["id"] in html
    assert "/dags/orders/runs/scheduled__2026-12-01/tasks/load" in html
    assert client.get("/incidents/nope", headers=auth.bearer("viewer")).status_code == 404
    data = client.get(f"/api/incidents/{incident.id}", headers=auth.bearer("viewer")).json()
    assert data["error_type"] == "permission_denied" and data["dag_id"] == "orders"


def test_an_external_jobs_incident_links_to_the_job_in_the_cloud_console(client, auth, store):
    store.upsert_pipeline_job({"job_id": "2026-12-01_03_14-1234", "job_name": "nightly-orders", "job_type": "dataflow",
                               "status": "failed", "project": "analytics", "location": "europe-west1"})
    incident_id = store.record_failure(make_failure(dag_id="external:dataflow", task_id="nightly-orders",
                                                    run_id="2026-12-01_03_14-1234", message="Workflow failed."))
    html = client.get(f"/incidents/{incident_id}", headers=auth.bearer("viewer")).text
    assert ("https://console.cloud.google.com/dataflow/jobs/europe-west1/2026-12-01_03_14-1234?project=analytics"
            in html)
    assert "/dags/external" not in html


def test_a_viewer_may_not_decide_and_an_editor_may_once(client, auth, store, proposal):
    url = f"/api/proposals/{proposal['id']}/approve"
    assert client.post(url, json={"note": "ok"}).status_code == 401
    assert client.post(url, json={"note": "ok"}, headers=auth.bearer("viewer")).status_code == 403
    response = client.post(url, json={"note": "granted"}, headers=auth.bearer("user"))
    assert response.status_code == 200, response.text
    assert "approved" in response.json()["message"]
    decided = store.get_proposal(proposal["id"])
    assert (decided["status"], decided["decided_by"], decided["note"]) == ("approved", "ed", "granted")
    again = client.post(f"/api/proposals/{proposal['id']}/reject", json={}, headers=auth.bearer("user"))
    assert again.status_code == 409 and "already approved by ed" in again.json()["detail"]
    assert client.post("/api/proposals/nope/approve", json={}, headers=auth.bearer("user")).status_code == 404


def test_a_cookie_session_needs_the_pages_csrf_token(client, auth, store, proposal):
    headers = auth.session(client, "user")
    url = f"/api/proposals/{proposal['id']}/reject"
    refused = client.post(url, json={"note": "no"})
    assert refused.status_code == 403 and "X-Healer-CSRF" in refused.json()["detail"]
    assert client.post(url, json={"note": "no"}, headers={"X-Healer-CSRF": "forged"}).status_code == 403
    assert store.get_proposal(proposal["id"])["status"] == "pending"
    assert client.post(url, json={"note": "bucket is private"}, headers=headers).status_code == 200
    assert store.get_proposal(proposal["id"])["status"] == "rejected"
    # The page embeds the token it expects back.
    assert headers["X-Healer-CSRF"] in client.get("/approvals").text


def test_validation_errors_say_what_is_wrong(client, auth, proposal):
    too_long = client.post(f"/api/proposals/{proposal['id']}/approve", json={"note": "x" * 2001},
                           headers=auth.bearer("user"))
    assert too_long.status_code == 422
    assert client.get("/api/incidents?status=bogus", headers=auth.bearer("viewer")).status_code == 422
    assert client.get("/api/incidents?limit=100000", headers=auth.bearer("viewer")).status_code == 422
    bad = client.post("/api/remediate", json={"dag_id": "orders", "run_id": "r", "task_id": "t", "strategy": "rm -rf"},
                      headers=auth.bearer("user"))
    assert bad.status_code == 422
    assert client.post("/api/mode", json={"mode": "yolo"}, headers=auth.bearer("admin")).status_code == 422


def test_the_mode_is_switched_by_someone_with_rights_on_every_dag_and_the_healer_obeys(client, auth, store,
                                                                                        ui_config):
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.remediate.engine import Verdict

    assert client.post("/api/mode", json={"mode": "observe"}, headers=auth.bearer("viewer")).status_code == 403
    response = client.post("/api/mode", json={"mode": "observe", "reason": "incident review"},
                           headers=auth.bearer("admin"))
    assert response.status_code == 200 and "observe" in response.json()["message"]
    assert client.get("/api/mode", headers=auth.bearer("viewer")).json()["override"]["by"] == "root"
    healer = Healer(ui_config, store=store)
    store.record_failure(make_failure(dag_id="d", task_id="t", run_id="r", message="Read timed out."))
    incident = store.list_incidents()[0]
    decision = healer.decide(incident, Classification(ErrorType.NETWORK_TIMEOUT, 0.99, "test", []))
    assert decision.verdict is Verdict.OBSERVE  # the emergency stop holds for every healer


def test_a_store_that_is_down_gives_a_page_that_says_so(auth, airflow_home, tmp_path):
    from fastapi.testclient import TestClient

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.ui.app import create_app

    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "healer.db").write_bytes(b"this is not a database" * 100)
    app = create_app(HealerConfig.load().replace(store_url=f"sqlite:///{tmp_path / 'ro' / 'healer.db'}"))
    with TestClient(app, base_url="http://testserver/healer", root_path="/healer") as client:
        page = client.get("/incidents", headers=auth.bearer("viewer"))
        assert page.status_code == 503 and "The healer store is unavailable" in page.text
        api = client.get("/api/incidents", headers=auth.bearer("viewer"))
        assert api.status_code == 503 and "store_url" in api.json()["hint"]


def test_the_api_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/incidents", "/api/proposals/{proposal_id}/approve", "/api/mode", "/api/remediate"} <= set(paths)


def test_assets_are_served_by_the_plugin(client):
    assert "healerSend" in client.get("/static/healer.js").text
    assert client.get("/static/healer.css").status_code == 200


class RecordedApi:
    """Airflow's REST API as the page calls it with the user's own token (what would go over the wire)."""

    def __init__(self):
        self.calls = []

    def post(self, path, body):
        self.calls.append(("POST", path, body))
        return {"dag_run_id": "manual__2026-12-02T10:00:00+00:00"}

    def patch(self, path, body):
        self.calls.append(("PATCH", path, body))
        return {}


def test_remediation_and_pausing_go_to_airflows_api_as_the_user(client, auth, monkeypatch):
    from airflow_healer.ui import pages

    recorded = RecordedApi()
    monkeypatch.setattr(pages, "_as_user", lambda request: recorded)
    body = {"dag_id": "orders", "run_id": "scheduled__2026-12-01", "task_id": "load", "reason": "partner back"}
    assert client.post("/api/remediate", json=body, headers=auth.bearer("viewer")).status_code == 403
    response = client.post("/api/remediate", json=body, headers=auth.bearer("user"))
    assert response.status_code == 200 and "dry run" in response.json()["message"]
    assert client.post("/api/dags/orders/pause", json={"is_paused": True}, headers=auth.bearer("user")).status_code == 200
    assert recorded.calls == [
        ("POST", "/api/v2/dags/healer_remediate/dagRuns", {"logical_date": None, "conf": {
            "dag_id": "orders", "run_id": "scheduled__2026-12-01", "task_id": "load", "map_index": -1,
            "strategy": "auto", "dry_run": True, "reason": "partner back"}}),
        ("PATCH", "/api/v2/dags/orders", {"is_paused": True}),
    ]


def test_the_incident_list_pages_and_a_forged_cursor_is_a_clear_400(client, auth, store):
    for n in range(60):
        store.record_failure(make_failure(dag_id="etl", task_id=f"t{n}", run_id="r", message="Read timed out."))
    first = client.get("/api/incidents?limit=50", headers=auth.bearer("viewer")).json()
    assert (len(first["incidents"]), first["total"]) == (50, 60) and first["next"]
    rest = client.get("/api/incidents", params={"limit": 50, "before": first["next"]}, headers=auth.bearer("viewer"))
    assert len(rest.json()["incidents"]) == 10 and rest.json()["next"] is None
    html = client.get("/incidents", headers=auth.bearer("viewer")).text
    assert "Older incidents" in html and "60 incident(s)" in html
    forged = client.get("/api/incidents", params={"before": "not-a-cursor"}, headers=auth.bearer("viewer"))
    assert forged.status_code == 400 and "first page" in forged.json()["detail"]


def test_the_incident_page_lists_incidents_with_the_same_error_template(client, auth, store):
    ids = [store.record_failure(make_failure(dag_id="etl", task_id="load", run_id=f"r{n}",
                                             message=f"Read timed out after {n} s")) for n in range(3)]
    store.record_failure(make_failure(dag_id="etl", task_id="load", run_id="other", message="No space left on device"))
    html = client.get(f"/incidents/{ids[0]}", headers=auth.bearer("viewer")).text
    similar = html.split('id="similar"')[1].split("</table>")[0]
    assert similar.count("<tr>") == 2 and ids[1] in similar and ids[2] in similar


def test_the_strategys_record_and_the_proposals_pages(client, auth, store, incident):
    from airflow_healer.core.types import Action, Outcome

    store.add_action(incident.id, Action("grant_permission", 1, Outcome.SUCCESS, "approved"))
    html = client.get(f"/incidents/{incident.id}", headers=auth.bearer("viewer")).text
    record = html.split('id="record"')[1].split("</p>")[0]
    assert "last 90 days: 1 healed, 0 did not (100%)" in record
    for n in range(3):
        store.add_proposal(incident, "grant_permission", f"grant {n}", 3600)
    page1 = client.get("/api/proposals?status=pending&limit=2", headers=auth.bearer("viewer")).json()
    assert len(page1["proposals"]) == 2 and page1["next_offset"] == 2
    page2 = client.get("/api/proposals?status=pending&limit=2&offset=2", headers=auth.bearer("viewer")).json()
    assert len(page2["proposals"]) == 1 and page2["next_offset"] is None
    assert {p["change"] for p in page1["proposals"] + page2["proposals"]} == {"grant 0", "grant 1", "grant 2"}


def test_external_jobs_are_listed_as_kept_and_a_job_seen_again_is_not_duplicated(client, auth, store):
    job = {"job_id": "2026-12-02_01_00_00-123", "job_name": "orders-enrich", "job_type": "dataflow",
           "status": "JOB_STATE_RUNNING", "start_time": "2026-12-02T01:00:00+00:00"}
    store.upsert_pipeline_job(job)
    store.upsert_pipeline_job({**job, "status": "JOB_STATE_FAILED", "error_message": f"Workers OOM {XSS}",
                               "error_type": "resource_exhaustion"})
    [kept] = client.get("/api/jobs", headers=auth.bearer("viewer")).json()["jobs"]
    assert (kept["status"], kept["error_type"]) == ("JOB_STATE_FAILED", "resource_exhaustion")
    html = client.get("/jobs?job_type=dataflow", headers=auth.bearer("viewer")).text
    assert "orders-enrich" in html and XSS not in html
    assert "No external job" in client.get("/jobs?job_type=bigquery", headers=auth.bearer("viewer")).text


def test_the_overview_tells_the_watchdogs_last_cycle_and_the_model_in_use(client, auth, store):
    import json

    from airflow_healer.core.watchdog import STATE_BLOB

    html = client.get("/", headers=auth.bearer("viewer")).text
    health = html.split('id="healer-health"')[1].split("</table>")[0]
    assert "has not run" in health and "shipped" in health
    store.put_blob(STATE_BLOB, json.dumps({"watermark": "2026-12-02T04:00:00Z",
                                           "last_cycle": "2026-12-02T04:10:00Z"}).encode())
    health = client.get("/api/overview", headers=auth.bearer("viewer")).json()["healer"]
    assert health["watchdog"]["last_cycle"] == "2026-12-02T04:10:00Z" and health["model"] == "shipped"
    assert "last cycle 2026-12-02T04:10:00Z" in client.get("/", headers=auth.bearer("viewer")).text
