"""Boilerplate templates: learnt Drain-style from successful logs, never from error-shaped lines, kept as bytes."""

from __future__ import annotations

import itertools
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_healer.core.logs import BoilerplateMiner, default_miner
from airflow_healer.core.logs.boilerplate import REST, WILDCARD, tokens

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["".join(p) for p in itertools.product(string.ascii_lowercase, repeat=3)]


@pytest.fixture
def miner() -> BoilerplateMiner:
    return BoilerplateMiner()


def test_lines_differing_in_numbers_and_ids_are_one_template(miner):
    lines = [f"Uploaded part-{i:05d}.parquet ({i * 1.7:.1f} MB) to gs://acme-exports/dt=2026-11-{i % 28 + 1:02d}/ "
             f"in {i % 9}.{i % 7} s, request id {i * 7919:08x}-4c1e-9a2b" for i in range(1, 60)]
    assert miner.learn(lines) == 1
    assert len(miner) == 1
    (template,) = miner.templates()
    assert "acme-exports" not in template and "00017" not in template
    assert miner.matches("Uploaded part-99999.parquet (0.1 MB) to gs://acme-exports/dt=2027-01-01/ in 1.0 s, "
                         "request id deadbeef-4c1e-9a2b")


def test_words_that_vary_become_wildcards(miner):
    assert miner.learn(["Syncing table customers to warehouse", "Syncing table orders to warehouse",
                        "Syncing table invoices to warehouse"]) == 1
    assert miner.templates() == [f"Syncing table {WILDCARD} to warehouse"]
    assert miner.matches("Syncing table refunds to warehouse")
    assert not miner.matches("Syncing view refunds from lake")


def test_a_successful_logs_lines_are_learnt_and_a_failures_cause_is_not_matched(miner):
    success = ["Loading config for environment prod", "Fetched 48213 rows from source", "Processing batch 3 of 12",
               "Processing batch 4 of 12", "Writing partition dt=2026-11-30", "Fetched 9 rows from source"]
    assert miner.learn(success) == 4
    assert miner.matches("Processing batch 11 of 12")
    assert miner.matches("Writing partition dt=2026-12-01")
    assert not miner.matches("psycopg2.errors.UndefinedTable: relation \"orders\" does not exist")


@pytest.mark.parametrize(
    "line",
    [
        "ERROR connection refused by 10.0.0.1",
        "Retrying after timeout (attempt 2)",
        "HTTP 503 from upstream",
        "Traceback (most recent call last):",
        "Permission denied: /tmp/export",
        "WARNING: node low on memory",
        "could not translate host name \"db\" to address",
        "botocore.exceptions.ClientError: An error occurred (AccessDenied)",
        "Container base was OOMKilled",
        "Pod etl-load-1 was evicted",
    ],
)
def test_error_shaped_lines_are_never_learnt(miner, line):
    assert miner.learn([line, line]) == 0
    assert len(miner) == 0
    assert not miner.matches(line)


def test_error_shaped_lines_are_learnt_only_when_asked(miner):
    assert miner.learn(["Marking task as FAILED. dag_id=etl"], skip_error_shaped=False) == 1
    assert miner.matches("Marking task as FAILED. dag_id=etl")


def test_a_template_ending_in_rest_matches_any_continuation(miner):
    miner.learn([f"Running query {REST}"])
    assert miner.matches("Running query SELECT customer_id, sum(total) FROM orders GROUP BY 1")
    assert not miner.matches("Running job export")


def test_blank_lines_match_and_are_not_learnt(miner):
    assert miner.learn(["", "   "]) == 0
    assert miner.matches("")
    assert miner.matches("   ")


def test_a_huge_line_costs_a_bounded_number_of_tokens():
    assert len(tokens("word " * 100_000)) == 64


def test_to_bytes_from_bytes_round_trips(miner):
    miner = BoilerplateMiner(similarity=0.7)
    miner.learn(["Syncing table customers to warehouse", "Syncing table orders to warehouse", f"Running query {REST}",
                 "Fetched 48213 rows from source"])
    blob = miner.to_bytes()
    assert isinstance(blob, bytes)
    assert json.loads(blob)["version"] == 1
    again = BoilerplateMiner.from_bytes(blob)
    assert sorted(again.templates()) == sorted(miner.templates())
    assert len(again) == len(miner)
    assert again.similarity == 0.7
    for line in ("Syncing table refunds to warehouse", "Running query SELECT 1", "Fetched 7 rows from source",
                 "Fetched 7 rows from source: timed out"):
        assert again.matches(line) == miner.matches(line)


def test_the_template_bound_survives_a_round_trip():
    assert BoilerplateMiner.from_bytes(BoilerplateMiner(max_templates=10).to_bytes()).max_templates == 10


def test_from_bytes_of_the_default_keeps_its_matches():
    shipped = default_miner()
    again = BoilerplateMiner.from_bytes(shipped.to_bytes())
    assert again.matches("Filling up the DagBag from /opt/airflow/dags/other.py")
    assert not again.matches("curl: (28) Failed to connect to api.partner-exports.com port 443")


def test_max_templates_bounds_what_is_learnt():
    miner = BoilerplateMiner(max_templates=10)
    assert miner.learn([f"{w} sync started for {w}" for w in WORDS[:300]]) == 10
    assert len(miner) == 10 == len(miner.templates())


def test_a_line_of_a_known_template_is_still_merged_at_the_bound():
    miner = BoilerplateMiner(max_templates=1)
    miner.learn(["Syncing table customers to warehouse"])
    miner.learn(["Syncing table orders to warehouse"])
    assert miner.templates() == [f"Syncing table {WILDCARD} to warehouse"]


def test_max_templates_bounds_prefix_templates_too():
    miner = BoilerplateMiner(max_templates=10)
    miner.learn([f"{w} begins {REST}" for w in WORDS[:300]])
    assert len(miner) <= 10


# -- the shipped templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "DAG bundles loaded: dags-folder",
        "Filling up the DagBag from /opt/airflow/dags/other_dag.py",
        "Worker startup parse complete",
        "Running command: ['/usr/bin/bash', '-c', 'python /opt/jobs/export.py --day 2026-12-01']",
        "Done. Returned value was: None",
        "Starting attempt 2 of 5",
        "Task exited with return code 1",
        "Marking task as UP_FOR_RETRY. dag_id=sales, task_id=export, run_id=manual__2026-12-02T00:00:00+00:00, "
        "logical_date=20261202T000000, start_date=20261202T000001, end_date=20261202T000009",
        "Task failed with exception",
        "Pod sales-export-x7k2p has phase Running",
    ],
)
def test_the_shipped_templates_match_airflows_own_lines(line):
    assert default_miner().matches(line)


@pytest.mark.parametrize(
    "line",
    [
        "curl: (28) Failed to connect to api.partner-exports.com port 443 after 130002 ms: Connection timed out",
        'psycopg2.OperationalError: FATAL:  password authentication failed for user "etl"',
        "Connecting to warehouse",
        'column "customer_idd" does not exist',
        "java.lang.OutOfMemoryError: Java heap space",
    ],
)
def test_the_shipped_templates_do_not_match_a_tasks_words(line):
    assert not default_miner().matches(line)


def test_default_miner_is_a_fresh_object_each_time():
    mine = default_miner()
    mine.learn(["Syncing table customers to warehouse"])
    assert mine.matches("Syncing table orders to warehouse")
    assert not default_miner().matches("Syncing table orders to warehouse")


# -- never raises, bounded ------------------------------------------------------------------------

_LINE = st.text(max_size=300).filter(lambda s: not s.rstrip().endswith(REST))


@FAST
@given(st.lists(_LINE, max_size=40), _LINE)
def test_any_text_learns_and_matches_without_raising(lines, probe):
    miner = BoilerplateMiner(max_templates=15)
    new = miner.learn(lines)
    assert 0 <= new <= len(miner) <= 15
    assert isinstance(miner.matches(probe), bool)
    assert sorted(BoilerplateMiner.from_bytes(miner.to_bytes()).templates()) == sorted(miner.templates())
