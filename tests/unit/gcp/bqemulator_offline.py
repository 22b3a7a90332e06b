"""Start bqemulator (PyPI) where DuckDB cannot download its extensions: ``python bqemulator_offline.py start``.

bqemulator refuses to start without DuckDB's ``spatial`` extension (GEOGRAPHY), which it downloads at
start; the healer's tables have no GEOGRAPHY column, so this launcher skips that step. Run it from its own
virtual environment (its FastAPI is not Airflow's)::

    python3 -m venv /tmp/bqemu && /tmp/bqemu/bin/pip install bqemulator numpy
    /tmp/bqemu/bin/python tests/unit/gcp/bqemulator_offline.py start --rest-port 9050 --grpc-port 9061 \\
        --project healer-test
    HEALER_BQEMULATOR_HOST=http://127.0.0.1:9050 .venv/bin/python -m pytest tests/unit/gcp/test_bigquery_store.py
"""

import sys

if __name__ == "__main__":
    from bqemulator.storage import engine

    engine.DuckDBEngine._load_spatial = lambda self: None
    from bqemulator.cli import main

    sys.exit(main())
