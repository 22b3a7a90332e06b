"""Proposals with content: what a person would do, read from real shapes of error messages."""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_healer.core.remediate.proposals import MAX_FIELD, propose
from airflow_healer.core.types import ErrorType

# The shared real-world messages beside this checkout (used for their shapes only; skipped where absent).
REALWORLD = Path(__file__).resolve().parents[5] / "shared" / "data" / "realworld-dev.jsonl"
RISKY = ("permission_denied", "schema_mismatch", "data_corruption", "missing_dependency", "configuration_error",
         "resource_exhaustion", "memory_leak", "disk_space_full")
SA = "etl-runner@acme-prod.iam.gserviceaccount.com"


KINDS = {"permission_denied": "grant_permission", "schema_mismatch": "update_schema",
         "data_corruption": "quarantine_data", "missing_dependency": "install_dependency",
         "configuration_error": "change_setting"}


def case(error_type: str, message: str, expected: dict, step: str | None = None, *, said: str | None = None,
         id: str):
    """One message: the fields it must give, a step it must list, words its summary must say."""
    return pytest.param(error_type, message, expected, step, said, id=id)


grant, schema, corrupt, setting = (functools.partial(case, t) for t in (
    "permission_denied", "schema_mismatch", "data_corruption", "configuration_error"))


def message_of(param) -> str:
    return param.values[1]


def subset(proposal: dict, expected: dict) -> dict:
    return {key: proposal.get(key) for key in expected}


# --- permission_denied ------------------------------------------------------------------------------------
GRANTS = [
    grant(
        "google.api_core.exceptions.Forbidden: 403 GET https://bigquery.googleapis.com/bigquery/v2/projects/acme-prod/"
        "datasets/sales/tables/orders/data?prettyPrint=false: Access Denied: Table acme-prod:sales.orders: Permission "
        "bigquery.tables.getData denied on table acme-prod:sales.orders (or it may not exist).",
        {"platform": "gcp", "permission": "bigquery.tables.getData", "role": "roles/bigquery.dataViewer",
         "principal": None, "resource": "acme-prod:sales.orders", "resource_type": "bigquery_table",
         "project": "acme-prod"},
        "bq add-iam-policy-binding --member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=roles/bigquery.dataViewer "
        "acme-prod:sales.orders", id="bigquery-getData-on-table"),
    grant(
        "google.api_core.exceptions.Forbidden: 403 GET https://storage.googleapis.com/download/storage/v1/b/acme-landing"
        f"/o/in%2F2024-01-02%2Forders.csv?alt=media: {SA} does not have storage.objects.get access to the Google Cloud "
        "Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).",
        {"permission": "storage.objects.get", "role": "roles/storage.objectViewer", "principal": SA,
         "member": f"serviceAccount:{SA}", "resource": "gs://acme-landing/in/2024-01-02/orders.csv",
         "resource_type": "gcs_object"},
        f"gcloud storage buckets add-iam-policy-binding gs://acme-landing --member=serviceAccount:{SA} "
        "--role=roles/storage.objectViewer", id="gcs-object-get-by-service-account"),
    grant(
        "google.api_core.exceptions.Forbidden: 403 POST https://storage.googleapis.com/upload/storage/v1/b/acme-exports/o"
        f"?uploadType=multipart: {SA} does not have storage.objects.create access to the Google Cloud Storage object. "
        "Permission 'storage.objects.create' denied on resource (or it may not exist).",
        {"permission": "storage.objects.create", "role": "roles/storage.objectCreator", "principal": SA,
         "resource": "gs://acme-exports", "resource_type": "gcs_bucket"},
        f"gcloud storage buckets add-iam-policy-binding gs://acme-exports --member=serviceAccount:{SA} "
        "--role=roles/storage.objectCreator", id="gcs-object-create"),
    grant(
        "google.api_core.exceptions.Forbidden: 403 POST https://bigquery.googleapis.com/bigquery/v2/projects/acme-prod/"
        "jobs?prettyPrint=false: Access Denied: Project acme-prod: User does not have bigquery.jobs.create permission "
        "in project acme-prod.",
        {"permission": "bigquery.jobs.create", "role": "roles/bigquery.jobUser", "resource": "acme-prod",
         "resource_type": "project", "project": "acme-prod"},
        "gcloud projects add-iam-policy-binding acme-prod --member=serviceAccount:SERVICE_ACCOUNT_EMAIL "
        "--role=roles/bigquery.jobUser", id="bigquery-jobs-create"),
    grant(
        "googleapiclient.errors.HttpError: <HttpError 403 when requesting https://dataflow.googleapis.com/v1b3/projects/"
        "acme-prod/locations/europe-west1/jobs?alt=json returned \"(5e1a2b): Permission 'dataflow.jobs.create' denied "
        "on project: 'acme-prod'\">",
        {"permission": "dataflow.jobs.create", "role": "roles/dataflow.developer", "project": "acme-prod",
         "resource_type": "project"},
        "gcloud projects add-iam-policy-binding acme-prod --member=serviceAccount:SERVICE_ACCOUNT_EMAIL "
        "--role=roles/dataflow.developer", id="dataflow-permission-quoted"),
    grant(
        "google.api_core.exceptions.PermissionDenied: 403 Permission 'secretmanager.versions.access' denied for "
        "resource 'projects/acme-prod/secrets/warehouse-password/versions/latest' (or it may not exist).",
        {"permission": "secretmanager.versions.access", "role": "roles/secretmanager.secretAccessor",
         "resource": "projects/acme-prod/secrets/warehouse-password/versions/latest", "resource_type": "secret",
         "project": "acme-prod"},
        "gcloud secrets add-iam-policy-binding warehouse-password --project=acme-prod "
        "--member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=roles/secretmanager.secretAccessor", id="secret-access"),
    grant(
        "google.api_core.exceptions.PermissionDenied: 403 User not authorized to perform this action. Permission "
        "'pubsub.topics.publish' denied on resource 'projects/acme-prod/topics/orders' (or it may not exist). "
        f"principal: serviceAccount:{SA}",
        {"permission": "pubsub.topics.publish", "role": "roles/pubsub.publisher", "member": f"serviceAccount:{SA}",
         "resource_type": "pubsub_topic"},
        f"gcloud pubsub topics add-iam-policy-binding orders --project=acme-prod --member=serviceAccount:{SA} "
        "--role=roles/pubsub.publisher", id="pubsub-publish"),
    grant(
        "google.api_core.exceptions.PermissionDenied: 403 Permission 'pubsub.subscriptions.consume' denied on resource "
        "'projects/acme-prod/subscriptions/orders-sub' (or it may not exist).",
        {"permission": "pubsub.subscriptions.consume", "role": "roles/pubsub.subscriber",
         "resource_type": "pubsub_subscription"},
        "gcloud pubsub subscriptions add-iam-policy-binding orders-sub --project=acme-prod "
        "--member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=roles/pubsub.subscriber", id="pubsub-consume"),
    grant(
        "ERROR: (gcloud.dataflow.flex-template.run) PERMISSION_DENIED: Permission 'iam.serviceAccounts.actAs' denied on "
        "service account dataflow-worker@acme-prod.iam.gserviceaccount.com (or it may not exist).",
        {"permission": "iam.serviceAccounts.actAs", "role": "roles/iam.serviceAccountUser", "principal": None,
         "resource": "dataflow-worker@acme-prod.iam.gserviceaccount.com", "resource_type": "service_account"},
        "gcloud iam service-accounts add-iam-policy-binding dataflow-worker@acme-prod.iam.gserviceaccount.com "
        "--member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=roles/iam.serviceAccountUser", id="act-as-is-not-the-principal"),
    grant(
        "google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme-prod:analytics.events_2024: User does not "
        "have permission to query table acme-prod:analytics.events_2024, or perhaps it does not exist in location EU.",
        {"permission": None, "implied_permission": "bigquery.tables.getData", "role": "roles/bigquery.dataViewer",
         "resource": "acme-prod:analytics.events_2024", "resource_type": "bigquery_table"},
        "bq add-iam-policy-binding --member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=roles/bigquery.dataViewer "
        "acme-prod:analytics.events_2024", id="bigquery-query-table-names-no-permission"),
    grant(
        "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:\n\tstatus = "
        "StatusCode.PERMISSION_DENIED\n\tdetails = \"The caller does not have permission\"\n>",
        {"platform": "gcp", "permission": None, "principal": None, "resource": None, "role": None},
        "gcloud logging read 'protoPayload.status.code=7' --project=PROJECT_ID --limit=5 --format=json   "
        "# the denied permission and the principal", id="caller-does-not-have-permission"),
    grant(
        "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the GetObject operation: User: "
        "arn:aws:iam::123456789012:user/airflow-etl is not authorized to perform: s3:GetObject on resource: "
        "\"arn:aws:s3:::acme-raw/orders/2024-01-02.csv\" because no identity-based policy allows the s3:GetObject action",
        {"platform": "aws", "permission": "s3:GetObject", "principal": "arn:aws:iam::123456789012:user/airflow-etl",
         "resource": "arn:aws:s3:::acme-raw/orders/2024-01-02.csv"},
        "aws iam put-user-policy --user-name airflow-etl --policy-name healer-s3-GetObject --policy-document "
        "'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", "
        "\"Resource\": \"arn:aws:s3:::acme-raw/orders/2024-01-02.csv\"}]}'", id="aws-user-arn"),
    grant(
        "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the PutObject operation: "
        "User: arn:aws:sts::123456789012:assumed-role/airflow-worker/i-0abc123 is not authorized to perform: "
        "s3:PutObject on resource: arn:aws:s3:::acme-curated/daily/orders.parquet",
        {"platform": "aws", "permission": "s3:PutObject", "resource": "arn:aws:s3:::acme-curated/daily/orders.parquet"},
        "aws iam put-role-policy --role-name airflow-worker --policy-name healer-s3-PutObject --policy-document "
        "'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:PutObject\", "
        "\"Resource\": \"arn:aws:s3:::acme-curated/daily/orders.parquet\"}]}'", id="aws-assumed-role"),
    grant(
        "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the ListObjectsV2 operation: "
        "Access Denied",
        {"platform": "aws", "permission": "s3:ListBucket", "principal": None, "resource": None},
        "aws iam put-role-policy --role-name ROLE_NAME --policy-name healer-s3-ListBucket --policy-document "
        "'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:ListBucket\", "
        "\"Resource\": \"RESOURCE_ARN\"}]}'", id="aws-operation-only"),
    grant(
        "psycopg2.errors.InsufficientPrivilege: permission denied for table orders",
        {"platform": "postgres", "permission": "SELECT", "resource": "orders", "principal": None},
        "GRANT SELECT ON TABLE orders TO DB_USER;   -- or INSERT/UPDATE/DELETE, as the statement needs",
        id="postgres-table"),
    grant(
        "ERROR:  permission denied for table daily_sales\nSTATEMENT:  INSERT INTO daily_sales (day, total) VALUES ($1, $2)",
        {"platform": "postgres", "permission": "INSERT", "resource": "daily_sales"},
        "GRANT INSERT ON TABLE daily_sales TO DB_USER;", id="postgres-insert-statement"),
    grant(
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege) permission denied for schema analytics",
        {"platform": "postgres", "permission": "USAGE", "resource": "analytics", "resource_type": "schema"},
        "GRANT USAGE ON SCHEMA analytics TO DB_USER;", id="postgres-schema"),
    grant(
        "MySQLdb.OperationalError: (1142, \"SELECT command denied to user 'etl'@'10.0.0.7' for table 'orders'\")",
        {"platform": "mysql", "permission": "SELECT", "principal": "etl", "resource": "orders"},
        "GRANT SELECT ON orders TO 'etl'@'10.0.0.7';   -- qualify the table with its database", id="mysql"),
    grant(
        "kubernetes.client.exceptions.ApiException: (403)\nReason: Forbidden\nHTTP response body: pods is forbidden: "
        "User \"system:serviceaccount:airflow:airflow-worker\" cannot create resource \"pods\" in API group \"\" in "
        "the namespace \"etl\"",
        {"platform": "kubernetes", "principal": "system:serviceaccount:airflow:airflow-worker", "resource": "pods"},
        "kubectl create rolebinding healer-create-pods --role=healer-create-pods "
        "--serviceaccount=airflow:airflow-worker -n etl", id="kubernetes-rbac"),
    grant(
        "PermissionError: [Errno 13] Permission denied: '/opt/airflow/data/exports/orders.csv'",
        {"platform": "posix", "resource": "/opt/airflow/data/exports/orders.csv", "resource_type": "path"},
        "ls -ld /opt/airflow/data/exports/orders.csv   # who owns it and its mode", id="posix-path"),
]


def test_an_unnamed_principal_is_said_and_the_connection_named():
    proposal = propose("permission_denied", message_of(GRANTS[0]), conn_ids=["gcp_warehouse"])
    assert proposal["summary"] == (
        "Grant roles/bigquery.dataViewer (holds bigquery.tables.getData) on acme-prod:sales.orders; the principal "
        "is not named in the error: the task's service account (the one behind connection gcp_warehouse).")


def test_a_named_principal_is_granted_the_role_in_the_summary():
    proposal = propose("permission_denied", message_of(GRANTS[1]))
    assert proposal["summary"] == (f"Grant roles/storage.objectViewer (holds storage.objects.get) to "
                                   f"serviceAccount:{SA} on gs://acme-landing/in/2024-01-02/orders.csv.")


def test_querying_a_table_also_mentions_the_job_user_role():
    proposal = propose("permission_denied", message_of(GRANTS[9]))
    assert proposal["summary"].startswith("Grant roles/bigquery.dataViewer (querying a table needs "
                                          "bigquery.tables.getData) on acme-prod:analytics.events_2024")
    assert any("roles/bigquery.jobUser" in step for step in proposal["steps"])


def test_a_permission_without_a_known_role_is_not_given_one():
    proposal = propose("permission_denied", "403 Permission 'compute.instances.create' denied on project: 'acme-prod'")
    assert (proposal["permission"], proposal["role"]) == ("compute.instances.create", None)
    assert "knows no predefined role" in proposal["summary"]
    assert proposal["steps"] == ["gcloud projects add-iam-policy-binding acme-prod "
                                 "--member=serviceAccount:SERVICE_ACCOUNT_EMAIL --role=ROLE"]


def test_module_paths_are_not_taken_for_permissions():
    message = ('File "/usr/local/lib/python3.11/site-packages/google/cloud/storage/blob.py", line 4410, in '
               "_prep_and_do_download\ngoogle.api_core.exceptions.Forbidden: 403 storage.googleapis.com refused")
    assert propose("permission_denied", message)["permission"] is None


# --- schema_mismatch --------------------------------------------------------------------------------------
GUESS = {"type_guessed": True, "note": "STRING is a guess: the error does not name the type"}
SCHEMAS = [
    schema(
        "google.api_core.exceptions.BadRequest: 400 POST https://bigquery.googleapis.com/bigquery/v2/projects/acme-prod/"
        "datasets/sales/tables/orders/insertAll?prettyPrint=false: no such field: discount.",
        {"table": "acme-prod.sales.orders", "table_kind": "bigquery", "additive": True, "apply": None,
         "add_fields": [{"name": "discount", "type": "STRING", "mode": "NULLABLE", **GUESS}]}, id="insertAll-no-such-field"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Provided Schema does not match Table acme-prod:sales.orders. Cannot "
        "add fields (field: coupon_code)",
        {"table": "acme-prod.sales.orders", "additive": True, "apply": None,
         "fields": [{"name": "coupon_code", "change": "add"}]}, id="cannot-add-fields"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Provided Schema does not match Table acme-prod:sales.orders. Field "
        "customer_id has changed type from INTEGER to STRING",
        {"table": "acme-prod.sales.orders", "additive": False, "add_fields": [], "apply": None,
         "fields": [{"name": "customer_id", "change": "type", "from_type": "INTEGER", "to_type": "STRING"}]},
        id="changed-type"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Provided Schema does not match Table acme-prod:sales.orders. Field "
        "region is missing in new schema",
        {"additive": False, "fields": [{"name": "region", "change": "drop"}]}, id="dropped-column"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Error while reading data, error message: JSON table encountered too "
        "many errors, giving up. Rows: 1; errors: 1. Please look into the errors[] collection for more details. "
        "reason: invalid, message: Error while reading data, error message: JSON parsing error in row starting at "
        "position 0: No such field: loyalty_tier.",
        {"table": None, "table_kind": "bigquery", "additive": True,
         "add_fields": [{"name": "loyalty_tier", "type": "STRING", "mode": "NULLABLE", **GUESS}]}, id="json-load"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Inserted row has wrong column count; Has 5, expected 4 at [3:1]",
        {"additive": None, "fields": [], "apply": None}, id="column-count"),
    schema(
        "google.api_core.exceptions.BadRequest: 400 Query column 4 has type STRING which cannot be inserted into column "
        "amount, which has type INT64 at [3:1]",
        {"additive": False, "fields": [{"name": "amount", "change": "type", "from_type": "INT64", "to_type": "STRING"}]},
        id="query-column-type"),
    schema(
        "Traceback (most recent call last):\n  File \"/opt/airflow/dags/etl.py\", line 41, in transform\n    "
        "df['customer_id'] = df['customer_id'].astype(int)\nKeyError: 'customer_id'",
        {"additive": False, "fields": [{"name": "customer_id", "change": "missing"}]}, id="pandas-keyerror"),
    schema(
        "KeyError: \"None of [Index(['order_id', 'order_ts'], dtype='object')] are in the [columns]\"",
        {"additive": False, "fields": [{"name": "order_id", "change": "missing"}, {"name": "order_ts", "change": "missing"}]},
        id="pandas-none-of-index"),
    schema(
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column \"discount_pct\" of relation "
        "\"orders\" does not exist\nLINE 1: INSERT INTO orders (id, discount_pct) VALUES (...",
        {"table": "orders", "table_kind": "other", "additive": True, "apply": None,
         "add_fields": [{"name": "discount_pct", "type": "STRING", "mode": "NULLABLE", **GUESS}]},
        id="postgres-column-of-relation"),
    schema(
        "pyarrow.lib.ArrowInvalid: Schema at index 1 was different: \norder_id: int64\ntotal: double\nvs\norder_id: "
        "int64\ntotal: double\ncoupon: string\nplaced_at: timestamp[us, tz=UTC]",
        {"additive": True, "apply": None, "add_fields": [{"name": "coupon", "type": "STRING", "mode": "NULLABLE"},
                                                         {"name": "placed_at", "type": "TIMESTAMP", "mode": "NULLABLE"}]},
        id="pyarrow-schema-at-index"),
    schema(
        "org.apache.spark.sql.AnalysisException: A schema mismatch detected when writing to the Delta table (Table ID: "
        "4b1c).\nTo enable schema migration using DataFrameWriter or DataStreamWriter, please set:\n"
        "'.option(\"mergeSchema\", \"true\")'.\n\nTable schema:\nroot\n-- id: long (nullable = true)\n\nData schema:\n"
        "root\n-- id: long (nullable = true)\n-- channel: string (nullable = true)\n",
        {"additive": True, "add_fields": [{"name": "channel", "type": "STRING", "mode": "NULLABLE"}]}, id="delta-merge"),
    schema(
        "psycopg2.errors.UndefinedFunction: operator does not exist: character varying = integer\nLINE 3: WHERE id = 42",
        {"additive": False, "fields": [{"name": None, "change": "type", "from_type": "character varying",
                                        "to_type": "integer"}]}, id="postgres-operator-types"),
]


def test_a_typed_additive_change_to_a_named_bigquery_table_can_be_applied():
    message = ("Compilation Error in model orders (models/marts/orders.sql)\n"
               "  The source and target schemas on this incremental model are out of sync!\n"
               "  They can be reconciled in several ways:\n"
               "    - set the `on_schema_change` config to either append_new_columns or sync_all_columns.\n"
               "  Additional troubleshooting context:\n"
               "     Source columns not in target: [<BigQueryColumn discount (FLOAT64, NULLABLE)>, "
               "<BigQueryColumn shipped_on (DATE, NULLABLE)>]\n"
               "     Target columns not in source: []\n"
               "     New column types: []\n"
               "  on table `acme-prod`.`marts`.`orders`")
    proposal = propose("schema_mismatch", message)
    assert proposal["additive"] is True
    assert proposal["apply"] == {"kind": "bigquery_add_columns", "table": "acme-prod.marts.orders", "fields": [
        {"name": "discount", "type": "FLOAT64", "mode": "NULLABLE"},
        {"name": "shipped_on", "type": "DATE", "mode": "NULLABLE"}]}
    assert proposal["summary"] == ("Add column(s) discount FLOAT64, shipped_on DATE (NULLABLE) to table "
                                   "acme-prod.marts.orders: an additive change.")
    assert ("bq query --use_legacy_sql=false 'ALTER TABLE `acme-prod.marts.orders` ADD COLUMN IF NOT EXISTS discount "
            "FLOAT64, ADD COLUMN IF NOT EXISTS shipped_on DATE'") in proposal["steps"]
    assert "Or set on_schema_change='append_new_columns' in the dbt model's config." in proposal["steps"]


def test_a_guessed_type_is_never_applied_and_the_summary_says_why():
    proposal = propose("schema_mismatch", message_of(SCHEMAS[0]))
    assert proposal["apply"] is None
    assert proposal["summary"].endswith("The healer cannot add it itself: a type is not named in the error.")
    assert proposal["steps"][0] == "Decide the type of discount from the source data (STRING is only a guess)."


def test_a_type_change_says_a_person_must_migrate_or_map():
    proposal = propose("schema_mismatch", message_of(SCHEMAS[2]))
    assert proposal["summary"] == ("Not additive (customer_id type INTEGER -> STRING) in table acme-prod.sales.orders: "
                                   "a person must migrate the table or map the column in the task.")


def test_a_dbt_type_change_is_not_additive():
    message = ("The source and target schemas on this incremental model are out of sync!\n"
               "   Source columns not in target: []\n   Target columns not in source: []\n"
               "   New column types: [{'column_name': 'amount', 'new_type': 'NUMERIC'}]\n on table `acme-prod.marts.orders`")
    proposal = propose("schema_mismatch", message)
    assert (proposal["additive"], proposal["apply"]) == (False, None)
    assert proposal["fields"] == [{"name": "amount", "change": "type", "to_type": "NUMERIC"}]


# --- data_corruption --------------------------------------------------------------------------------------
CORRUPTIONS = [
    corrupt(
        "google.api_core.exceptions.BadRequest: 400 Error while reading data, error message: CSV table references column "
        "position 7, but line starting at position:1234 contains only 6 columns. File: gs://acme-landing/in/2024-01-02/"
        "orders.csv\nLocation: US\nJob ID: acme-prod:US.bquxjob_5d2c9e1_18c",
        {"files": ["gs://acme-landing/in/2024-01-02/orders.csv"], "locations": [{"byte_offset": 1234}], "format": "CSV",
         "job_id": "acme-prod:US.bquxjob_5d2c9e1_18c"},
        "gcloud storage mv gs://acme-landing/in/2024-01-02/orders.csv gs://acme-landing/quarantine/in/2024-01-02/orders.csv",
        id="bigquery-csv-load"),
    corrupt(
        "pyarrow.lib.ArrowInvalid: Could not open Parquet input source '/data/in/orders-0001.parquet': Parquet magic "
        "bytes not found in footer. Either the file is corrupted or this is not a parquet file.",
        {"files": ["/data/in/orders-0001.parquet"], "format": "Parquet", "problem": "not_the_format"},
        "mkdir -p /data/in/quarantine && mv /data/in/orders-0001.parquet /data/in/quarantine/orders-0001.parquet",
        id="parquet-local"),
    corrupt(
        "OSError: CRC check failed 0x1a2b3c4d != 0x5e6f7a8b while reading s3://acme-raw/events/2024/01/02/part-0003.json.gz",
        {"files": ["s3://acme-raw/events/2024/01/02/part-0003.json.gz"], "problem": "corrupt_compression"},
        "aws s3 mv s3://acme-raw/events/2024/01/02/part-0003.json.gz "
        "s3://acme-raw/quarantine/events/2024/01/02/part-0003.json.gz", id="s3-gzip"),
    corrupt(
        "org.apache.avro.AvroRuntimeException: java.io.IOException: Invalid sync! in file "
        "gs://acme-landing/avro/events-00017.avro at byte offset 5242880",
        {"files": ["gs://acme-landing/avro/events-00017.avro"], "format": "Avro",
         "locations": [{"byte_offset": 5242880}]},
        "gcloud storage mv gs://acme-landing/avro/events-00017.avro gs://acme-landing/quarantine/avro/events-00017.avro",
        id="avro-offset"),
    corrupt(
        "pandas.errors.ParserError: Error tokenizing data. C error: Expected 12 fields in line 57, saw 14",
        {"files": [], "locations": [{"line": 57}]},
        "Find the input the task read in its log: the error names the place but not the file.", id="pandas-line"),
    corrupt(
        "Traceback (most recent call last):\n  File \"/usr/lib/python3.11/codecs.py\", line 322, in decode\n"
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x92 in position 8841: invalid start byte",
        {"files": [], "locations": [{"position": 8841}], "problem": "bad_encoding"},
        "Re-run the task on the rest: clear it in this run once the bad input is aside.", id="unicode-no-file"),
    corrupt(
        "hdfs://nameservice1/warehouse/orders/dt=2024-01-02/part-00003.snappy.parquet is not a Parquet file. expected "
        "magic number at tail [80, 65, 82, 49] but found [0, 0, 0, 0]",
        {"files": ["hdfs://nameservice1/warehouse/orders/dt=2024-01-02/part-00003.snappy.parquet"], "format": "Parquet"},
        "hdfs dfs -mv hdfs://nameservice1/warehouse/orders/dt=2024-01-02/part-00003.snappy.parquet "
        "hdfs://nameservice1/quarantine/warehouse/orders/dt=2024-01-02/part-00003.snappy.parquet", id="hdfs-parquet"),
]


def test_a_code_path_in_a_traceback_is_not_quarantined():
    assert propose("data_corruption", message_of(CORRUPTIONS[5]))["files"] == []


def test_when_nothing_is_named_the_summary_says_so():
    proposal = propose("data_corruption", "ValueError: invalid literal for int() with base 10: 'N/A'")
    assert proposal["summary"] == ("The input is bad, but the error names no file, row or offset: find the input in "
                                   "the task's log.")


def test_a_checksum_mismatch_is_downloaded_again_first():
    message = ("google.resumable_media.common.DataCorruption: Checksum mismatch while downloading:\n\n  https://storage"
               ".googleapis.com/download/storage/v1/b/acme-landing/o/exports%2Forders.zip?alt=media\n\nThe X-Goog-Hash "
               "header indicated an MD5 checksum of:\n\n  abc==\n\nbut the actual MD5 checksum was:\n\n  def==")
    proposal = propose("data_corruption", message)
    assert proposal["files"] == ["gs://acme-landing/exports/orders.zip"]
    assert proposal["steps"][0].startswith("Download it again first")


# --- missing_dependency -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "package"), [
    ("yaml", "PyYAML"), ("sklearn.ensemble", "scikit-learn"), ("cv2", "opencv-python"), ("PIL", "Pillow"),
    ("bs4", "beautifulsoup4"), ("dateutil.parser", "python-dateutil"), ("psycopg2", "psycopg2-binary"),
    ("dotenv", "python-dotenv"), ("jwt", "PyJWT"), ("attr", "attrs"), ("Crypto.Cipher", "pycryptodome"),
    ("google.cloud.storage", "google-cloud-storage"), ("google.cloud.bigquery_storage_v1", "google-cloud-bigquery-storage"),
    ("google.cloud.secretmanager", "google-cloud-secret-manager"),
    ("airflow.providers.cncf.kubernetes.operators.pod", "apache-airflow-providers-cncf-kubernetes"),
    ("airflow.providers.snowflake.hooks.snowflake", "apache-airflow-providers-snowflake"),
    ("great_expectations", "great_expectations"), ("requests.adapters", "requests"),
])
def test_a_missing_module_names_its_distribution(module, package):
    proposal = propose("missing_dependency", f"ModuleNotFoundError: No module named '{module}'")
    assert (proposal["kind"], proposal["module"], proposal["package"]) == ("install_dependency", module, package)
    assert proposal["steps"][0] == f"pip install {package}   # and add it to the image's requirements.txt"
    assert proposal["summary"] == f"Install the Python package {package}: module {module} is missing."


def test_on_composer_the_package_goes_through_gcloud():
    message = ('Traceback (most recent call last):\n  File "/home/airflow/gcs/dags/sales.py", line 3, in <module>\n'
               "    import yaml\nModuleNotFoundError: No module named 'yaml'")
    assert propose("missing_dependency", message)["steps"] == [
        "gcloud composer environments update ENVIRONMENT --location LOCATION --update-pypi-package PyYAML"]


def test_on_dataflow_the_package_goes_into_the_pipeline_requirements():
    message = ("Error message from worker: Traceback (most recent call last):\n  File \"/usr/local/lib/python3.11/"
               "site-packages/apache_beam/internal/dill_pickler.py\", line 418, in loads\nModuleNotFoundError: No "
               "module named 'unidecode'")
    proposal = propose("missing_dependency", message, operator="BeamRunPythonPipelineOperator")
    assert proposal["steps"][0].startswith("Add unidecode to the pipeline's requirements.txt and pass "
                                           "--requirements_file=requirements.txt")


def dependency(message: str, expected: dict, said: str, id: str):
    return case("missing_dependency", message, expected, said=said, id=id)


DEPENDENCIES = [
    dependency(
        "ImportError: cannot import name 'url_quote' from 'werkzeug.urls' "
        "(/usr/local/lib/python3.11/site-packages/werkzeug/urls.py)",
        {"module": "werkzeug.urls", "package": "werkzeug", "version_problem": True}, "a version problem",
        id="cannot-import-name"),
    dependency(
        "zsh: command not found: dbt", {"binary": "dbt", "package": "dbt-core"},
        "the command dbt is not on the worker's PATH", id="command-not-found-zsh"),
    dependency(
        "bash: gsutil: command not found", {"binary": "gsutil", "package": "google-cloud-cli"},
        "Install google-cloud-cli", id="command-not-found-bash"),
    dependency(
        "/bin/sh: 1: great_expectations: not found", {"binary": "great_expectations", "package": None},
        "the command great_expectations", id="sh-not-found"),
    dependency(
        "FileNotFoundError: [Errno 2] No such file or directory: 'dbt'", {"binary": "dbt", "package": "dbt-core"},
        "dbt-core", id="subprocess-missing-binary"),
    dependency(
        "py4j.protocol.Py4JJavaError: An error occurred while calling o51.load.\n: "
        "java.lang.ClassNotFoundException: org.postgresql.Driver",
        {"java_class": "org.postgresql.Driver"}, "Add the JAR that provides org.postgresql.Driver", id="java-class"),
    dependency(
        "google.api_core.exceptions.NotFound: 404 Not found: Table acme-prod:staging.orders_raw was not found "
        "in location EU",
        {"missing_object": "acme-prod:staging.orders_raw", "object_type": "bigquery_table", "location": "EU"},
        "the upstream task or a person must create it", id="bigquery-table-not-found"),
    dependency(
        "google.api_core.exceptions.NotFound: 404 Not found: Dataset acme-prod:staging",
        {"missing_object": "acme-prod:staging", "object_type": "bigquery_dataset"}, "does not exist",
        id="bigquery-dataset-not-found"),
    dependency(
        "FileNotFoundError: [Errno 2] No such file or directory: '/opt/airflow/data/in/2024-01-02/orders.csv'",
        {"missing_object": "/opt/airflow/data/in/2024-01-02/orders.csv", "object_type": "file"},
        "The upstream file /opt/airflow/data/in/2024-01-02/orders.csv does not exist", id="local-file"),
    dependency(
        "google.api_core.exceptions.NotFound: 404 GET https://storage.googleapis.com/storage/v1/b/acme-exports"
        "?projection=noAcl&prettyPrint=false: The specified bucket does not exist.",
        {"missing_object": "gs://acme-exports", "object_type": "gcs_bucket"}, "gcs bucket gs://acme-exports",
        id="gcs-bucket-404"),
    dependency(
        "google.api_core.exceptions.NotFound: 404 No such object: acme-landing/in/2024-01-02/orders.csv",
        {"missing_object": "gs://acme-landing/in/2024-01-02/orders.csv", "object_type": "gcs_object"},
        "gcs object gs://acme-landing/in/2024-01-02/orders.csv", id="gcs-object-404"),
    dependency(
        "google.api_core.exceptions.NotFound: 404 Resource not found (resource=orders-events).",
        {"missing_object": "orders-events", "object_type": "pubsub"}, "pubsub orders-events", id="pubsub-404"),
    dependency(
        "psycopg2.errors.UndefinedTable: relation \"staging.orders_raw\" does not exist",
        {"missing_object": "staging.orders_raw", "object_type": "table"}, "table staging.orders_raw",
        id="postgres-relation"),
]


# --- configuration_error ----------------------------------------------------------------------------------
SETTINGS = [
    setting(
        "KeyError: 'Variable etl_bucket does not exist'",
        {"setting_type": "airflow_variable", "setting": "etl_bucket"},
        "airflow variables set etl_bucket VALUE   # or Admin > Variables in the UI, or the secrets backend",
        id="variable-keyerror"),
    setting(
        "airflow.sdk.exceptions.AirflowRuntimeError: VARIABLE_NOT_FOUND: Variable sales_dataset does not exist",
        {"setting_type": "airflow_variable", "setting": "sales_dataset"},
        "airflow variables set sales_dataset VALUE   # or Admin > Variables in the UI, or the secrets backend",
        id="variable-sdk"),
    setting(
        "airflow.exceptions.AirflowNotFoundException: The conn_id `warehouse_pg` isn't defined",
        {"setting_type": "airflow_connection", "setting": "warehouse_pg"},
        "airflow connections add warehouse_pg --conn-type CONN_TYPE --conn-host HOST --conn-login LOGIN "
        "--conn-password PASSWORD   # or Admin > Connections, or the secrets backend", id="connection"),
    setting(
        "Traceback (most recent call last):\n  File \"/opt/airflow/dags/notify.py\", line 9, in <module>\n    "
        "URL = os.environ['SLACK_WEBHOOK_URL']\nKeyError: 'SLACK_WEBHOOK_URL'",
        {"setting_type": "env_var", "setting": "SLACK_WEBHOOK_URL"},
        "On Cloud Composer: gcloud composer environments update ENVIRONMENT --location LOCATION "
        "--update-env-variables=SLACK_WEBHOOK_URL=VALUE", id="env-keyerror"),
    setting(
        "RuntimeError: environment variable DBT_PROFILES_DIR is not set",
        {"setting_type": "env_var", "setting": "DBT_PROFILES_DIR"},
        "Set DBT_PROFILES_DIR in the workers' environment (docker-compose environment:, Helm env:, or the "
        "task's env=)", id="env-not-set"),
    setting(
        "google.api_core.exceptions.BadRequest: 400 Invalid value for parameter --region: 'us-east9'",
        {"setting_type": "option", "setting": "--region", "value": "us-east9"},
        "Set --region to a valid value where the task configures it (operator argument, pipeline options or "
        "connection extra).", id="invalid-parameter"),
    setting(
        "ERROR: (gcloud.dataflow.jobs.run) argument --region: Invalid choice: 'europe-west99'.",
        {"setting_type": "option", "setting": "--region", "value": "europe-west99"},
        "Set --region to a valid value where the task configures it (operator argument, pipeline options or "
        "connection extra).", id="gcloud-invalid-choice"),
    setting(
        "ValueError: Invalid timezone setting: 'Europe/Pariss'",
        {"setting_type": "option", "setting": "timezone", "value": "Europe/Pariss"},
        "Set timezone to a valid value where the task configures it (operator argument, pipeline options or "
        "connection extra).", id="invalid-setting"),
    setting(
        "java.lang.IllegalArgumentException: Missing required pipeline options: tempLocation",
        {"setting_type": "option", "setting": "tempLocation", "value": None},
        "Set tempLocation to a valid value where the task configures it (operator argument, pipeline "
        "options or connection extra).", id="missing-option"),
    setting(
        "google.api_core.exceptions.Forbidden: 403 BigQuery API has not been used in project 123456789012 "
        "before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
        "bigquery.googleapis.com/overview?project=123456789012 then retry.",
        {"setting_type": "gcp_api", "setting": "bigquery.googleapis.com", "project": "123456789012"},
        "gcloud services enable bigquery.googleapis.com --project=123456789012", id="api-disabled"),
    setting(
        "airflow.exceptions.AirflowConfigException: section/key [smtp/smtp_user] not found in config",
        {"setting_type": "airflow_config", "setting": "smtp_user"},
        "On Cloud Composer: gcloud composer environments update ENVIRONMENT --location LOCATION "
        "--update-airflow-configs=smtp-smtp_user=VALUE", id="airflow-config"),
    setting(
        "Compilation Error in model orders\n  Required var 'start_date' not found in config:\n  Vars supplied "
        "to orders = {}", {"setting_type": "dbt_var", "setting": "start_date"},
        "dbt run --vars '{\"start_date\": VALUE}'   # or vars: in dbt_project.yml", id="dbt-var"),
]


def test_on_composer_an_env_var_is_set_with_gcloud_only():
    message = ('File "/home/airflow/gcs/dags/notify.py", line 9\nKeyError: \'SLACK_WEBHOOK_URL\'')
    assert propose("configuration_error", message)["steps"] == [
        "gcloud composer environments update ENVIRONMENT --location LOCATION "
        "--update-env-variables=SLACK_WEBHOOK_URL=VALUE"]


def test_an_invalid_value_is_quoted_in_the_summary():
    proposal = propose("configuration_error", message_of(SETTINGS[5]))
    assert proposal["summary"] == "Set option --region to a valid value: 'us-east9' is not one."


@pytest.mark.parametrize(("error_type", "message", "expected", "step", "said"),
                         GRANTS + SCHEMAS + CORRUPTIONS + DEPENDENCIES + SETTINGS)
def test_a_proposal_gives_what_the_error_names(error_type, message, expected, step, said):
    proposal = propose(error_type, message)
    assert proposal["kind"] == KINDS[error_type]
    assert subset(proposal, expected) == expected
    assert step is None or step in proposal["steps"]
    assert said is None or said in proposal["summary"]


# --- resources without a ladder -> add_ladder -------------------------------------------------------------
@pytest.mark.parametrize(("error_type", "operator", "field", "snippet"), [
    ("memory_leak", "PythonOperator", "op_kwargs",
     "op_kwargs={\"memory_mb\": \"{{ healer.tier('memory_mb', [512, 1024, 2048]) }}\"}"),
    ("resource_exhaustion", "_PythonDecoratedOperator", "op_kwargs",
     "op_kwargs={\"memory_mb\": \"{{ healer.tier('memory_mb', [512, 1024, 2048]) }}\"}"),
    ("resource_exhaustion", "KubernetesPodOperator", "container_resources",
     "container_resources=k8s.V1ResourceRequirements(limits={\"memory\": "
     "\"{{ healer.tier('memory', ['1Gi', '2Gi', '4Gi']) }}\"})"),
    ("disk_space_full", "GKEStartPodOperator", "container_resources",
     "container_resources=k8s.V1ResourceRequirements(limits={\"ephemeral-storage\": "
     "\"{{ healer.tier('ephemeral_storage', ['2Gi', '4Gi', '8Gi']) }}\"})"),
    ("memory_leak", "BashOperator", "env", "env={\"MEMORY_MB\": \"{{ healer.tier('memory_mb', [512, 1024, 2048]) }}\"}"),
])
def test_a_ladder_proposal_gives_the_snippet_for_the_operator(error_type, operator, field, snippet):
    proposal = propose(error_type, "Killed", operator=operator)
    assert (proposal["kind"], proposal["field"], proposal["snippet"]) == ("add_ladder", field, snippet)
    assert f"Add to the task: {snippet}" in proposal["steps"]


def test_a_pod_eviction_without_an_operator_gets_the_pod_snippet():
    message = ("The node was low on resource: ephemeral-storage. Container base was using 10484Ki, which exceeds "
               "its request of 0.")
    proposal = propose("disk_space_full", message)
    assert (proposal["field"], proposal["resource"]) == ("container_resources", "ephemeral_storage")


def test_a_quota_is_said_not_to_be_fixed_by_a_bigger_rung():
    message = "Insufficient regional quota to satisfy request for resource: \"CPUS\". The regional quota is '24.0'."
    proposal = propose("resource_exhaustion", message)
    assert proposal["quota"] is True
    assert proposal["steps"][0].startswith("This is a quota or limit, not the task's size")


def test_a_leak_warns_that_the_ladder_only_buys_one_rung():
    proposal = propose(ErrorType.MEMORY_LEAK, "java.lang.OutOfMemoryError: Java heap space")
    assert "A leak grows with any limit: the healer climbs one rung, then hands over to a person." in proposal["steps"]


# --- anything else, and any input -------------------------------------------------------------------------
@pytest.mark.parametrize("error_type", ["network_timeout", "rate_limiting", "authentication_failure", "unknown",
                                        "not-a-type", ErrorType.TIMEOUT_EXCEEDED])
def test_other_types_escalate_with_the_first_line(error_type):
    proposal = propose(error_type, "\n\nHTTPSConnectionPool(host='api.example.com', port=443): Read timed out.\nmore")
    assert proposal["kind"] == "escalate"
    assert proposal["summary"] == "HTTPSConnectionPool(host='api.example.com', port=443): Read timed out"
    assert proposal["error_type"] in {t.value for t in ErrorType}


def test_the_task_is_recorded_with_the_proposal():
    proposal = propose("permission_denied", "denied", dag_id="sales", task_id="load")
    assert (proposal["task"], proposal["error_type"]) == ("sales.load", "permission_denied")


@pytest.mark.skipif(not REALWORLD.exists(), reason="the shared real-world set is not on this machine")
def test_every_real_world_risky_message_gets_a_proposal():
    rows = [json.loads(line) for line in REALWORLD.read_text().splitlines() if line.strip()]
    risky = [r for r in rows if r["label"] in RISKY]
    assert len(risky) > 50
    for row in risky:
        proposal = propose(row["label"], row["text"])
        assert proposal["kind"] != "escalate" and "note" not in proposal, row["id"]
        assert proposal["summary"].strip() and "\n" not in proposal["summary"], row["id"]
        assert proposal["steps"] and all(isinstance(s, str) and s for s in proposal["steps"]), row["id"]
        json.dumps(proposal)


def _junk(rng: random.Random) -> str:
    pieces = ["gs://", "s3://", "Permission '", "' denied", "No module named '", "Table ", ":", ".", "`", "'", '"',
              "\n", "column \"", "Variable ", " does not exist", "projects/", "/datasets/", "/tables/", "@",
              ".iam.gserviceaccount.com", "b/", "/o/", "KeyError: '", "row ", "line ", "Schema at index 0 was different:",
              "vs", "Source columns not in target: [", "<BigQueryColumn ", "(", ")", "<script>alert(1)</script>",
              "\x00", "\ufffd", "\U0001f600"]
    if rng.random() < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))).decode("latin-1")
    return "".join(rng.choice(pieces) if rng.random() < 0.5 else chr(rng.randint(0, 0x2FF))
                   for _ in range(rng.randint(0, 200)))


def test_random_and_binary_input_never_raises():
    rng = random.Random(20240607)
    types = [t.value for t in ErrorType]
    for n in range(3000):
        proposal = propose(types[n % len(types)], _junk(rng))
        assert proposal["kind"] and isinstance(proposal["summary"], str) and "note" not in proposal
        json.dumps(proposal)


@pytest.mark.parametrize("error_type", RISKY)
def test_huge_and_odd_input_is_bounded(error_type):
    huge = ("Permission 'storage.objects.get' denied gs://b/" + "x" * 5000 + " No module named '" + "a" * 5000
            + "' ") * 1000
    assert len(huge) > 10_000_000
    for message in (huge, "", "<script>alert('x')</script>", b"\xff\xfe binary \x00", None):
        proposal = propose(error_type, message)
        assert proposal["kind"] != "escalate" and proposal["summary"]
        for value in proposal.values():
            if isinstance(value, str) and value is not proposal["summary"]:
                assert len(value) <= 2 * MAX_FIELD


def test_extracted_values_are_capped():
    proposal = propose("missing_dependency", "No module named '" + "a" * 800 + "'")
    assert proposal["module"] == "a" * MAX_FIELD


def test_the_module_loads_no_airflow_google_or_sklearn():
    code = ("import sys\nbefore = set(sys.modules)\n"
            "import airflow_healer.core.remediate.proposals, airflow_healer.core.remediate.apply\n"
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('airflow', 'sklearn', 'pandas') "
            "or m.startswith('google.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
