"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_healer import __version__


def _option(description: str, type_: str, default: str, example: str | None = None) -> dict[str, Any]:
    return {"description": description, "version_added": "0.1.0", "type": type_, "example": example,
            "default": default}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-healer",
        "name": "Airflow Healer",
        "description": "Self-healing pipelines: capture, classify and remediate failed tasks in the same DAG run.",
        "versions": [__version__],
        "hook-class-names": [],
        "connection-types": [
            {"hook-class-name": "airflow_healer.hooks.airflow_api.AirflowApiHook", "connection-type": "http"},
        ],
        "plugins": [{"name": "airflow_healer", "plugin-class": "airflow_healer.plugin.HealerPlugin"}],
        "config": {
            "healer": {
                "description": "Settings of airflow_healer (also AIRFLOW__HEALER__<KEY>).",
                "options": {
                    "store_url": _option("Where incidents are stored: sqlite:////path/healer.db, or "
                                         "postgresql+psycopg://user:pw@host/db shared by many workers. "
                                         "Empty: sqlite under AIRFLOW_HOME.",
                                         "string", "", "sqlite:////opt/airflow/healer.db"),
                    "mode": _option("observe (record only), recommend (propose) or act (run safe strategies).",
                                    "string", "act"),
                    "airflow_api_conn_id": _option("Connection to Airflow's REST API used to clear tasks.",
                                                   "string", "healer_api"),
                    "pubsub_topic": _option("Pub/Sub topic incidents are published to. Empty: none.", "string", "",
                                            "projects/my-project/topics/healer-incidents"),
                    "model_path": _option("Classifier model file. Empty: the store's active or shipped model.",
                                          "string", ""),
                    "max_attempts": _option("Retries of one task in one run before the healer gives up.",
                                            "integer", "3"),
                    "min_confidence": _option("Below this confidence the error is 'unknown' and escalated.",
                                              "float", "0.35"),
                    "retry_backoff_seconds": _option("First retry delay; doubles each attempt.", "float", "5"),
                    "retry_backoff_max_seconds": _option("Cap of the retry delay.", "float", "300"),
                    "poll_interval_seconds": _option("How often the healer task polls its run.", "float", "3"),
                    "defer_settle_seconds": _option(
                        "A deferred healer task or sensor resumes no sooner than this after it deferred: Airflow "
                        "3.3 fails a task whose trigger fires before the scheduler saw the deferring try end.",
                        "float", "10"),
                    "callback_timeout_seconds": _option("Most time a failure callback may take.", "float", "5"),
                    "spool_dir": _option("Where incidents wait when the store is down. Empty: AIRFLOW_HOME.",
                                         "string", ""),
                    "approval_timeout": _option("How long a proposal waits for a person's decision.", "string",
                                                "1h", "30m"),
                    "credential_sources": _option(
                        "JSON object from connection id to where its fresh secret lives (file:///path, "
                        "gcp-secret-manager://projects/P/secrets/S[/versions/V]).", "string", "",
                        '{"warehouse": "file:///var/run/secrets/warehouse"}'),
                    "gcp_conn_id": _option("Google Cloud connection used to read Secret Manager.", "string",
                                           "google_cloud_default"),
                    "watchdog_include": _option("Glob patterns (comma-separated) of the DAG ids the watchdog "
                                                "watches.", "string", "*", "etl_*,ingest_*"),
                    "watchdog_exclude": _option("Glob patterns of DAG ids the watchdog leaves alone.", "string", "",
                                                "tmp_*"),
                    "watchdog_heal": _option("Glob patterns of DAG ids whose failures the watchdog also retries. "
                                             "Empty: it records and classifies only.", "string", "", "etl_*"),
                    "watchdog_lookback": _option("How far back the watchdog's first cycle looks.", "string", "1d",
                                                 "12h"),
                    "watchdog_interval": _option("How often the healer_watchdog DAG runs; none: by hand only.",
                                                 "string", "10m", "5m"),
                    "watchdog_poll_seconds": _option("How often the watchdog's trigger polls the API.", "float",
                                                     "30"),
                    "watchdog_settle_seconds": _option("Failures younger than this are left to the DAG's own "
                                                       "healer task for now.", "float", "30"),
                    "watchdog_manual_wait_seconds": _option("How long a watchdog run triggered by hand waits "
                                                            "for a failure before it skips.", "float", "60"),
                    "watchdog_max_per_cycle": _option("Failed task instances one watchdog cycle handles at most.",
                                                      "integer", "500"),
                    "watchdog_learn_per_cycle": _option("Successful tries per cycle whose logs teach the log "
                                                        "boilerplate.", "integer", "5"),
                    "pubsub_subscription": _option("Subscription the consumer pulls incidents (or Cloud Logging "
                                                   "entries of failed jobs) from. Empty: no consumer.", "string",
                                                   "", "projects/my-project/subscriptions/healer-incidents"),
                    "pubsub_dead_letter_topic": _option("Topic for messages the consumer cannot read; needed with "
                                                        "pubsub_subscription.", "string", "",
                                                        "projects/my-project/topics/healer-dead-letter"),
                    "pubsub_timeout_seconds": _option("Most time a callback waits for Pub/Sub before spooling the "
                                                      "incident for a later replay.", "float", "2"),
                    "external_jobs": _option("Services whose jobs are polled: dataflow, workflows, bigquery. "
                                             "Empty: none.", "string", "", "dataflow,workflows,bigquery"),
                    "external_projects": _option("Projects polled. Empty: the project of gcp_conn_id.", "string",
                                                 "", "analytics-prod,ingest-prod"),
                    "external_locations": _option("Regions polled for Dataflow jobs and Workflows executions.",
                                                  "string", "us-central1", "us-central1,europe-west1"),
                    "external_workflows": _option("Cloud Workflows ids polled. Empty: every workflow.", "string",
                                                  "", "nightly-export"),
                    "external_interval": _option("How often the healer_external_jobs DAG polls; none: by hand.",
                                                 "string", "5m", "10m"),
                    "external_lookback": _option("How far back the first poll looks.", "string", "1d", "6h"),
                    "external_heal": _option("Glob patterns of external job names the healer may rerun, "
                                             "relaunch or rescale. Empty: record, classify and propose only.",
                                             "string", "", "nightly-*"),
                    "dataflow_relaunch": _option(
                        "JSON object from Dataflow job-name glob to its template, parameters and ladder of "
                        "environment rungs, for relaunching a failed batch job.", "string", "",
                        '{"nightly-*": {"template": "gs://b/templates/nightly", "parameters": {}, '
                        '"ladder": [{"machine_type": "n1-standard-4"}, {"machine_type": "n1-highmem-8"}]}}'),
                },
            }
        },
    }
