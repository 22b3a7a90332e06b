"""The ``healer`` macros: ``{{ healer.tier(name, ladder) }}`` declares a resource ladder where the value is used.

::

    PythonOperator(..., op_kwargs={"memory_mb": "{{ healer.tier('memory_mb', [512, 1024, 2048]) }}"})
    KubernetesPodOperator(..., container_resources=k8s.V1ResourceRequirements(
        limits={"memory": "{{ healer.tier('memory', ['1Gi', '2Gi', '4Gi']) }}"}))

``self_healing(dag)`` registers them; a DAG that does not use it adds
``user_defined_macros={"healer": HealerMacros()}``. A try renders ``ladder[k]``, where k is how many
rescale steps the healer took for this task instance in this run (0 on the first try), and the rendering
is recorded, so the healer knows the rung and the ceiling when the try fails for lack of resources.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jinja2

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.remediate.engine import rescale_steps

log = logging.getLogger(__name__)

class HealerMacros:
    """The ``healer`` macro namespace.

    :param store: the store to read steps from and record renderings in; ``[healer] store_url`` when omitted.
    """

    def __init__(self, store: Any = None):
        self._store = store

    def _open(self) -> Any:
        if self._store is None:
            from airflow_healer.core.store import open_store

            self._store = open_store(HealerConfig.load().store_url)
        return self._store

    @jinja2.pass_context
    def tier(self, context: Any, name: str, ladder: Sequence[Any]) -> Any:
        """``ladder[k]`` for this try (see the module docstring).

        :param name: what the ladder sizes (``memory_mb``, ``workers`` ...), shown in incidents.
        :param ladder: the values to climb, smallest first.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("healer.tier(name, ladder): name must be a non-empty string such as 'memory_mb'.")
        if isinstance(ladder, (str, bytes)) or not isinstance(ladder, Sequence) or not ladder:
            raise ValueError(f"healer.tier({name!r}, ladder): ladder must be a non-empty list, smallest first, "
                             "such as [512, 1024, 2048].")
        ladder = list(ladder)
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            return ladder[0]  # rendered outside a task (a test of the template)
        map_index = ti.map_index if getattr(ti, "map_index", None) is not None else -1
        rung = 0
        try:
            store = self._open()
            incident = store.find_incident(ti.dag_id, ti.run_id, ti.task_id, map_index)
            rung = min(rescale_steps(incident.actions) if incident is not None else 0, len(ladder) - 1)
            store.record_tier(ti.dag_id, ti.run_id, ti.task_id, map_index, int(ti.try_number or 1), name, ladder,
                              rung)
        except Exception as exc:  # noqa: BLE001 - the task runs on its first rung rather than not at all
            log.warning("healer.tier(%r): the healer store could not be read (%s); using the first rung %r",
                        name, exc, ladder[0])
            rung = 0
        return ladder[rung]


def healer_macros() -> dict[str, Any]:
    """``{"healer": HealerMacros()}``, for ``DAG(user_defined_macros=...)``."""
    return {"healer": HealerMacros()}
