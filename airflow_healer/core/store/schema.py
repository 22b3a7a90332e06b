"""The tables of a store, one definition for every SQL adapter (each names its own types).

A column added here is added for SQLite and PostgreSQL alike; a store an older version made gets it
from its adapter's upgrade step (``sqlite._ADDED``, ``postgres.MIGRATIONS``).
"""

from __future__ import annotations

from string import Template

_TABLES = Template("""
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL DEFAULT -1,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_try_number INTEGER NOT NULL,
    operator TEXT,
    exception_type TEXT,
    message TEXT NOT NULL DEFAULT '',
    traceback TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    hostname TEXT,
    error_type TEXT,
    confidence $real,
    classifier TEXT,
    evidence TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    log_excerpt TEXT NOT NULL DEFAULT '',
    log_lines TEXT NOT NULL DEFAULT '[]',
    log_note TEXT NOT NULL DEFAULT '',
    conn_ids TEXT NOT NULL DEFAULT '[]',
    claimed_by TEXT,
    claimed_until TEXT,
    UNIQUE (dag_id, run_id, task_id, map_index)
);
CREATE TABLE IF NOT EXISTS failures (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    try_number INTEGER NOT NULL,
    operator TEXT,
    exception_type TEXT,
    message TEXT NOT NULL DEFAULT '',
    traceback TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    hostname TEXT,
    started_at TEXT,
    failed_at TEXT,
    captured_at TEXT NOT NULL,
    source TEXT NOT NULL,
    log_excerpt TEXT NOT NULL DEFAULT '',
    log_lines TEXT NOT NULL DEFAULT '[]',
    log_note TEXT NOT NULL DEFAULT '',
    conn_ids TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (incident_id, try_number)
);
CREATE TABLE IF NOT EXISTS actions (
    id $serial,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    strategy TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    risky INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS ledger (
    seq $serial,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    incident_id TEXT,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS knowledge (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tiers (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    name TEXT NOT NULL,
    ladder TEXT NOT NULL,
    rung INTEGER NOT NULL,
    rendered_at TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, name)
);
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    change TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '{}',
    waiter TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS acted (
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    actor TEXT NOT NULL,
    strategy TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number)
);
CREATE TABLE IF NOT EXISTS pipeline_jobs (
    job_id TEXT PRIMARY KEY,
    job_name TEXT NOT NULL DEFAULT '',
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    duration_seconds $real,
    error_message TEXT NOT NULL DEFAULT '',
    error_type TEXT,
    project TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    incident_id TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    name TEXT PRIMARY KEY,
    data $bytes NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    package_version TEXT NOT NULL
);
""")


def tables(*, serial: str, real: str, binary: str) -> list[str]:
    """The CREATE TABLE statements, with ``serial`` (an auto-increment primary key), ``real`` (a float)
    and ``binary`` (bytes) spelt as the database spells them."""
    script = _TABLES.substitute(serial=serial, real=real, bytes=binary)
    return [s.strip() for s in script.split(";\n") if s.strip()]
