"""The watchdog's trigger against a real HTTP server on loopback that answers like Airflow's API."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import pytest

from airflow_healer.triggers.watchdog import HealerWatchdogTrigger
from tests.unit.triggers.loopback import LoopbackApi


class FakeAirflow(LoopbackApi):
    """GET .../taskInstances; ``failed_after`` polls answer with no failures first."""

    def __init__(self, *, failed_after=0, list_status=200, token_status=200):
        self.failed_after = failed_after
        self.list_status = list_status
        super().__init__(self._answer, token_status=token_status)

    def _answer(self, path, query):
        if self.list_status != 200:
            return self.list_status, {"detail": "nope"}
        found = len(self.queries) > self.failed_after
        return 200, {"task_instances": [], "total_entries": 2 if found else 0}

    @property
    def parsed(self):
        return [{k: v[0] for k, v in parse_qs(q).items()} for q in self.queries]


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
    query = fake.parsed[-1]
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
