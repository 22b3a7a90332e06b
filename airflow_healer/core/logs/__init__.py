"""Task logs as an input: read the tail of a failed try's log and find the lines that say why.

::

    from airflow_healer.core.logs import locate, read_tail
    located = locate(read_tail("attempt=1.log"), message="Bash command failed. ...")
    located.text        # what the classifier reads
    located.lines       # the lines used, with their numbers and why each was kept

Nothing here imports Airflow or scikit-learn: callbacks and the watchdog import it.
"""

from __future__ import annotations

from airflow_healer.core.logs.boilerplate import BoilerplateMiner, default_miner
from airflow_healer.core.logs.locate import (
    Located,
    LocatedLine,
    classifier_text,
    compose,
    is_wrapper,
    locate,
    looks_like_log,
)
from airflow_healer.core.logs.read import LogLine, parse_log, read_tail

__all__ = [
    "BoilerplateMiner",
    "Located",
    "LocatedLine",
    "LogLine",
    "classifier_text",
    "compose",
    "default_miner",
    "is_wrapper",
    "locate",
    "looks_like_log",
    "parse_log",
    "read_tail",
]
