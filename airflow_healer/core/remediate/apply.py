"""Changes the healer makes itself once a person approved them.

A proposal (``proposals.propose``) carries an ``apply`` dict when its change is one the healer can make:
today only adding NULLABLE or REPEATED columns to a BigQuery table, which is additive (no existing
reader or writer breaks) and which BigQuery makes in place::

    {"kind": "bigquery_add_columns", "table": "project.dataset.table",
     "fields": [{"name": "discount", "type": "FLOAT", "mode": "NULLABLE"}]}

Nothing here imports Google or Airflow at module level: the proposals module reads the naming rules below.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from airflow_healer.exceptions import ChangeError

log = logging.getLogger(__name__)

#: BigQuery's column name rule (letters, digits, underscores; not starting with a digit; 300 at most).
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
#: ``project.dataset.table`` or ``project:dataset.table``.
TABLE_NAME = re.compile(r"(?P<project>[a-z][a-z0-9-]{0,62})[.:](?P<dataset>\w{1,1024})\.(?P<table>[\w$-]{1,1024})")
#: The types a column can be added with, and the name BigQuery's API reports each with.
COLUMN_TYPES = {
    "STRING": "STRING", "BYTES": "BYTES", "INTEGER": "INTEGER", "INT64": "INTEGER", "FLOAT": "FLOAT",
    "FLOAT64": "FLOAT", "NUMERIC": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC", "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMP", "DATE": "DATE", "TIME": "TIME", "DATETIME": "DATETIME",
    "GEOGRAPHY": "GEOGRAPHY", "JSON": "JSON",
}
_ADDABLE_MODES = ("NULLABLE", "REPEATED")


def apply_change(apply: dict[str, Any], *, gcp_conn_id: str = "google_cloud_default", client: Any = None) -> str:
    """Make the change an approved proposal carries and say in one line what was done.

    :param apply: a proposal's ``apply`` dict (``kind`` ``bigquery_add_columns``, ``table``, ``fields``).
    :param gcp_conn_id: the Airflow connection whose credentials make the change.
    :param client: a ``google.cloud.bigquery.Client`` to use instead of the connection's (tests inject one).
    :raises ChangeError: the input is invalid, a column exists with another type, or BigQuery refused.
    """
    if not isinstance(apply, dict):
        raise ChangeError(f"An approved change must be a dict with a 'kind', not {type(apply).__name__}.")
    kind = apply.get("kind")
    if kind != "bigquery_add_columns":
        raise ChangeError(f"Unknown change kind {kind!r}: the healer can only apply 'bigquery_add_columns'; "
                          "make any other change by hand.")
    return _add_columns(apply, gcp_conn_id, client)


def _add_columns(apply: dict[str, Any], gcp_conn_id: str, client: Any) -> str:
    table_id, project = _table_id(apply.get("table"))
    fields = _fields(apply.get("fields"))
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions
    from google.cloud import bigquery

    refused = (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError)
    try:
        if client is None:
            client = _client(gcp_conn_id, project)
        table = client.get_table(table_id)
        current = {f.name.lower(): f for f in table.schema}
        added, skipped = [], []
        for name, field_type, mode in fields:
            existing = current.get(name.lower())
            if existing is None:
                added.append(bigquery.SchemaField(name, field_type, mode=mode))
            elif COLUMN_TYPES.get(existing.field_type.upper(), existing.field_type.upper()) == field_type:
                skipped.append(f"{existing.name} ({existing.field_type})")
            else:
                raise ChangeError(
                    f"{table_id} already has a column {existing.name} of type {existing.field_type}, not "
                    f"{field_type}: nothing was changed. Changing a column's type is a migration a person makes.")
        if not added:
            return f"Nothing to add to {table_id}: {', '.join(skipped)} already there."
        table.schema = [*table.schema, *added]
        # The table read above carries its etag, so a schema changed meanwhile fails (412) instead of being lost.
        client.update_table(table, ["schema"])
    except refused as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise ChangeError(f"BigQuery refused to add columns to {table_id}: {message}. Nothing was changed; "
                          f"check that connection {gcp_conn_id!r} may update the table "
                          "(roles/bigquery.dataEditor) and that it exists.") from exc
    done = ", ".join(f"{f.name} ({f.field_type}, {f.mode})" for f in added)
    also = f"; already there: {', '.join(skipped)}" if skipped else ""
    log.info("Added columns %s to %s%s", done, table_id, also)
    return f"Added columns {done} to {table_id}{also}."


def _client(gcp_conn_id: str, project: str) -> Any:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    try:
        # use_legacy_sql only silences the hook's deprecation warning: no query runs here.
        return BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False).get_client(project_id=project)
    except AirflowNotFoundException as exc:
        raise ChangeError(f"Connection {gcp_conn_id!r} is not defined: add it (airflow connections add "
                          f"{gcp_conn_id} --conn-type google_cloud_platform) or pass another gcp_conn_id.") from exc


def _table_id(table: Any) -> tuple[str, str]:
    match = TABLE_NAME.fullmatch(table) if isinstance(table, str) else None
    if match is None:
        raise ChangeError(f"Table {table!r} is not a full BigQuery table name: give it as project.dataset.table "
                          "or project:dataset.table.")
    return f"{match['project']}.{match['dataset']}.{match['table']}", match["project"]


def _fields(fields: Any) -> list[tuple[str, str, str]]:
    if not isinstance(fields, list) or not fields:
        raise ChangeError("A bigquery_add_columns change needs 'fields': a non-empty list of "
                          "{'name': ..., 'type': ..., 'mode': 'NULLABLE'}.")
    out, seen = [], set()
    for field in fields:
        if not isinstance(field, dict):
            raise ChangeError(f"Field {field!r} must be a dict with 'name' and 'type'.")
        name, field_type = field.get("name"), str(field.get("type") or "").upper()
        mode = str(field.get("mode") or "NULLABLE").upper()
        if not isinstance(name, str) or not COLUMN_NAME.fullmatch(name):
            raise ChangeError(f"Column name {name!r} is not valid in BigQuery: use letters, digits and "
                              "underscores, not starting with a digit, at most 300 characters.")
        if field_type not in COLUMN_TYPES:
            raise ChangeError(f"Column {name}: type {field.get('type')!r} cannot be added; use one of "
                              f"{', '.join(COLUMN_TYPES)}.")
        if field.get("type_guessed"):
            raise ChangeError(f"Column {name}: its type {field_type} is a guess; a person must name the type.")
        if mode == "REQUIRED":
            raise ChangeError(f"Column {name}: BigQuery cannot add a REQUIRED column to an existing table; add "
                              "it as NULLABLE and fill it.")
        if mode not in _ADDABLE_MODES:
            raise ChangeError(f"Column {name}: mode {mode!r} is not one of {', '.join(_ADDABLE_MODES)}.")
        if name.lower() in seen:
            raise ChangeError(f"Column {name} is listed twice.")
        seen.add(name.lower())
        out.append((name, COLUMN_TYPES[field_type], mode))
    return out
