"""The knowledge base page and its API: rights, search and pages, one entry, spreadsheet import, escaping."""

from __future__ import annotations

import csv
import io

import pytest

from airflow_healer.core.classify.knowledge import COLUMNS, template_csv, template_xlsx
from airflow_healer.core.store import open_store

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ENTRY_ID = "oom-runbook"  # added by the `entry` fixture
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def store(ui_config):
    return open_store(ui_config.store_url)


def sheet(rows: list[dict[str, object]], columns=COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def runbook(n: int, title: str = "needle runbook") -> dict[str, object]:
    return {"id": f"rb-{n:03d}", "kind": "runbook", "title": f"{title} {n}", "solution": f"step {n}",
            "created_at": f"2026-01-01T00:00:{n % 60:02d}+00:00"}


@pytest.fixture
def entry(client, auth):
    body = {"id": ENTRY_ID, "kind": "runbook", "title": "Worker out of memory", "solution": "Rescale the worker.",
            "error_type": "memory_leak", "tags": "oom;workers"}
    response = client.post("/api/knowledge", json=body, headers=auth.bearer("user"))
    assert response.status_code == 201, response.text
    return response.json()["entry"]


def upload(client, headers, name="kb.csv", data=b"", content_type="text/csv", **kwargs):
    return client.post("/api/knowledge/import", files={"file": (name, data, content_type)}, headers=headers, **kwargs)


# -- who may read and change -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/knowledge", f"/knowledge/{ENTRY_ID}", "/api/knowledge", f"/api/knowledge/{ENTRY_ID}",
                                  "/api/knowledge/template.csv", "/api/knowledge/template.xlsx"])
def test_no_login_is_401_and_a_viewer_reads(client, auth, entry, path):
    assert client.get(path).status_code == 401
    response = client.get(path, headers=auth.bearer("viewer"))
    assert response.status_code == 200, response.text


CHANGES = [
    ("post", "/api/knowledge", {"json": {"kind": "best_practice", "title": "Set timeouts", "solution": "Do."}}),
    ("put", f"/api/knowledge/{ENTRY_ID}", {"json": {"solution": "Rescale, then open a ticket."}}),
    ("post", "/api/knowledge/import", {"files": {"file": ("kb.csv", sheet([runbook(1)]), "text/csv")}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), CHANGES, ids=["add", "edit", "import"])
def test_changes_need_a_login_edit_rights_and_the_csrf_header(client, auth, store, entry, method, path, kwargs):
    send = getattr(client, method)
    assert send(path, **kwargs).status_code == 401
    viewer = send(path, headers=auth.bearer("viewer"), **kwargs)
    assert viewer.status_code == 403 and "edit rights on every DAG" in viewer.json()["detail"]

    csrf = auth.session(client, "user")  # a browser session rides on the cookie ...
    forged = send(path, **kwargs)  # ... and a request from another site cannot send the page's token
    assert forged.status_code == 403 and "X-Healer-CSRF" in forged.json()["detail"]
    response = send(path, headers=csrf, **kwargs)
    assert response.status_code in (200, 201), response.text
    assert "by ed" in store.ledger(limit=1)[-1]["payload"]["source"]  # the ledger says who


def test_an_api_client_with_its_own_token_needs_no_csrf_header(client, auth, entry):
    response = client.put(f"/api/knowledge/{ENTRY_ID}", json={"confidence": 0.9}, headers=auth.bearer("user"))
    assert response.status_code == 200 and response.json()["entry"]["confidence"] == 0.9


# -- one entry ---------------------------------------------------------------------------------------------


def test_an_added_entry_records_who_added_it_and_is_retrievable(client, auth, store, entry):
    assert entry["source"] == "Healer page (ed)" and entry["tags"] == ["oom", "workers"]
    assert client.get(f"/api/knowledge/{ENTRY_ID}", headers=auth.bearer("viewer")).json()["title"] == entry["title"]
    assert store.ledger(limit=1)[-1]["payload"] == {"count": 1, "ids": [ENTRY_ID],
                                                    "source": "added on the Healer page by ed"}
    derived = client.post("/api/knowledge", json={"kind": "best_practice", "title": "No id", "solution": "x"},
                          headers=auth.bearer("user")).json()["entry"]
    assert derived["id"].startswith("best-")  # derived from kind, title and message


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"id": ENTRY_ID, "kind": "runbook", "title": "again", "solution": "x"}, 409, "exists already"),
    ({"kind": "recipe", "title": "t", "solution": "x"}, 422, "unknown kind 'recipe'"),
    ({"kind": "historical_error", "title": "t", "solution": "x"}, 422, "needs a message"),
    ({"kind": "runbook", "title": "t", "solution": "x", "error_type": "gremlins"}, 422, "unknown error_type"),
    ({"kind": "runbook", "solution": "x"}, 422, "title"),
    ({"kind": "runbook", "title": "t", "solution": "x", "owner": "me"}, 422, "owner"),
    ({"kind": "runbook", "title": "t" * 301, "solution": "x"}, 422, "300"),
    ({"kind": "runbook", "title": "t", "solution": "x", "confidence": 2}, 422, "confidence"),
])
def test_an_invalid_entry_is_refused_with_the_reason(client, auth, entry, body, status, says):
    response = client.post("/api/knowledge", json=body, headers=auth.bearer("user"))
    assert response.status_code == status
    assert says in str(response.json()["detail"])


def test_editing_changes_fields_and_keeps_the_entry_when_invalid(client, auth, entry):
    response = client.put(f"/api/knowledge/{ENTRY_ID}", json={"solution": "Rescale, then page on-call."},
                          headers=auth.bearer("user"))
    assert response.status_code == 200 and response.json()["message"] == f"Saved {ENTRY_ID}."
    bad = client.put(f"/api/knowledge/{ENTRY_ID}", json={"error_type": "gremlins"}, headers=auth.bearer("user"))
    assert bad.status_code == 422 and "unknown error_type" in bad.json()["detail"]
    now = client.get(f"/api/knowledge/{ENTRY_ID}", headers=auth.bearer("viewer")).json()
    assert now["solution"] == "Rescale, then page on-call." and now["error_type"] == "memory_leak"
    assert client.put("/api/knowledge/nope", json={"title": "x"}, headers=auth.bearer("user")).status_code == 404
    assert client.get("/api/knowledge/nope", headers=auth.bearer("viewer")).status_code == 404


def test_a_shipped_entry_can_be_edited(client, auth):
    shipped = client.get("/api/knowledge", params={"limit": 1}, headers=auth.bearer("viewer")).json()["entries"][0]
    response = client.put(f"/api/knowledge/{shipped['id']}", json={"context": "seen here too"},
                          headers=auth.bearer("user"))
    assert response.status_code == 200 and response.json()["entry"]["context"] == "seen here too"


def test_titles_and_texts_show_as_text(client, auth):
    body = {"id": "xss", "kind": "historical_error", "title": XSS, "message": f"boom {XSS}", "solution": XSS,
            "error_type": "network_timeout"}
    assert client.post("/api/knowledge", json=body, headers=auth.bearer("user")).status_code == 201
    for path in ("/knowledge", "/knowledge?q=script", "/knowledge/xss"):
        for role in ("viewer", "user"):  # the read-only view and the edit form
            html = client.get(path, headers=auth.bearer(role)).text
            assert XSS not in html and ESCAPED in html, (path, role)


# -- search and pages --------------------------------------------------------------------------------------


def test_search_looks_in_title_message_solution_and_type_and_pages_by_50(client, auth):
    rows = [runbook(n) for n in range(60)] + [
        {"id": "by-message", "kind": "historical_error", "title": "t", "message": "a NEEDLE in the log",
         "error_type": "rate_limiting", "solution": "s"}]
    assert upload(client, auth.bearer("user"), data=sheet(rows)).status_code == 200
    first = client.get("/api/knowledge", params={"q": "needle"}, headers=auth.bearer("viewer")).json()
    assert first["total"] == 61 and len(first["entries"]) == 50 and first["next_offset"] == 50
    rest = client.get("/api/knowledge", params={"q": "Needle", "offset": 50}, headers=auth.bearer("viewer")).json()
    assert len(rest["entries"]) == 11 and rest["next_offset"] is None
    assert {e["id"] for e in first["entries"]}.isdisjoint(e["id"] for e in rest["entries"])
    by_type = client.get("/api/knowledge", params={"q": "rate_lim", "kind": "historical_error"},
                         headers=auth.bearer("viewer")).json()
    assert "by-message" in {e["id"] for e in by_type["entries"]}
    assert client.get("/api/knowledge", params={"q": "step 42"}, headers=auth.bearer("viewer")).json()["total"] == 1

    page1 = client.get("/knowledge", params={"q": "needle"}, headers=auth.bearer("viewer")).text
    assert "page 1 of 2" in page1 and 'rel="next"' in page1 and page1.count('href="/healer/knowledge/') == 50
    page2 = client.get("/knowledge", params={"q": "needle", "page": 2}, headers=auth.bearer("viewer")).text
    assert "page 2 of 2" in page2 and 'rel="prev"' in page2 and page2.count('href="/healer/knowledge/') == 11


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"kind": "recipe"},
                                    {"q": "x" * 201}])
def test_bad_search_parameters_are_422(client, auth, params):
    assert client.get("/api/knowledge", params=params, headers=auth.bearer("viewer")).status_code == 422


def test_the_page_offers_forms_to_editors_only(client, auth):
    assert 'id="kb-import"' in client.get("/knowledge", headers=auth.bearer("user")).text
    viewer = client.get("/knowledge", headers=auth.bearer("viewer")).text
    assert 'id="kb-import"' not in viewer and "need edit rights" in viewer


# -- the template and imports ------------------------------------------------------------------------------


def test_the_template_downloads_as_csv_and_xlsx_and_imports_back(client, auth):
    as_csv = client.get("/api/knowledge/template.csv", headers=auth.bearer("viewer"))
    assert as_csv.headers["content-type"].startswith("text/csv") and "attachment" in as_csv.headers["content-disposition"]
    assert as_csv.text.splitlines()[0] == ",".join(COLUMNS)
    as_xlsx = client.get("/api/knowledge/template.xlsx", headers=auth.bearer("viewer"))
    assert as_xlsx.headers["content-type"] == XLSX and as_xlsx.content[:2] == b"PK"

    report = upload(client, auth.bearer("user"), data=as_csv.content).json()
    assert report["fmt"] == "csv" and report["rows"] == 7 and len(report["added"]) == 7
    again = upload(client, auth.bearer("user"), name="kb.xlsx", data=as_xlsx.content, content_type=XLSX).json()
    assert again["fmt"] == "xlsx" and sorted(again["updated"]) == sorted(report["added"]) and not again["added"]


def test_an_import_with_one_bad_row_imports_nothing_and_lists_every_problem(client, auth):
    rows = [runbook(1), {"kind": "recipe", "title": "", "solution": "x"}, runbook(3) | {"confidence": "high"}]
    response = upload(client, auth.bearer("user"), data=sheet(rows))
    assert response.status_code == 422
    report = response.json()
    assert report["detail"].startswith("Nothing was imported from kb.csv")
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(3, "kind"), (3, "title"), (4, "confidence")}
    assert client.get("/api/knowledge/rb-001", headers=auth.bearer("viewer")).status_code == 404


def test_an_import_without_the_required_columns_is_422(client, auth):
    response = upload(client, auth.bearer("user"), data=sheet([runbook(1)], columns=("kind", "title")))
    assert response.status_code == 422 and "missing columns ['message', 'error_type', 'solution']" in response.text


@pytest.mark.parametrize(("name", "content_type", "data", "says"), [
    ("kb.txt", "text/plain", b"kind,title\n", "is not a .csv or .xlsx file"),
    ("kb.xls", "application/vnd.ms-excel", b"\xd0\xcf\x11\xe0", "save the sheet as .xlsx or CSV UTF-8"),
    ("kb.csv", "image/png", b"kind,title\n", "was sent as image/png"),
    ("kb.csv", "text/csv", b"kind,title\n\x00\x01\x02\xff", "looks binary"),
    ("kb.csv", "text/csv", b"PK\x03\x04 junk", "not CSV text"),
    ("kb.csv", "text/csv", "kind,title\nrunbook,café\n".encode("latin-1"), "not UTF-8"),
    ("kb.xlsx", XLSX, b"kind,title\nrunbook,x\n", "not an .xlsx workbook"),
    ("kb.csv", "text/csv", b" \n", "is empty"),
])
def test_a_file_that_is_not_a_sheet_is_400(client, auth, name, content_type, data, says):
    response = upload(client, auth.bearer("user"), name=name, data=data, content_type=content_type)
    assert response.status_code == 400 and says in response.json()["detail"]


def test_a_damaged_workbook_is_422_with_the_reason(client, auth):
    response = upload(client, auth.bearer("user"), name="kb.xlsx", data=b"PK\x03\x04" + b"x" * 100,
                      content_type=XLSX)
    assert response.status_code == 422 and "xlsx" in response.json()["detail"]


@pytest.mark.parametrize("extra", [1, 1024 * 1024], ids=["just over", "by its Content-Length"])
def test_an_upload_over_5_mb_is_413(client, auth, extra):
    big = template_csv().encode() + b"\n" * (5 * 1024 * 1024 + extra)
    response = upload(client, auth.bearer("user"), data=big)
    assert response.status_code == 413 and "files up to 5 MB are accepted" in response.json()["detail"]


def test_a_request_that_is_not_a_multipart_upload_is_400(client, auth):
    response = client.post("/api/knowledge/import", json={"file": template_csv()}, headers=auth.bearer("user"))
    assert response.status_code == 400 and "multipart/form-data" in response.json()["detail"]
    no_file = client.post("/api/knowledge/import", data={"note": "x"}, files={"other": ("a.csv", b"a", "text/csv")},
                          headers=auth.bearer("user"))
    assert no_file.status_code == 400 and "field named 'file'" in no_file.json()["detail"]


def test_an_import_shows_on_the_page_and_in_the_ledger(client, auth, store):
    assert upload(client, auth.bearer("user"), name="team.xlsx", data=template_xlsx(), content_type=XLSX).status_code == 200
    assert store.ledger(limit=1)[-1]["payload"]["source"] == "imported from team.xlsx on the Healer page by ed"
    found = client.get("/knowledge", params={"q": "worker out of memory"}, headers=auth.bearer("viewer")).text
    assert "Runbook: worker out of memory" in found


@pytest.fixture
def down_client(auth, airflow_home, tmp_path):
    """The Healer app over a store file that is not a database (the model page's tests use it too)."""
    from fastapi.testclient import TestClient

    from airflow_healer.core.config import HealerConfig
    from airflow_healer.ui.app import create_app

    (tmp_path / "bad.db").write_bytes(b"this is not a database" * 100)
    app = create_app(HealerConfig.load().replace(store_url=f"sqlite:///{tmp_path / 'bad.db'}"))
    with TestClient(app, base_url="http://testserver/healer", root_path="/healer") as client:
        yield client


def test_a_store_that_is_down_gives_503(down_client, auth):
    html = down_client.get("/knowledge", headers=auth.bearer("viewer"))
    assert html.status_code == 503 and "The healer store is unavailable" in html.text
    api = down_client.post("/api/knowledge", json={"kind": "runbook", "title": "t", "solution": "s"},
                           headers=auth.bearer("user"))
    assert api.status_code == 503 and "store_url" in api.json()["hint"]


def test_the_api_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/knowledge", "/api/knowledge/{entry_id}", "/api/knowledge/import",
            "/api/knowledge/template.csv"} <= set(paths)
    assert "multipart/form-data" in paths["/api/knowledge/import"]["post"]["requestBody"]["content"]
