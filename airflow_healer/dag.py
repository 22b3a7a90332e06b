"""``self_healing(dag)``: the one line that makes a DAG heal itself."""

from __future__ import annotations

from typing import Any

from airflow_healer.notifications.callback import on_failure_callback, on_success_callback


def _with_callback(existing: Any, callback: Any = on_failure_callback) -> Any:
    if existing is None:
        return [callback]
    callbacks = list(existing) if isinstance(existing, (list, tuple)) else [existing]
    if callback not in callbacks:
        callbacks.append(callback)
    return callbacks


def self_healing(dag: Any, *, task_id: str = "healer", **operator_kwargs: Any) -> Any:
    """Add the healer to ``dag`` and return it.

    Every task gets the capture callback and a recovery callback (kept beside any callbacks it already
    has), and a
    ``healer`` task downstream of all of them starts as soon as one fails (``one_failed``). It
    retries the retryable failures in the same run and fails when something stays broken, so
    the run's final state tells the truth. Call it after the DAG's tasks are defined.

    :param dag: the DAG.
    :param task_id: the healer task's id.
    :param operator_kwargs: passed to :class:`~airflow_healer.operators.heal.HealOperator`.
    """
    from airflow_healer.macros import HealerMacros
    from airflow_healer.operators.heal import HealOperator

    # {{ healer.tier(name, ladder) }} in any templated field: the ladder the healer climbs on resource errors.
    macros = dict(dag.user_defined_macros or {})
    macros.setdefault("healer", HealerMacros())
    dag.user_defined_macros = macros
    tasks = [t for t in dag.tasks if not isinstance(t, HealOperator)]
    for task in tasks:
        task.on_failure_callback = _with_callback(task.on_failure_callback)
        # A healed try records its own recovery: the healer task may be skipped by then.
        task.on_success_callback = _with_callback(task.on_success_callback, on_success_callback)
    healer = HealOperator(task_id=task_id, dag=dag, **operator_kwargs)
    # Airflow requires what follows a setup task to wait for all_success: the healer follows the other
    # tasks only. A failed setup still wakes it, through the upstream_failed of the work that needed it.
    watched = [t for t in tasks if not getattr(t, "is_setup", False)] or tasks
    for task in watched:
        task >> healer
    return dag
