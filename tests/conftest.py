from __future__ import annotations

import pytest

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store.sqlite import SQLiteStore


@pytest.fixture
def airflow_home(tmp_path, monkeypatch):
    """A temporary AIRFLOW_HOME with no [healer] settings from the outside world."""
    home = tmp_path / "airflow"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    import os

    for key in list(os.environ):
        if key.startswith("AIRFLOW__HEALER__"):
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def config(airflow_home) -> HealerConfig:
    return HealerConfig.load().replace(retry_backoff_seconds=0.0, poll_interval_seconds=0.0,
                                       callback_timeout_seconds=2.0)


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "healer.db")
