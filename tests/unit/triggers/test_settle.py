"""A trigger's first event waits for ``not_before``: Airflow 3.3 fails a deferred task whose trigger fires
before the scheduler has read the deferring try's exit (apache/airflow#67287, #72716)."""

from __future__ import annotations

import asyncio
import time

from airflow_healer.triggers import _settle
from airflow_healer.triggers._settle import first_event, not_before


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_an_event_ready_at_once_is_held_until_not_before():
    async def events():
        yield "done"

    hold = 0.4
    started = time.monotonic()
    assert run(first_event(events(), time.time() + hold)) == "done"
    assert time.monotonic() - started >= hold - 0.01  # sleep never ends early: the event was held


def test_an_event_after_not_before_is_handed_over_without_waiting_more(monkeypatch):
    async def events():
        yield "done"

    async def no_sleep(seconds):
        raise AssertionError(f"slept {seconds} s after not_before had passed")

    monkeypatch.setattr(_settle.asyncio, "sleep", no_sleep)
    assert run(first_event(events(), time.time() - 1)) == "done"


def test_the_event_source_is_closed_after_its_first_event():
    closed = []

    async def events():
        try:
            yield "first"
            yield "second"
        finally:
            closed.append(True)  # an API client's ``async with`` ends here

    assert run(first_event(events(), 0.0)) == "first"
    assert closed == [True]


def test_not_before_is_the_settle_time_from_now_and_never_in_the_past():
    before = time.time()
    assert before + 10 <= not_before(10) <= time.time() + 10
    assert before <= not_before(-5) <= time.time()
