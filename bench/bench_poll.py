"""One poll of external jobs: 10,000 jobs across Dataflow, Cloud Workflows and BigQuery, served by fake clients.

The fake clients stand at the clients' boundary and answer from responses built beforehand with the clients'
own types (``dataflow_v1beta3.ListJobsResponse``, ``executions_v1.ListExecutionsResponse``, BigQuery's
``QueryJob`` from API resources), in pages of the size the service sends: Dataflow 100 (its limit is not
documented; 100 assumed), Workflows 100 (the ``FULL`` view's documented maximum), BigQuery 1,000 (assumed).
About 10% of the jobs failed; a failed Dataflow job is read again and its error messages listed, as for real.
So what is timed is our own cost per job: the requests we build, the paging, the normalising, the error text,
and (with the poller) the store and the classifier.

Prints: the sources alone (jobs/s, µs per job, peak memory), the whole cycle through
``airflow_healer.gcp.poller.ExternalPoller`` into a temporary SQLite store (classifier load time apart), and a
second cycle, which must find nothing new: the watermarks moved.
Usage: python bench/bench_poll.py [--dataflow 4000] [--workflows 3000] [--bigquery 3000] [--sources-only]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

PROJECT, LOCATION = "acme-prod", "us-central1"
FAILED_SHARE = 0.10
SPAN = timedelta(hours=5)  # the jobs' changes spread over the last five hours
DATAFLOW_ERRORS = [
    "java.lang.OutOfMemoryError: Java heap space\n\tat org.apache.beam.sdk.util.CoderUtils.decodeFromByteArray",
    "Workflow failed. Causes: S05:Read/Impulse+Read/Split failed., A work item was attempted 4 times without "
    "success. Each time the worker eventually lost contact with the service.",
    "Error message from worker: java.io.IOException: No space left on device",
    "Startup of the worker pool in zone us-central1-a failed to bring up any of the desired 40 workers. "
    "ZONE_RESOURCE_POOL_EXHAUSTED: The zone does not have enough resources available.",
    "Error message from worker: 403 Permission 'bigquery.tables.updateData' denied on table acme-prod:sales.orders",
]
WORKFLOW_ERRORS = [
    ('{"code": 429, "message": "HTTP server responded with error code 429", "tags": ["HttpError"]}',
     'HTTP server responded with error code 429\nin step "call_partner_api", routine "main", line: 14'),
    ('{"message": "Connection failed", "tags": ["ConnectionFailedError"]}',
     'Connection failed\nin step "fetch", routine "main", line: 22'),
    ('{"code": 403, "message": "Permission denied on resource project acme-prod"}',
     'PERMISSION_DENIED\nin step "start_job", routine "main", line: 31'),
]
BIGQUERY_ERRORS = [
    {"reason": "resourcesExceeded", "message": "Resources exceeded during query execution: The query could not be "
                                               "executed in the allotted memory."},
    {"reason": "invalidQuery", "message": "Unrecognized name: order_total at [3:15]", "location": "query"},
    {"reason": "rateLimitExceeded", "message": "Exceeded rate limits: too many table update operations for this "
                                               "table."},
    {"reason": "accessDenied", "message": "Access Denied: Table acme-prod:sales.orders: User does not have "
                                          "permission to query table acme-prod:sales.orders."},
]


def _moments(n: int, now: datetime, r: random.Random) -> list[datetime]:
    """``n`` change times, newest first (the order the services list their finished jobs in)."""
    return sorted((now - SPAN * r.random() for _ in range(n)), reverse=True)


# -- fake clients: prebuilt pages, answered by request --------------------------------------------------


class FakeDataflow:
    """``JobsV1Beta3Client`` and ``MessagesV1Beta3Client`` in one: list_jobs, get_job, list_job_messages."""

    def __init__(self, n: int, now: datetime, r: random.Random, page: int = 100):
        from google.cloud import dataflow_v1beta3 as df

        state, kind = df.JobState, df.JobType
        self.full: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        active, terminated = [], []
        for i, moment in enumerate(_moments(n, now, r)):
            streaming = r.random() < 0.2
            failed = r.random() < FAILED_SHARE
            current = (state.JOB_STATE_FAILED if failed else state.JOB_STATE_RUNNING if streaming and r.random() < 0.5
                       else state.JOB_STATE_DONE)
            job_id = f"2026-05-01_{i:06d}-{r.getrandbits(40)}"
            job = df.Job(id=job_id, project_id=PROJECT, location=LOCATION, name=f"orders-{i % 97}-{i}",
                         current_state=current, current_state_time=moment, create_time=moment - timedelta(minutes=40),
                         start_time=moment - timedelta(minutes=39),
                         type_=kind.JOB_TYPE_STREAMING if streaming else kind.JOB_TYPE_BATCH)
            (active if current == state.JOB_STATE_RUNNING else terminated).append(job)
            if failed or streaming:
                full = df.Job(job)
                full.environment = df.Environment(
                    experiments=["use_runner_v2"] + (["enable_streaming_engine"] if streaming else []),
                    worker_pools=[df.WorkerPool(kind="harness", machine_type="n2-standard-4", num_workers=4,
                                                autoscaling_settings=df.AutoscalingSettings(max_num_workers=20))])
                full.labels = {"team": "orders", "airflow-task": f"launch_{i % 13}"}
                self.full[job_id] = full
            if failed:
                text = r.choice(DATAFLOW_ERRORS)
                self.messages[job_id] = df.ListJobMessagesResponse(job_messages=[
                    df.JobMessage(message_text=text, message_importance=df.JobMessageImportance.JOB_MESSAGE_ERROR),
                    df.JobMessage(message_text="Workflow failed.",
                                  message_importance=df.JobMessageImportance.JOB_MESSAGE_ERROR)])
        self.pages = {}
        for which, jobs in ((df.ListJobsRequest.Filter.ACTIVE, active),
                            (df.ListJobsRequest.Filter.TERMINATED, terminated)):
            for start in range(0, max(len(jobs), 1), page):
                token = f"{which.name}-{start}" if start else ""
                following = f"{which.name}-{start + page}" if start + page < len(jobs) else ""
                self.pages[(which, token)] = df.ListJobsResponse(jobs=jobs[start:start + page],
                                                                 next_page_token=following)
        self.calls = Counter()

    def list_jobs(self, request):
        self.calls["list_jobs"] += 1
        return self.pages[(request.filter, request.page_token)]

    def get_job(self, request):
        self.calls["get_job"] += 1
        return self.full[request.job_id]

    def list_job_messages(self, request):
        self.calls["list_job_messages"] += 1
        return self.messages[request.job_id]


class FakeWorkflows:
    """``WorkflowsClient.list_workflows`` and ``ExecutionsClient.list_executions``."""

    def __init__(self, n: int, now: datetime, r: random.Random, workflows: int = 12, page: int = 100):
        from google.cloud import workflows_v1
        from google.cloud.workflows import executions_v1 as ex

        parent = f"projects/{PROJECT}/locations/{LOCATION}"
        self.names = [f"{parent}/workflows/wf-{k}" for k in range(workflows)]
        self.listing = workflows_v1.ListWorkflowsResponse(workflows=[workflows_v1.Workflow(name=w) for w in self.names])
        per: dict[str, list[Any]] = {w: [] for w in self.names}
        for i, moment in enumerate(_moments(n, now, r)):
            workflow = self.names[i % workflows]
            failed = r.random() < FAILED_SHARE
            fields: dict[str, Any] = {"argument": f'{{"day": "2026-05-01", "batch": {i}}}'}
            if failed:
                payload, context = r.choice(WORKFLOW_ERRORS)
                fields["error"] = ex.Execution.Error(payload=payload, context=context)
            per[workflow].append(ex.Execution(
                name=f"{workflow}/executions/{r.getrandbits(64):016x}", start_time=moment - timedelta(minutes=3),
                end_time=moment, state=ex.Execution.State.FAILED if failed else ex.Execution.State.SUCCEEDED,
                **fields))
        self.pages = {}
        for workflow, executions in per.items():
            for start in range(0, max(len(executions), 1), page):
                token = f"{start}" if start else ""
                following = f"{start + page}" if start + page < len(executions) else ""
                self.pages[(workflow, token)] = ex.ListExecutionsResponse(
                    executions=executions[start:start + page], next_page_token=following)
        self.calls = Counter()

    def list_workflows(self, request):
        self.calls["list_workflows"] += 1
        return self.listing

    def list_executions(self, request):
        self.calls["list_executions"] += 1
        return self.pages[(request.parent, request.page_token)]


class _Listing:
    """What ``bigquery.Client.list_jobs`` returns, over one prebuilt page: ``.pages`` and ``next_page_token``."""

    def __init__(self, jobs: list[Any], token: str | None):
        self._jobs, self.next_page_token = jobs, token

    @property
    def pages(self):
        yield iter(self._jobs)


class FakeBigQuery:
    """``bigquery.Client.list_jobs`` answering from jobs made by the real client out of API resources."""

    def __init__(self, n: int, now: datetime, r: random.Random, page: int = 1000):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        maker = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials())
        jobs = []
        for i, moment in enumerate(_moments(n, now, r)):
            status: dict[str, Any] = {"state": "DONE"}
            if r.random() < FAILED_SHARE:
                error = r.choice(BIGQUERY_ERRORS)
                status.update(errorResult=error, errors=[error])
            created = moment - timedelta(seconds=r.uniform(5, 3 * 3600))
            jobs.append(maker.job_from_resource({
                "jobReference": {"projectId": PROJECT, "location": "US", "jobId": f"scheduled_query_{i:06d}"},
                "configuration": {"jobType": "QUERY", "labels": {"airflow-task": f"refresh_{i % 41}"},
                                  "query": {"query": f"INSERT INTO sales.daily_{i % 41} SELECT * FROM staging.t_{i}",
                                            "useLegacySql": False}},
                "status": status,
                "statistics": {"creationTime": str(int(created.timestamp() * 1000)),
                               "startTime": str(int(created.timestamp() * 1000) + 800),
                               "endTime": str(int(moment.timestamp() * 1000)),
                               "query": {"statementType": "INSERT"}}}))
        jobs.sort(key=lambda j: j.created, reverse=True)  # the API lists by creation time, newest first
        self.pages = {}
        for start in range(0, max(len(jobs), 1), page):
            token = str(start) if start else None
            self.pages[token] = (jobs[start:start + page], str(start + page) if start + page < len(jobs) else None)
        self.calls = Counter()

    def list_jobs(self, *, page_token=None, **_: Any):
        self.calls["list_jobs"] += 1
        return _Listing(*self.pages[page_token])


# -- the runs ---------------------------------------------------------------------------------------------------


def make_sources(fakes: dict[str, Any]) -> list[Any]:
    from airflow_healer.gcp.sources import BigQuerySource, DataflowSource, WorkflowsSource

    df, wf, bq = fakes["dataflow"], fakes["workflows"], fakes["bigquery"]
    return [DataflowSource(PROJECT, LOCATION, client=df, messages_client=df),
            WorkflowsSource(PROJECT, LOCATION, client=wf, executions_client=wf),
            BigQuerySource(PROJECT, client=bq)]


def sources_alone(fakes: dict[str, Any], since: str) -> None:
    print("\nsources alone (changed_since over every source, jobs kept in a list)")
    for source in make_sources(fakes):
        tracemalloc.start()
        began = time.perf_counter()
        jobs = list(source.changed_since(since))
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # tracemalloc slows Python down: time again without it.
        fake = fakes[source.job_type]
        fake.calls.clear()
        began = time.perf_counter()
        count = sum(1 for _ in source.changed_since(since))
        untraced = time.perf_counter() - began
        failed = sum(j.failed for j in jobs)
        with_text = sum(bool(j.error_message) for j in jobs if j.failed)
        print(f"  {source.job_type:<9} {count:>5} jobs ({failed} failed, {with_text} with error text) in "
              f"{untraced * 1000:7.1f} ms: {count / untraced:>9,.0f} jobs/s, {untraced / count * 1e6:6.1f} µs/job; "
              f"peak {peak / 2**20:5.1f} MiB (traced run {seconds * 1000:.0f} ms)")
        print(f"            API calls: {dict(fake.calls)}")


def whole_cycle(fakes: dict[str, Any], home: str) -> None:
    try:
        from airflow_healer.gcp.poller import ExternalPoller
    except ImportError as exc:
        print(f"\nno poller to time ({exc}); the sources alone are above")
        return
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.store import open_store

    config = HealerConfig.load().replace(external_jobs="dataflow,workflows,bigquery", external_projects=PROJECT,
                                         external_locations=LOCATION, external_lookback="1d")
    store = open_store(f"sqlite:///{os.path.join(home, 'healer.db')}")
    healer = Healer(config, store=store)
    began = time.perf_counter()
    healer.classifier  # noqa: B018 - loaded once, before the cycle is timed
    print(f"\nwhole cycle through ExternalPoller into SQLite (classifier loaded in "
          f"{time.perf_counter() - began:.2f} s, apart)")
    for label in ("first cycle", "second cycle"):
        poller = ExternalPoller(healer, make_sources(fakes), progress=lambda line: None)
        began = time.perf_counter()
        report = poller.cycle()
        seconds = time.perf_counter() - began
        rate = (f"{seconds / report.jobs * 1e6:,.0f} µs/job, {report.jobs / seconds:,.0f} jobs/s"
                if label == "first cycle" else "re-read: the poller's overlap behind each watermark")
        print(f"  {label}: {seconds:6.2f} s for {report.jobs:,} jobs ({rate})")
        print(f"    {report.summary()}")
        if report.errors:
            print(f"    errors: {report.errors[:3]}")
    # Memory apart: tracemalloc slows Python down three- to fourfold.
    fresh = Healer(config, store=open_store(f"sqlite:///{os.path.join(home, 'traced.db')}"),
                   classifier=healer.classifier)
    tracemalloc.start()
    traced = ExternalPoller(fresh, make_sources(fakes), progress=lambda line: None).cycle()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  a first cycle's peak Python heap ({traced.jobs:,} jobs, a fresh store; tracemalloc does not see "
          f"SQLite's own memory): {peak / 2**20:.1f} MiB")
    with sqlite3.connect(os.path.join(home, "healer.db")) as db:
        rows = db.execute("SELECT job_type, status, COUNT(*) FROM pipeline_jobs GROUP BY 1, 2").fetchall()
        incidents = db.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    print("  store: pipeline_jobs " + ", ".join(f"{t}/{s} {n}" for t, s, n in rows) + f"; incidents {incidents}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataflow", type=int, default=4000)
    parser.add_argument("--workflows", type=int, default=3000)
    parser.add_argument("--bigquery", type=int, default=3000)
    parser.add_argument("--sources-only", action="store_true", help="do not time the poller's cycle")
    args = parser.parse_args()

    now = datetime.now(timezone.utc)
    r = random.Random(42)
    began = time.perf_counter()
    fakes = {"dataflow": FakeDataflow(args.dataflow, now, r), "workflows": FakeWorkflows(args.workflows, now, r),
             "bigquery": FakeBigQuery(args.bigquery, now, r)}
    total = args.dataflow + args.workflows + args.bigquery
    print(f"{total:,} jobs built with the clients' own types in {time.perf_counter() - began:.1f} s "
          f"(Dataflow {args.dataflow:,} in pages of 100, Workflows {args.workflows:,} over 12 workflows in pages of "
          f"100, BigQuery {args.bigquery:,} in pages of 1,000; ~{FAILED_SHARE:.0%} failed)")
    since = (now - timedelta(days=1)).isoformat()
    sources_alone(fakes, since)
    if not args.sources_only:
        with tempfile.TemporaryDirectory() as home:
            os.environ["AIRFLOW_HOME"] = home
            for key in [k for k in os.environ if k.startswith("AIRFLOW__HEALER__")]:
                del os.environ[key]
            whole_cycle(fakes, home)


if __name__ == "__main__":
    main()
