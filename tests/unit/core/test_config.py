import pytest

from airflow_healer.core.config import HealerConfig
from airflow_healer.exceptions import ConfigurationError
from airflow_healer.get_provider_info import get_provider_info


def test_defaults_live_under_airflow_home(airflow_home):
    config = HealerConfig.load()
    assert config.store_url == f"sqlite:///{airflow_home / 'healer.db'}"
    assert config.spool_dir == str(airflow_home / "healer_spool")
    assert config.mode == "act"


def test_environment_beats_airflow_cfg(airflow_home, monkeypatch):
    (airflow_home / "airflow.cfg").write_text("[healer]\nmode = observe\nmax_attempts = 7\nfoo = bar\n")
    monkeypatch.setenv("AIRFLOW__HEALER__MAX_ATTEMPTS", "2")
    config = HealerConfig.load()
    assert (config.mode, config.max_attempts, config.extra) == ("observe", 2, {"foo": "bar"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("MODE", "yolo", "mode"), ("MAX_ATTEMPTS", "three", "max_attempts"), ("MIN_CONFIDENCE", "1.5", "min_confidence")],
)
def test_invalid_settings_name_the_setting(airflow_home, monkeypatch, key, value, message):
    monkeypatch.setenv(f"AIRFLOW__HEALER__{key}", value)
    with pytest.raises(ConfigurationError, match=message):
        HealerConfig.load()


def test_provider_info_declares_every_setting_with_the_same_default(airflow_home):
    options = get_provider_info()["config"]["healer"]["options"]
    defaults = HealerConfig()
    import dataclasses

    names = [f.name for f in dataclasses.fields(HealerConfig) if f.name not in ("extra", "store_url", "spool_dir")]
    assert "watchdog_lookback" in names
    for name in names:
        assert name in options, name
        assert type(getattr(defaults, name))(options[name]["default"]) == getattr(defaults, name), name
    assert {"store_url", "spool_dir"} <= options.keys()
    assert get_provider_info()["plugins"][0]["plugin-class"] == "airflow_healer.plugin.HealerPlugin"


def test_watchdog_settings_from_the_environment(airflow_home, monkeypatch):
    monkeypatch.setenv("AIRFLOW__HEALER__WATCHDOG_LOOKBACK", "12h")
    monkeypatch.setenv("AIRFLOW__HEALER__WATCHDOG_INTERVAL", "none")
    monkeypatch.setenv("AIRFLOW__HEALER__WATCHDOG_INCLUDE", "etl_*, ingest_*")
    config = HealerConfig.load()
    assert config.watchdog_lookback_seconds == 12 * 3600
    assert config.watchdog_interval_seconds is None
    assert config.watchdog_include == "etl_*, ingest_*"
    assert HealerConfig.load({"AIRFLOW_HOME": str(airflow_home)}).watchdog_interval_seconds == 600


@pytest.mark.parametrize("key, value, says", [
    ("WATCHDOG_LOOKBACK", "yesterday", "watchdog_lookback"),
    ("WATCHDOG_INTERVAL", "-5m", "watchdog_interval"),
    ("WATCHDOG_POLL_SECONDS", "0", "watchdog_poll_seconds"),
    ("WATCHDOG_MAX_PER_CYCLE", "0", "watchdog_max_per_cycle"),
])
def test_bad_watchdog_settings_are_clear_errors(airflow_home, monkeypatch, key, value, says):
    monkeypatch.setenv(f"AIRFLOW__HEALER__{key}", value)
    with pytest.raises(ConfigurationError, match=says):
        HealerConfig.load()
