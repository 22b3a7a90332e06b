import threading

import pytest

from airflow_healer.core.capture import MAX_MESSAGE_CHARS, Spool, make_failure, record_failure
from airflow_healer.core.store.sqlite import SQLiteStore


def test_failure_is_redacted_capped_and_fingerprinted():
    try:
        raise ConnectionError("connect to postgresql://etl:pa55word@10.0.0.7:5432/db timed out after 30s")
    except ConnectionError as exc:
        f = make_failure(dag_id="d", task_id="t", run_id="r", exception=exc, try_number=2)
    assert "pa55word" not in f.message and "pa55word" not in f.traceback
    assert f.exception_type == "ConnectionError"
    assert "raise ConnectionError" in f.traceback
    assert f.try_number == 2 and f.fingerprint
    other = make_failure(dag_id="d", task_id="t", run_id="r2",
                         exception=ConnectionError("connect to postgresql://etl:x@10.0.0.9:5432/db timed out after 31s"))
    assert other.fingerprint == f.fingerprint


@pytest.mark.parametrize("message", ["x" * 10_000_000, b"\x00\xff\xfe" * 3_000_000, bytes(range(256)) * 1000])
def test_huge_or_binary_messages_are_capped(message):
    f = make_failure(dag_id="d", task_id="t", run_id="r", message=message)
    assert len(f.message) <= MAX_MESSAGE_CHARS + 10
    assert "\x00" not in f.message


def _failure(n=1):
    return make_failure(dag_id="d", task_id="t", run_id="r", try_number=n, message="Read timed out")


def test_record_writes_to_the_store(config, store):
    incident_id = record_failure(_failure(), config, store)
    assert store.get_incident(incident_id).message == "Read timed out"


def test_a_store_that_is_down_spools_and_nothing_is_lost(config, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    down = config.replace(store_url=f"sqlite:///{blocker}/healer.db")
    assert record_failure(_failure(1), down) is None
    assert record_failure(_failure(2), down) is None
    spool = Spool(config.spool_dir)
    assert len(spool) == 2
    store = SQLiteStore(tmp_path / "up.db")
    assert spool.replay(store) == 2
    assert len(spool) == 0
    assert [f.try_number for f in store.list_incidents()[0].failures] == [1, 2]


class HangingStore:
    def __init__(self):
        self.release = threading.Event()
        self.finished = False

    def record_failure(self, failure):
        self.release.wait(30)
        self.finished = True
        return "late"


def test_a_hanging_store_does_not_hold_the_callback(config):
    hanging = HangingStore()
    assert record_failure(_failure(), config.replace(callback_timeout_seconds=0.3), hanging) is None
    assert not hanging.finished  # the callback returned while the store was still stuck
    hanging.release.set()
    assert len(Spool(config.spool_dir)) == 1


def test_replay_keeps_what_still_fails_and_skips_garbage(config, tmp_path):
    spool = Spool(config.spool_dir)
    spool.append(_failure(1))
    with open(spool.path, "a") as fh:
        fh.write("{not json\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert spool.replay(SQLiteStore(blocker / "x.db")) == 0
    assert len(spool) == 1  # the good line is kept for next time, the garbage is dropped
    assert spool.replay(SQLiteStore(tmp_path / "ok.db")) == 1
