"""A seeded generator of labelled pipeline error messages, the training corpus of the classifier.

Real error logs are not ours to ship, so the corpus is synthesised: for every error type a list of
message templates written the way the systems in a data platform phrase them (BigQuery, Dataflow/Beam,
Airflow, Pub/Sub, GCS, Spark, Kubernetes, Postgres/MySQL/Snowflake, Python, Java, gRPC, HTTP clients,
dbt, AWS), slot fillers for the parts that vary (projects, tables, hosts, ids, sizes, durations) and
wrappers that put the message inside the log shapes it arrives in (task log prefixes, Python
tracebacks, Java stack traces, log4j lines). Templates near a border between two types (a 403 that is a
rate limit, a container OOMKilled versus a Java heap error) are deliberate: they teach the border.

Template syntax: ``{slot}`` is replaced by a fresh value of that slot, ``((a|b|c))`` by one of the
alternatives. The same ``seed`` always gives the same corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

Row = dict

# ---------------------------------------------------------------------------------------------------
# Slot fillers. Each takes the generator's Random so that a corpus is a pure function of its seed.
# ---------------------------------------------------------------------------------------------------

_WORDS = (
    "orders customers events sales billing ledger users sessions clicks payments invoices inventory "
    "shipments stock metrics daily hourly raw staging curated marts analytics finance marketing "
    "product audit logs telemetry sensor device accounts claims policy risk fraud pricing catalog"
).split()
_COLS = (
    "user_id order_id customer_id event_ts created_at updated_at amount price qty status country "
    "email session_id device_id payload event_type revenue currency sku store_id region_code "
    "is_active score version ingestion_time partition_date load_id total discount tax_rate"
).split()
_REGIONS = (
    "us-central1 us-east1 us-east4 us-west1 europe-west1 europe-west2 europe-west3 europe-west4 "
    "asia-east1 asia-northeast1 asia-southeast1 australia-southeast1 northamerica-northeast1 "
    "southamerica-east1 me-west1"
).split()
_BQ_TYPES = "STRING INT64 INTEGER FLOAT64 FLOAT NUMERIC BIGNUMERIC BOOL BOOLEAN TIMESTAMP DATE DATETIME BYTES JSON RECORD".split()
_SQL_TYPES = (
    "integer bigint text varchar numeric double precision boolean timestamp date jsonb uuid smallint".split()
)
_SPARK_TYPES = (
    "bigint int string double float boolean timestamp date decimal(38,18) binary array<string>".split()
)
_PY_MODULES = (
    "pandas pyarrow numpy requests yaml psycopg2 pymysql MySQLdb snowflake.connector boto3 "
    "google.cloud.bigquery google.cloud.storage google.cloud.pubsub_v1 apache_beam "
    "apache_beam.io.gcp.bigquery airflow.providers.google.cloud.operators.bigquery "
    "airflow.providers.cncf.kubernetes dbt.adapters.bigquery sqlalchemy great_expectations "
    "fastavro openpyxl xlrd lxml pendulum tenacity paramiko sklearn scipy polars duckdb "
    "kafka confluent_kafka redis pymongo gcsfs s3fs fsspec jinja2 simplejson orjson "
    "google.cloud.secretmanager cx_Oracle oracledb pyodbc hvac slack_sdk"
).split()
_JAVA_CLASSES = (
    "org.apache.spark.sql.avro.AvroFileFormat com.google.cloud.spark.bigquery.BigQueryRelationProvider "
    "org.postgresql.Driver com.mysql.cj.jdbc.Driver org.apache.hadoop.fs.s3a.S3AFileSystem "
    "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem org.apache.beam.runners.dataflow.DataflowRunner "
    "io.delta.sql.DeltaSparkSessionExtension org.apache.kafka.common.serialization.StringDeserializer "
    "com.fasterxml.jackson.databind.ObjectMapper org.apache.iceberg.spark.SparkCatalog "
    "net.snowflake.spark.snowflake.DefaultSource com.example.etl.TransformJob "
    "org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO com.google.protobuf.GeneratedMessageV3"
).split()
_JARS = (
    "spark-bigquery-with-dependencies_2.12-0.32.2.jar spark-avro_2.12-3.3.0.jar postgresql-42.6.0.jar "
    "gcs-connector-hadoop3-latest.jar delta-core_2.12-2.4.0.jar hadoop-aws-3.3.4.jar "
    "mysql-connector-j-8.0.33.jar iceberg-spark-runtime-3.4_2.12-1.3.1.jar snowflake-jdbc-3.13.30.jar"
).split()
_PIP = (
    "apache-airflow-providers-google apache-beam[gcp] pandas-gbq google-cloud-bigquery-storage "
    "dbt-bigquery pyarrow protobuf grpcio db-dtypes great-expectations pendulum sqlalchemy"
).split()
_BINARIES = "gsutil bq gcloud dbt java spark-submit kubectl psql mysql jq unzip docker beam helm".split()
_HOST_PARTS = "db warehouse api ingest etl reporting kafka redis postgres mysql metadata auth gateway".split()
_ENVS = "prod staging dev qa sandbox".split()
_PERMS = (
    "bigquery.tables.getData bigquery.jobs.create bigquery.tables.create bigquery.tables.updateData "
    "bigquery.datasets.get bigquery.tables.get storage.objects.get storage.objects.create "
    "storage.objects.list storage.objects.delete storage.buckets.get pubsub.subscriptions.consume "
    "pubsub.topics.publish pubsub.subscriptions.get dataflow.jobs.create dataflow.jobs.get "
    "iam.serviceAccounts.actAs secretmanager.versions.access compute.instances.create "
    "dataproc.clusters.use composer.environments.get bigquery.readsessions.create"
).split()
_ROLES = (
    "roles/bigquery.dataViewer roles/bigquery.dataEditor roles/bigquery.jobUser roles/storage.objectViewer "
    "roles/storage.objectAdmin roles/pubsub.subscriber roles/pubsub.publisher roles/dataflow.worker "
    "roles/iam.serviceAccountUser roles/secretmanager.secretAccessor roles/dataproc.worker"
).split()
_K8S_RES = "pods secrets configmaps deployments jobs services persistentvolumeclaims events nodes".split()
_OPERATORS = {
    "bigquery": [
        "BigQueryInsertJobOperator",
        "BigQueryCheckOperator",
        "GCSToBigQueryOperator",
        "BigQueryGetDataOperator",
    ],
    "dataflow": [
        "DataflowStartFlexTemplateOperator",
        "BeamRunPythonPipelineOperator",
        "DataflowTemplatedJobStartOperator",
        "BeamRunJavaPipelineOperator",
    ],
    "airflow": ["PythonOperator", "BashOperator", "ExternalTaskSensor", "TriggerDagRunOperator"],
    "pubsub": ["PubSubPullOperator", "PubSubPublishMessageOperator", "PubSubPullSensor"],
    "gcs": [
        "GCSToGCSOperator",
        "GCSObjectExistenceSensor",
        "LocalFilesystemToGCSOperator",
        "GCSToBigQueryOperator",
    ],
    "spark": ["DataprocSubmitJobOperator", "SparkSubmitOperator", "DataprocCreateBatchOperator"],
    "k8s": ["KubernetesPodOperator", "GKEStartPodOperator"],
    "postgres": ["SQLExecuteQueryOperator", "PostgresOperator"],
    "mysql": ["SQLExecuteQueryOperator", "MySqlOperator"],
    "snowflake": ["SnowflakeOperator", "SQLExecuteQueryOperator"],
    "python": ["PythonOperator", "PythonVirtualenvOperator", "@task"],
    "java": ["BashOperator", "BeamRunJavaPipelineOperator"],
    "dbt": ["BashOperator", "DbtCloudRunJobOperator", "DbtRunOperator"],
    "http": ["HttpOperator", "PythonOperator", "HttpSensor"],
    "aws": ["S3ToGCSOperator", "PythonOperator", "S3KeySensor"],
    "grpc": ["PythonOperator", "PubSubPullOperator"],
    "other": ["PythonOperator", "BashOperator"],
}


def _r_word(r: random.Random) -> str:
    return r.choice(_WORDS)


def _r_project(r: random.Random) -> str:
    base = r.choice(["acme", "data", "etl", "retail", "fin", "ml", "corp", "analytics", "lake", "shop", "bi"])
    tail = r.choice(["prod", "dev", "staging", "dw", "platform", "pipelines", "core", "sandbox"])
    return r.choice(
        [f"{base}-{tail}", f"{base}-{tail}-{r.randint(100, 99999)}", f"{base}-{r.choice(_WORDS)}-{tail}"]
    )


def _r_dataset(r: random.Random) -> str:
    return r.choice(
        [
            f"{r.choice(_WORDS)}_{r.choice(_ENVS)}",
            r.choice(_WORDS),
            f"{r.choice(['raw', 'stg', 'dwh', 'mart'])}_{r.choice(_WORDS)}",
        ]
    )


def _r_table(r: random.Random) -> str:
    return r.choice(
        [
            f"{r.choice(_WORDS)}_{r.choice(_WORDS)}",
            r.choice(_WORDS),
            f"{r.choice(_WORDS)}_{r.randint(2019, 2026)}{r.randint(1, 12):02d}",
            f"fct_{r.choice(_WORDS)}",
            f"dim_{r.choice(_WORDS)}",
        ]
    )


def _r_col(r: random.Random) -> str:
    return r.choice(_COLS)


def _r_bucket(r: random.Random) -> str:
    return r.choice(
        [
            f"{_r_project(r)}-{r.choice(['landing', 'staging', 'temp', 'exports', 'archive', 'dataflow'])}",
            f"{r.choice(_WORDS)}-{r.choice(_ENVS)}-bucket",
            f"composer-{r.choice(_REGIONS)}-{r.randint(1000, 9999)}-bucket",
        ]
    )


def _r_obj(r: random.Random) -> str:
    y, m, d = r.randint(2020, 2026), r.randint(1, 12), r.randint(1, 28)
    ext = r.choice(["csv", "json", "parquet", "avro", "csv.gz", "jsonl", "orc", "snappy.parquet"])
    return r.choice(
        [
            f"{r.choice(_WORDS)}/{y}/{m:02d}/{d:02d}/part-{r.randint(0, 999):05d}.{ext}",
            f"exports/{r.choice(_WORDS)}_{y}{m:02d}{d:02d}.{ext}",
            f"dt={y}-{m:02d}-{d:02d}/{r.choice(_WORDS)}-{r.randint(0, 99):03d}.{ext}",
        ]
    )


def _r_path(r: random.Random) -> str:
    return r.choice(
        [
            f"/opt/airflow/dags/{r.choice(_WORDS)}/{r.choice(_WORDS)}_{r.choice(['etl', 'load', 'sync'])}.py",
            f"/home/airflow/gcs/data/{r.choice(_WORDS)}/{r.choice(_WORDS)}.csv",
            f"/tmp/{r.choice(_WORDS)}_{r.randint(1000, 99999)}/{r.choice(_WORDS)}.parquet",
            f"/var/lib/{r.choice(['postgresql', 'mysql', 'docker', 'spark'])}/data/{r.choice(_WORDS)}",
            f"/mnt/data/{r.choice(_WORDS)}/{r.randint(2020, 2026)}/{r.choice(_WORDS)}.json",
            f"/data/{r.choice(_WORDS)}/part-{r.randint(0, 999):05d}",
            f"/usr/local/airflow/include/{r.choice(_WORDS)}.sql",
        ]
    )


def _r_host(r: random.Random) -> str:
    return r.choice(
        [
            f"{r.choice(_HOST_PARTS)}-{r.choice(_ENVS)}.internal",
            f"{r.choice(_HOST_PARTS)}.{r.choice(_WORDS)}.svc.cluster.local",
            f"{r.choice(_HOST_PARTS)}{r.randint(1, 9)}.{r.choice(['example.com', 'corp.local', 'acme.io'])}",
            r.choice(
                [
                    "bigquery.googleapis.com",
                    "storage.googleapis.com",
                    "pubsub.googleapis.com",
                    "oauth2.googleapis.com",
                    "dataflow.googleapis.com",
                    "api.github.com",
                    "hooks.slack.com",
                    "login.microsoftonline.com",
                    "s3.amazonaws.com",
                    "metadata.google.internal",
                    "sqladmin.googleapis.com",
                ]
            ),
            f"{r.choice(_WORDS)}-{r.choice(_HOST_PARTS)}-{r.randint(0, 9)}",
        ]
    )


def _r_ip(r: random.Random) -> str:
    return r.choice(
        [
            f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"{r.randint(34, 35)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        ]
    )


def _r_sa(r: random.Random) -> str:
    p = _r_project(r)
    return r.choice(
        [
            f"{r.choice(['airflow', 'composer', 'dataflow-worker', 'etl-runner', 'svc-etl', 'dbt'])}@{p}.iam.gserviceaccount.com",
            f"{r.randint(100000000000, 999999999999)}-compute@developer.gserviceaccount.com",
            f"service-{r.randint(100000000000, 999999999999)}@dataflow-service-producer-prod.iam.gserviceaccount.com",
        ]
    )


def _r_user(r: random.Random) -> str:
    return r.choice(
        [
            "airflow",
            "etl_user",
            "analytics",
            "dbt_runner",
            "svc_loader",
            "reporting",
            "app",
            "postgres",
            "loader",
            "readonly",
        ]
    )


def _r_hex(r: random.Random, n: int = 12) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _r_uuid(r: random.Random) -> str:
    h = _r_hex(r, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _r_jobid(r: random.Random) -> str:
    y, m, d = r.randint(2021, 2026), r.randint(1, 12), r.randint(1, 28)
    return r.choice(
        [
            f"{y}-{m:02d}-{d:02d}_{r.randint(0, 23):02d}_{r.randint(0, 59):02d}_{r.randint(0, 59):02d}-{r.randint(10**18, 10**19 - 1)}",
            f"job_{''.join(r.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') for _ in range(28))}",
            f"airflow_{r.choice(_WORDS)}_{r.choice(_WORDS)}_{y}_{m:02d}_{d:02d}T00_00_00_00_00_{_r_hex(r, 32)}",
            _r_uuid(r),
        ]
    )


def _r_pod(r: random.Random) -> str:
    return f"{r.choice(_WORDS)}-{r.choice(['etl', 'worker', 'task', 'loader', 'job'])}-{_r_hex(r, 8)}"


def _r_ns(r: random.Random) -> str:
    return r.choice(
        [
            "default",
            "airflow",
            "composer-user-workloads",
            f"composer-2-{r.randint(1, 9)}-{r.randint(0, 9)}-airflow-2-{r.randint(5, 10)}-{r.randint(0, 9)}-{_r_hex(r, 8)}",
            "data-jobs",
            "etl",
        ]
    )


def _r_dag(r: random.Random) -> str:
    return f"{r.choice(_WORDS)}_{r.choice(['daily', 'hourly', 'etl', 'sync', 'load', 'export', 'ingest'])}"


def _r_task(r: random.Random) -> str:
    return r.choice(
        [
            "extract",
            "load",
            "transform",
            "load_to_bq",
            "export_gcs",
            "run_dbt",
            "run_dataflow",
            "wait_for_file",
            "publish",
            "validate",
            "merge_staging",
            "spark_job",
        ]
    ) + r.choice(["", f"_{r.choice(_WORDS)}"])


def _r_conn(r: random.Random) -> str:
    return r.choice(
        [
            "google_cloud_default",
            "postgres_default",
            "bigquery_default",
            "my_gcp_conn",
            "warehouse_db",
            "snowflake_conn",
            "mysql_replica",
            "aws_default",
            "slack_api",
            "http_partner_api",
            f"{r.choice(_WORDS)}_{r.choice(['db', 'api', 'conn'])}",
        ]
    )


def _r_var(r: random.Random) -> str:
    return r.choice(
        [
            f"{r.choice(_WORDS)}_{r.choice(['config', 'bucket', 'project', 'threshold', 'path', 'settings'])}",
            "env",
            "gcp_project_id",
            "target_dataset",
            "slack_channel",
        ]
    )


def _r_env(r: random.Random) -> str:
    return r.choice(
        [
            "GCP_PROJECT",
            "GOOGLE_CLOUD_PROJECT",
            "DB_PASSWORD",
            "API_TOKEN",
            "TARGET_DATASET",
            "DBT_PROFILES_DIR",
            "REGION",
            "WAREHOUSE_URL",
            "SNOWFLAKE_ACCOUNT",
            "KAFKA_BOOTSTRAP",
            f"{r.choice(_WORDS).upper()}_{r.choice(['BUCKET', 'HOST', 'URL', 'KEY', 'PATH'])}",
        ]
    )


def _r_topic(r: random.Random) -> str:
    return f"{r.choice(_WORDS)}-{r.choice(['events', 'topic', 'updates', 'ingest', 'cdc', 'dlq'])}"


def _r_secs(r: random.Random) -> str:
    return str(r.choice([30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 86400]))


def _r_gb(r: random.Random) -> str:
    return str(r.choice([1, 2, 4, 8, 16, 32, 64, 100, 128, 250, 500]))


def _r_mb(r: random.Random) -> str:
    return str(r.choice([128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 16384]))


def _r_num(r: random.Random) -> str:
    return str(r.choice([r.randint(1, 9), r.randint(10, 99), r.randint(100, 9999), r.randint(10000, 10**7)]))


def _r_model(r: random.Random) -> str:
    return f"{r.choice(['stg', 'int', 'fct', 'dim', 'mart'])}_{r.choice(_WORDS)}"


def _r_api(r: random.Random) -> str:
    return r.choice(
        [
            "bigquery.googleapis.com",
            "dataflow.googleapis.com",
            "pubsub.googleapis.com",
            "storage.googleapis.com",
            "compute.googleapis.com",
            "dataproc.googleapis.com",
            "secretmanager.googleapis.com",
            "bigquerystorage.googleapis.com",
            "composer.googleapis.com",
            "aiplatform.googleapis.com",
            "sheets.googleapis.com",
            "cloudresourcemanager.googleapis.com",
        ]
    )


def _r_url(r: random.Random) -> str:
    return r.choice(
        [
            f"https://bigquery.googleapis.com/bigquery/v2/projects/{_r_project(r)}/jobs?prettyPrint=false",
            f"https://storage.googleapis.com/storage/v1/b/{_r_bucket(r)}/o?prefix={r.choice(_WORDS)}",
            f"https://{_r_host(r)}/api/v{r.randint(1, 3)}/{r.choice(_WORDS)}?page={r.randint(1, 50)}",
            f"https://pubsub.googleapis.com/v1/projects/{_r_project(r)}/topics/{_r_topic(r)}:publish",
            f"http://{_r_host(r)}:{r.choice([8080, 8000, 9000, 443])}/{r.choice(_WORDS)}",
        ]
    )


def _r_stage(r: random.Random) -> str:
    return f"{r.randint(0, 80)}.0"


def _r_acct(r: random.Random) -> str:
    return f"{r.choice(['xy', 'ab', 'org'])}{r.randint(10000, 99999)}.{r.choice(['us-east-1', 'eu-west-1', 'us-central1.gcp'])}"


def _r_zone(r: random.Random) -> str:
    return r.choice(_REGIONS) + "-" + r.choice("abcf")


_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "project": _r_project,
    "dataset": _r_dataset,
    "table": _r_table,
    "TABLE": lambda r: _r_table(r).upper(),
    "col": _r_col,
    "col2": _r_col,
    "COL": lambda r: _r_col(r).upper(),
    "bucket": _r_bucket,
    "obj": _r_obj,
    "path": _r_path,
    "host": _r_host,
    "ip": _r_ip,
    "port": lambda r: str(r.choice([5432, 3306, 443, 8080, 9092, 6379, 1521, 27017, 7077, 8443, 5439, 9000])),
    "sa": _r_sa,
    "user": _r_user,
    "hex": _r_hex,
    "hex8": lambda r: _r_hex(r, 8),
    "uuid": _r_uuid,
    "jobid": _r_jobid,
    "pod": _r_pod,
    "ns": _r_ns,
    "node": lambda r: (
        f"gke-{r.choice(['composer', 'data', 'etl'])}-{r.choice(['default', 'highmem', 'pool'])}-pool-{_r_hex(r, 8)}-{_r_hex(r, 4)}"
    ),
    "container": lambda r: r.choice(
        [
            "base",
            "main",
            "worker",
            "spark-kubernetes-executor",
            "dbt",
            "airflow-worker",
            "sidecar",
            "transform",
        ]
    ),
    "dag": _r_dag,
    "task": _r_task,
    "conn": _r_conn,
    "var": _r_var,
    "ENV": _r_env,
    "topic": _r_topic,
    "sub": lambda r: f"{_r_topic(r)}-{r.choice(['sub', 'subscription', 'pull', 'dataflow'])}",
    "module": lambda r: r.choice(_PY_MODULES),
    "name": lambda r: r.choice(
        [
            "DEFAULT_TIMEOUT",
            "BigQueryHook",
            "read_gbq",
            "json_normalize",
            "Literal",
            "TypeAlias",
            "url_quote",
            "soft_unicode",
            "Markup",
            "escape",
            "BaseHook",
            "cached_property",
            "PolicyTag",
        ]
    ),
    "jclass": lambda r: r.choice(_JAVA_CLASSES),
    "jar": lambda r: r.choice(_JARS),
    "pip": lambda r: r.choice(_PIP),
    "binary": lambda r: r.choice(_BINARIES),
    "perm": lambda r: r.choice(_PERMS),
    "role": lambda r: r.choice(_ROLES),
    "k8sres": lambda r: r.choice(_K8S_RES),
    "region": lambda r: r.choice(_REGIONS),
    "region2": lambda r: r.choice(_REGIONS),
    "zone": _r_zone,
    "loc": lambda r: r.choice(["US", "EU", "us-central1", "europe-west2", "asia-northeast1", "us-east4"]),
    "loc2": lambda r: r.choice(["US", "EU", "us-central1", "europe-west2", "asia-northeast1", "us-east4"]),
    "bqtype": lambda r: r.choice(_BQ_TYPES),
    "bqtype2": lambda r: r.choice(_BQ_TYPES),
    "sqltype": lambda r: r.choice(_SQL_TYPES),
    "sqltype2": lambda r: r.choice(_SQL_TYPES),
    "sparktype": lambda r: r.choice(_SPARK_TYPES),
    "sparktype2": lambda r: r.choice(_SPARK_TYPES),
    "secs": _r_secs,
    "ms": lambda r: str(int(_r_secs(r)) * 1000),
    "gb": _r_gb,
    "mb": _r_mb,
    "n": _r_num,
    "n2": _r_num,
    "small": lambda r: str(r.randint(1, 16)),
    "small2": lambda r: str(r.randint(1, 16)),
    "pct": lambda r: str(r.randint(90, 100)),
    "pid": lambda r: str(r.randint(100, 65000)),
    "row": lambda r: str(r.randint(1, 5_000_000)),
    "pos": lambda r: str(r.randint(0, 90_000_000)),
    "line": lambda r: str(r.randint(1, 900)),
    "byte": lambda r: "0x" + r.choice(["ff", "fe", "c3", "e9", "a0", "80", "92", "bf", "8b", "00", "d0"]),
    "model": _r_model,
    "api": _r_api,
    "url": _r_url,
    "stage": _r_stage,
    "tid": lambda r: str(r.randint(1, 90000)),
    "exec": lambda r: str(r.randint(1, 400)),
    "acct": _r_acct,
    "WH": lambda r: r.choice(["COMPUTE_WH", "ETL_WH", "LOADING_WH", "TRANSFORM_WH", "REPORTING_WH"]),
    "DB": lambda r: r.choice(["ANALYTICS", "RAW", "PROD_DB", "DWH", "STAGING"]),
    "db": lambda r: r.choice(["analytics", "warehouse", "app", "reporting", "etl", "metastore"]),
    "schema": lambda r: r.choice(["public", "staging", "analytics", "raw", "mart", "etl"]),
    "image": lambda r: (
        f"{r.choice(['gcr.io', 'us-docker.pkg.dev', 'europe-west1-docker.pkg.dev'])}/{_r_project(r)}/{r.choice(_WORDS)}-{r.choice(['etl', 'job', 'runner'])}:{r.choice(['latest', 'v' + str(r.randint(1, 9)) + '.' + str(r.randint(0, 20)), _r_hex(r, 7)])}"
    ),
    "secret": lambda r: f"{r.choice(_WORDS)}-{r.choice(['password', 'api-key', 'token', 'credentials'])}",
    "version": lambda r: f"{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 12)}",
    "version2": lambda r: f"{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 12)}",
    "kw": lambda r: r.choice(
        [
            "bigquery_conn_id",
            "google_cloud_storage_conn_id",
            "delegate_to",
            "provide_context",
            "sql",
            "use_legacy_sql",
            "dataflow_default_options",
            "location",
            "schema_fields",
            "impersonation_chain",
        ]
    ),
    "op": lambda r: r.choice(sum(_OPERATORS.values(), [])),
    "quota": lambda r: r.choice(
        [
            "CPUS",
            "IN_USE_ADDRESSES",
            "INSTANCES",
            "DISKS_TOTAL_GB",
            "SSD_TOTAL_GB",
            "CPUS_ALL_REGIONS",
            "N2_CPUS",
            "GPUS_ALL_REGIONS",
            "INSTANCE_GROUPS",
            "NETWORKS",
        ]
    ),
    "subnet": lambda r: (
        f"{r.choice(['default', 'dataflow', 'composer', 'private'])}-subnet-{r.choice(_REGIONS)}"
    ),
    "method": lambda r: r.choice(
        [
            "tabledata.insertAll",
            "jobs.insert",
            "tables.patch",
            "tables.get",
            "jobs.getQueryResults",
            "objects.insert",
            "objects.get",
            "projects.topics.publish",
            "projects.subscriptions.pull",
            "datasets.get",
        ]
    ),
    "rpc": lambda r: r.choice(
        [
            "google.pubsub.v1.Publisher/Publish",
            "google.pubsub.v1.Subscriber/StreamingPull",
            "google.cloud.bigquery.storage.v1.BigQueryRead/ReadRows",
            "google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows",
            "google.datastore.v1.Datastore/RunQuery",
            "google.spanner.v1.Spanner/ExecuteStreamingSql",
        ]
    ),
}

_SLOT_RE = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
_ALT_RE = re.compile(r"\(\(((?:[^()]|\([^()]*\))*)\)\)")


def _fill(template: str, r: random.Random) -> str:
    """Expand alternatives then slots; slot values are drawn once per slot name per message."""
    text = _ALT_RE.sub(lambda m: r.choice(m.group(1).split("|")), template)
    cache: dict[str, str] = {}

    def _slot(m: re.Match[str]) -> str:
        key = m.group(1)
        fn = _SLOTS.get(key)
        if fn is None:
            return m.group(0)
        if key not in cache:
            cache[key] = fn(r)
        return cache[key]

    return _SLOT_RE.sub(_slot, text)


# ---------------------------------------------------------------------------------------------------
# Templates: (system, message). Several per system and type, with phrasings as the systems print them.
# ---------------------------------------------------------------------------------------------------

_T = tuple[str, str]

PERMISSION_DENIED: list[_T] = [
    (
        "bigquery",
        "403 Access Denied: Table {project}:{dataset}.{table}: User does not have permission to query table {project}:{dataset}.{table}((|, or perhaps it does not exist)).",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.Forbidden: 403 POST https://bigquery.googleapis.com/bigquery/v2/projects/{project}/jobs?prettyPrint=false: Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}.",
    ),
    (
        "bigquery",
        "Access Denied: Dataset {project}:{dataset}: Permission bigquery.tables.((create|updateData|delete|getData)) denied on dataset {project}:{dataset} (or it may not exist).",
    ),
    (
        "bigquery",
        "403 Permission '{perm}' denied on resource 'projects/{project}/datasets/{dataset}/tables/{table}' (or it may not exist).",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.Forbidden: 403 Access Denied: BigQuery BigQuery: User {sa} does not have permission to access dataset {dataset}.",
    ),
    (
        "bigquery",
        "BigQuery job failed. Error: Access Denied: Table {project}:{dataset}.{table}: The user {sa} does not have permission to ((read|update|write to)) the table.",
    ),
    (
        "bigquery",
        '{"error": {"code": 403, "message": "Access Denied: Table {project}:{dataset}.{table}: User does not have permission to query table.", "errors": [{"message": "Access Denied", "domain": "global", "reason": "accessDenied"}], "status": "PERMISSION_DENIED"}}',
    ),
    (
        "gcs",
        "google.api_core.exceptions.Forbidden: 403 GET https://storage.googleapis.com/storage/v1/b/{bucket}/o?projection=noAcl&prettyPrint=false: {sa} does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).",
    ),
    (
        "gcs",
        "{sa} does not have storage.objects.((get|create|delete)) access to the Google Cloud Storage object. Permission 'storage.objects.((get|create|delete))' denied on resource (or it may not exist).",
    ),
    (
        "gcs",
        "AccessDeniedException: 403 {sa} does not have storage.objects.create access to the Google Cloud Storage object gs://{bucket}/{obj}.",
    ),
    (
        "gcs",
        'java.io.IOException: Error accessing gs://{bucket}/{obj}\nCaused by: com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden\n{"code": 403, "errors": [{"domain": "global", "message": "{sa} does not have storage.objects.get access to the Google Cloud Storage object.", "reason": "forbidden"}]}',
    ),
    (
        "gcs",
        "403 Forbidden: caller does not have storage.buckets.get access to the Google Cloud Storage bucket {bucket}.",
    ),
    (
        "pubsub",
        "google.api_core.exceptions.PermissionDenied: 403 User not authorized to perform this action.",
    ),
    (
        "pubsub",
        "PERMISSION_DENIED: User not authorized to perform this action. (resource=projects/{project}/subscriptions/{sub})",
    ),
    (
        "grpc",
        "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.PERMISSION_DENIED\n\tdetails = \"Permission '{perm}' denied on resource 'projects/{project}/subscriptions/{sub}'.\"\n\tdebug_error_string = \"UNKNOWN:Error received from peer ipv4:{ip}:443 {grpc_status:7}\"\n>",
    ),
    ("grpc", "io.grpc.StatusRuntimeException: PERMISSION_DENIED: The caller does not have permission"),
    ("grpc", "google.api_core.exceptions.PermissionDenied: 403 The caller does not have permission"),
    (
        "dataflow",
        "Workflow failed. Causes: Permissions verification for controller service account failed. All permissions in IAM role roles/dataflow.worker should be granted to controller service account {sa}.",
    ),
    (
        "dataflow",
        "Current user cannot act as service account {sa}. Permission 'iam.serviceAccounts.actAs' denied on service account {sa} (or it may not exist). Grant roles/iam.serviceAccountUser to the caller.",
    ),
    (
        "dataflow",
        "Dataflow job failed: 403 Forbidden: The caller does not have permission to create jobs in project {project}: missing permission dataflow.jobs.create.",
    ),
    (
        "other",
        "403 Permission 'secretmanager.versions.access' denied for resource 'projects/{project}/secrets/{secret}/versions/latest' (or it may not exist).",
    ),
    (
        "other",
        'The principal {sa} lacks IAM permission "{perm}" for the resource "projects/{project}" (or the resource may not exist). Grant {role} to the principal.',
    ),
    (
        "other",
        "Caller does not have required permission to use project {project}. Grant the caller the roles/serviceusage.serviceUsageConsumer role, or a custom role with the serviceusage.services.use permission.",
    ),
    ("python", "PermissionError: [Errno 13] Permission denied: '{path}'"),
    ("python", "OSError: [Errno 13] Permission denied: '{path}'"),
    ("other", "bash: {path}: Permission denied"),
    ("other", "mkdir: cannot create directory '{path}': Permission denied"),
    ("other", "cp: cannot open '{path}' for reading: Permission denied"),
    ("java", "java.nio.file.AccessDeniedException: {path}"),
    (
        "spark",
        'org.apache.hadoop.security.AccessControlException: Permission denied: user={user}, access=((WRITE|READ|EXECUTE)), inode="{path}":hdfs:supergroup:drwxr-xr-x',
    ),
    (
        "postgres",
        "psycopg2.errors.InsufficientPrivilege: permission denied for ((table|relation|sequence)) {table}",
    ),
    ("postgres", "ERROR:  permission denied for schema {schema}\nLINE 1: SELECT * FROM {schema}.{table}"),
    (
        "postgres",
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege) must be owner of table {table}",
    ),
    (
        "mysql",
        "pymysql.err.OperationalError: (1142, \"((SELECT|INSERT|DELETE|UPDATE)) command denied to user '{user}'@'{ip}' for table '{table}'\")",
    ),
    ("mysql", "ERROR 1044 (42000): Access denied for user '{user}'@'%' to database '{db}'"),
    (
        "mysql",
        "(1227, 'Access denied; you need (at least one of) the SUPER privilege(s) for this operation')",
    ),
    (
        "snowflake",
        "snowflake.connector.errors.ProgrammingError: 003001 (42501): SQL access control error: Insufficient privileges to operate on ((table|schema|warehouse)) '{TABLE}'",
    ),
    (
        "snowflake",
        "003001 (42501): Uncaught exception of type 'STATEMENT_ERROR': SQL access control error: Insufficient privileges to operate on integration '{TABLE}_INT'",
    ),
    (
        "k8s",
        'pods is forbidden: User "system:serviceaccount:{ns}:default" cannot ((create|list|get|delete)) resource "{k8sres}" in API group "" in the namespace "{ns}"',
    ),
    (
        "k8s",
        'Error from server (Forbidden): {k8sres} "{pod}" is forbidden: User "system:serviceaccount:{ns}:airflow" cannot get resource "{k8sres}" in API group "" in the namespace "{ns}": RBAC: access denied',
    ),
    (
        "k8s",
        'kubernetes.client.exceptions.ApiException: (403)\nReason: Forbidden\nHTTP response body: {"kind":"Status","status":"Failure","message":"{k8sres} is forbidden: User \\"system:serviceaccount:{ns}:default\\" cannot list resource \\"{k8sres}\\"","reason":"Forbidden","code":403}',
    ),
    (
        "aws",
        "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the ((GetObject|PutObject|ListObjectsV2|AssumeRole)) operation: Access Denied",
    ),
    (
        "aws",
        "An error occurred (AccessDeniedException) when calling the ((StartQueryExecution|GetSecretValue|Invoke)) operation: User: arn:aws:iam::{n}:role/{user} is not authorized to perform: ((s3:GetObject|secretsmanager:GetSecretValue|athena:StartQueryExecution)) on resource",
    ),
    ("http", "requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: {url}"),
    (
        "airflow",
        'airflow.exceptions.AirflowException: 403:FORBIDDEN: {"detail": "Forbidden: the user does not have the ((can_edit|can_read)) permission on DAG {dag}"}',
    ),
    (
        "airflow",
        "httpx.HTTPStatusError: Client error '403 Forbidden' for url '{url}'\nAccess is denied for user {user}: insufficient permissions",
    ),
    (
        "other",
        "Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
    ),
    (
        "other",
        "AuthorizationPermissionMismatch: This request is not authorized to perform this operation using this permission.",
    ),
    (
        "dbt",
        "Database Error in model {model} (models/{model}.sql)\n  Access Denied: Table {project}:{dataset}.{table}: User does not have permission to query table {project}:{dataset}.{table}.",
    ),
    (
        "spark",
        "com.google.cloud.spark.bigquery.repackaged.com.google.api.gax.rpc.PermissionDeniedException: io.grpc.StatusRuntimeException: PERMISSION_DENIED: request failed: the user does not have 'bigquery.readsessions.create' permission for 'projects/{project}'",
    ),
    (
        "other",
        "IAM_PERMISSION_DENIED: Permission '{perm}' denied on '{project}'. The service account {sa} is missing role {role}.",
    ),
    ("python", "You don't have permission to access this resource: insufficient privileges for user {user}"),
]

AUTHENTICATION_FAILURE: list[_T] = [
    (
        "python",
        "google.auth.exceptions.DefaultCredentialsError: Your default credentials were not found. To set up Application Default Credentials, see https://cloud.google.com/docs/authentication/external/set-up-adc for more information.",
    ),
    (
        "python",
        "google.auth.exceptions.DefaultCredentialsError: Could not automatically determine credentials. Please set GOOGLE_APPLICATION_CREDENTIALS or explicitly create credentials and re-run the application.",
    ),
    ("python", "google.auth.exceptions.DefaultCredentialsError: File {path} was not found."),
    (
        "python",
        "google.auth.exceptions.RefreshError: ('invalid_grant: ((Invalid JWT Signature.|Token has been expired or revoked.|Bad Request|Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.))', {'error': 'invalid_grant', 'error_description': '((Invalid JWT Signature.|Token has been expired or revoked.|Bad Request))'})",
    ),
    (
        "python",
        "google.auth.exceptions.RefreshError: Reauthentication is needed. Please run `gcloud auth application-default login` to reauthenticate.",
    ),
    (
        "python",
        'google.auth.exceptions.RefreshError: (\'Unable to acquire impersonated credentials\', \'{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}\')',
    ),
    (
        "bigquery",
        "google.api_core.exceptions.Unauthorized: 401 ((GET|POST)) {url}: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    (
        "grpc",
        "UNAUTHENTICATED: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    ),
    (
        "grpc",
        'grpc._channel._MultiThreadedRendezvous: <_MultiThreadedRendezvous of RPC that terminated with:\n\tstatus = StatusCode.UNAUTHENTICATED\n\tdetails = "Request had invalid authentication credentials."\n>',
    ),
    ("grpc", "io.grpc.StatusRuntimeException: UNAUTHENTICATED: Failed computing credential metadata"),
    (
        "gcs",
        "google.api_core.exceptions.Unauthorized: 401 GET https://storage.googleapis.com/storage/v1/b/{bucket}: Invalid Credentials",
    ),
    (
        "gcs",
        "Anonymous caller does not have storage.objects.((get|list)) access to the Google Cloud Storage ((object|bucket)). ((|Login required.))",
    ),
    (
        "gcs",
        "ServiceException: 401 Anonymous caller does not have storage.objects.list access to bucket {bucket}.",
    ),
    (
        "java",
        'com.google.api.client.googleapis.json.GoogleJsonResponseException: 401 Unauthorized\n{"code": 401, "errors": [{"domain": "global", "location": "Authorization", "locationType": "header", "message": "Invalid Credentials", "reason": "authError"}], "message": "Invalid Credentials"}',
    ),
    (
        "other",
        "ERROR: (gcloud.((auth|dataflow|composer|bigquery)).((print-access-token|jobs.run|environments.run|query))) There was a problem refreshing your current auth tokens: ('invalid_grant: Bad Request', {'error': 'invalid_grant', 'error_description': 'Bad Request'})",
    ),
    (
        "other",
        "ERROR: (gcloud.((compute|storage)).((instances.list|ls))) You do not currently have an active account selected. Please run:\n\n  $ gcloud auth login",
    ),
    (
        "postgres",
        'psycopg2.OperationalError: connection to server at "{host}" ({ip}), port 5432 failed: FATAL:  password authentication failed for user "{user}"',
    ),
    ("postgres", 'FATAL:  password authentication failed for user "{user}"'),
    (
        "postgres",
        'sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) FATAL:  ((password|Ident|PAM)) authentication failed for user "{user}"',
    ),
    (
        "mysql",
        "pymysql.err.OperationalError: (1045, \"Access denied for user '{user}'@'{ip}' (using password: ((YES|NO)))\")",
    ),
    ("mysql", "ERROR 1045 (28000): Access denied for user '{user}'@'localhost' (using password: YES)"),
    (
        "snowflake",
        "snowflake.connector.errors.DatabaseError: 250001 (08001): Failed to connect to DB: {acct}.snowflakecomputing.com:443. Incorrect username or password was specified.",
    ),
    ("snowflake", "390114 (08001): Authentication token has expired.  The user must authenticate again."),
    (
        "snowflake",
        "250001 (08001): Failed to connect to DB: {acct}.snowflakecomputing.com:443. JWT token is invalid.",
    ),
    ("k8s", "error: You must be logged in to the server (Unauthorized)"),
    (
        "k8s",
        'kubernetes.client.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response body: {"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}',
    ),
    (
        "k8s",
        "Unable to connect to the server: x509: certificate has expired or is not yet valid: current time {ts} is after {ts2}",
    ),
    (
        "python",
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)",
    ),
    ("http", "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: {url}"),
    ("http", "httpx.HTTPStatusError: Client error '401 Unauthorized' for url '{url}'"),
    ("http", '{"error": "invalid_token", "error_description": "The access token expired"}'),
    (
        "http",
        '401 Unauthorized: {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}',
    ),
    ("aws", "botocore.exceptions.NoCredentialsError: Unable to locate credentials"),
    (
        "aws",
        "botocore.exceptions.ClientError: An error occurred (ExpiredToken) when calling the ((GetObject|AssumeRole|ListBuckets)) operation: The security token included in the request is expired",
    ),
    (
        "aws",
        "An error occurred (InvalidAccessKeyId) when calling the ListObjectsV2 operation: The AWS Access Key Id you provided does not exist in our records.",
    ),
    (
        "aws",
        "An error occurred (SignatureDoesNotMatch) when calling the PutObject operation: The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    ),
    ("airflow", 'airflow.exceptions.AirflowException: 401:UNAUTHORIZED: {"detail": "Not authenticated"}'),
    ("airflow", "jwt.exceptions.ExpiredSignatureError: Signature has expired"),
    ("airflow", "Invalid auth token: Signature has expired. Re-authenticate to the Airflow API and retry."),
    ("spark", "javax.security.auth.login.LoginException: Unable to obtain password from user"),
    (
        "spark",
        "java.io.IOException: Failed on local exception: java.io.IOException: javax.security.sasl.SaslException: GSS initiate failed [Caused by GSSException: No valid credentials provided (Mechanism level: Failed to find any Kerberos tgt)]",
    ),
    (
        "other",
        "Permission denied (publickey((|,password|,gssapi-keyex))).\nfatal: Could not read from remote repository.",
    ),
    ("python", "paramiko.ssh_exception.AuthenticationException: Authentication failed."),
    (
        "other",
        'Error response from daemon: Head "https://{host}/v2/{topic}/manifests/latest": unauthorized: authentication required',
    ),
    (
        "other",
        'denied: Unauthenticated request. Unauthenticated requests do not have permission "artifactregistry.repositories.downloadArtifacts" on resource',
    ),
    (
        "python",
        "redis.exceptions.AuthenticationError: ((invalid username-password pair or user is disabled.|Authentication required.))",
    ),
    (
        "python",
        "pymongo.errors.OperationFailure: Authentication failed., full error: {'ok': 0.0, 'errmsg': 'Authentication failed.', 'code': 18, 'codeName': 'AuthenticationFailed'}",
    ),
    (
        "python",
        "oauthlib.oauth2.rfc6749.errors.InvalidClientError: (invalid_client) Client authentication failed.",
    ),
    (
        "python",
        "msal: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
    ),
    (
        "http",
        '{"error": {"code": 401, "message": "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "status": "UNAUTHENTICATED"}}',
    ),
    (
        "python",
        "google.auth.exceptions.TransportError: Failed to retrieve default credentials: the service account key file {path} is invalid or has been deleted",
    ),
    ("other", "Login failed for user '{user}'. (18456) (SQLDriverConnect)"),
    (
        "dbt",
        "Runtime Error\n  Database Error\n    Failed to authenticate: ((invalid_grant: Token has been expired or revoked.|the service account keyfile is invalid.))",
    ),
]

RATE_LIMITING: list[_T] = [
    (
        "bigquery",
        "403 Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.Forbidden: 403 Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    ),
    (
        "bigquery",
        "Exceeded rate limits: too many concurrent queries for this project_and_region. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    ),
    (
        "bigquery",
        "Exceeded rate limits: too many ((partition modifications|dataset metadata update operations|table metadata update operations)) for this ((table|dataset)). For more information, see https://cloud.google.com/bigquery/troubleshooting-errors",
    ),
    (
        "bigquery",
        '{"error": {"code": 403, "message": "Exceeded rate limits: too many api requests per user per method.", "errors": [{"message": "Exceeded rate limits", "domain": "usageLimits", "reason": "rateLimitExceeded"}], "status": "PERMISSION_DENIED"}}',
    ),
    (
        "bigquery",
        "google.api_core.exceptions.TooManyRequests: 429 POST {url}: Too many requests. rateLimitExceeded",
    ),
    ("http", "requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: {url}"),
    (
        "http",
        "httpx.HTTPStatusError: Client error '429 Too Many Requests' for url '{url}' (Retry-After: {small})",
    ),
    (
        "http",
        "HTTP 429 Too Many Requests: rate limit of {n} requests per ((second|minute)) exceeded, retry after {small} seconds",
    ),
    (
        "http",
        '{"message": "API rate limit exceeded for {ip}. (But here\'s the good news: Authenticated requests get a higher rate limit.)"}',
    ),
    ("http", "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
    (
        "grpc",
        "google.api_core.exceptions.ResourceExhausted: 429 Quota exceeded for quota metric '((Read requests|Write requests|Requests|Job requests|Online prediction requests))' and limit '((Read requests per minute per user|Write requests per minute|Requests per minute per project|Requests per second))' of service '{api}' for consumer 'project_number:{n}'.",
    ),
    (
        "grpc",
        "RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service '{api}' for consumer 'project_number:{n}'.",
    ),
    (
        "grpc",
        'grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.RESOURCE_EXHAUSTED\n\tdetails = "((Too many requests|Rate limit exceeded|Request throttled due to user QPS limit being reached))."\n>',
    ),
    (
        "grpc",
        '{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}',
    ),
    (
        "pubsub",
        "google.api_core.exceptions.ResourceExhausted: 429 Publish request throttled: too many publish requests per second for topic projects/{project}/topics/{topic}.",
    ),
    (
        "pubsub",
        "StreamingPull ... RESOURCE_EXHAUSTED: Request was throttled. Subscriber exceeded the per-second ((pull|acknowledge)) rate for subscription {sub}.",
    ),
    (
        "gcs",
        "429 The rate of change requests to the object {bucket}/{obj} exceeds the rate limit. Please reduce the rate of create, update, and delete requests.",
    ),
    (
        "gcs",
        "google.api_core.exceptions.TooManyRequests: 429 PATCH https://storage.googleapis.com/storage/v1/b/{bucket}/o/{obj}: The object exceeded the rate limit for object mutation operations (create, update, and delete).",
    ),
    (
        "gcs",
        '{"error": {"code": 429, "message": "rateLimitExceeded", "errors": [{"reason": "rateLimitExceeded", "message": "The total number of changes to the object {bucket}/{obj} exceeds the rate limit."}]}}',
    ),
    (
        "aws",
        "botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling the ((DescribeTable|GetSecretValue|StartQueryExecution|PutRecords)) operation (reached max retries: {small}): Rate exceeded",
    ),
    (
        "aws",
        "com.amazonaws.services.s3.model.AmazonS3Exception: Slow Down (Service: Amazon S3; Status Code: 503; Error Code: SlowDown; Request ID: {hex})",
    ),
    (
        "aws",
        "botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject operation (reached max retries: 4): Please reduce your request rate.",
    ),
    (
        "aws",
        "ProvisionedThroughputExceededException: The level of configured provisioned throughput for the table was exceeded.",
    ),
    ("k8s", "the server has received too many requests and has asked us to try again later (get {k8sres})"),
    (
        "k8s",
        "Waited for {small}.{small2}s due to client-side throttling, not priority and fairness, request: GET:https://{ip}/api/v1/namespaces/{ns}/{k8sres}",
    ),
    (
        "dataflow",
        "Quota exceeded for quota metric 'Job requests' and limit 'Job requests per minute per user' of service 'dataflow.googleapis.com'.",
    ),
    (
        "other",
        "RateLimitError: Rate limit reached for requests per minute. Limit: {n}, Used: {n}, Requested: 1. Please try again in {small}s.",
    ),
    (
        "other",
        "slack_sdk.errors.SlackApiError: The request to the Slack API failed. (url: https://slack.com/api/chat.postMessage)\nThe server responded with: {'ok': False, 'error': 'ratelimited'}",
    ),
    (
        "other",
        "Throttled: the API rate limit for this account has been exceeded (limit {n} calls per ((minute|hour))). Please retry later.",
    ),
    (
        "java",
        'com.google.api.client.googleapis.json.GoogleJsonResponseException: 429 Too Many Requests\n{"code": 429, "errors": [{"domain": "usageLimits", "message": "Rate Limit Exceeded", "reason": "rateLimitExceeded"}], "message": "Rate Limit Exceeded"}',
    ),
    (
        "java",
        'com.google.api.client.googleapis.json.GoogleJsonResponseException: 403 Forbidden\n{"code": 403, "errors": [{"domain": "usageLimits", "message": "User Rate Limit Exceeded", "reason": "userRateLimitExceeded"}]}',
    ),
    (
        "spark",
        "com.google.cloud.spark.bigquery.repackaged.com.google.api.gax.rpc.ResourceExhaustedException: io.grpc.StatusRuntimeException: RESOURCE_EXHAUSTED: Exceeds 'AppendRows throughput' quota, user_id: {n} (status: INSUFFICIENT_TOKENS), you can issue a raise quota request",
    ),
    (
        "snowflake",
        "Too many requests: concurrent statement rate limit for warehouse {WH} reached, statement queued then rejected.",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowException: 429:TOO_MANY_REQUESTS: rate limit exceeded calling {url}",
    ),
    (
        "python",
        "tenacity.RetryError: RetryError[<Future at 0x{hex} state=finished raised TooManyRequests>] (429 rate limit exceeded)",
    ),
    ("other", "Request was throttled. Expected available in {small} seconds."),
    (
        "bigquery",
        "Quota exceeded: Your project exceeded quota for ((tabledata.list bytes per second|api requests per second|streaming inserts per second)) per project. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    ),
]

RESOURCE_EXHAUSTION: list[_T] = [
    (
        "bigquery",
        "Resources exceeded during query execution: The query could not be executed in the allotted memory. Peak usage: {pct}% of limit.\nTop memory consumer(s):\n  ((ORDER BY operations|sort operations used for analytic OVER() clauses|JOIN operations|aggregate functions and GROUP BY clauses)): {pct}%\n  other/unattributed: 1%",
    ),
    (
        "bigquery",
        "400 Resources exceeded during query execution: Not enough resources for query planning - too many subqueries or query is too complex.",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution: ((Your project or organization exceeded the maximum disk and memory limit available for shuffle operations.|The query could not be executed in the allotted memory.))",
    ),
    (
        "bigquery",
        "Quota exceeded: Your ((project|user)) exceeded quota for ((free query bytes scanned|imports or query appends per table|table exports per day|load jobs per table per day|copy jobs per day)). For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    ),
    (
        "bigquery",
        "403 Quota exceeded: Your usage exceeded the custom quota for QueryUsagePerDay, which is set by your administrator.",
    ),
    (
        "bigquery",
        '{"error": {"code": 403, "message": "Quota exceeded: Your table exceeded quota for imports or query appends per table.", "errors": [{"reason": "quotaExceeded", "domain": "global"}], "status": "PERMISSION_DENIED"}}',
    ),
    (
        "dataflow",
        "Workflow failed. Causes: Project {project} has insufficient quota(s) to execute this workflow with {small} instances in region {region}. Quota summary (required/available): {small}/0 instances, {n}/{small2} CPUs, {n2}/4096 disk GB, 0/500 SSD disk GB, 1/0 instance groups, 1/39 managed instance groups, 1/10 instance templates, {small}/0 in-use IP addresses.",
    ),
    (
        "dataflow",
        "Startup of the worker pool in zone {zone} failed to bring up any of the desired {small} workers. ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill the request. Try a different zone, or try again later.",
    ),
    (
        "dataflow",
        "Startup of the worker pool in zone {zone} failed to bring up any of the desired {small} workers. QUOTA_EXCEEDED: Instance '{pod}' creation failed: Quota '{quota}' exceeded. Limit: {n}.0 in region {region}.",
    ),
    (
        "dataflow",
        "Dataflow quota error for jobs-per-project quota. Project {project} is running {n} out of {n} jobs. Please check the quota usage via GCP Console.",
    ),
    ("other", "Quota '{quota}' exceeded. Limit: {n}.0 in region {region}."),
    (
        "other",
        "googleapiclient.errors.HttpError: <HttpError 403 when requesting https://compute.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instances?alt=json returned \"Quota '{quota}' exceeded.  Limit: {n}.0 in region {region}.\". Details: \"[{'message': \"Quota '{quota}' exceeded.\", 'domain': 'usageLimits', 'reason': 'quotaExceeded'}]\">",
    ),
    (
        "spark",
        "google.api_core.exceptions.InvalidArgument: 400 Insufficient '{quota}' quota. Requested {n}.0, available {small}.0. Your resource request exceeds your available quota.",
    ),
    (
        "spark",
        "Insufficient regional quota to satisfy request: resource \"{quota}\": request requires '{n}.0' and is short '{small}.0'. project has a quota of '{n2}.0' with '{small2}.0' available.",
    ),
    (
        "other",
        "ZONE_RESOURCE_POOL_EXHAUSTED: The zone '{zone}' does not have enough resources available to fulfill the request. Try a different zone, or try again later.",
    ),
    (
        "other",
        "The zone '{zone}' does not have enough resources available to fulfill the request. '(resource type:compute)'.",
    ),
    (
        "k8s",
        "0/{small} nodes are available: {small} Insufficient ((cpu|memory|nvidia.com/gpu)), {small2} node(s) didn't match Pod's node affinity/selector. preemption: 0/{small} nodes are available: {small} No preemption victims found for incoming pod.",
    ),
    (
        "k8s",
        "Warning  FailedScheduling  {small}m  default-scheduler  0/{small} nodes are available: {small} Insufficient cpu, {small2} Insufficient memory.",
    ),
    (
        "k8s",
        "Pod {pod} is unschedulable: pod didn't trigger scale-up: {small} max node group size reached, {small2} Insufficient memory",
    ),
    (
        "k8s",
        "Pod {pod} in namespace {ns}: container {container} terminated: Reason: OOMKilled, Exit Code: 137",
    ),
    (
        "k8s",
        "Container {container} in pod {pod} was OOMKilled (exit code 137): it exceeded its memory limit of {mb}Mi.",
    ),
    (
        "k8s",
        "State: Terminated\n  Reason: OOMKilled\n  Exit Code: 137\nLast State: Terminated\n  Reason: OOMKilled",
    ),
    (
        "k8s",
        "airflow.exceptions.AirflowException: Pod {pod} returned a failure.\nremote_pod: ... 'container_statuses': [{'name': '{container}', 'state': {'terminated': {'exit_code': 137, 'reason': 'OOMKilled'}}}]",
    ),
    (
        "k8s",
        'Error from server (Forbidden): pods "{pod}" is forbidden: exceeded quota: compute-resources, requested: limits.((memory|cpu))={small}Gi, used: limits.((memory|cpu))={n}Gi, limited: limits.((memory|cpu))={n2}Gi',
    ),
    (
        "k8s",
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: {n}Ki. Container {container} was using {n2}Ki, request is 0, has larger consumption of memory.",
    ),
    (
        "spark",
        "Container killed by YARN for exceeding memory limits. {small}.{small2} GB of {small} GB physical memory used. Consider boosting spark.yarn.executor.memoryOverhead or disabling yarn.nodemanager.vmem-check-enabled because of YARN-4714.",
    ),
    (
        "spark",
        "ExecutorLostFailure (executor {exec} exited caused by one of the running tasks) Reason: Container killed by YARN for exceeding physical memory limits. {small}.5 GB of {small} GB physical memory used.",
    ),
    (
        "spark",
        "Container exited with a non-zero exit code 137. Killed by external signal. Container [pid={pid},containerID=container_{n}_{n2}_01_{n}] is running beyond physical memory limits.",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Total size of serialized results of {n} tasks ({n2}.0 MiB) is bigger than spark.driver.maxResultSize ({mb}.0 MiB)",
    ),
    ("python", "OSError: [Errno 24] Too many open files: '{path}'"),
    (
        "java",
        "java.io.IOException: Too many open files\n\tat sun.nio.ch.ServerSocketChannelImpl.accept0(Native Method)",
    ),
    (
        "java",
        "java.lang.OutOfMemoryError: unable to create new native thread (ulimit -u reached: max user processes {n})",
    ),
    ("java", "java.net.SocketException: Too many open files (Accept failed)"),
    (
        "postgres",
        'psycopg2.OperationalError: connection to server at "{host}" ({ip}), port 5432 failed: FATAL:  sorry, too many clients already',
    ),
    ("postgres", "FATAL:  remaining connection slots are reserved for non-replication superuser connections"),
    (
        "postgres",
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size {small} overflow {small2} reached, connection timed out, timeout 30.00",
    ),
    ("mysql", "pymysql.err.OperationalError: (1040, 'Too many connections')"),
    (
        "snowflake",
        "Warehouse '{WH}' cannot be resumed because resource monitor '{WH}_MONITOR' has exceeded its quota.",
    ),
    (
        "snowflake",
        "000606 (57P03): No active warehouse: warehouse {WH} is suspended because the credit quota of its resource monitor was exhausted.",
    ),
    (
        "other",
        "IP space of 'projects/{project}/regions/{region}/subnetworks/{subnet}' is exhausted. The secondary range has no free IP addresses for new nodes.",
    ),
    (
        "airflow",
        "Celery worker queue full: task {task} rejected, all {small} worker slots are in use and the autoscaler reached max_workers={small2}",
    ),
    (
        "other",
        "Cluster autoscaler: no node group can be scaled up, max cluster size of {n} nodes reached; {small} pods are pending for lack of ((cpu|memory)).",
    ),
    (
        "k8s",
        "Pod ephemeral: Failed to create pod sandbox: failed to allocate IP address: no IP addresses available in range set: {ip}/24",
    ),
    (
        "dataflow",
        "The Dataflow job could not start workers: the worker pool in region {region} exhausted the regional quota for {quota} (limit {n}).",
    ),
    (
        "other",
        "ResourceExhausted: 429 Quota exceeded for {api}/((custom_model_training_cpus|nvidia_t4_gpus|cpus_per_project)) in region {region}: total limit of {n} reached",
    ),
    (
        "python",
        "concurrent.futures.process.BrokenProcessPool: A process in the process pool was terminated abruptly: the worker was killed after exceeding the container memory limit (OOMKilled)",
    ),
]

MEMORY_LEAK: list[_T] = [
    ("java", "java.lang.OutOfMemoryError: Java heap space"),
    (
        "java",
        'Exception in thread "((main|pool-1-thread-3|Executor task launch worker for task {tid}|DataStreamer))" java.lang.OutOfMemoryError: ((Java heap space|GC overhead limit exceeded|Metaspace|Direct buffer memory|Requested array size exceeds VM limit))',
    ),
    (
        "java",
        "java.lang.OutOfMemoryError: GC overhead limit exceeded\n\tat java.util.Arrays.copyOf(Arrays.java:{line})\n\tat java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:{line})",
    ),
    ("java", "java.lang.OutOfMemoryError: Metaspace\n\tat java.lang.ClassLoader.defineClass1(Native Method)"),
    (
        "spark",
        "ERROR Executor: Exception in task {stage} in stage {small}.0 (TID {tid})\njava.lang.OutOfMemoryError: Java heap space\n\tat java.nio.HeapByteBuffer.<init>(HeapByteBuffer.java:{line})",
    ),
    ("spark", "org.apache.spark.memory.SparkOutOfMemoryError: Unable to acquire {n} bytes of memory, got 0"),
    (
        "spark",
        "ERROR SparkUncaughtExceptionHandler: Uncaught exception in thread Thread[Executor task launch worker for task {tid},5,main]\njava.lang.OutOfMemoryError: ((Java heap space|GC overhead limit exceeded))",
    ),
    (
        "spark",
        "py4j.protocol.Py4JJavaError: An error occurred while calling o{n}.collectToPython.\n: java.lang.OutOfMemoryError: Java heap space",
    ),
    (
        "spark",
        "The driver JVM ran out of heap memory: java.lang.OutOfMemoryError: Java heap space. Driver memory usage grew steadily across {n} batches.",
    ),
    (
        "dataflow",
        "Shutting down JVM after {small} consecutive periods of measured GC thrashing. Memory is used/total/max = {n}/{n2}/{n2} MB, GC last/max = {pct}.{small}/{pct}.{small} %, #pushbacks={small}, gc thrashing=true. Heap dump not written.",
    ),
    (
        "dataflow",
        "Out of memory: Killed process {pid} (((java|python|python3|harness))) total-vm:{n}kB, anon-rss:{n2}kB, file-rss:0kB, shmem-rss:0kB",
    ),
    (
        "dataflow",
        "The worker VM had to shut down one or more processes due to lack of memory. Workers may have run out of memory while processing elements of step {task}.",
    ),
    (
        "dataflow",
        "Error message from worker: java.lang.OutOfMemoryError: Java heap space\n\torg.apache.beam.runners.dataflow.worker.GroupAlsoByWindowsParDoFn",
    ),
    (
        "dataflow",
        "A worker process was killed by the OOM killer: SDK harness sdk-0-0 disconnected. Memory usage on the worker kept growing until the process was terminated.",
    ),
    (
        "other",
        "kernel: [{n}.{n2}] Out of memory: Killed process {pid} (((java|python3|airflow|celery))) total-vm:{n}kB, anon-rss:{n2}kB",
    ),
    (
        "other",
        "kernel: Memory cgroup out of memory: Killed process {pid} (python) total-vm:{n}kB, anon-rss:{n2}kB, oom_score_adj:{line}",
    ),
    ("python", "MemoryError"),
    (
        "python",
        "MemoryError: Unable to allocate {small}.{small2} GiB for an array with shape ({n}, {n2}) and data type ((float64|int64|object))",
    ),
    (
        "python",
        "numpy.core._exceptions._ArrayMemoryError: Unable to allocate {small}.{small2} GiB for an array with shape ({n}, {small}) and data type float64",
    ),
    ("python", "pyarrow.lib.ArrowMemoryError: malloc of size {n} failed"),
    ("python", "OSError: [Errno 12] Cannot allocate memory"),
    (
        "python",
        "RuntimeError: CUDA out of memory. Tried to allocate {small}.00 GiB (GPU 0; 15.78 GiB total capacity; {small2}.31 GiB already allocated)",
    ),
    ("airflow", "Task exited with return code Negsignal.SIGKILL"),
    (
        "airflow",
        "airflow.exceptions.AirflowException: Task received SIGKILL (-9): the task process was killed by the OOM killer after its memory grew to {gb} GB",
    ),
    (
        "airflow",
        "celery.exceptions.WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL) Job: {small}.",
    ),
    (
        "airflow",
        "Detected zombie job: the task process was killed (signal 9, out of memory); memory of the worker process kept increasing across {n} tries.",
    ),
    (
        "python",
        "distributed.nanny - WARNING - Worker process {pid} was killed by signal 9: Worker exceeded {pct}% memory budget. Restarting...",
    ),
    (
        "python",
        "distributed.worker.memory - WARNING - Unmanaged memory use is high. This may indicate a memory leak or the memory may not be released to the OS; process memory: {small}.{small2} GiB -- Worker memory limit: {gb} GiB",
    ),
    (
        "python",
        "[CRITICAL] WORKER TIMEOUT (pid:{pid})\nWorker with pid {pid} was terminated due to signal 9: memory usage {gb} GB exceeded max_memory_per_child",
    ),
    (
        "python",
        "celery worker: child process {pid} exceeded its memory limit ({n} KiB > {n2} KiB) and was replaced (worker_max_memory_per_child)",
    ),
    (
        "python",
        "Memory usage of the process grew from {mb} MB to {gb} GB over {n} iterations; objects are not being freed (possible memory leak in the DoFn)",
    ),
    ("other", "fatal error: runtime: out of memory\n\ngoroutine {small} [running]:\nruntime.throw({hex})"),
    ("other", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"),
    ("other", "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc"),
    (
        "postgres",
        'ERROR:  out of memory\nDETAIL:  Failed on request of size {n} in memory context "((ExecutorState|MessageContext|HashBatchContext))".',
    ),
    (
        "java",
        "java.lang.OutOfMemoryError: Java heap space\nDumping heap to java_pid{pid}.hprof ...\nHeap dump file created [{n} bytes in {small}.{small2} secs]",
    ),
    (
        "java",
        'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n\tat java.util.HashMap.resize(HashMap.java:{line})\n\tat java.util.HashMap.putVal(HashMap.java:{line})',
    ),
    (
        "spark",
        "WARN TaskMemoryManager: Failed to allocate a page ({n} bytes), try again.\njava.lang.OutOfMemoryError: GC overhead limit exceeded",
    ),
    (
        "python",
        "Process {pid} used {gb} GB RSS and was killed: Out of memory. Memory grew steadily (leak suspected in {module}).",
    ),
]

DISK_SPACE_FULL: list[_T] = [
    ("python", "OSError: [Errno 28] No space left on device((|: '{path}'))"),
    ("python", "IOError: [Errno 28] No space left on device"),
    (
        "java",
        "java.io.IOException: No space left on device\n\tat java.io.FileOutputStream.writeBytes(Native Method)\n\tat java.io.FileOutputStream.write(FileOutputStream.java:{line})",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task {small} in stage {stage} failed 4 times: java.io.IOException: No space left on device\n\tat org.apache.spark.storage.DiskBlockObjectWriter.write",
    ),
    (
        "spark",
        "ERROR DiskBlockManager: Failed to create local dir in /tmp. Ignoring this directory.\njava.io.IOException: No space left on device",
    ),
    ("other", "write {path}: no space left on device"),
    (
        "other",
        "failed to register layer: Error processing tar file(exit status 1): write /var/lib/docker/overlay2/{hex}/diff/{path}: no space left on device",
    ),
    ("python", "OSError: [Errno 122] Disk quota exceeded: '{path}'"),
    ("other", "cp: error writing '{path}': Disk quota exceeded"),
    (
        "k8s",
        "The node was low on resource: ephemeral-storage. Threshold quantity: {n}, available: {n2}Ki. Container {container} was using {n}Ki, request is 0, has larger consumption of ephemeral-storage.",
    ),
    ("k8s", "Pod ephemeral local storage usage exceeds the total limit of containers {small}Gi."),
    ("k8s", "Status: Failed\nReason: Evicted\nMessage: Pod The node had condition: [DiskPressure]."),
    (
        "k8s",
        "Warning  Evicted  {small}m  kubelet  The node was low on resource: ephemeral-storage. Container {container} was using {n}Ki, which exceeds its request of 0.",
    ),
    (
        "k8s",
        "Warning  FreeDiskSpaceFailed  kubelet  failed to garbage collect required amount of images. Wanted to free {n} bytes, but freed 0 bytes",
    ),
    (
        "postgres",
        'psycopg2.errors.DiskFull: could not extend file "base/{n}/{n2}": No space left on device\nHINT:  Check free disk space.',
    ),
    ("postgres", 'PANIC:  could not write to file "pg_wal/xlogtemp.{pid}": No space left on device'),
    ("postgres", "ERROR:  could not write block {n} of temporary file: No space left on device"),
    ("mysql", "(1114, \"The table '{table}' is full\")"),
    ("mysql", "ERROR 3 (HY000): Error writing file '/tmp/MY{hex8}' (Errcode: 28 - No space left on device)"),
    (
        "spark",
        "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException: The DiskSpace quota of /user/{user} is exceeded: quota = {n} B = {gb} GB but diskspace consumed = {n2} B = {gb} GB",
    ),
    (
        "airflow",
        "OSError: [Errno 28] No space left on device: '/opt/airflow/logs/dag_id={dag}/run_id=scheduled__{ts}/task_id={task}/attempt=1.log'",
    ),
    (
        "airflow",
        "Worker disk is full: /home/airflow/gcs is at {pct}% capacity; task {task} could not write its temporary files.",
    ),
    (
        "dataflow",
        "Error syncing pod {hex8}: failed to write to the persistent disk: no space left on device. Consider increasing --disk_size_gb (currently {small}0 GB).",
    ),
    (
        "dataflow",
        "Disk /dev/sda1 on worker {pod} is {pct}% full; the shuffle files could not be written: No space left on device",
    ),
    (
        "other",
        "flood stage disk watermark [95%] exceeded on [{pod}][{ip}] free: {small}.{small2}gb[{small}%], all indices on this node will be marked read-only",
    ),
    ("python", "sqlite3.OperationalError: database or disk is full"),
    ("other", "gzip: stdout: No space left on device"),
    (
        "other",
        "tar: {path}: Wrote only {n} of 10240 bytes\ntar: Error is not recoverable: exiting now (No space left on device)",
    ),
    ("python", "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device"),
    ("other", "fatal: sha1 file '<stdout>' write error: No space left on device"),
    ("other", "Error: ENOSPC: no space left on device, write"),
    ("other", "There is not enough space on the disk."),
    (
        "other",
        "df: /tmp is {pct}% full ({small}M available); the export could not be staged: insufficient disk space",
    ),
    (
        "java",
        "org.apache.kafka.common.errors.KafkaStorageException: Disk error when trying to access log file on the disk: No space left on device",
    ),
    ("python", "pyarrow.lib.ArrowIOError: Failed to write to {path}: No space left on device"),
    ("python", "shutil.Error: [('{path}', '{path}', '[Errno 28] No space left on device')]"),
    ("other", "Filesystem /dev/sdb1 is full: used {gb}G of {gb}G (100%); no space left for temporary files"),
    (
        "bigquery",
        "Extract job failed: could not write the exported files to the local staging disk: No space left on device",
    ),
    (
        "spark",
        "Spark local dirs /mnt/spark-local are out of space: java.io.IOException: No space left on device while writing shuffle file shuffle_{small}_{n}_0.data",
    ),
]

NETWORK_TIMEOUT: list[_T] = [
    (
        "http",
        "requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /{topic} (Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x{hex}>, 'Connection to {host} timed out. (connect timeout={small})'))",
    ),
    (
        "http",
        "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='{host}', port=443): Read timed out. (read timeout={secs})",
    ),
    (
        "http",
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='{host}', port={port}): Max retries exceeded with url: /{topic} (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x{hex}>: Failed to establish a new connection: [Errno ((111|110|113))] ((Connection refused|Connection timed out|No route to host))'))",
    ),
    (
        "http",
        "requests.exceptions.ConnectionError: ('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
    ),
    (
        "http",
        "urllib3.exceptions.ProtocolError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
    ),
    (
        "http",
        "urllib3.exceptions.NameResolutionError: <urllib3.connection.HTTPSConnection object at 0x{hex}>: Failed to resolve '{host}' ([Errno -3] Temporary failure in name resolution)",
    ),
    ("http", "httpx.ConnectTimeout: timed out while connecting to {host}:{port}"),
    ("http", "httpx.ReadTimeout: The read operation timed out"),
    (
        "http",
        "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host {host}:443 ssl:default [Connect call failed ('{ip}', 443)]",
    ),
    ("http", "aiohttp.client_exceptions.ServerDisconnectedError: Server disconnected"),
    ("http", "502 Bad Gateway: upstream {host} closed the connection"),
    ("http", "504 Gateway Timeout: the upstream server {host} did not respond in time"),
    (
        "python",
        "socket.gaierror: [Errno -((2|3|5))] ((Name or service not known|Temporary failure in name resolution|No address associated with hostname))",
    ),
    ("python", "socket.timeout: timed out"),
    ("python", "TimeoutError: [Errno 110] Connection timed out"),
    ("python", "ConnectionResetError: [Errno 104] Connection reset by peer"),
    ("python", "ConnectionRefusedError: [Errno 111] Connection refused"),
    ("python", "BrokenPipeError: [Errno 32] Broken pipe"),
    ("python", "ssl.SSLError: _ssl.c:980: The handshake operation timed out"),
    ("python", "ssl.SSLEOFError: EOF occurred in violation of protocol (_ssl.c:2426)"),
    (
        "python",
        "google.auth.exceptions.TransportError: HTTPSConnectionPool(host='oauth2.googleapis.com', port=443): Max retries exceeded with url: /token (Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x{hex}>, 'Connection to oauth2.googleapis.com timed out. (connect timeout=120)'))",
    ),
    (
        "python",
        "google.auth.exceptions.TransportError: Failed to retrieve http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/?recursive=true from the Google Compute Engine metadata service. Compute Engine Metadata server unavailable due to ((Read timed out|Connection refused))",
    ),
    ("java", "java.net.SocketTimeoutException: ((Read timed out|connect timed out|timeout))"),
    ("java", "java.net.ConnectException: Connection refused (Connection refused)"),
    (
        "java",
        "java.net.UnknownHostException: {host}((|: Name or service not known|: Temporary failure in name resolution))",
    ),
    ("java", "java.net.NoRouteToHostException: No route to host (Host unreachable)"),
    (
        "java",
        "java.io.IOException: Connection reset by peer\n\tat sun.nio.ch.FileDispatcherImpl.read0(Native Method)",
    ),
    ("java", "javax.net.ssl.SSLHandshakeException: Remote host terminated the handshake"),
    (
        "spark",
        "org.apache.spark.shuffle.FetchFailedException: Failed to connect to {host}/{ip}:7337\nCaused by: io.netty.channel.AbstractChannel$AnnotatedConnectException: Connection refused: {host}/{ip}:7337",
    ),
    (
        "spark",
        "WARN TransportChannelHandler: Exception in connection from /{ip}:{port}\njava.io.IOException: Connection reset by peer",
    ),
    (
        "grpc",
        "google.api_core.exceptions.ServiceUnavailable: 503 failed to connect to all addresses; last error: UNKNOWN: ipv4:{ip}:443: ((Failed to connect to remote host: Connection refused|Connection reset by peer|Socket closed))",
    ),
    (
        "grpc",
        'grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.UNAVAILABLE\n\tdetails = "((failed to connect to all addresses|Connection reset by peer|Socket closed|DNS resolution failed for {host}))"\n>',
    ),
    (
        "grpc",
        "io.grpc.StatusRuntimeException: UNAVAILABLE: ((io exception|Network closed for unknown reason|Connection closed after GOAWAY))",
    ),
    ("grpc", "UNAVAILABLE: The service is currently unavailable. Connection to {host}:443 was lost."),
    (
        "pubsub",
        "google.api_core.exceptions.ServiceUnavailable: 503 The service was unable to fulfill your request. Please try again. [code=8a75]",
    ),
    (
        "pubsub",
        "StreamingPull connection to pubsub.googleapis.com:443 closed unexpectedly: UNAVAILABLE: Connection reset by peer; reconnecting",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.ServiceUnavailable: 503 GET {url}: Visibility check was unavailable. Please retry the request and contact support if the problem persists",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.RetryError: Deadline of {secs}.0s exceeded while calling target function, last exception: HTTPSConnectionPool(host='bigquery.googleapis.com', port=443): Read timed out.",
    ),
    (
        "gcs",
        "ConnectionError: ('Connection aborted.', TimeoutError('The write operation timed out')) while uploading gs://{bucket}/{obj}",
    ),
    (
        "postgres",
        'psycopg2.OperationalError: could not connect to server: Connection ((timed out|refused))\n\tIs the server running on host "{host}" ({ip}) and accepting\n\tTCP/IP connections on port 5432?',
    ),
    (
        "postgres",
        "psycopg2.OperationalError: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.",
    ),
    (
        "postgres",
        'connection to server at "{host}" ({ip}), port 5432 failed: ((Connection refused|timeout expired|Operation timed out))',
    ),
    (
        "postgres",
        'psycopg2.OperationalError: could not translate host name "{host}" to address: ((Name or service not known|Temporary failure in name resolution))',
    ),
    ("postgres", "psycopg2.OperationalError: SSL SYSCALL error: EOF detected"),
    (
        "mysql",
        "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on '{host}' ((|(timed out)|([Errno 111] Connection refused)))\")",
    ),
    ("mysql", "(2013, 'Lost connection to MySQL server during query')"),
    ("mysql", "MySQLdb.OperationalError: (2006, 'MySQL server has gone away')"),
    (
        "snowflake",
        "snowflake.connector.errors.OperationalError: 250003: Failed to get the response. Hanging? method: post, url: https://{acct}.snowflakecomputing.com:443/queries/v1/query-request?requestId={uuid}",
    ),
    (
        "k8s",
        "Unable to connect to the server: dial tcp {ip}:443: ((i/o timeout|connect: connection refused|connect: connection timed out))",
    ),
    (
        "k8s",
        'Get "https://{ip}:443/api/v1/namespaces/{ns}/pods": net/http: ((TLS handshake timeout|request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)))',
    ),
    (
        "k8s",
        'Failed to pull image "{image}": rpc error: code = Unknown desc = Error response from daemon: Get https://{host}/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)',
    ),
    ("other", "dial tcp: lookup {host} on 10.0.0.10:53: no such host"),
    ("other", "curl: (28) ((Connection|Operation)) timed out after {ms} milliseconds"),
    ("other", "curl: (6) Could not resolve host: {host}"),
    ("other", "curl: (7) Failed to connect to {host} port {port}((| after {n} ms)): Connection refused"),
    ("other", "getaddrinfo ENOTFOUND {host}"),
    ("other", "Error: connect ECONNREFUSED {ip}:{port}"),
    ("other", "Error: read ECONNRESET"),
    ("java", "org.apache.kafka.common.errors.TimeoutException: Failed to update metadata after {ms} ms."),
    (
        "java",
        "org.apache.kafka.common.errors.NetworkException: The server disconnected before a response was received.",
    ),
    (
        "python",
        "redis.exceptions.ConnectionError: Error ((111|110)) connecting to {host}:6379. ((Connection refused|Connection timed out)).",
    ),
    ("python", "redis.exceptions.TimeoutError: Timeout reading from socket"),
    (
        "airflow",
        "airflow.exceptions.AirflowException: HTTPConnectionPool(host='{host}', port={port}): Max retries exceeded with url: /api/v2/dags/{dag}/dagRuns (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))",
    ),
    (
        "dataflow",
        'Error syncing pod {hex8} ("dataflow-{pod}"): failed to connect to the Dataflow service: dial tcp {ip}:443: i/o timeout',
    ),
    (
        "dataflow",
        "java.io.IOException: Failed to connect to {host}:{port}: Connection timed out (Connection timed out)",
    ),
    (
        "other",
        "Connection to {host} closed by remote host. ssh: connect to host {host} port 22: Connection timed out",
    ),
    ("other", "Network is unreachable: the VPC connector could not reach {ip}:{port} (connection timed out)"),
    ("python", "httpcore.ConnectError: [Errno -2] Name or service not known"),
]

TIMEOUT_EXCEEDED: list[_T] = [
    ("airflow", "airflow.exceptions.AirflowTaskTimeout: Timeout, PID: {pid}"),
    ("airflow", "ERROR - Process timed out, PID: {pid}"),
    (
        "airflow",
        "airflow.exceptions.AirflowTaskTimeout: Task {task} exceeded its execution_timeout of ((0:30:00|1:00:00|2:00:00|0:05:00))",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowSensorTimeout: Sensor has timed out; run duration of {secs}.{n} seconds exceeds the specified timeout of {secs}.0.",
    ),
    (
        "airflow",
        "Sensor {task} timed out after {secs} seconds waiting for ((gs://{bucket}/{obj}|the external task {dag}.{task}|the partition))",
    ),
    (
        "airflow",
        "Marking run <DagRun {dag} @ {ts}: scheduled__{ts}, state:running> failed: dagrun_timeout of ((1:00:00|6:00:00|12:00:00)) exceeded",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowException: Pod took longer than {secs} seconds to start. Check the pod events in kubernetes to determine why.",
    ),
    (
        "airflow",
        "Task timed out after {secs} seconds (execution_timeout reached); sending SIGTERM to task process {pid}",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowException: Timeout: the {op} did not finish within {secs} seconds",
    ),
    ("postgres", "psycopg2.errors.QueryCanceled: canceling statement due to statement timeout"),
    ("postgres", "ERROR:  canceling statement due to ((statement|lock|idle_in_transaction_session)) timeout"),
    (
        "postgres",
        "sqlalchemy.exc.OperationalError: (psycopg2.errors.QueryCanceled) canceling statement due to statement timeout\n[SQL: INSERT INTO {table} SELECT ...]",
    ),
    (
        "mysql",
        "pymysql.err.OperationalError: (3024, 'Query execution was interrupted, maximum statement execution time exceeded')",
    ),
    ("mysql", "(1205, 'Lock wait timeout exceeded; try restarting transaction')"),
    (
        "snowflake",
        "snowflake.connector.errors.ProgrammingError: 000630 (57014): Statement reached its statement or warehouse timeout of {secs} second(s) and was canceled.",
    ),
    (
        "bigquery",
        "Operation timed out after 6.0 hours. Consider reducing the amount of work performed by your operation so that it can complete within this limit.",
    ),
    ("bigquery", "concurrent.futures._base.TimeoutError: job {jobid} did not complete within {secs} seconds"),
    (
        "bigquery",
        "google.api_core.exceptions.((GatewayTimeout|DeadlineExceeded)): ((504|408)) Query {jobid} exceeded the job timeout of {ms} ms (jobTimeoutMs) and was cancelled.",
    ),
    ("bigquery", "Job execution was cancelled: Job timed out after {secs} s"),
    (
        "dbt",
        "Database Error in model {model} (models/{model}.sql)\n  Operation did not complete within the designated timeout of {secs} seconds.",
    ),
    ("dbt", "dbt: query {model} timed out after job_execution_timeout_seconds={secs}"),
    (
        "dataflow",
        "Workflow failed. Causes: The Dataflow job appears to be stuck because no worker activity has been seen in the last 1h. Please check the worker logs in Stackdriver Logging.",
    ),
    (
        "dataflow",
        "airflow.exceptions.AirflowException: Timeout: Dataflow job {jobid} did not reach a terminal state within {secs} seconds",
    ),
    (
        "dataflow",
        "Job {jobid} cancelled: it exceeded the maximum run time of {secs} seconds (max_run_duration)",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: Could not execute broadcast in {secs} secs. You can increase the timeout for broadcasts via spark.sql.broadcastTimeout or disable broadcast join by setting spark.sql.autoBroadcastJoinThreshold to -1",
    ),
    (
        "spark",
        "java.util.concurrent.TimeoutException: Futures timed out after [{secs} seconds]\n\tat scala.concurrent.impl.Promise$DefaultPromise.ready(Promise.scala:{line})",
    ),
    (
        "spark",
        "org.apache.spark.rpc.RpcTimeoutException: Futures timed out after [{secs} seconds]. This timeout is controlled by spark.((rpc.askTimeout|network.timeout|executor.heartbeatInterval))",
    ),
    (
        "spark",
        "Dataproc job {jobid} exceeded its max TTL ((and was terminated|of {secs}s)); the job was killed after running past the configured timeout",
    ),
    (
        "k8s",
        "Job has reached the specified deadline (activeDeadlineSeconds={secs}); reason: DeadlineExceeded",
    ),
    ("k8s", "Pod {pod} was active on the node longer than the specified deadline; Reason: DeadlineExceeded"),
    (
        "python",
        "subprocess.TimeoutExpired: Command '['((bash|dbt|python|gsutil))', '((-c|run|-m))', '...']' timed out after {secs} seconds",
    ),
    ("python", "asyncio.exceptions.TimeoutError"),
    ("python", "concurrent.futures._base.TimeoutError"),
    (
        "python",
        "func_timeout.exceptions.FunctionTimedOut: Function {task} (args=()) (kwargs={}) timed out after {secs}.00 seconds.",
    ),
    ("python", "celery.exceptions.SoftTimeLimitExceeded: SoftTimeLimitExceeded()"),
    ("python", "celery.exceptions.TimeLimitExceeded: TimeLimitExceeded({secs})"),
    ("grpc", "google.api_core.exceptions.DeadlineExceeded: 504 Deadline Exceeded"),
    (
        "grpc",
        'grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n\tdetails = "Deadline Exceeded"\n>',
    ),
    ("grpc", "io.grpc.StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after {small}.{n}s."),
    ("pubsub", "google.api_core.exceptions.DeadlineExceeded: 504 Deadline exceeded while waiting for {rpc}"),
    (
        "other",
        "Query exceeded ((the maximum|its)) ((execution time|run time)) limit of {secs}((s| seconds)) and was ((cancelled|killed))",
    ),
    ("other", "Query exceeded maximum time limit of {small}.00h"),
    (
        "other",
        "java.sql.SQLTimeoutException: ((ORA-01013: user requested cancel of current operation|Query timed out after {secs} seconds))",
    ),
    (
        "java",
        "java.util.concurrent.TimeoutException: Timeout waiting for task {task} to complete after {secs} seconds",
    ),
    ("other", "The job was cancelled because it exceeded the maximum execution time of {secs} seconds."),
    ("other", "Task {task} killed: execution time limit ({secs}s) exceeded"),
    (
        "bigquery",
        "Job {project}:{loc}.{jobid} timed out: the query ran longer than the configured timeout of {secs} seconds",
    ),
    (
        "other",
        "ETL step {task} exceeded its SLA: still running after {secs} seconds, stopped by the scheduler's timeout",
    ),
]

SCHEMA_MISMATCH: list[_T] = [
    (
        "bigquery",
        "Provided Schema does not match Table {project}:{dataset}.{table}. Field {col} has changed ((type|mode)) from ((STRING to INTEGER|INTEGER to STRING|REQUIRED to NULLABLE|NULLABLE to REPEATED|FLOAT to NUMERIC|TIMESTAMP to DATETIME))",
    ),
    (
        "bigquery",
        "Provided Schema does not match Table {project}:{dataset}.{table}. Cannot add fields (field: {col})",
    ),
    (
        "bigquery",
        "google.api_core.exceptions.BadRequest: 400 POST {url}: Invalid schema update. Field {col} has changed type from {bqtype} to {bqtype2}",
    ),
    ("bigquery", "400 No such field: {col}."),
    ("bigquery", "google.api_core.exceptions.BadRequest: 400 Unrecognized name: {col} at [{small}:{line}]"),
    (
        "bigquery",
        "Query column {small} has type {bqtype} which cannot be inserted into column {col}, which has type {bqtype2} at [{small}:{line}]",
    ),
    ("bigquery", "Inserted row has wrong column count; Has {small}, expected {small2} at [{small}:{line}]"),
    (
        "bigquery",
        "insertAll errors: [{'index': {n}, 'errors': [{'reason': 'invalid', 'location': '{col}', 'debugInfo': '', 'message': 'no such field: {col}.'}]}]",
    ),
    (
        "bigquery",
        "No matching signature for operator = for argument types: {bqtype}, {bqtype2}. Supported signature: ANY = ANY at [{small}:{line}]",
    ),
    ("bigquery", "Field {col} is missing in new schema; to delete a column use ALTER TABLE DROP COLUMN"),
    (
        "bigquery",
        "Invalid value for type: {bqtype} is not a valid value for field {col} (schema expects {bqtype2})",
    ),
    ("bigquery", "Column {col} in UNION ALL has incompatible types: {bqtype}, {bqtype2} at [{small}:{line}]"),
    (
        "spark",
        "org.apache.spark.sql.AnalysisException: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `{col}` cannot be resolved. Did you mean one of the following? [`{col2}`, `id`, `name`].",
    ),
    (
        "spark",
        "pyspark.sql.utils.AnalysisException: cannot resolve '`{col}`' given input columns: [{col2}, id, {table}.name]",
    ),
    (
        "spark",
        "org.apache.spark.sql.execution.QueryExecutionException: Parquet column cannot be converted in file {path}/part-{n}.snappy.parquet. Column: [{col}], Expected: {sparktype}, Found: ((INT32|INT64|BINARY|DOUBLE|FIXED_LEN_BYTE_ARRAY))",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: Failed merging schema:\nroot\n |-- {col}: {sparktype} (nullable = true)\nCaused by: Failed to merge incompatible data types {sparktype} and {sparktype2}",
    ),
    (
        "spark",
        "org.apache.spark.sql.AnalysisException: Found duplicate column(s) in the data schema: `{col}`",
    ),
    (
        "spark",
        'org.apache.spark.sql.AnalysisException: [CANNOT_UP_CAST_DATATYPE] Cannot up cast {col} from "{sparktype}" to "{sparktype2}".',
    ),
    (
        "spark",
        "org.apache.spark.sql.AnalysisException: Union can only be performed on tables with the same number of columns, but the first table has {small} columns and the second table has {small2} columns",
    ),
    (
        "spark",
        'org.apache.spark.sql.AnalysisException: A schema mismatch detected when writing to the Delta table (Table ID: {uuid}).\nTo enable schema migration using DataFrameWriter or DataStreamWriter, please set: \'.option("mergeSchema", "true")\'.',
    ),
    (
        "spark",
        "java.lang.UnsupportedOperationException: org.apache.parquet.column.values.dictionary.PlainValuesDictionary$Plain((Long|Integer|Binary|Double))Dictionary",
    ),
    (
        "spark",
        '[INCOMPATIBLE_DATA_FOR_TABLE.CANNOT_SAFELY_CAST] Cannot write incompatible data for the table `{table}`: Cannot safely cast `{col}` "{sparktype}" to "{sparktype2}".',
    ),
    (
        "postgres",
        'psycopg2.errors.UndefinedColumn: column "{col}" ((of relation "{table}" |))does not exist\nLINE 1: INSERT INTO {table} ({col}, ...',
    ),
    (
        "postgres",
        'psycopg2.errors.DatatypeMismatch: column "{col}" is of type {sqltype} but expression is of type {sqltype2}\nHINT:  You will need to rewrite or cast the expression.',
    ),
    ("postgres", "ERROR:  INSERT has more expressions than target columns"),
    (
        "postgres",
        "ERROR:  operator does not exist: {sqltype} = {sqltype2}\nHINT:  No operator matches the given name and argument types. You might need to add explicit type casts.",
    ),
    ("mysql", "pymysql.err.OperationalError: (1054, \"Unknown column '{col}' in 'field list'\")"),
    ("mysql", '(1136, "Column count doesn\'t match value count at row 1")'),
    (
        "snowflake",
        "snowflake.connector.errors.ProgrammingError: 000904 (42000): SQL compilation error: error line {small} at position {line}\ninvalid identifier '{COL}'",
    ),
    (
        "snowflake",
        "100080 (22000): Number of columns in file ({small}) does not match that of the corresponding table ({small2}), use file format option error_on_column_count_mismatch=false to ignore this error",
    ),
    (
        "snowflake",
        "002023 (22000): SQL compilation error: Expression type does not match column data type, expecting NUMBER(38,0) but got VARCHAR(16777216) for column {COL}",
    ),
    (
        "java",
        "org.apache.avro.AvroTypeException: Found ((long|string|int|null)), expecting ((union|int|string|double|record))",
    ),
    ("java", "org.apache.avro.AvroTypeException: Expected field name not found: {col}"),
    (
        "java",
        "org.apache.avro.SchemaCompatibility: reader schema is incompatible with writer schema: field {col} type changed from {sparktype} to {sparktype2}",
    ),
    (
        "python",
        "pyarrow.lib.ArrowInvalid: Schema at index {small} was different: \n{col}: ((int64|string|double|timestamp[us]))\nvs\n{col}: ((string|int64|null|double))",
    ),
    (
        "python",
        "pyarrow.lib.ArrowTypeError: ('Expected bytes, got a ((int|float)) object', 'Conversion failed for column {col} with type object')",
    ),
    (
        "python",
        "pyarrow.lib.ArrowInvalid: Could not convert '{col}' with type str: tried to convert to ((int64|double)) (schema field {col} is {sparktype})",
    ),
    ("python", "KeyError: \"['{col}', '{col2}'] not in index\""),
    ("python", "KeyError: \"None of [Index(['{col}'], dtype='object')] are in the [columns]\""),
    (
        "python",
        "ValueError: Length mismatch: Expected axis has {small} elements, new values have {small2} elements",
    ),
    (
        "python",
        "jsonschema.exceptions.ValidationError: '{col}' is a required property\n\nFailed validating 'required' in schema",
    ),
    (
        "python",
        "pandas_gbq.gbq.InvalidSchema: Please verify that the structure and data types in the DataFrame match the schema of the destination table.",
    ),
    (
        "pubsub",
        "google.api_core.exceptions.InvalidArgument: 400 Invalid data in message: Message failed schema validation.",
    ),
    (
        "pubsub",
        "Message does not conform to the topic schema projects/{project}/schemas/{topic}-schema: field {col} expected {bqtype} got {bqtype2}",
    ),
    (
        "dataflow",
        "java.lang.IllegalArgumentException: Field {col} not found in schema Schema: Fields: Field{name={col2}, type=FieldType{typeName=STRING}}",
    ),
    (
        "dataflow",
        "Error while reading table: {table}, error message: Provided schema is not compatible with the table schema: field {col} is {bqtype} in the table but {bqtype2} in the pipeline",
    ),
    (
        "dataflow",
        'BigQuery insertAll failed: {"errors":[{"message":"no such field: {col}.","reason":"invalid"}],"index":{n}}',
    ),
    (
        "dbt",
        "Database Error in model {model} (models/{model}.sql)\n  Name {col} not found inside {table} at [{small}:{line}]",
    ),
    (
        "dbt",
        "Compilation Error in model {model}\n  This model has an enforced contract that failed.\n  Please ensure the name, data_type, and number of columns in your contract match the columns in your model's definition.\n\n  | column_name | definition_type | contract_type | mismatch_reason |\n  | {col} | {bqtype} | {bqtype2} | data type mismatch |",
    ),
    (
        "other",
        'google.protobuf.json_format.ParseError: Message type "{table}.Record" has no field named "{col}".',
    ),
    (
        "other",
        "FAILED: SemanticException [Error 10004]: Line {small}:{line} Invalid table alias or column reference '{col}'",
    ),
    (
        "other",
        "Cannot write incompatible dataset to table with schema: table {table} field {col}: {sparktype} cannot be promoted to {sparktype2}",
    ),
    (
        "gcs",
        "GCSToBigQueryOperator failed: the columns of gs://{bucket}/{obj} do not match the schema_fields given for {dataset}.{table}: unexpected column {col}",
    ),
]

DATA_CORRUPTION: list[_T] = [
    (
        "bigquery",
        "Error while reading data, error message: CSV table encountered too many errors, giving up. Rows: {row}; errors: {small}. Please look into the errors[] collection for more details.",
    ),
    (
        "bigquery",
        'Error while reading data, error message: Error detected while parsing row starting at position: {pos}. Error: ((Data between close double quote (") and field separator.|Missing close double quote (") character.|Too many values in row starting at position: {pos}.|Bad character (ASCII 0) encountered.))',
    ),
    (
        "bigquery",
        "Error while reading data, error message: JSON parsing error in row starting at position {pos}: ((Parser terminated before end of string|No such field: {col}.|Closing quote expected in string|Unexpected end of string))",
    ),
    (
        "bigquery",
        "Error while reading data, error message: The Apache Avro library failed to parse the header with the following error: Invalid data file. Magic does not match",
    ),
    (
        "bigquery",
        'Error while reading data, error message: Failed to parse input string "((2021-13-45|N/A|abc|--|1.2.3))"',
    ),
    (
        "bigquery",
        "Could not parse '((N/A|abc|2020-02-30|null|1,234))' as ((INT64|DATE|TIMESTAMP|NUMERIC|BOOL)) for field {col} (position {small}) starting at location {pos} with message '((Unable to parse|Invalid date|Invalid timestamp))'",
    ),
    (
        "bigquery",
        "Error while reading data, error message: Input file gs://{bucket}/{obj} is not a valid Parquet file: Parquet magic bytes not found in footer",
    ),
    (
        "bigquery",
        "Error while reading data, error message: gs://{bucket}/{obj}: Invalid UTF-8 data in CSV at row {row}",
    ),
    (
        "python",
        "pyarrow.lib.ArrowInvalid: Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.",
    ),
    (
        "python",
        "pyarrow.lib.ArrowInvalid: Couldn't deserialize thrift: TProtocolException: Invalid data\nDeserializing page header failed.",
    ),
    (
        "spark",
        "org.apache.parquet.io.ParquetDecodingException: Can not read value at {n} in block {small} in file gs://{bucket}/{obj}",
    ),
    (
        "spark",
        "java.lang.RuntimeException: gs://{bucket}/{obj} is not a Parquet file. Expected magic number at tail, but found [{small}, {small2}, {line}, {small}]",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: Malformed records are detected in record parsing. Parse Mode: FAILFAST. To process malformed records as null result, try setting the option 'mode' as 'PERMISSIVE'.",
    ),
    (
        "spark",
        "org.apache.spark.SparkException: [MALFORMED_RECORD_IN_PARSING] Malformed records are detected in record parsing: [null,{n}].",
    ),
    (
        "spark",
        "java.io.IOException: FAILED_TO_UNCOMPRESS(5)\n\tat org.xerial.snappy.SnappyNative.throw_error(SnappyNative.java:{line})",
    ),
    ("spark", "org.apache.hadoop.fs.ChecksumException: Checksum error: {path} at {n} exp: {n2} got: {n}"),
    ("spark", "org.apache.orc.FileFormatException: Malformed ORC file {path}. Invalid postscript."),
    ("java", "java.io.EOFException: Unexpected end of ZLIB input stream"),
    (
        "java",
        "java.util.zip.ZipException: ((invalid distance too far back|invalid block type|invalid stored block lengths|Not in GZIP format))",
    ),
    ("java", "org.apache.avro.AvroRuntimeException: Malformed data. Length is negative: -{n}"),
    (
        "java",
        "java.io.IOException: Invalid sync!\n\tat org.apache.avro.file.DataFileStream.nextRawBlock(DataFileStream.java:{line})",
    ),
    (
        "java",
        "com.fasterxml.jackson.core.JsonParseException: Unexpected character ('((}|,|]))' (code ((125|44|93)))): was expecting double-quote to start field name\n at [Source: (String)\"...\"; line: 1, column: {line}]",
    ),
    ("java", "java.nio.charset.MalformedInputException: Input length = 1"),
    ("java", "org.xerial.snappy.SnappyIOException: [EMPTY_INPUT] Cannot decompress empty stream"),
    ("python", "gzip.BadGzipFile: Not a gzipped file (b'((PK|\\x00\\x00|<h|ID))')"),
    (
        "python",
        "zlib.error: Error -3 while decompressing data: ((invalid stored block lengths|incorrect header check|invalid distance too far back))",
    ),
    ("python", "EOFError: Compressed file ended before the end-of-stream marker was reached"),
    (
        "python",
        "UnicodeDecodeError: '((utf-8|utf8|ascii))' codec can't decode byte {byte} in position {pos}: ((invalid start byte|invalid continuation byte|unexpected end of data|ordinal not in range(128)))",
    ),
    (
        "python",
        "pandas.errors.ParserError: Error tokenizing data. C error: Expected {small} fields in line {row}, saw {small2}",
    ),
    ("python", "_csv.Error: line contains NUL"),
    (
        "python",
        "json.decoder.JSONDecodeError: ((Expecting ',' delimiter|Expecting value|Unterminated string starting at|Extra data|Invalid control character at)): line {small} column {line} (char {pos})",
    ),
    ("python", "zipfile.BadZipFile: File is not a zip file"),
    ("python", "tarfile.ReadError: unexpected end of data"),
    (
        "python",
        "fastavro._read_common.SchemaResolutionError: ((Invalid data file|truncated avro block|Unexpected end of file)) in {path}",
    ),
    (
        "python",
        "google.resumable_media.common.DataCorruption: Checksum mismatch while downloading:\n\n  https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{obj}?alt=media\n\nThe X-Goog-Hash header indicated an ((MD5|crc32c)) checksum of:\n\n  {hex}==\n\nbut the actual ((MD5|crc32c)) checksum of the downloaded contents was:\n\n  {hex8}==",
    ),
    (
        "gcs",
        "CommandException: ((CRC32C|MD5)) signature computed for local file ({hex8}==) doesn't match cloud-supplied digest ({hex8}==). Local file ({path}) will be deleted.",
    ),
    (
        "gcs",
        "Upload of gs://{bucket}/{obj} failed integrity check: crc32c mismatch (object may be truncated or corrupted)",
    ),
    (
        "postgres",
        'psycopg2.errors.CharacterNotInRepertoire: invalid byte sequence for encoding "UTF8": {byte} 0x((28|00|a0|92))',
    ),
    (
        "postgres",
        'psycopg2.errors.InvalidTextRepresentation: invalid input syntax for type ((integer|numeric|timestamp|uuid|boolean)): "((abc|N/A|2021-02-30|--|yes?))"\nCONTEXT:  COPY {table}, line {row}, column {col}',
    ),
    (
        "postgres",
        'ERROR:  ((unterminated CSV quoted field|extra data after last expected column|missing data for column "{col}"))\nCONTEXT:  COPY {table}, line {row}',
    ),
    ("postgres", "ERROR:  invalid page in block {n} of relation base/{n2}/{n}"),
    ("postgres", 'ERROR:  could not read block {n} in file "base/{n2}/{n}": read only 0 of 8192 bytes'),
    (
        "mysql",
        "(1366, \"Incorrect string value: '\\\\xF0\\\\x9F\\\\x98\\\\x80' for column '{col}' at row {row}\")",
    ),
    (
        "snowflake",
        "100038 (22018): Numeric value '((abc|N/A|1,234))' is not recognized\n  File '{obj}', line {row}, character {line}\n  Row {row}, column \"{TABLE}\"[\"{COL}\":{small}]",
    ),
    (
        "snowflake",
        "100069 (22P02): Error parsing JSON: ((incomplete object value|misplaced }|unknown keyword)), pos {pos}",
    ),
    (
        "java",
        "org.apache.kafka.common.errors.CorruptRecordException: Record size {n} is less than the minimum record overhead (14)",
    ),
    (
        "java",
        "org.apache.kafka.common.errors.SerializationException: Error deserializing key/value for partition {topic}-{small} at offset {n}. If needed, please seek past the record to continue consumption.",
    ),
    (
        "pubsub",
        "Failed to deserialize message {n}: com.google.protobuf.InvalidProtocolBufferException: Protocol message contained an invalid tag (zero).",
    ),
    (
        "dataflow",
        "com.google.protobuf.InvalidProtocolBufferException: While parsing a protocol message, the input ended unexpectedly in the middle of a field.  This could mean either that the input has been truncated or that an embedded message misreported its own length.",
    ),
    (
        "dataflow",
        "Error processing element: malformed row at offset {pos} in gs://{bucket}/{obj}: unexpected end of record (file appears truncated)",
    ),
    (
        "dbt",
        "Failure in test ((not_null|unique|accepted_values|relationships))_{model}_{col} (models/schema.yml)\n  Got {n} results, configured to fail if != 0",
    ),
    (
        "other",
        "Data validation failed: {n} rows in {table} have corrupted values in column {col} (checksum of partition {n2} does not match the source)",
    ),
    ("other", "Checksum mismatch for {obj}: expected sha256 {hex}, got {hex8}; the file is corrupt"),
    ("python", "OSError: image file is truncated ({small} bytes not processed)"),
    ("python", "OSError: Not a gzipped file (b'\\x1f\\x00')"),
    (
        "python",
        "ValueError: could not convert string to float: '((N/A|#REF!|1,234.5|--))' (row {row} of {obj})",
    ),
]

MISSING_DEPENDENCY: list[_T] = [
    ("python", "ModuleNotFoundError: No module named '{module}'"),
    ("python", "ImportError: cannot import name '{name}' from '{module}' ({path})"),
    (
        "python",
        "ImportError: ((libGL.so.1|libpq.so.5|libodbc.so.2|libgomp.so.1|libcudart.so.11.0)): cannot open shared object file: No such file or directory",
    ),
    (
        "python",
        "pkg_resources.DistributionNotFound: The '{pip}>={version}' distribution was not found and is required by the application",
    ),
    (
        "python",
        "pkg_resources.VersionConflict: ({pip} {version} ({path}), Requirement.parse('{pip}>={version2}'))",
    ),
    (
        "python",
        "ERROR: Could not find a version that satisfies the requirement {pip}=={version} (from versions: none)\nERROR: No matching distribution found for {pip}=={version}",
    ),
    (
        "python",
        "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. This behaviour is the source of the following dependency conflicts.\n{pip} {version} requires {pip}<{version2}, but you have {pip} {version} which is incompatible.",
    ),
    (
        "python",
        "AttributeError: module '{module}' has no attribute '{name}' (the installed {pip} {version} is older than the version this DAG needs)",
    ),
    ("python", "FileNotFoundError: [Errno 2] No such file or directory: '{binary}'"),
    ("python", "FileNotFoundError: [Errno 2] No such file or directory: '{path}'"),
    (
        "python",
        "airflow.exceptions.AirflowException: Could not find the dbt executable: [Errno 2] No such file or directory: 'dbt'",
    ),
    ("other", "/bin/((sh|bash)): ((line {small}: |1: )){binary}: ((command not found|not found))"),
    ("other", 'exec: "{binary}": executable file not found in $PATH'),
    ("java", "java.lang.ClassNotFoundException: {jclass}"),
    (
        "java",
        "java.lang.NoClassDefFoundError: ((org/apache/hadoop/fs/FSDataInputStream|com/google/common/base/Preconditions|org/slf4j/LoggerFactory|scala/Product$class|org/apache/beam/sdk/options/PipelineOptions))",
    ),
    (
        "java",
        "java.lang.NoSuchMethodError: 'com.google.common.base.((Preconditions.checkArgument|Stopwatch.createStarted|Splitter.splitToList))(...)' (dependency version conflict between {jar} and the runtime)",
    ),
    (
        "java",
        "Error: Could not find or load main class {jclass}\nCaused by: java.lang.ClassNotFoundException: {jclass}",
    ),
    ("java", "java.lang.UnsatisfiedLinkError: no ((snappyjava|hadoop|netty_tcnative)) in java.library.path"),
    (
        "java",
        "java.sql.SQLException: No suitable driver found for jdbc:((postgresql|mysql|snowflake|oracle:thin))://{host}:{port}/{db}",
    ),
    (
        "java",
        "[ERROR] Failed to execute goal on project {topic}: Could not resolve dependencies for project com.acme:{topic}:jar:{version}: Could not find artifact org.apache.beam:beam-runners-google-cloud-dataflow-java:jar:{version2}",
    ),
    (
        "spark",
        "org.apache.spark.sql.AnalysisException: Failed to find data source: ((avro|bigquery|delta|kafka|snowflake|iceberg)). Please deploy the application as per the deployment section of the guide.",
    ),
    (
        "spark",
        "py4j.protocol.Py4JJavaError: An error occurred while calling o{n}.load.\n: java.lang.ClassNotFoundException: Failed to find data source: ((bigquery|avro|delta)). Please find packages at https://spark.apache.org/third-party-projects.html",
    ),
    ("spark", "java.lang.RuntimeException: java.lang.ClassNotFoundException: Class {jclass} not found"),
    ("spark", "File file:{path}/{jar} does not exist"),
    (
        "spark",
        "org.apache.spark.sql.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view `{dataset}`.`{table}` cannot be found. Verify the spelling and correctness of the schema and catalog.",
    ),
    ("spark", "org.apache.spark.sql.AnalysisException: Path does not exist: gs://{bucket}/{obj}"),
    (
        "spark",
        "org.apache.spark.sql.catalyst.analysis.NoSuchTableException: Table or view '{table}' not found in database '{db}'",
    ),
    ("bigquery", "404 Not found: Table {project}:{dataset}.{table} was not found in location {loc}"),
    (
        "bigquery",
        "google.api_core.exceptions.NotFound: 404 GET https://bigquery.googleapis.com/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}?prettyPrint=false: Not found: Table {project}:{dataset}.{table}",
    ),
    ("bigquery", "google.api_core.exceptions.NotFound: 404 Not found: Dataset {project}:{dataset}"),
    ("bigquery", "Not found: ((Table|View|Routine|Model)) {project}:{dataset}.{table}"),
    (
        "bigquery",
        '{"error": {"code": 404, "message": "Not found: Table {project}:{dataset}.{table}", "errors": [{"message": "Not found: Table {project}:{dataset}.{table}", "domain": "global", "reason": "notFound"}], "status": "NOT_FOUND"}}',
    ),
    (
        "gcs",
        "google.api_core.exceptions.NotFound: 404 GET https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{obj}?alt=media: No such object: {bucket}/{obj}",
    ),
    ("gcs", "google.api_core.exceptions.NotFound: 404 The specified bucket does not exist."),
    ("gcs", "CommandException: No URLs matched: gs://{bucket}/{obj}"),
    ("gcs", "BucketNotFoundException: 404 gs://{bucket} bucket does not exist."),
    (
        "gcs",
        "java.io.FileNotFoundException: Item not found: 'gs://{bucket}/{obj}'. Note, it is possible that the live version is still available but the requested generation is deleted.",
    ),
    ("pubsub", "google.api_core.exceptions.NotFound: 404 Resource not found (resource={sub})."),
    (
        "pubsub",
        "google.api_core.exceptions.NotFound: 404 ((Subscription|Topic)) does not exist (resource=projects/{project}/((subscriptions|topics))/{sub})",
    ),
    ("pubsub", "NOT_FOUND: Requested entity was not found. (topic projects/{project}/topics/{topic})"),
    (
        "postgres",
        'psycopg2.errors.UndefinedTable: relation "{schema}.{table}" does not exist\nLINE 1: SELECT * FROM {schema}.{table}',
    ),
    (
        "postgres",
        'ERROR:  ((function|extension|schema)) "((uuid_generate_v4|postgis|pg_trgm|{schema}))" does not exist',
    ),
    ("mysql", "pymysql.err.ProgrammingError: (1146, \"Table '{db}.{table}' doesn't exist\")"),
    (
        "snowflake",
        "snowflake.connector.errors.ProgrammingError: 002003 (42S02): SQL compilation error:\nTable '{DB}.{TABLE}' does not exist or not authorized.",
    ),
    (
        "snowflake",
        "002003 (02000): SQL compilation error:\nStage '{DB}.PUBLIC.{TABLE}_STAGE' does not exist or not authorized.",
    ),
    (
        "dbt",
        "Compilation Error in model {model} (models/{model}.sql)\n  Model 'model.{topic}.{model}' depends on a node named '{table}' which was not found",
    ),
    (
        "dbt",
        'dbt found {small} package(s) specified in packages.yml, but only 0 package(s) installed in dbt_packages. Run "dbt deps" to install package dependencies.',
    ),
    (
        "dbt",
        "Compilation Error\n  'dbt_utils' is undefined. This can happen when calling a macro that does not exist. Check for typos and/or install package dependencies with \"dbt deps\".",
    ),
    (
        "k8s",
        'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found',
    ),
    (
        "k8s",
        'Back-off pulling image "{image}"; ErrImagePull: manifest unknown: Failed to fetch "{version}" from request "/v2/{topic}/manifests/{version}".',
    ),
    ("k8s", "Warning  Failed  kubelet  Error: ImagePullBackOff (image {image} not found in registry)"),
    ("airflow", "airflow.exceptions.AirflowException: The external DAG {dag} does not exist."),
    (
        "airflow",
        "ExternalTaskSensor: the external task {task} in DAG {dag} does not exist; upstream table {dataset}.{table} was never produced",
    ),
    (
        "airflow",
        "Broken DAG: [{path}] Traceback (most recent call last):\nModuleNotFoundError: No module named '{module}'",
    ),
    (
        "dataflow",
        "Workflow failed. Causes: ... ModuleNotFoundError: No module named '{module}'. The worker could not import the pipeline's dependencies; pass --requirements_file or --setup_file.",
    ),
    (
        "dataflow",
        "RuntimeError: Pip install failed for package: {pip}=={version}\nOutput from execution of subprocess: ERROR: No matching distribution found for {pip}=={version}",
    ),
    ("other", "Error: Cannot find module '{module}'\nRequire stack:\n- {path}"),
    (
        "other",
        "OSError: ((libssl.so.1.1|libsnappy.so.1)): cannot open shared object file: No such file or directory",
    ),
    (
        "python",
        "RuntimeError: The required input file gs://{bucket}/{obj} was not produced by the upstream task {task}",
    ),
    (
        "python",
        "sqlalchemy.exc.NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:((snowflake|bigquery|redshift))",
    ),
]

CONFIGURATION_ERROR: list[_T] = [
    ("airflow", "airflow.exceptions.AirflowNotFoundException: The conn_id `{conn}` isn't defined"),
    ("airflow", "airflow.sdk.exceptions.AirflowRuntimeError: CONNECTION_NOT_FOUND: {'conn_id': '{conn}'}"),
    ("airflow", "airflow.sdk.exceptions.AirflowRuntimeError: VARIABLE_NOT_FOUND: {'key': '{var}'}"),
    ("airflow", "KeyError: 'Variable {var} does not exist'"),
    (
        "airflow",
        "airflow.exceptions.AirflowConfigException: section/key [((core|database|celery|logging|webserver))/((sql_alchemy_conn|broker_url|remote_base_log_folder|fernet_key|secret_key))] not found in config",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowException: Invalid arguments were passed to {op} (task_id: {task}). Invalid arguments were:\n**kwargs: {'{kw}': '{var}'}",
    ),
    ("airflow", "TypeError: {op}.__init__() got an unexpected keyword argument '{kw}'"),
    (
        "airflow",
        "airflow.exceptions.AirflowException: The key '{task} id' has to be made of alphanumeric characters, dashes, dots and underscores exclusively",
    ),
    (
        "airflow",
        "ValueError: The 'location' parameter is required when the dataset is not in the US multi-region",
    ),
    (
        "airflow",
        "airflow.exceptions.AirflowException: The project id must be passed either as keyword project_id parameter or as project_id extra in Google Cloud connection definition. Both are not set!",
    ),
    ("python", "KeyError: '{ENV}'\n(raised by os.environ['{ENV}'])"),
    ("python", "ValueError: Missing required environment variable {ENV}"),
    (
        "python",
        "RuntimeError: Environment variable {ENV} is not set; export it or add it to the Composer environment variables",
    ),
    ("python", "OSError: Project was not passed and could not be determined from the environment."),
    (
        "python",
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings\n{col}\n  Field required [type=missing, input_value={...}, input_type=dict]",
    ),
    (
        "python",
        'yaml.scanner.ScannerError: mapping values are not allowed here\n  in "{path}", line {small}, column {line}',
    ),
    (
        "python",
        "ValueError: invalid literal for int() with base 10: '{var}' (setting {ENV} in the task config)",
    ),
    (
        "dataflow",
        'ValueError: Invalid GCS location: None.\nWriting to BigQuery with FILE_LOADS method requires a GCS location to be provided to write files to be loaded into BigQuery. Please provide a GCS bucket through custom_gcs_temp_location in the constructor of WriteToBigQuery or the fallback option --temp_location, or pass method="STREAMING_INSERTS" to WriteToBigQuery.',
    ),
    (
        "dataflow",
        "java.lang.IllegalArgumentException: ((Missing required option: region.|BigQueryIO.Write needs a GCS temp location to store temp files.|Missing object or bucket in path: 'gs://{bucket}/', did you mean: 'gs://some-bucket/{bucket}'?))",
    ),
    (
        "dataflow",
        "IllegalArgumentException: Class interface org.apache.beam.sdk.options.PipelineOptions missing a property named '((project|region|tempLocation|stagingLocation|workerMachineType))'.",
    ),
    (
        "dataflow",
        "Workflow failed. Causes: Subnetwork https://www.googleapis.com/compute/v1/projects/{project}/regions/{region}/subnetworks/{subnet} is not accessible to Dataflow Service account or does not exist",
    ),
    (
        "dataflow",
        "The workflow could not be created. Causes: Invalid value for field 'resource.machineType': 'zones/{zone}/machineTypes/((n1-standard-0|e2-huge-8|n2-highmem))'. Machine type with name does not exist in zone.",
    ),
    (
        "dataflow",
        "Dataflow job creation failed: the requested region {region} does not match the location of the staging bucket gs://{bucket} ({loc}); set --region or --temp_location consistently",
    ),
    (
        "dataflow",
        "ValueError: --region is required for the DataflowRunner; set it with --region={region} or the default pipeline options",
    ),
    (
        "bigquery",
        "403 ((BigQuery|Cloud Dataflow|Cloud Pub/Sub|Compute Engine|BigQuery Storage)) API has not been used in project {n} before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/{api}/overview?project={n} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
    ),
    (
        "grpc",
        'google.api_core.exceptions.PermissionDenied: 403 {api} API has not been used in project {n} before or it is disabled. [reason: "SERVICE_DISABLED" domain: "googleapis.com" metadata { key: "service" value: "{api}" }]',
    ),
    (
        "bigquery",
        '{"error": {"code": 403, "message": "Access Not Configured. {api} has not been used in project {n} before or it is disabled.", "errors": [{"reason": "accessNotConfigured", "domain": "usageLimits"}], "status": "PERMISSION_DENIED"}}',
    ),
    (
        "bigquery",
        "google.api_core.exceptions.BadRequest: 400 Cannot read and write in different locations: source: {loc}, destination: {loc2}",
    ),
    (
        "bigquery",
        "400 Invalid project ID '{project}_x'. Project IDs must contain 6-63 lowercase letters, digits, or dashes. Some project IDs also include domain name separated by a colon. IDs must start with a letter and may not end with a dash.",
    ),
    (
        "bigquery",
        '400 Invalid dataset ID "{dataset}-{dataset}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.',
    ),
    (
        "bigquery",
        "google.api_core.exceptions.NotFound: 404 Dataset {project}:{dataset} was not found in location {loc2}; the job was submitted with location={loc2} but the dataset lives in {loc}",
    ),
    (
        "bigquery",
        '400 Invalid table ID "{table}${n}": the destination table reference is malformed; check destination_project_dataset_table in the operator config',
    ),
    ("bigquery", "The project {project} has not enabled BigQuery."),
    (
        "bigquery",
        "400 Configuration.query.useLegacySql: legacy SQL is not supported with ((DML|scripting|parameterized queries)); set use_legacy_sql=False",
    ),
    ("gcs", "google.api_core.exceptions.BadRequest: 400 Invalid bucket name: '{bucket}/'"),
    (
        "gcs",
        "ValueError: Bucket names must start and end with a number or letter; got 'gs://{bucket}' (pass the bucket name without the gs:// scheme)",
    ),
    (
        "pubsub",
        "google.api_core.exceptions.InvalidArgument: 400 Invalid resource name given (name=projects/{project}/topics/{topic} prod). Refer to https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names",
    ),
    (
        "pubsub",
        "ValueError: the subscription path 'projects//subscriptions/{sub}' is invalid: project_id is empty",
    ),
    (
        "other",
        "ERROR: (gcloud.((dataflow.jobs.run|composer.environments.run|dataproc.jobs.submit.pyspark))) The required property [((project|region))] is not currently set.\nYou may set it for your current workspace by running:\n\n  $ gcloud config set ((project|compute/region)) VALUE",
    ),
    (
        "other",
        "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n - Invalid value for field 'zone': '{region}-z'. Unknown zone.",
    ),
    (
        "other",
        "INVALID_ARGUMENT: Location {region} is not supported for this resource; valid locations are: us-central1, europe-west1",
    ),
    (
        "other",
        "400 Request contains an invalid argument: the value of 'executionTimeout' must be a duration string like '3600s'",
    ),
    ("spark", "org.apache.spark.SparkException: A master URL must be set in your configuration"),
    (
        "spark",
        "java.lang.IllegalArgumentException: Required executor memory ({n} MB), offHeap memory (0) MB, overhead ({n2} MB), and PySpark memory (0 MB) is above the max threshold ({mb} MB) of this cluster! Please check the values of 'yarn.scheduler.maximum-allocation-mb' and/or 'yarn.nodemanager.resource.memory-mb'.",
    ),
    (
        "spark",
        "java.lang.NumberFormatException: Size must be specified as bytes (b), kibibytes (k), mebibytes (m), gibibytes (g), tebibytes (t), or pebibytes(p). E.g. 50b, 100k, or 250m.\nFailed to parse the value of spark.executor.memory: '{small} GB'",
    ),
    (
        "spark",
        "org.apache.spark.SparkIllegalArgumentException: [INVALID_CONF_VALUE] The value '((-1|abc|0))' in the config \"spark.sql.shuffle.partitions\" is invalid.",
    ),
    (
        "spark",
        "google.api_core.exceptions.InvalidArgument: 400 Region '{region}' is invalid. Please see https://cloud.google.com/dataproc/docs/concepts/regional-endpoints for additional information on regional endpoints",
    ),
    ("k8s", "Error: container has runAsNonRoot and image will run as root; CreateContainerConfigError"),
    ("k8s", 'CreateContainerConfigError: ((secret|configmap)) "{secret}" not found'),
    ("k8s", "Error: couldn't find key {var} in ((Secret|ConfigMap)) {ns}/{secret}"),
    (
        "k8s",
        'error validating data: ValidationError(((Pod|Deployment|Job)).spec): unknown field "((replica|containrs|restartpolicy))" in io.k8s.api.core.v1.PodSpec; if you choose to ignore these errors, turn validation off with --validate=false',
    ),
    (
        "k8s",
        "The Pod \"{pod}_X\" is invalid: metadata.name: Invalid value: \"{pod}_X\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
    ),
    (
        "k8s",
        "kubernetes.config.config_exception.ConfigException: Invalid kube-config file. No configuration found.",
    ),
    (
        "postgres",
        'psycopg2.ProgrammingError: invalid dsn: invalid connection option "((extra|sslmode_required|keepalive))"',
    ),
    (
        "postgres",
        'psycopg2.OperationalError: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory\n\tIs the server running locally and accepting connections on that socket? (host is empty in the connection {conn})',
    ),
    (
        "snowflake",
        "snowflake.connector.errors.ProgrammingError: 000606 (57P03): No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.",
    ),
    (
        "snowflake",
        "090105 (22000): Cannot perform SELECT. This session does not have a current database. Call 'USE DATABASE', or use a qualified name.",
    ),
    (
        "snowflake",
        "250001 (08001): Failed to connect to DB: {acct}.snowflakecomputing.com:443. Verify the account name is correct: the account identifier in connection {conn} is invalid.",
    ),
    ("dbt", "Runtime Error\n  Could not find profile named '{topic}'"),
    ("dbt", "Parsing Error\n  Env var required but not provided: '{ENV}'"),
    (
        "dbt",
        'Runtime Error\n  Credentials in profile "{topic}", target "((dev|prod))" invalid: \'((dataset|project|method|keyfile))\' is a required property',
    ),
    (
        "dbt",
        "Runtime Error\n  dbt_project.yml is invalid: Invalid value for 'config-version': ((3|'two')) is not one of [2]",
    ),
    ("java", "com.typesafe.config.ConfigException$Missing: No configuration setting found for key '{var}'"),
    (
        "java",
        'org.apache.kafka.common.config.ConfigException: Missing required configuration "((bootstrap.servers|group.id|key.deserializer))" which has no default value.',
    ),
    (
        "java",
        "java.lang.IllegalArgumentException: Invalid value '{var}' for configuration ((spark.executor.memory|fs.gs.project.id|mapreduce.job.queuename))",
    ),
    (
        "http",
        "requests.exceptions.MissingSchema: Invalid URL '{host}/api': No scheme supplied. Perhaps you meant https://{host}/api?",
    ),
    (
        "http",
        "requests.exceptions.InvalidURL: Failed to parse: http://{host}:port/api (check the host field of connection {conn})",
    ),
    ("aws", "botocore.exceptions.NoRegionError: You must specify a region."),
    (
        "aws",
        "An error occurred (InvalidParameterValue) when calling the ((RunInstances|CreateBucket)) operation: The specified location-constraint is not valid",
    ),
    ("other", "Invalid cron expression '{var}' in schedule: unknown field, expected 5 fields"),
    ("other", "pendulum.tz.zoneinfo.exceptions.InvalidTimezone: Invalid timezone '{var}'"),
    (
        "other",
        "Configuration error: the 'project_id' in connection {conn} points to project {project}, but the job must run in {project}-prod; wrong project configured",
    ),
    (
        "dataflow",
        "403 ... Dataflow API has not been enabled for project {project}: wrong project configured for the job (expected the data project, got the billing project)",
    ),
]

TEMPLATES: dict[str, list[_T]] = {
    "permission_denied": PERMISSION_DENIED,
    "authentication_failure": AUTHENTICATION_FAILURE,
    "rate_limiting": RATE_LIMITING,
    "resource_exhaustion": RESOURCE_EXHAUSTION,
    "memory_leak": MEMORY_LEAK,
    "disk_space_full": DISK_SPACE_FULL,
    "network_timeout": NETWORK_TIMEOUT,
    "timeout_exceeded": TIMEOUT_EXCEEDED,
    "schema_mismatch": SCHEMA_MISMATCH,
    "data_corruption": DATA_CORRUPTION,
    "missing_dependency": MISSING_DEPENDENCY,
    "configuration_error": CONFIGURATION_ERROR,
}


# ---------------------------------------------------------------------------------------------------
# Wrappers: the log shapes a message arrives in. They carry no label signal on purpose, so the model
# learns to look past them.
# ---------------------------------------------------------------------------------------------------


def _ts(r: random.Random) -> str:
    return (
        f"{r.randint(2021, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
        f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999):06d}+00:00"
    )


_SLOTS["ts"] = _ts
_SLOTS["ts2"] = _ts

_PY_FRAMES = [
    (
        "/home/airflow/.local/lib/python3.11/site-packages/airflow/models/taskinstance.py",
        "_execute_task",
        "result = execute_callable(context=context, **execute_callable_kwargs)",
    ),
    (
        "/home/airflow/.local/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py",
        "run",
        "result = _execute_task(context=context, ti=ti, log=log)",
    ),
    (
        "/home/airflow/.local/lib/python3.11/site-packages/airflow/providers/standard/operators/python.py",
        "execute_callable",
        "return runner.run(*self.op_args, **self.op_kwargs)",
    ),
    (
        "/home/airflow/.local/lib/python3.11/site-packages/airflow/providers/google/cloud/operators/bigquery.py",
        "execute",
        "job = self._submit_job(hook, job_id)",
    ),
    (
        "/home/airflow/.local/lib/python3.11/site-packages/airflow/providers/google/cloud/hooks/bigquery.py",
        "insert_job",
        "job_api_repr.result(timeout=timeout, retry=retry)",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/google/api_core/future/polling.py",
        "result",
        "raise self._exception",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/google/api_core/grpc_helpers.py",
        "error_remapped_callable",
        "raise exceptions.from_grpc_error(exc) from exc",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/google/cloud/bigquery/job/query.py",
        "result",
        "do_get_result()",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/google/cloud/storage/blob.py",
        "download_as_bytes",
        "self._do_download(",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/requests/adapters.py",
        "send",
        "raise ConnectionError(e, request=request)",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/requests/models.py",
        "raise_for_status",
        "raise HTTPError(http_error_msg, response=self)",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py",
        "_execute_context",
        "self.dialect.do_execute(",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/pandas/io/parsers/readers.py",
        "read_csv",
        "return _read(filepath_or_buffer, kwds)",
    ),
    (
        "/usr/local/lib/python3.11/site-packages/apache_beam/runners/dataflow/dataflow_runner.py",
        "wait_until_finish",
        "raise DataflowRuntimeException(",
    ),
    ("/opt/airflow/dags/{dag}.py", "{task}", "df = run_step(config)"),
    ("/opt/airflow/dags/common/utils.py", "run_query", "return client.query(sql).result()"),
    ("/home/airflow/gcs/dags/{dag}.py", "execute", "result = hook.run(sql)"),
]
_JAVA_FRAMES = [
    "org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:{line})",
    "org.apache.spark.rdd.RDD.iterator(RDD.scala:{line})",
    "org.apache.spark.executor.Executor$TaskRunner.run(Executor.scala:{line})",
    "java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:{line})",
    "java.lang.Thread.run(Thread.java:{line})",
    "org.apache.beam.runners.dataflow.worker.IntrinsicMapTaskExecutorFactory$1.typedApply(IntrinsicMapTaskExecutorFactory.java:{line})",
    "org.apache.beam.sdk.transforms.ParDo$SingleOutput.expand(ParDo.java:{line})",
    "com.google.cloud.hadoop.gcsio.GoogleCloudStorageImpl.open(GoogleCloudStorageImpl.java:{line})",
    "com.example.etl.Pipeline.main(Pipeline.java:{line})",
    "scala.collection.Iterator$$anon$10.hasNext(Iterator.scala:{line})",
    "org.apache.spark.sql.execution.datasources.FileFormatWriter$.write(FileFormatWriter.scala:{line})",
]
_PY_STYLE = re.compile(
    r"^(?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Timeout|Exceeded|Forbidden|NotFound|Unauthorized|Denied|Exhausted|Unavailable|Requests|Request|Failure|Mismatch|Expired|Grant|Corruption|Full|Canceled|Privilege|Column|Table|TimedOut)\b"
)
_JAVA_STYLE = re.compile(r"^(?:java|javax|org|com|io|scala|net)\.[\w.$]+(?:Exception|Error)\b")
_EXC = re.compile(
    r"^((?:[A-Za-z_][\w]*\.)*[A-Z][\w$]*(?:Error|Exception|Timeout|Exceeded|Forbidden|NotFound|Unauthorized|Denied|Exhausted|Unavailable|TooManyRequests|BadRequest|Expired|Corruption|Full|Canceled|Privilege|Column|Table|TimedOut|Failure))(?=:|$|\s|\()"
)


def _exception_type(message: str) -> str | None:
    m = _EXC.match(message.strip())
    return m.group(1) if m else None


def _strip_exception(r: random.Random, message: str) -> str:
    """Messages often arrive without their exception class, or with a short one: teach both."""
    exc = _exception_type(message)
    if not exc or not message.startswith(exc + ":"):
        return message
    roll = r.random()
    if roll < 0.2:
        return message[len(exc) + 1 :].lstrip() or message
    if roll < 0.35 and "." in exc:
        return exc.rsplit(".", 1)[1] + message[len(exc) :]
    return message


def _airflow_prefix(r: random.Random) -> str:
    ts = _ts(r)
    return r.choice(
        [
            f"[{ts[:19].replace('T', ', ')} UTC] {{taskinstance.py:{r.randint(200, 3400)}}} ERROR - Task failed with exception",
            f"[{ts}] {{taskinstance.py:{r.randint(200, 3400)}}} ERROR - Task failed with exception",
            f"{ts[:23]}Z [error    ] Task failed with exception [task] chan=stdout",
            f"[{ts}] {{standard_task_runner.py:{r.randint(100, 200)}}} ERROR - Failed to execute job {r.randint(1, 99999)} for task {_r_task(r)}",
            f"{ts[:19].replace('T', ' ')},{r.randint(100, 999)} ERROR - Task {_r_dag(r)}.{_r_task(r)} failed",
        ]
    )


def _airflow_suffix(r: random.Random) -> str:
    ts = _ts(r)
    return r.choice(
        [
            f"[{ts}] {{taskinstance.py:{r.randint(900, 1300)}}} INFO - Marking task as {r.choice(['FAILED', 'UP_FOR_RETRY'])}. dag_id={_r_dag(r)}, task_id={_r_task(r)}, run_id=scheduled__{ts}, start_date={_ts(r)}, end_date={_ts(r)}",
            f"[{ts}] {{local_task_job_runner.py:{r.randint(200, 300)}}} INFO - Task exited with return code 1",
            f"{ts[:23]}Z [info     ] Task instance in failure state [task] try_number={r.randint(1, 4)}",
            "Task exited with return code 1",
        ]
    )


def _py_traceback(r: random.Random, message: str) -> str:
    frames = r.sample(_PY_FRAMES, r.randint(1, 4))
    lines = ["Traceback (most recent call last):"]
    for path, func, code in frames:
        lines.append(f'  File "{_fill(path, r)}", line {r.randint(10, 3000)}, in {_fill(func, r)}')
        lines.append(f"    {code}")
    lines.append(message)
    return "\n".join(lines)


def _java_trace(r: random.Random, message: str) -> str:
    first, _, rest = message.partition("\n")
    head = r.choice(
        [
            first,
            f'Exception in thread "main" {first}',
            f"org.apache.spark.SparkException: Job aborted due to stage failure: Task {r.randint(0, 400)} in stage {r.randint(0, 90)}.0 failed 4 times, most recent failure: Lost task {r.randint(0, 400)}.3 in stage {r.randint(0, 90)}.0 (TID {r.randint(1, 90000)}) (10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)} executor {r.randint(1, 99)}): {first}",
            f"Error message from worker: {first}",
            f"Caused by: {first}",
        ]
    )
    frames = [f"\tat {_fill(f, r)}" for f in r.sample(_JAVA_FRAMES, r.randint(1, 4))]
    parts = [head] + ([rest] if rest else []) + frames
    if r.random() < 0.3:
        parts.append(f"\t... {r.randint(5, 80)} more")
    return "\n".join(parts)


def _log4j(r: random.Random, message: str) -> str:
    ts = f"{r.randint(21, 26)}/{r.randint(1, 12):02d}/{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    cls = r.choice(
        [
            "Executor",
            "TaskSetManager",
            "SparkContext",
            "DataflowRunner",
            "DAGScheduler",
            "ApplicationMaster",
            "FileFormatWriter",
            "Worker",
        ]
    )
    return f"{ts} {r.choice(['ERROR', 'WARN'])} {cls}: {message}"


def _json_log(r: random.Random, message: str) -> str:
    escaped = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return (
        f'{{"severity": "ERROR", "timestamp": "{_ts(r)}", "logging.googleapis.com/labels": '
        f'{{"workflow": "{_r_dag(r)}", "task-id": "{_r_task(r)}"}}, "message": "{escaped}"}}'
    )


def _simple_prefix(r: random.Random, message: str) -> str:
    ts = _ts(r)
    prefix = r.choice(
        [
            f"{ts[:19]} ERROR ",
            f"[{ts[:19]}] ERROR: ",
            "ERROR: ",
            "Error: ",
            "FAILED: ",
            "E ",
            f"{ts[:10]} {ts[11:19]} [{r.choice(['main', 'worker-1', 'pool-2-thread-1'])}] ERROR ",
            f"{_r_pod(r)} {r.choice(['base', 'main', 'worker'])} ",
            f'level=error ts={ts} msg="',
            "",
        ]
    )
    out = prefix + message
    if prefix.endswith('msg="'):
        out += '"'
    return out


def _wrap(r: random.Random, message: str) -> str:
    first = message.split("\n", 1)[0]
    java = bool(_JAVA_STYLE.match(first)) or first.startswith(("Caused by:", "Exception in thread"))
    python = not java and bool(_PY_STYLE.match(first))
    roll = r.random()
    if roll < 0.42:
        return message
    if roll < 0.60:
        return _simple_prefix(r, message)
    if roll < 0.80:
        if java:
            body = _java_trace(r, message) if r.random() < 0.75 else _log4j(r, message)
        elif python:
            body = _py_traceback(r, message)
        else:
            body = _log4j(r, message) if r.random() < 0.3 else _simple_prefix(r, message)
        return body
    if roll < 0.95:
        body = _py_traceback(r, message) if python and r.random() < 0.6 else message
        parts = [_airflow_prefix(r), body]
        if r.random() < 0.6:
            parts.append(_airflow_suffix(r))
        return "\n".join(parts)
    return _json_log(r, message)


# ---------------------------------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------------------------------


def labels() -> list[str]:
    """The twelve labels the corpus covers, in a fixed order."""
    return list(TEMPLATES)


def generate(n_per_class: int = 1500, seed: int = 0, wrap: bool = True) -> list[Row]:
    """Generate a labelled corpus, the same for the same arguments.

    :param n_per_class: examples per error type; templates are cycled so that every one is used
        about equally often before randomness picks slot values and wrappers.
    :param seed: seed of the generator's private ``random.Random``.
    :param wrap: put messages into log shapes (tracebacks, prefixes); ``False`` gives bare messages.
    :return: rows ``{"text", "label", "system", "exception_type", "operator"}``; ``exception_type``
        and ``operator`` may be ``None``, as they are when a real failure is captured without them.
    """
    r = random.Random(seed)
    rows: list[Row] = []
    for label, templates in TEMPLATES.items():
        order = list(range(len(templates)))
        for i in range(n_per_class):
            if i % len(order) == 0:
                r.shuffle(order)
            system, template = templates[order[i % len(order)]]
            message = _fill(template, r)
            exc = _exception_type(message)
            message = _strip_exception(r, message)
            text = _wrap(r, message) if wrap else message
            rows.append(
                {
                    "text": text,
                    "label": label,
                    "system": system,
                    # Metadata is often missing at capture time: drop it sometimes so the model never
                    # depends on it.
                    "exception_type": exc if r.random() < 0.7 else None,
                    "operator": r.choice(_OPERATORS.get(system, _OPERATORS["other"]))
                    if r.random() < 0.6
                    else None,
                }
            )
    r.shuffle(rows)
    return rows


# ---------------------------------------------------------------------------------------------------
# Plain-language phrasings: how docs pages, runbooks and people in tickets describe each failure.
# ---------------------------------------------------------------------------------------------------

_PLAIN: dict[str, list[str]] = {
    "permission_denied": [
        "The service account {sa} does not have the required permissions on ((dataset|bucket|topic|project)) {dataset}. Grant it {role}.",
        "Access denied: the caller lacks the {perm} permission.",
        "insufficient permissions to ((read|write|list|delete)) {k8sres} in {project}",
        "User {user} is not allowed to ((access|modify|read)) {schema}.{table}: missing privilege",
        "Forbidden: you do not have permission to perform this operation on {bucket}",
        "Error 403: {sa} is not authorized to ((read from|write to|publish to)) {topic}",
    ],
    "authentication_failure": [
        "The credentials used by connection {conn} are invalid or have expired.",
        "Authentication failed: invalid username or password for {user}@{host}",
        "Could not authenticate: the access token has expired; refresh the credentials and retry",
        "No credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set and no default credentials are available",
        "Login failed: the service account key for {sa} was deleted or disabled",
        "401 Unauthorized: the API key supplied for {host} is invalid",
        "SSL certificate for {host} has expired; the client could not authenticate the TLS connection",
    ],
    "rate_limiting": [
        "Rate limit exceeded: too many requests to {api} in a short period; back off and retry",
        "The API is throttling requests: {n} requests per ((second|minute)) allowed for this client",
        "Request throttled (HTTP 429); retrying with exponential backoff in {small}s",
        "Exceeded the per-user request rate for {method}; slow down",
        "Too many concurrent requests for this ((project|user|table)); request was rejected, try again later",
    ],
    "resource_exhaustion": [
        "Quota exceeded: the project ran out of ((CPUs|IP addresses|instances|GPUs|persistent disk quota)) in region {region}",
        "Not enough capacity in {zone} to start the requested workers; the resource pool is exhausted",
        "The pod could not be scheduled: no node has enough free ((CPU|memory)) for the requested resources",
        "Container {container} was killed because it exceeded its memory limit (OOMKilled)",
        "The query used more resources than allowed: resources exceeded during execution",
        "Connection pool exhausted: all {small} connections to the database are in use",
        "Too many open files: the process reached its file descriptor limit",
    ],
    "memory_leak": [
        "The worker ran out of memory: its heap kept growing until the JVM failed with OutOfMemoryError",
        "Memory usage of the task increased steadily until the process was killed by the kernel OOM killer",
        "Python process raised MemoryError while loading {table} into a DataFrame",
        "Executor lost: java heap space exhausted while processing stage {stage}",
        "GC overhead limit exceeded on executor {exec}: the JVM spent most of its time collecting garbage",
        "Possible memory leak: RSS of the worker grew to {gb} GB and was not released between tasks",
    ],
    "disk_space_full": [
        "The worker ran out of disk space while writing temporary files to {path}",
        "Disk full: no space left on the persistent disk of {pod}",
        "The volume mounted at {path} is 100% used; writes fail",
        "Not enough local disk for shuffle spill on {host}; increase the boot disk size",
        "Pod was evicted because the node ran out of ephemeral storage",
        "Write failed: the filesystem quota for user {user} is exhausted",
    ],
    "network_timeout": [
        "Connection to {host}:{port} timed out",
        "Could not connect to {host}: connection refused",
        "The connection was reset by the remote host {host} while reading the response",
        "DNS lookup for {host} failed: could not resolve host",
        "Network error talking to {api}: the service is temporarily unavailable (503), retry later",
        "Read timeout after {secs}s waiting for a response from {host}",
        "TLS handshake with {host} timed out",
    ],
    "timeout_exceeded": [
        "The task ran longer than its execution_timeout of {secs} seconds and was killed",
        "The query exceeded its maximum execution time and was cancelled",
        "Job {jobid} did not finish within the configured timeout of {secs}s",
        "Sensor {task} timed out waiting for its condition after {secs} seconds",
        "The statement ran past statement_timeout and was cancelled by the server",
        "The Dataflow job exceeded its maximum run duration and was stopped",
    ],
    "schema_mismatch": [
        "Schema mismatch: column {col} is {bqtype} in the source but {bqtype2} in the destination table",
        "The source data has a column {col} that does not exist in the target table {dataset}.{table}",
        "Column count mismatch: the file has {small} columns but the table {table} has {small2}",
        "Field {col} changed type from {sparktype} to {sparktype2}; the write was rejected",
        "Incompatible schema: the destination table schema does not match the query result",
        "Required field {col} is missing from the schema of {table}",
        "java.lang.ClassCastException: class java.lang.((String|Long|Integer)) cannot be cast to class java.lang.((Long|String|Double)) (column {col})",
        "Cannot convert column {col} from {sparktype} to {sparktype2}: types are incompatible",
    ],
    "data_corruption": [
        "The input file gs://{bucket}/{obj} is corrupt or truncated and cannot be read",
        "Malformed record at line {row} of {obj}: unexpected number of fields",
        "Invalid UTF-8 byte sequence in {obj} at offset {pos}",
        "Checksum mismatch: the downloaded object differs from the source",
        "Failed to decompress {obj}: the gzip stream is damaged",
        "Bad data in row {row}: value '((N/A|abc|####))' is not a valid ((number|date|timestamp))",
        "The Parquet footer of {obj} is missing; the file was not written completely",
    ],
    "missing_dependency": [
        "The Python package {pip} is not installed in the environment",
        "Required JAR {jar} is missing from the classpath",
        "The upstream table {dataset}.{table} does not exist yet",
        "The input object gs://{bucket}/{obj} was not found",
        "Subscription {sub} does not exist",
        "Executable {binary} was not found on PATH",
        "Version conflict: {pip} {version} is installed but {pip}>={version2} is required",
        "The JDBC driver for {db} could not be found",
    ],
    "configuration_error": [
        "Missing configuration: the Airflow connection {conn} is not defined",
        "The Airflow Variable {var} is not set",
        "Invalid configuration value for {kw}: '{var}'",
        "The environment variable {ENV} is required but missing",
        "The region is not set: specify a region or location for the job",
        "The temp_location / staging location for the pipeline is missing",
        "Wrong project configured: the job points at project {project} instead of the data project",
        "The {api} API is not enabled for project {project}; enable it in the console",
        "Dataset location mismatch: the dataset is in {loc} but the job runs in {loc2}",
    ],
}

for _label, _phrases in _PLAIN.items():
    TEMPLATES[_label].extend(("other", p) for p in _phrases)


# ---------------------------------------------------------------------------------------------------
# Uninformative messages: failures that name no cause. Generic wrappers ("Task failed", exit code 1),
# bare exception class names, empty tracebacks, "see the logs", generic Python errors on application
# data and made-up words. They have no label: the classifier is taught that they carry no signal (each
# is trained once per class, see ``model.train``), so it answers them with low confidence and the healer
# escalates instead of acting on a guess. Exit codes stay generic on purpose: 137 and SIGKILL name an
# OOM kill and belong to the labelled templates.
# ---------------------------------------------------------------------------------------------------

_SYLLABLES = (
    "zor bla qu fli wib glo snar fro bni ka ple mo tu rix zan vel dor pim wug thr ob ny sk ee ga lum "
    "bo pe xi yol cra nu fen dri spo tar kel mip zu"
).split()
_NONSENSE_ENDS = ["", "", "", "x", "le", "er", "ed", "ing", "ux", "ob", "ity", "s"]


def _r_nonsense(r: random.Random) -> str:
    """A made-up word: it means nothing, so its character n-grams must not decide the class."""
    word = "".join(r.choice(_SYLLABLES) for _ in range(r.randint(1, 3))) + r.choice(_NONSENSE_ENDS)
    return word if len(word) > 2 else word + r.choice(_SYLLABLES)


_GENERIC_EXCEPTIONS = (
    "Exception RuntimeError ValueError TypeError KeyError AssertionError AttributeError IndexError "
    "NotImplementedError ZeroDivisionError LookupError StopIteration NameError "
    "airflow.exceptions.AirflowException airflow.exceptions.AirflowFailException "
    "java.lang.RuntimeException java.lang.NullPointerException java.lang.IllegalStateException "
    "java.lang.IllegalArgumentException org.apache.spark.SparkException"
).split()
_DICT_KEYS = "data results items id name value next kind type meta attributes records entries 0 1 -1".split()
_GARBAGE = ["abc", "", "N/A", "foo", "null", "None", "x", "12a", "?", "n.a.", "one", "TRUE"]

_SLOTS.update(
    {
        "gib": _r_nonsense,
        "gib2": _r_nonsense,
        "gib3": _r_nonsense,
        "gib4": _r_nonsense,
        "Gib": lambda r: _r_nonsense(r).capitalize(),
        "Gib2": lambda r: _r_nonsense(r).capitalize(),
        "exc": lambda r: r.choice(_GENERIC_EXCEPTIONS),
        "key": lambda r: r.choice(_DICT_KEYS),
        "junk": lambda r: r.choice(_GARBAGE),
        "rc": lambda r: r.choice(["1", "1", "1", "2", "255", "-1", "3", "127"]),
        "state": lambda r: r.choice(["failed", "up_for_retry", "upstream_failed", "failed"]),
        "try": lambda r: str(r.randint(1, 4)),
    }
)

UNINFORMATIVE: list[_T] = [
    # Exit codes and wrappers that only say that something failed.
    ("airflow", "Task exited with return code {rc}"),
    ("airflow", "Process exited with return code {rc}"),
    (
        "airflow",
        "airflow.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code {rc}.",
    ),
    ("airflow", "AirflowException: Task failed"),
    ("airflow", "Task failed"),
    ("airflow", "Task {dag}.{task} failed"),
    ("airflow", "Task {task} failed (try {try} of 4); marking as {state}"),
    ("airflow", "Task failed with exception"),
    ("airflow", "ERROR - Task failed with exception\nNone"),
    ("airflow", "Failed to execute job {n} for task {task}"),
    ("airflow", "Task instance {dag}.{task} is in state {state}"),
    ("airflow", "Dag run {dag} failed: one or more tasks failed"),
    ("airflow", "airflow.exceptions.AirflowFailException: {task} failed"),
    ("airflow", "airflow.exceptions.AirflowException: Task {task} failed: see logs for details"),
    (
        "airflow",
        "Task failed with no captured error (state {state}); see the task log. The task may have been killed (OOM, heartbeat timeout) before its callback ran.",
    ),
    ("airflow", "Executor reported that the task instance {dag}.{task} finished with state failed"),
    (
        "python",
        "subprocess.CalledProcessError: Command '['python', '{task}.py']' returned non-zero exit status {rc}.",
    ),
    ("python", "Command returned non-zero exit status {rc}"),
    ("python", "Command '{binary} run' returned non-zero exit status {rc}."),
    ("python", "Process finished with exit code {rc}"),
    ("python", "sys.exit({rc})"),
    ("python", "SystemExit: {rc}"),
    ("k8s", "airflow.exceptions.AirflowException: Pod {pod} returned a failure."),
    ("k8s", "Pod {pod} failed; container {container} terminated with exit code {rc}, reason: Error"),
    ("k8s", "command terminated with exit code {rc}"),
    ("k8s", "Back-off restarting failed container {container} in pod {pod}"),
    ("k8s", "Error: container {container} is in CrashLoopBackOff"),
    ("k8s", "Error: exit status {rc}"),
    ("k8s", "Job {pod} has reached the specified backoff limit"),
    ("spark", "Job aborted."),
    (
        "spark",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task {small} in stage {small2}.0 failed 4 times; most recent failure: java.lang.NullPointerException",
    ),
    ("spark", "Application application_{n}_{n2} finished with failed status"),
    ("spark", "Job {jobid} failed. Driver exited with code {rc}"),
    ("dataflow", "Workflow failed."),
    ("dataflow", "Job {jobid} failed with state JOB_STATE_FAILED"),
    ("dataflow", "Dataflow pipeline failed. State: FAILED"),
    ("bigquery", "Job {jobid} failed; see the job history for details"),
    ("dbt", "Completed with 1 error and 0 warnings"),
    ("dbt", "Failure in model {table} ({dag}/models/{table}.sql); see logs for details"),
    ("dbt", "Encountered an error:\nNone"),
    ("other", "Job failed"),
    ("other", "Job {jobid} failed"),
    ("other", "Step {task} failed"),
    ("other", "Pipeline failed"),
    ("other", "FAILED"),
    ("other", "Error"),
    ("other", "error: {rc}"),
    ("other", "Exit code: {rc}"),
    ("other", "make: *** [Makefile:{line}: run] Error {rc}"),
    ("other", "##[error]Process completed with exit code {rc}."),
    ("other", "Something went wrong"),
    ("other", "Something went wrong, please try again"),
    ("other", "Oops, something unexpected happened"),
    ("other", "An unexpected error occurred"),
    ("other", "An error occurred. See logs for details."),
    ("other", "Unknown error"),
    ("other", "Unhandled exception in {task}"),
    ("other", "Execution failed"),
    ("other", "The job failed. Check the logs for more information."),
    ("other", "Error occurred while running {task}; see logs for details"),
    ("other", "For more details see the log file at /var/log/{dag}/{task}.log"),
    ("other", "Fatal error in {task}, aborting"),
    ("other", "failed"),
    ("other", "{task}: failed"),
    # Bare exception names and empty tracebacks.
    ("python", "{exc}"),
    ("python", "{exc}: None"),
    ("python", "{exc}: "),
    ("python", "{exc}()"),
    ("python", "Traceback (most recent call last):\n{exc}"),
    ("java", 'Exception in thread "main" {exc}'),
    ("java", "Caused by: {exc}: null"),
    ("java", "java.lang.RuntimeException: null"),
    ("java", "java.lang.NullPointerException"),
    ("java", "java.lang.IllegalStateException: Unexpected state"),
    # Generic Python errors on application data: the bug is in the code, not in any of the twelve types.
    ("python", "ValueError: invalid literal for int() with base 10: '{junk}'"),
    ("python", "ValueError: too many values to unpack (expected {small})"),
    ("python", "ValueError: not enough values to unpack (expected {small}, got {small2})"),
    ("python", "ValueError: math domain error"),
    ("python", "KeyError: '{key}'"),
    ("python", "KeyError: {small}"),
    ("python", "IndexError: list index out of range"),
    ("python", "IndexError: tuple index out of range"),
    ("python", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
    ("python", "TypeError: 'NoneType' object is not subscriptable"),
    ("python", "TypeError: 'NoneType' object is not iterable"),
    ("python", 'TypeError: can only concatenate str (not "int") to str'),
    ("python", "TypeError: {task}() missing 1 required positional argument: '{key}'"),
    ("python", "TypeError: '<' not supported between instances of 'str' and 'int'"),
    ("python", "AttributeError: 'NoneType' object has no attribute '{key}'"),
    ("python", "AttributeError: 'dict' object has no attribute '{key}'"),
    ("python", "AssertionError"),
    ("python", "AssertionError: {small} != {small2}"),
    ("python", "AssertionError: expected True, got False"),
    ("python", "ZeroDivisionError: division by zero"),
    ("python", "NameError: name '{key}' is not defined"),
    ("python", "UnboundLocalError: local variable '{key}' referenced before assignment"),
    ("python", "RuntimeError: dictionary changed size during iteration"),
    ("python", "NotImplementedError"),
    ("python", "StopIteration"),
    ("python", "RuntimeError: {task} failed"),
    ("python", "Exception: {task} failed"),
    ("python", "Exception: something went wrong in {task}"),
    ("python", "RuntimeError: unexpected result"),
    # Made-up words.
    ("other", "{gib} {gib2} {gib3}"),
    ("other", "{gib} {gib2} the {gib3}"),
    ("other", "{gib} {gib2} {gib3} {gib4} the {gib}"),
    ("other", "{Gib}Error: {gib2} {gib3}"),
    ("other", "{Gib}Exception: the {gib2} could not be {gib3}ed"),
    ("other", "failed to {gib} the {gib2}: {gib3}"),
    ("other", "{gib}: {gib2}"),
    ("other", "error while {gib}ing {gib2}"),
    ("other", "{Gib} {gib2} {gib3}ed the {gib4}"),
    ("python", "{gib}.{Gib2}Error: {gib3} {gib4}"),
    ("other", "{task} {gib} {gib2}"),
]


def generate_uninformative(n: int = 600, seed: int = 0, wrap: bool = True) -> list[Row]:
    """Generate ``n`` messages that name no cause, the same for the same arguments.

    :param n: number of messages; templates are cycled so that each is used about equally often.
    :param seed: seed of the generator's private ``random.Random``.
    :param wrap: put messages into the same log shapes as :func:`generate` (some also into a Python
        traceback that ends in nothing telling).
    :return: rows ``{"text", "label", "system", "exception_type", "operator"}`` with ``label`` None:
        these rows have no error type.
    """
    r = random.Random(seed)
    order = list(range(len(UNINFORMATIVE)))
    rows: list[Row] = []
    for i in range(n):
        if i % len(order) == 0:
            r.shuffle(order)
        system, template = UNINFORMATIVE[order[i % len(order)]]
        message = _fill(template, r)
        exc = _exception_type(message)
        message = _strip_exception(r, message)
        if wrap:
            message = _py_traceback(r, message) if r.random() < 0.1 else _wrap(r, message)
        rows.append(
            {
                "text": message,
                "label": None,
                "system": system,
                "exception_type": exc if r.random() < 0.7 else None,
                "operator": r.choice(_OPERATORS.get(system, _OPERATORS["other"]))
                if r.random() < 0.6
                else None,
            }
        )
    return rows
