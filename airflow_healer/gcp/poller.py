"""One poll of the external jobs: every configured service, project and region, incrementally.

Each source keeps its own watermark in the store (``external-poll/<type>/<project>/<location>``):
the newest change time it has handled. A cycle asks each source for the jobs changed since then
(with a small overlap, so a job changed in the same second as the watermark is not missed; a job
seen twice is updated, never duplicated, and never decided twice). A source that keeps answering
429 keeps its watermark and is asked again next cycle; one that fails does not stop the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_healer.core.healer import Healer
from airflow_healer.gcp.heal import ExternalHealer
from airflow_healer.gcp.jobs import JobSource, PollQuotaExceeded

log = logging.getLogger(__name__)

WATERMARK = "external-poll/"
#: Re-read this far behind the watermark: the services list a job a little after its change time (eventual
#: consistency), and change times within one second are not ordered. A job read again costs one row lookup.
OVERLAP = timedelta(seconds=60)


def source_key(source: JobSource) -> str:
    parts = [source.job_type, getattr(source, "project", "") or "-", getattr(source, "location", "") or "-"]
    return WATERMARK + "/".join(parts)


@dataclass
class PollReport:
    """What one cycle saw and did."""

    sources: int = 0
    jobs: int = 0
    failed: int = 0
    incidents: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # jobs a rerun, relaunch or update started
    proposals: int = 0
    settled: dict[str, int] = field(default_factory=dict)
    quota_limited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.jobs} job(s) changed in {self.sources} source(s)", f"{self.failed} failed",
                 f"{len(self.incidents)} incident(s)", f"{len(self.started)} healing job(s) started"]
        if self.proposals:
            parts.append(f"{self.proposals} proposal(s)")
        if self.settled:
            parts.append("settled " + ", ".join(f"{v} {k}" for k, v in sorted(self.settled.items())))
        if self.quota_limited:
            parts.append("quota-limited (next cycle): " + ", ".join(self.quota_limited))
        if self.errors:
            parts.append(f"{len(self.errors)} source error(s)")
        return "; ".join(parts) + f" ({self.seconds:.1f}s)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExternalPoller:
    """Polls ``sources`` into the store and heals through :class:`~airflow_healer.gcp.heal.ExternalHealer`.

    :param sources: the job sources (:func:`airflow_healer.gcp.sources.sources_from_config`).
    :param external: the external healer (one is made from ``healer`` when not given).
    :param now: a clock for tests.
    :param progress: called with each source's line as it finishes (the DAG task logs them).
    """

    def __init__(self, healer: Healer, sources: Iterable[JobSource], *, external: ExternalHealer | None = None,
                 now: Callable[[], datetime] | None = None, progress: Callable[[str], None] | None = None):
        self.healer = healer
        self.sources = list(sources)
        self.external = external or ExternalHealer(healer)
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._progress = progress or log.info

    def watermark(self, source: JobSource) -> str:
        raw = self.healer.store.get_blob(source_key(source))
        if raw:
            return json.loads(raw)["watermark"]
        start = self._now() - timedelta(seconds=self.healer.config.external_lookback_seconds)
        return start.isoformat(timespec="milliseconds")

    def cycle(self) -> PollReport:
        started = time.monotonic()
        report = PollReport(sources=len(self.sources))
        for source in self.sources:
            self._poll(source, report)
        report.seconds = time.monotonic() - started
        log.info("External jobs: %s", report.summary())
        return report

    def _poll(self, source: JobSource, report: PollReport) -> None:
        key = source_key(source)
        watermark = self.watermark(source)
        since = (_parse(watermark) - OVERLAP).isoformat(timespec="milliseconds")
        newest, seen = watermark, 0
        where = key[len(WATERMARK):]
        try:
            for job in source.changed_since(since):
                seen += 1
                report.jobs += 1
                report.failed += job.failed
                try:
                    outcome = self.external.observe(job)
                except Exception as exc:  # noqa: BLE001 - one job the store refused: the others still count
                    log.exception("Could not keep %s job %s", job.job_type, job.job_id)
                    report.errors.append(f"{where}: job {job.job_id}: {type(exc).__name__}: {exc}")
                    newest = None  # come back for it: the watermark stays
                    continue
                if outcome.incident_id and outcome.reason != "seen already" and outcome.incident_id not in report.incidents:
                    report.incidents.append(outcome.incident_id)
                if outcome.started:
                    report.started.append(outcome.started)
                if outcome.verdict == "propose":
                    report.proposals += 1
                if outcome.settled:
                    report.settled[outcome.settled] = report.settled.get(outcome.settled, 0) + 1
                if newest is not None and _parse(job.changed_at) > _parse(newest):
                    newest = job.changed_at
        except PollQuotaExceeded as exc:
            report.quota_limited.append(where)
            self._progress(f"{where}: {seen} job(s), then the API's quota ran out ({exc}); the watermark stays at "
                           f"{watermark} and the next cycle asks again")
            return
        except Exception as exc:  # noqa: BLE001 - one service down must not stop the others
            log.exception("Polling %s failed", where)
            report.errors.append(f"{where}: {type(exc).__name__}: {exc}")
            return
        if newest is not None:
            state = {"watermark": newest, "last_cycle": {"at": self._now().isoformat(timespec="seconds"),
                                                         "jobs": seen}}
            self.healer.store.put_blob(key, json.dumps(state).encode(), {"kind": "external-poll"})
        self._progress(f"{where}: {seen} changed job(s) since {since}; watermark {newest or watermark}")


def _parse(moment: str) -> datetime:
    value = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def poll_status(store: Any) -> list[dict[str, Any]]:
    """Each source's watermark and last cycle, for the CLI and the Healer page."""
    rows = []
    for blob in store.list_blobs(WATERMARK):
        raw = store.get_blob(blob["name"])
        if raw:
            rows.append({"source": blob["name"][len(WATERMARK):], **json.loads(raw)})
    return rows
