"""{{ healer.tier(name, ladder) }}: rendered by Jinja as Airflow renders templated fields."""

from types import SimpleNamespace

import jinja2
import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_healer import self_healing
from airflow_healer.core.capture import make_failure
from airflow_healer.core.types import Action, Outcome
from airflow_healer.macros import HealerMacros

TEMPLATE = "{{ healer.tier('memory_mb', [512, 1024, 2048]) }}"


def render(store, template=TEMPLATE, try_number=1):
    ti = SimpleNamespace(dag_id="etl", run_id="r1", task_id="crunch", map_index=-1, try_number=try_number)
    return jinja2.Environment().from_string(template).render(healer=HealerMacros(store), ti=ti)


def test_the_first_try_renders_the_first_rung_and_it_is_recorded(store):
    assert render(store) == "512"
    assert store.tiers("etl", "r1", "crunch") == [
        {"name": "memory_mb", "ladder": [512, 1024, 2048], "rung": 0, "try_number": 1}]


def test_each_rescale_step_renders_the_next_rung_up_to_the_top(store):
    incident_id = store.record_failure(make_failure(dag_id="etl", task_id="crunch", run_id="r1", message="OOMKilled"))
    for try_number, expected in ((2, "1024"), (3, "2048"), (4, "2048")):
        store.add_action(incident_id, Action("rescale", try_number - 1, Outcome.FAILED))
        assert render(store, try_number=try_number) == expected
    assert store.tiers("etl", "r1", "crunch")[0]["rung"] == 2
    store.add_action(incident_id, Action("retry", 9, Outcome.FAILED))  # other strategies take no step
    assert render(store, try_number=5) == "2048"


def test_a_store_that_is_down_renders_the_first_rung(tmp_path):
    class Down:
        def find_incident(self, *args):
            raise OSError("disk gone")

    assert render(Down()) == "512"


@pytest.mark.parametrize("template, says", [
    ("{{ healer.tier('memory_mb', []) }}", "non-empty list"),
    ("{{ healer.tier('memory_mb', '512') }}", "non-empty list"),
    ("{{ healer.tier('', [1]) }}", "non-empty string"),
])
def test_a_bad_ladder_is_a_clear_error(store, template, says):
    with pytest.raises(ValueError, match=says):
        render(store, template)


def test_self_healing_registers_the_macro_and_keeps_the_authors_own():
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
             user_defined_macros={"region": "eu"}) as dag:
        @task
        def a(memory_mb):
            pass

        a(TEMPLATE)
    self_healing(dag)
    assert dag.user_defined_macros["region"] == "eu"
    assert isinstance(dag.user_defined_macros["healer"], HealerMacros)
