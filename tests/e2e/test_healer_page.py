"""The Healer page in a real browser, as a person uses it: signed in to a real Airflow, opened from
Airflow's navigation (inside Airflow's frame), an incident looked at, a proposal approved, and the
proposal's task retried in its own run."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import chromium_missing, incident_of, pending_proposal

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
    # Trigger the runs before the first test: they fail and open proposals while the browser signs in.
    pytest.mark.usefixtures("runs"),
]
pytest.importorskip("playwright.sync_api", reason="playwright is missing: scripts/bootstrap.sh installs .[test]")

from playwright.sync_api import expect  # noqa: E402 - only once playwright is known to be there

from tests.e2e.dags.e2e_untrusted import MESSAGE  # noqa: E402

#: The Healer's own navigation (base.html): every link must open a page.
HEALER_PAGES = ("Overview", "Incidents", "Analytics", "Approvals", "External jobs", "Knowledge base", "Model")


def open_healer(page, base_url):
    """Airflow's home, then Browse > Healer: the Healer page in Airflow's frame."""
    page.goto(f"{base_url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Healer").click()
    page.wait_for_url("**/plugin/healer**")
    frame = page.frame_locator('iframe[title="Healer"]')
    expect(frame.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    return frame


def go(frame, name):
    """Follow one of the Healer's own navigation links inside the frame, and wait for the page it opens."""
    frame.locator("html").evaluate("html => { html.dataset.left = 'yes'; }")
    frame.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect(frame.locator("html:not([data-left])")).to_be_attached()
    # A page, not the error page (its title is the status code) nor "Store unavailable".
    expect(frame.get_by_role("heading", level=1)).not_to_have_text(re.compile(r"^\s*(\d{3}|Store unavailable)\s*$"))


def test_the_healer_page_opens_from_airflows_navigation(page, signed_in):
    frame = open_healer(page, signed_in.base_url)
    expect(frame.locator("#healer-health")).to_contain_text("store")
    expect(frame.locator("#healer-health td").first).to_have_text("ok")
    # Inside Airflow's UI: its navigation stays around the page.
    expect(page.get_by_role("button", name="Browse")).to_be_visible()


def test_a_proposal_approved_on_the_page_retries_its_task_in_the_same_run(page, signed_in, e2e_airflow, runs):
    run_id = runs["it_approved"]
    proposal = pending_proposal(e2e_airflow, "it_approved", run_id)
    frame = open_healer(page, signed_in.base_url)

    go(frame, "Approvals")
    row = frame.locator("#pending tr", has=frame.get_by_role("button", name="Approve")).filter(
        has_text=run_id[:40])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("it_approved.read_bucket")
    expect(row).to_contain_text(proposal["strategy"])
    expect(row).to_contain_text("roles/storage.objectViewer")

    # The incident behind it, from the Incidents page: the error as the task raised it.
    go(frame, "Incidents")
    frame.locator("#incidents tr", has_text=run_id[:40]).get_by_role("link", name="it_approved.read_bucket").click()
    expect(frame.locator("#message")).to_contain_text("does not have storage.objects.list access")
    expect(frame.locator("#message")).to_contain_text("403")

    # The person grants the role, then approves.
    (e2e_airflow.home / "it_approved_granted").touch()
    go(frame, "Approvals")
    row.get_by_role("button", name="Approve").click()
    # Airflow's frame is sandboxed without allow-modals (window.confirm() would be ignored): the page asks
    # in a <dialog> of its own.
    flash = frame.locator("#flash")
    asked = frame.get_by_role("dialog")
    try:
        expect(asked).to_be_visible()
    except AssertionError as exc:
        raise AssertionError(f"Approve did nothing in Airflow's frame; the console said: {_blocked(signed_in)}") from exc
    expect(asked).to_contain_text("Approve grant_permission for read_bucket?")
    asked.get_by_role("button", name="Confirm").click()
    expect(flash).to_contain_text("approved")
    expect(frame.locator("#decided tr", has_text="it_approved.read_bucket")).to_contain_text("approved by admin")

    # Airflow's REST API: the same run retried the task and ended green.
    assert e2e_airflow.wait_for_run("it_approved", run_id, timeout=300) == "success"
    tries = e2e_airflow.task_tries("it_approved", run_id, "read_bucket")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    decided = e2e_airflow.api("GET", "/healer/api/proposals", params={"status": "approved"})["proposals"]
    assert [p["decided_by"] for p in decided if p["id"] == proposal["id"]] == ["admin"]


def _blocked(browser):
    """What the console said when a click did nothing (a sandboxed frame ignores confirm())."""
    said = [line for line in browser.console if "Ignored call" in line or "Unsafe attempt" in line]
    return "; ".join(said[-3:]) or "no console message"


def test_an_error_text_with_markup_shows_as_text(page, signed_in, e2e_airflow, runs):
    incident = incident_of(e2e_airflow, "e2e_untrusted", runs["e2e_untrusted"])
    assert incident["message"].endswith(MESSAGE)
    before = len(signed_in.dialogs)
    frame = open_healer(page, signed_in.base_url)
    go(frame, "Incidents")
    listed = frame.locator("#incidents tr", has_text="e2e_untrusted.load_feed")
    expect(listed).to_contain_text("<script>alert(1)</script>")
    listed.get_by_role("link", name="e2e_untrusted.load_feed").click()
    expect(frame.locator("#message")).to_contain_text(MESSAGE)
    # Airflow's frame is sandboxed without allow-modals, so an alert() there would be silenced: the pages
    # are opened on their own as well, where it would open a dialog.
    base = signed_in.base_url
    for url, shown in ((f"{base}/healer/incidents?dag_id=e2e_untrusted", "#incidents"),
                       (f"{base}/healer/incidents/{incident['id']}", "#message"), (f"{base}/healer/", None)):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if shown:
            expect(page.locator(shown)).to_contain_text("<script>alert(1)</script>")
        # No element came of the markup: the only script is the page's own, and there is no <img src=x>.
        scripts = page.locator("script").evaluate_all("els => els.map(e => e.getAttribute('src'))")
        assert scripts == ["/healer/static/healer.js"], (url, scripts)
        expect(page.locator('img[src="x"]')).to_have_count(0)
    assert [d for d in signed_in.dialogs[before:] if d[0] == "alert"] == []


def test_the_pages_load_nothing_from_outside_loopback(page, signed_in):
    frame = open_healer(page, signed_in.base_url)
    for name in HEALER_PAGES:
        go(frame, name)
    page.wait_for_load_state("networkidle")
    outside = sorted({url for url in signed_in.requests
                      if urlsplit(url).scheme not in ("data", "blob", "about") and urlsplit(url).hostname != "127.0.0.1"})
    assert outside == []
    assets = {urlsplit(url).path: status for url, status in signed_in.responses.items() if "/healer/static/" in url}
    # Served by the plugin from loopback: 200, or 304 when the browser revalidates what an earlier page loaded.
    assert set(assets) == {"/healer/static/healer.css", "/healer/static/healer.js"}
    assert set(assets.values()) <= {200, 304}, assets
