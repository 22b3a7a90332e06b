"""The plugin reaches Airflow through the package's entry point; the plugins/ file only without it."""

import runpy
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_package_registers_the_plugin_entry_point():
    [ep] = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "airflow_healer"]
    plugin = ep.load()
    assert plugin.name == "airflow_healer"
    assert plugin.fastapi_apps[0]["url_prefix"] == "/healer"
    # The Healer page in Airflow's own navigation, shown inside its UI.
    [view] = plugin.external_views
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == ("Healer", "/healer/", "nav", "healer")


def test_the_plugins_folder_file_stays_quiet_when_the_package_is_installed():
    namespace = runpy.run_path(str(ROOT / "plugins" / "airflow_healer_plugin.py"))
    assert "HealerPlugin" not in namespace  # no second copy for Airflow to skip with a warning
