"""The model page and its API: quality, versions and roll-back, background training, A/B comparison, drift."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest

from airflow_healer.core.capture import make_failure
from airflow_healer.core.classify import save_model
from airflow_healer.core.classify.corpus import generate
from airflow_healer.core.store import open_store
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.ui.model import trainer
from tests.unit.ui.test_knowledge_routes import down_client  # noqa: F401 - a fixture

XSS = "<script>alert(1)</script>"
LABELS = [t.value for t in ErrorType.known()]


@pytest.fixture
def store(ui_config):
    return open_store(ui_config.store_url)


def training_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["text", "label"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


#: Five messages a class: the real trainer cross-validates and fits it in seconds.
TINY = training_csv(generate(n_per_class=5, seed=3))


def tiny_model(labels=("network_timeout", "disk_space_full")):
    """A real model that knows two classes only (so it disagrees with the shipped one), in a second."""
    from airflow_healer.core.classify.model import train

    rows = [r for r in generate(n_per_class=4, seed=1) if r["label"] in labels]
    return train([r["text"] for r in rows], [r["label"] for r in rows], cv=2, grid={"linear": [{"C": 3.0}]})


@pytest.fixture
def two_versions(store):
    """Two stored versions, older first, neither active."""
    models = [tiny_model(), tiny_model()]
    for day, model in enumerate(models, start=1):
        model.metadata_["created"] = f"2026-11-0{day}T00:00:00+00:00"  # versions are listed by creation time
    return tuple(save_model(store, m, activate=False) for m in models)


@pytest.fixture
def incidents(store):
    """Classified incidents, one of them with markup in its message."""
    rows = generate(n_per_class=1, seed=7)
    rows[0]["text"] = f"403 Permission denied on bigquery.tables.getData {XSS}"
    for n, row in enumerate(rows):
        incident_id = store.record_failure(make_failure(dag_id="etl", task_id=f"t{n}", run_id="r1",
                                                        message=row["text"]))
        store.set_classification(incident_id, Classification(ErrorType(row["label"]), 0.9, "test", []))
    return rows


def train(client, headers, data=TINY, name="train.csv", content_type="text/csv", **fields):
    return client.post("/api/model/train", files={"file": (name, data, content_type)},
                       data={k: str(v).lower() for k, v in fields.items()}, headers=headers)


def finished(client, auth, job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/model/train/{job_id}", headers=auth.bearer("viewer")).json()
        if job["state"] != "running":
            return job
        time.sleep(0.1)
    raise AssertionError(f"training job {job_id} still runs after {timeout} s")


# -- who may read and change -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/model", "/model/fragment/drift", "/api/model", "/api/model/versions",
                                  "/api/model/train", "/api/model/drift", "/api/model/compare?a=shipped&b={older}"])
def test_no_login_is_401_and_a_viewer_reads(client, auth, two_versions, path):
    path = path.format(older=two_versions[0])
    assert client.get(path).status_code == 401
    response = client.get(path, headers=auth.bearer("viewer"))
    assert response.status_code == 200, response.text


def test_activating_and_rolling_back_need_edit_rights_and_the_csrf_header(client, auth, store, two_versions):
    older, newer = two_versions
    path = f"/api/model/versions/{newer}/activate"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=auth.bearer("viewer")).status_code == 403
    assert client.post("/api/model/rollback", headers=auth.bearer("viewer")).status_code == 403
    csrf = auth.session(client, "user")
    forged = client.post(path)
    assert forged.status_code == 403 and "X-Healer-CSRF" in forged.json()["detail"]
    assert client.post(path, headers=csrf).json()["active"] == newer


def test_training_needs_edit_rights_and_the_csrf_header(client, auth):
    assert train(client, {}).status_code == 401
    assert train(client, auth.bearer("viewer")).status_code == 403
    auth.session(client, "user")
    assert train(client, {}).status_code == 403


# -- quality -----------------------------------------------------------------------------------------------


def test_the_page_shows_per_class_figures_and_the_confusion_matrix_of_the_active_model(client, auth):
    report = client.get("/api/model", headers=auth.bearer("viewer")).json()
    assert report["active"]["version"] == "shipped"
    evaluation = report["evaluation"]
    assert set(evaluation["per_class"]) == set(LABELS) and evaluation["n"] == 300
    assert {"precision", "recall", "f1", "support"} <= set(evaluation["per_class"]["rate_limiting"])
    assert evaluation["confusion"]["labels"] == LABELS and len(evaluation["confusion"]["matrix"]) == 12
    assert sum(map(sum, evaluation["confusion"]["matrix"])) == 300
    started = time.perf_counter()
    again = client.get("/api/model", headers=auth.bearer("viewer")).json()["evaluation"]
    assert again["computed_at"] == evaluation["computed_at"] and time.perf_counter() - started < 1  # kept

    html = client.get("/model", headers=auth.bearer("viewer")).text
    assert 'id="per-class"' in html and 'id="confusion-matrix"' in html and "memory_leak" in html
    assert "macro-F1" in html and 'id="train-form"' not in html  # a viewer gets no forms


# -- versions, activation, roll-back -----------------------------------------------------------------------


def test_versions_activate_and_roll_back_along_the_recorded_history(client, auth, store, two_versions):
    older, newer = two_versions
    listing = client.get("/api/model/versions", headers=auth.bearer("viewer")).json()
    assert [v["version"] for v in listing["versions"]] == [newer, older] and listing["active"] == "shipped"
    assert listing["rollback_to"] is None
    page = client.get("/api/model/versions", params={"limit": 1, "offset": 1}, headers=auth.bearer("viewer")).json()
    assert [v["version"] for v in page["versions"]] == [older] and page["next_offset"] is None

    editor = auth.bearer("user")
    assert client.post(f"/api/model/versions/{older}/activate", headers=editor).json()["previous"] == "shipped"
    assert client.post(f"/api/model/versions/{newer}/activate", headers=editor).status_code == 200
    back = client.post("/api/model/rollback", headers=editor).json()
    assert back == {"active": older, "previous": newer, "message": f"Rolled back from {newer} to {older}."}
    assert client.get("/api/model", headers=auth.bearer("viewer")).json()["active"]["version"] == older
    refused = client.post("/api/model/rollback", headers=editor)  # before it, the shipped model
    assert refused.status_code == 409 and "No earlier stored version" in refused.json()["detail"]
    assert store.ledger(limit=1)[-1]["payload"]["meta"]["by"] == "ed"  # the ledger says who

    html = client.get("/model", headers=auth.bearer("user")).text
    assert "Recent activations" in html and "rollback" in html and "by ed" in html
    missing = client.post("/api/model/versions/nope/activate", headers=editor)
    assert missing.status_code == 404 and "No model version 'nope'" in missing.json()["detail"]


def test_a_version_activated_elsewhere_rolls_back_to_the_one_created_before_it(client, auth, store, two_versions):
    from airflow_healer.core.classify import activate_model

    older, newer = two_versions
    activate_model(store, newer)  # what `airflow-healer model activate` does
    assert client.post("/api/model/rollback", headers=auth.bearer("user")).json()["active"] == older


# -- training ----------------------------------------------------------------------------------------------


def test_training_runs_in_the_background_and_stores_an_evaluated_version(client, auth, store):
    response = train(client, auth.bearer("user"), activate=True)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status_url"] == f"/healer/api/model/train/{started['job_id']}"
    job = finished(client, auth, started["job_id"])
    assert job["state"] == "done", job
    assert job["progress"] == 1.0 and job["by"] == "ed" and job["n_examples"] == 60 and job["version"]

    active = client.get("/api/model", headers=auth.bearer("viewer")).json()
    assert active["active"]["version"] == job["version"] and active["active"]["trained_by"] == "ed"
    assert active["evaluation"]["macro_f1"] == job["macro_f1"]  # evaluated at training time, stored with it
    kept = {e["payload"]["name"]: e["payload"]["meta"] for e in store.ledger(limit=10) if e["kind"] == "blob"}
    assert kept[f"model-eval/{job['version']}"]["trained_by"] == "ed"
    jobs = client.get("/api/model/train", headers=auth.bearer("viewer")).json()["jobs"]
    assert jobs[0]["id"] == started["job_id"]
    assert client.get("/api/model/train/nope", headers=auth.bearer("viewer")).status_code == 404


def test_one_training_at_a_time_and_its_progress_can_be_polled(client, auth, store):
    from airflow_healer.core.classify.model import train as real_train

    entered, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        entered.set()
        release.wait(60)
        return real_train(*args, **kwargs)

    client.app.dependency_overrides[trainer] = lambda: held
    try:
        job_id = train(client, auth.bearer("user"), include_corpus=True, n_per_class=3).json()["job_id"]
        assert entered.wait(30)
        running = client.get(f"/api/model/train/{job_id}", headers=auth.bearer("viewer")).json()
        assert running["state"] == "running" and running["stage"].startswith("cross-validating")
        assert 0 < running["progress"] < 1 and running["n_examples"] == 60 + 36
        busy = train(client, auth.bearer("user"))
        assert busy.status_code == 409 and job_id in busy.json()["detail"]
        html = client.get("/model", headers=auth.bearer("viewer")).text
        assert f'data-status="/healer/api/model/train/{job_id}"' in html  # the page polls the running job
    finally:
        release.set()
        client.app.dependency_overrides.pop(trainer)
    job = finished(client, auth, job_id)
    assert job["state"] == "done" and client.get("/api/model", headers=auth.bearer("viewer")).json()[
        "active"]["version"] == "shipped"  # not asked to activate
    assert train(client, auth.bearer("user")).status_code == 202  # free again
    finished(client, auth, client.get("/api/model/train", headers=auth.bearer("viewer")).json()["jobs"][0]["id"])


def test_a_failed_training_says_why(client, auth):
    def broken(*args, **kwargs):
        raise MemoryError("the worker ran out of memory")

    client.app.dependency_overrides[trainer] = lambda: broken
    try:
        job = finished(client, auth, train(client, auth.bearer("user")).json()["job_id"])
    finally:
        client.app.dependency_overrides.pop(trainer)
    assert job["state"] == "failed" and job["error"] == "MemoryError: the worker ran out of memory"


@pytest.mark.parametrize(("data", "fields", "status", "says"), [
    (b"message,kind\nboom,x\n", {}, 422, "must name the columns text and label"),
    (b"text,label\nboom,gremlins\n,network_timeout\n", {}, 422, "Nothing was trained: 2 problem(s)"),
    (training_csv([{"text": "Read timed out", "label": "network_timeout"}] * 5), {}, 422, "Only one label"),
    (training_csv([{"text": "Read timed out", "label": "network_timeout"},
                   {"text": "No space left", "label": "disk_space_full"}] * 2
                  + [{"text": "429", "label": "rate_limiting"}]), {}, 422, "Too few examples of rate_limiting"),
    (b"text,label\n", {}, 422, "no rows"),
    (b'text,label\n"unclosed,network_timeout\n', {}, 400, "Malformed CSV"),
    (TINY, {"n_per_class": 0}, 422, "n_per_class"),
    (TINY, {"colour": "red"}, 422, "colour"),
])
def test_bad_training_data_is_refused_and_nothing_starts(client, auth, data, fields, status, says):
    jobs = client.get("/api/model/train", headers=auth.bearer("viewer")).json()["jobs"]
    response = train(client, auth.bearer("user"), data=data, **fields)
    assert response.status_code == status and says in response.json()["detail"], response.text
    assert client.get("/api/model/train", headers=auth.bearer("viewer")).json()["jobs"] == jobs


def test_bad_rows_are_listed_by_number(client, auth):
    response = train(client, auth.bearer("user"), data=b"text,label\nok,network_timeout\nboom,gremlins\n")
    assert response.json()["errors"] == [
        {"row": 3, "column": "label", "reason": f"'gremlins' is not one of {', '.join(LABELS)}"}]


@pytest.mark.parametrize(("name", "content_type", "data", "status"), [
    ("train.xlsx", "application/zip", b"PK\x03\x04", 400),
    ("train.csv", "image/png", TINY, 400),
    ("train.csv", "text/csv", b"\x00\x01binary", 400),
    ("train.csv", "text/csv", TINY + b"\n" * (5 * 1024 * 1024), 413),
])
def test_an_upload_that_is_not_a_training_csv_is_refused(client, auth, name, content_type, data, status):
    response = train(client, auth.bearer("user"), data=data, name=name, content_type=content_type)
    assert response.status_code == status


# -- A/B comparison and drift ------------------------------------------------------------------------------


def test_two_versions_compare_on_recent_incidents(client, auth, store, incidents, two_versions):
    older, _ = two_versions
    result = client.get("/api/model/compare", params={"a": "shipped", "b": older, "n": 10},
                        headers=auth.bearer("viewer")).json()
    assert result["n"] == 10 and 0 <= result["agreement"] < 1  # the tiny model knows two classes only
    assert sum(d["a"] for d in result["distribution"]) == sum(d["b"] for d in result["distribution"]) == 10
    assert result["n_disagreements"] == round((1 - result["agreement"]) * 10)
    first = result["disagreements"][0]
    assert {"incident_id", "recorded", "a", "a_confidence", "b", "b_confidence", "message"} <= set(first)
    assert 0 <= result["matches_recorded"]["b"] < result["matches_recorded"]["a"] <= 1

    paged = client.get("/api/model/compare", params={"a": "shipped", "b": older, "n": 10, "limit": 2},
                       headers=auth.bearer("viewer")).json()
    assert len(paged["disagreements"]) == 2 and paged["next_offset"] == 2

    html = client.get("/model", params={"a": "shipped", "b": older, "n": 12}, headers=auth.bearer("viewer")).text
    assert 'id="compare-disagreements"' in html
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # incident texts show as text


@pytest.mark.parametrize(("params", "status"), [
    ({"a": "shipped", "b": "shipped"}, 422), ({"a": "shipped", "b": "nope"}, 404),
    ({"a": "shipped", "b": "<x>"}, 422), ({"a": "shipped", "b": "x", "n": 501}, 422)])
def test_a_comparison_needs_two_known_versions(client, auth, params, status):
    assert client.get("/api/model/compare", params=params, headers=auth.bearer("viewer")).status_code == status


def test_a_comparison_without_incidents_says_so(client, auth, two_versions):
    result = client.get("/api/model/compare", params={"a": "shipped", "b": two_versions[0]},
                        headers=auth.bearer("viewer")).json()
    assert result["n"] == 0 and result["agreement"] is None and "No classified incidents" in result["message"]


def test_drift_is_what_the_cli_reports(client, auth, incidents):
    report = client.get("/api/model/drift", headers=auth.bearer("viewer")).json()
    assert report["n_recent"] == len(incidents) and report["n_baseline"] == 1200
    assert {"drift", "message", "low_confidence", "unseen_vocabulary"} <= set(report)
    fragment = client.get("/model/fragment/drift", headers=auth.bearer("viewer")).text
    assert report["message"] in fragment and "<html" not in fragment


def test_a_store_that_is_down_gives_503(down_client, auth):  # noqa: F811 - the imported fixture
    html = down_client.get("/model", headers=auth.bearer("viewer"))
    assert html.status_code == 503 and "The healer store is unavailable" in html.text
    api = down_client.post("/api/model/rollback", headers=auth.bearer("user"))
    assert api.status_code == 503 and "store_url" in api.json()["hint"]


def test_the_api_is_in_the_openapi_document(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/api/model", "/api/model/versions", "/api/model/versions/{version}/activate", "/api/model/rollback",
            "/api/model/train", "/api/model/train/{job_id}", "/api/model/compare", "/api/model/drift"} <= paths
