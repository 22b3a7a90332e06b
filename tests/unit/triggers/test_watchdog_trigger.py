"""The watchdog's trigger against a real HTTP server on loopback that answers like Airflow's API."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from airflow_healer.triggers.watchdog import HealerWatchdogTrigger


class FakeAirflow:
    """POST /auth/token and GET .../taskInstances; ``failed_after`` polls answer with no failures first."""

    def __init__(self, *, failed_after=0, list_status=200, token_status=200):
        self.failed_after = failed_after
        self.list_status = list_status
        self.token_status = token_status
        self.queries: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(outer.token_status, {"access_token": "t"} if outer.token_status == 200 else {})

            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                outer.queries.append({k: v[0] for k, v in parse_qs(url.query).items()})
                if outer.list_status != 200:
                    return self._send(outer.list_status, {"detail": "nope"})
                found = len(outer.queries) > outer.failed_after
                self._send(200, {"task_instances": [], "total_entries": 2 if found else 0})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def fake(request, monkeypatch):
    server = FakeAirflow(**getattr(request, "param", {}))
    monkeypatch.setenv("AIRFLOW_CONN_HEALER_API", json.dumps(
        {"conn_type": "http", "host": server.url, "login": "healer", "password": "pw"}))
    yield server
    server.close()


def first_event(trigger):
    async def go():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(asyncio.wait_for(go(), 30))


def trigger(**kwargs):
    return HealerWatchdogTrigger(airflow_api_conn_id="healer_api", since="2026-12-01T00:00:00.000000Z",
                                 poll_interval=0.05, **kwargs)


def test_it_serializes_to_its_path_and_primitive_kwargs():
    path, kwargs = trigger(idle_timeout=60).serialize()
    assert path == "airflow_healer.triggers.watchdog.HealerWatchdogTrigger"
    assert HealerWatchdogTrigger(**kwargs).serialize() == (path, kwargs)
    assert all(isinstance(v, (str, int, float)) for v in kwargs.values())


@pytest.mark.parametrize("fake", [{"failed_after": 2}], indirect=True)
def test_it_fires_once_something_failed_after_the_watermark(fake):
    assert first_event(trigger()) == {"status": "found", "count": 2, "since": "2026-12-01T00:00:00.000000Z"}
    assert len(fake.queries) == 3
    query = fake.queries[-1]
    assert (query["state"], query["end_date_gt"], query["limit"]) == ("failed", "2026-12-01T00:00:00.000000Z", "1")
    assert query["end_date_lte"] < "2099"  # failures younger than the settle time wait


@pytest.mark.parametrize("fake", [{"failed_after": 10_000}], indirect=True)
def test_it_goes_idle_when_nothing_failed_in_time(fake):
    assert first_event(trigger(idle_timeout=0.3))["status"] == "idle"


@pytest.mark.parametrize("fake, says", [({"list_status": 403}, "read rights"),
                                        ({"token_status": 401}, "refused the healer's credentials")],
                         indirect=["fake"])
def test_refused_credentials_or_rights_end_with_a_clear_error(fake, says):
    event = first_event(trigger())
    assert event["status"] == "error" and says in event["message"]
