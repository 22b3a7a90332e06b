"""What a DAG file imports from us must stay light: Airflow parses DAG files constantly."""

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "pandas", "scipy")


def loaded_after(code: str) -> dict:
    probe = f"""
import json, sys
before = set(sys.modules)
{code}
new = set(sys.modules) - before
print(json.dumps(sorted(new)))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import airflow_healer",
        "import airflow_healer.core.types, airflow_healer.core.normalize, airflow_healer.core.healer",
        "import airflow_healer.core.classify, airflow_healer.core.remediate.run",
        "import airflow_healer.cli",
    ],
)
def test_the_core_does_not_load_airflow_or_heavy_libraries(code):
    new = loaded_after(code)
    assert not {m for m in new if m.split(".")[0] in ("airflow", *HEAVY)}
    assert not {m for m in new if m.startswith("google.cloud.")}


def test_the_callback_loads_no_sklearn_pandas_or_google_cloud():
    new = loaded_after("import airflow.sdk\nfrom airflow_healer import on_failure_callback, self_healing, HealerNotifier")
    assert not {m for m in new if m.split(".")[0] in HEAVY}
    assert not {m for m in new if m.startswith("google.cloud.")}


def test_the_watchdog_dag_file_loads_no_sklearn_pandas_or_google_cloud(airflow_home):
    new = loaded_after("import airflow.sdk\nfrom airflow_healer.watchdog import healer_watchdog_dag\n"
                       "dag = healer_watchdog_dag()\nassert [t.task_id for t in dag.tasks] == "
                       "['wait_for_failures', 'record_failures']")
    assert not {m for m in new if m.split(".")[0] in HEAVY}
    assert not {m for m in new if m.startswith("google.cloud.")}
