"""Every error the healer raises, in one place.

::

    HealerError
     ├── ConfigurationError     a [healer] setting is missing or invalid
     ├── StoreError             the incident store cannot be read or written
     │    └── StoreUnavailable  it cannot be reached at all (callbacks spool instead)
     ├── AirflowApiError        Airflow's REST API refused or failed a call
     │    └── RunNotFound       the DAG run or task instance no longer exists
     ├── ClassifierError        a model or knowledge file is unusable
     └── NoStrategy             no remediation strategy claims an incident

Adapters translate what their libraries raise into these (``raise StoreError(...) from exc``);
the messages say what went wrong and what to do about it.
"""

from __future__ import annotations


class HealerError(Exception):
    """Base class of airflow_healer's errors."""


class ConfigurationError(HealerError):
    pass


class StoreError(HealerError):
    pass


class StoreUnavailable(StoreError):
    pass


class AirflowApiError(HealerError):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class RunNotFound(AirflowApiError):
    pass


class ClassifierError(HealerError):
    pass


class NoStrategy(HealerError):
    pass
