"""Hold a trigger's event until Airflow's scheduler has seen the deferring try end.

When a task defers, its worker process exits and the executor reports that try as a success; the scheduler
reads that report a few seconds later (more on a busy machine). Airflow 3.3 fails the task when the trigger's
event has already moved it on to ``queued`` or ``running`` by then: "Executor ... reported that the task
instance ... finished with state success, but the task instance's state attribute is queued" (apache/airflow
issues 67287 and 72716; only the ``scheduled`` case is guarded). A wait that ends within seconds (a short
backoff, a job that ends right away, a failure already there) would lose its task to that race, so the
operators give their triggers ``not_before``: ``[healer] defer_settle_seconds`` after they deferred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


def not_before(settle_seconds: float) -> float:
    """The epoch second before which a trigger deferred now must not fire."""
    return time.time() + max(float(settle_seconds), 0.0)


async def settle(until: float) -> None:
    """Sleep until the epoch second ``until`` (no wait once it has passed)."""
    left = until - time.time()
    if left > 0:
        await asyncio.sleep(left)


async def first_event(events: AsyncIterator[T], until: float) -> T:
    """The first of ``events``, handed over no earlier than ``until``: a trigger fires once."""
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    await settle(until)
    return event
