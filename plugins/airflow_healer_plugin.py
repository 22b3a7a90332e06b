"""For a plugins/ folder install (a Composer bucket): the plugin lives in the airflow_healer package.

A pip-installed airflow_healer registers the plugin through its provider entry point already;
this file is only for environments that load plugins from the folder.
"""

from airflow_healer.plugin import HealerPlugin  # noqa: F401
