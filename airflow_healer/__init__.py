"""airflow_healer: self-healing for Apache Airflow 3 and Cloud Composer.

DAG authors need one import::

    from airflow_healer import on_failure_callback, self_healing

Everything is loaded on first use: Airflow parses DAG files constantly, and importing this
package must stay cheap (no scikit-learn, pandas or google.cloud).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "on_failure_callback": "airflow_healer.notifications.callback",
    "HealerNotifier": "airflow_healer.notifications.callback",
    "self_healing": "airflow_healer.dag",
    "HealOperator": "airflow_healer.operators.heal",
    "HealerRetryPolicy": "airflow_healer.retry_policy",
    "Healer": "airflow_healer.core.healer",
    "HealerConfig": "airflow_healer.core.config",
    "ErrorType": "airflow_healer.core.types",
}

__all__ = [
    "__version__",
    "on_failure_callback",
    "HealerNotifier",
    "self_healing",
    "HealOperator",
    "HealerRetryPolicy",
    "Healer",
    "HealerConfig",
    "ErrorType",
]

if TYPE_CHECKING:
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.types import ErrorType
    from airflow_healer.dag import self_healing
    from airflow_healer.notifications.callback import HealerNotifier, on_failure_callback
    from airflow_healer.operators.heal import HealOperator
    from airflow_healer.retry_policy import HealerRetryPolicy


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_healer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
