"""Google Cloud adapters: jobs outside Airflow (Dataflow, Cloud Workflows, BigQuery) and Pub/Sub events.

Nothing here imports ``google.cloud`` at module level: the clients load when a poll, a publish or a
consumer first needs them, so a DAG file importing the callback still parses in milliseconds.
"""
