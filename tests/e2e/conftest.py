"""A real Airflow with the plugin and a headless Chromium signed in to it, for the browser tests.

The browser is Debian's ``chromium`` (``scripts/bootstrap.sh`` installs it), driven by Playwright with
``executable_path``: nothing is downloaded, and the pages may only load from loopback. The Airflow is
this package's own (the integration suite's fixture is scoped to its folder), with the approval DAGs
of ``tests/integration/dags`` and those of ``tests/e2e/dags``; it stops when the last browser test ends.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_healer.standalone import LocalAirflow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
#: Written by scripts/bootstrap.sh when it could not install chromium: why these tests skip.
CHROMIUM_NOTE = ROOT / ".venv" / ".chromium-missing"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: A slow 2-core machine runs Airflow and the browser side by side: waits are generous.
TIMEOUT_MS = 60_000
DAG_FILES = [ROOT / "tests" / "integration" / "dags" / "it_approval.py", *(Path(__file__).parent / "dags").glob("*.py")]
_PAGE = pytest.StashKey[tuple[Any, Path]]()


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if CHROMIUM.exists():
        return None
    if CHROMIUM_NOTE.exists():
        return CHROMIUM_NOTE.read_text().strip()
    return f"{CHROMIUM} is missing: scripts/bootstrap.sh installs Debian's chromium package (apt-get, as root)."


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 240.0) -> Any:
    """Poll ``probe`` (Airflow's or the healer's REST API) each second until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise TimeoutError(f"{what} within {timeout:.0f}s")


@pytest.fixture(scope="package")
def e2e_airflow(tmp_path_factory, airflow_database) -> Iterator[LocalAirflow]:
    dags = tmp_path_factory.mktemp("e2e_dags")
    for source in DAG_FILES:
        shutil.copy(source, dags / source.name)
    env = {
        **airflow_database("e2e_airflow"),
        # Nobody else answers the proposals: they wait long enough for a slow machine.
        "AIRFLOW__HEALER__APPROVAL_TIMEOUT": "30m",
        "AIRFLOW__HEALER__RETRY_BACKOFF_SECONDS": "1",
        "AIRFLOW__HEALER__POLL_INTERVAL_SECONDS": "1",
        "AIRFLOW__HEALER__WATCHDOG_INTERVAL": "none",
    }
    # No plugins folder: the plugin loads through the installed package, as it does for pip users.
    with LocalAirflow(tmp_path_factory.mktemp("e2e_airflow_home"), dags_folder=dags, env=env) as airflow:
        yield airflow


@pytest.fixture(scope="package")
def runs(e2e_airflow) -> dict[str, str]:
    """The self-healing runs the pages show, triggered once, first: {dag_id: run_id}."""
    return {dag_id: e2e_airflow.trigger(dag_id) for dag_id in ("it_approved", "e2e_untrusted")}


class Browser:
    """One Chromium profile for the package, and what its pages did: every request, every dialog."""

    def __init__(self, context: Any, base_url: str):
        self.context = context
        self.base_url = base_url
        self.requests: list[str] = []
        self.responses: dict[str, int] = {}
        self.dialogs: list[tuple[str, str]] = []
        self.console: list[str] = []
        context.on("request", lambda r: self.requests.append(r.url))
        context.on("response", lambda r: self.responses.__setitem__(r.url, r.status))
        context.on("page", self._watch)

    def _watch(self, page: Any) -> None:
        page.on("dialog", self._answer)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    def _answer(self, dialog: Any) -> None:
        # A confirm is what a person accepts before a change; an alert would be a script from an error text.
        self.dialogs.append((dialog.type, dialog.message))
        dialog.accept()


@pytest.fixture(scope="package")
def browser(e2e_airflow, tmp_path_factory) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(2 * TIMEOUT_MS)
        yield Browser(context, e2e_airflow.base_url)
        context.close()


@pytest.fixture(scope="package")
def signed_in(browser, e2e_airflow) -> Browser:
    """The browser, signed in on Airflow's own login page as the simple auth manager's admin."""
    from playwright.sync_api import expect

    page = browser.context.new_page()
    page.goto(f"{e2e_airflow.base_url}/")
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(e2e_airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    expect(page.get_by_role("button", name="Browse")).to_be_visible()
    page.close()
    return browser


@pytest.fixture
def page(signed_in, request, tmp_path) -> Iterator[Any]:
    """A fresh tab of the signed-in browser; on failure its screenshot goes to the test's tmp dir."""
    tab = signed_in.context.new_page()
    request.node.stash[_PAGE] = (tab, tmp_path / "failure.png")
    yield tab
    tab.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and _PAGE in item.stash:
        tab, path = item.stash[_PAGE]
        try:
            tab.screenshot(path=path, full_page=True)
            report.sections.append(("screenshot", f"{path} (at {tab.url})"))
        except Exception as exc:  # noqa: BLE001 - the test's own failure is what matters
            report.sections.append(("screenshot", f"none: {exc}"))
    return report


def pending_proposal(airflow: LocalAirflow, dag_id: str, run_id: str) -> dict[str, Any]:
    """The healer's pending proposal for ``dag_id``'s run, once it has opened one."""
    def probe() -> dict[str, Any] | None:
        proposals = airflow.api("GET", "/healer/api/proposals", params={"status": "pending"})["proposals"]
        return next((p for p in proposals if (p["dag_id"], p["run_id"]) == (dag_id, run_id)), None)

    return wait_for(f"no pending proposal for {dag_id} {run_id}", probe)


def incident_of(airflow: LocalAirflow, dag_id: str, run_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = airflow.api("GET", "/healer/api/incidents", params={"dag_id": dag_id})["incidents"]
        return next((i for i in found if i["run_id"] == run_id), None)

    return wait_for(f"no incident for {dag_id} {run_id}", probe)

