"""Every error the healer raises, in one place.

::

    HealerError
     ├── ConfigurationError     a [healer] setting is missing or invalid
     ├── StoreError             the incident store cannot be read or written
     │    ├── StoreUnavailable  it cannot be reached at all (callbacks spool instead)
     │    └── StoreSchemaError  its schema is older or newer than this version (run `airflow-healer db upgrade`)
     ├── AirflowApiError        Airflow's REST API refused or failed a call
     │    └── RunNotFound       the DAG run or task instance no longer exists
     ├── CredentialError        a connection's fresh secret cannot be read
     ├── ClassifierError        a model or knowledge file is unusable
     │    ├── ModelFormatError      a model blob that is not ours, damaged, or from another version
     │    ├── RetrievalIndexError   a stored retrieval index that cannot be loaded
     │    └── KnowledgeImportError  a knowledge file rejected (every bad row listed); nothing imported
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


class StoreSchemaError(StoreError):
    """The store's schema is not the one this version of airflow_healer reads and writes."""


class AirflowApiError(HealerError):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class RunNotFound(AirflowApiError):
    pass


class CredentialError(HealerError):
    pass


class ClassifierError(HealerError):
    pass


class ModelFormatError(ClassifierError, ValueError):
    """A model blob that is not ours, is damaged, or was written by an incompatible version."""


class RetrievalIndexError(ClassifierError, ValueError):
    """A serialised index could not be loaded (wrong format, version or damaged bytes)."""


class KnowledgeImportError(ClassifierError, ValueError):
    """A knowledge file was rejected; nothing from it was imported.

    :param message: what is wrong with the file as a whole, and how to fix it.
    :param errors: one ``RowError`` per bad row (empty for file-level problems).
    """

    def __init__(self, message: str, errors: list | None = None) -> None:
        self.errors = list(errors or [])
        if self.errors:
            shown = "; ".join(str(e) for e in self.errors[:10])
            more = f" (and {len(self.errors) - 10} more)" if len(self.errors) > 10 else ""
            message = f"{message}: {shown}{more}"
        super().__init__(message)


class ChangeError(HealerError, ValueError):
    """An approved change that cannot be made: invalid input, a conflict with the table, or the API refused.

    Nothing was changed when it is raised.
    """


class NoStrategy(HealerError):
    pass
