"""Approved changes the healer makes itself, against a BigQuery client mocked at its boundary."""

from __future__ import annotations

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from airflow_healer.core.remediate.apply import ChangeError, apply_change
from airflow_healer.core.remediate.proposals import propose
from airflow_healer.exceptions import HealerError

OLD_SCHEMA = [bigquery.SchemaField("id", "INTEGER", mode="REQUIRED"), bigquery.SchemaField("amount", "FLOAT")]


@pytest.fixture
def table():
    return bigquery.Table("acme-prod.sales.orders", schema=list(OLD_SCHEMA))


@pytest.fixture
def client(mocker, table):
    client = mocker.Mock(spec=bigquery.Client)
    client.get_table.return_value = table
    client.update_table.side_effect = lambda t, fields: t
    return client


def add(*fields, table="acme-prod:sales.orders"):
    return {"kind": "bigquery_add_columns", "table": table, "fields": list(fields)}


def test_new_columns_are_appended_to_the_schema(client, table):
    done = apply_change(add({"name": "discount", "type": "FLOAT64", "mode": "NULLABLE"},
                            {"name": "tags", "type": "STRING", "mode": "REPEATED"}), client=client)

    client.get_table.assert_called_once_with("acme-prod.sales.orders")
    client.update_table.assert_called_once_with(table, ["schema"])
    assert table.schema == [*OLD_SCHEMA, bigquery.SchemaField("discount", "FLOAT", mode="NULLABLE"),
                            bigquery.SchemaField("tags", "STRING", mode="REPEATED")]
    assert done == ("Added columns discount (FLOAT, NULLABLE), tags (STRING, REPEATED) to "
                    "acme-prod.sales.orders.")


def test_a_column_already_there_with_the_same_type_is_skipped_and_said(client, table):
    done = apply_change(add({"name": "AMOUNT", "type": "FLOAT64"}, {"name": "note", "type": "STRING"}),
                        client=client)

    client.update_table.assert_called_once_with(table, ["schema"])
    assert [f.name for f in table.schema] == ["id", "amount", "note"]
    assert done == "Added columns note (STRING, NULLABLE) to acme-prod.sales.orders; already there: amount (FLOAT)."


def test_nothing_new_means_no_update(client, table):
    done = apply_change(add({"name": "amount", "type": "FLOAT"}), client=client)

    client.update_table.assert_not_called()
    assert table.schema == OLD_SCHEMA
    assert done == "Nothing to add to acme-prod.sales.orders: amount (FLOAT) already there."


def test_a_column_there_with_another_type_changes_nothing(client, table):
    with pytest.raises(ChangeError, match="already has a column amount of type FLOAT, not STRING: nothing was changed"):
        apply_change(add({"name": "note", "type": "STRING"}, {"name": "amount", "type": "STRING"}), client=client)

    client.update_table.assert_not_called()
    assert table.schema == OLD_SCHEMA


@pytest.mark.parametrize(("change", "error"), [
    ({"kind": "bigquery_drop_columns", "table": "p.d.t", "fields": []}, "Unknown change kind 'bigquery_drop_columns'"),
    ("ALTER TABLE x", "must be a dict"),
    (add({"name": "x", "type": "STRING"}, table="orders"), "not a full BigQuery table name"),
    (add({"name": "x", "type": "STRING"}, table="acme-prod.sales"), "not a full BigQuery table name"),
    (add({"name": "x", "type": "STRING"}, table="acme-prod.sales.orders; DROP TABLE x"), "not a full BigQuery"),
    (add(), "non-empty list"),
    (add({"name": "1st", "type": "STRING"}), "Column name '1st' is not valid"),
    (add({"name": "a-b", "type": "STRING"}), "Column name 'a-b' is not valid"),
    (add({"name": "x" * 301, "type": "STRING"}), "at most 300 characters"),
    (add({"name": "payload", "type": "RECORD"}), "type 'RECORD' cannot be added; use one of STRING"),
    (add({"name": "x", "type": "VARCHAR"}), "type 'VARCHAR' cannot be added"),
    (add({"name": "x", "type": "STRING", "mode": "REQUIRED"}), "cannot add a REQUIRED column"),
    (add({"name": "x", "type": "STRING", "mode": "OPTIONAL"}), "mode 'OPTIONAL' is not one of NULLABLE, REPEATED"),
    (add({"name": "x", "type": "STRING", "type_guessed": True}), "is a guess"),
    (add({"name": "x", "type": "STRING"}, {"name": "X", "type": "STRING"}), "listed twice"),
    (add("x"), "must be a dict"),
])
def test_invalid_changes_are_refused_before_any_call(client, change, error):
    with pytest.raises(ChangeError, match=error):
        apply_change(change, client=client)

    client.get_table.assert_not_called()
    client.update_table.assert_not_called()


def test_change_error_is_a_healer_error_and_a_value_error():
    assert issubclass(ChangeError, HealerError) and issubclass(ChangeError, ValueError)


@pytest.mark.parametrize(("call", "exc"), [
    ("get_table", api_exceptions.NotFound("Not found: Table acme-prod:sales.orders")),
    ("update_table", api_exceptions.PreconditionFailed("Precondition check failed.")),
    ("update_table", api_exceptions.Forbidden("Access Denied: Table acme-prod:sales.orders")),
])
def test_api_errors_are_wrapped_with_the_apis_message(client, call, exc):
    getattr(client, call).side_effect = exc

    with pytest.raises(ChangeError, match=f"refused to add columns to acme-prod.sales.orders: {exc.message}") as info:
        apply_change(add({"name": "note", "type": "STRING"}), client=client)

    assert info.value.__cause__ is exc


def test_the_default_path_builds_the_client_from_the_connection(mocker, airflow_home, monkeypatch, client, table):
    monkeypatch.setenv("AIRFLOW_CONN_GCP_ETL", "google-cloud-platform://")
    get_client = mocker.patch.object(BigQueryHook, "get_client", autospec=True, return_value=client)

    done = apply_change(add({"name": "note", "type": "STRING"}), gcp_conn_id="gcp_etl")

    get_client.assert_called_once_with(mocker.ANY, project_id="acme-prod")
    assert get_client.call_args.args[0].gcp_conn_id == "gcp_etl"
    client.update_table.assert_called_once_with(table, ["schema"])
    assert done == "Added columns note (STRING, NULLABLE) to acme-prod.sales.orders."


def test_a_missing_connection_says_how_to_add_it(airflow_home):
    with pytest.raises(ChangeError, match="Connection 'gcp_missing' is not defined: add it"):
        apply_change(add({"name": "note", "type": "STRING"}), gcp_conn_id="gcp_missing")


def test_an_approved_proposal_applies_as_proposed(client, table):
    message = ("Compilation Error in model orders (models/marts/orders.sql)\n"
               "  The source and target schemas on this incremental model are out of sync!\n"
               "     Source columns not in target: [<BigQueryColumn discount (FLOAT64, NULLABLE)>]\n"
               "     Target columns not in source: []\n"
               "     New column types: []\n"
               "  on table `acme-prod`.`sales`.`orders`")
    proposal = propose("schema_mismatch", message)

    done = apply_change(proposal["apply"], client=client)

    client.get_table.assert_called_once_with("acme-prod.sales.orders")
    assert table.schema == [*OLD_SCHEMA, bigquery.SchemaField("discount", "FLOAT", mode="NULLABLE")]
    assert done.startswith("Added columns discount (FLOAT, NULLABLE)")
