"""Retrieval: TF-IDF cosine search over knowledge entries, incremental updates, persistence."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_healer.core.classify.knowledge import KnowledgeEntry, load_seed
from airflow_healer.core.classify.retrieval import MAGIC, Hit, RetrievalIndexError, VectorIndex, build_index


@pytest.fixture(scope="module")
def seed_index() -> VectorIndex:
    return build_index(load_seed())


def _entry(entry_id: str, message: str, solution: str = "", error_type: str = "") -> KnowledgeEntry:
    return KnowledgeEntry(
        id=entry_id,
        kind="historical_error",
        title=entry_id,
        message=message,
        error_type=error_type,
        solution=solution,
    )


QUERIES_DIFFERING_IN_IDS = [
    (
        "PermissionError: [Errno 13] Permission denied: '/home/airflow/gcs/data/exports/report_2025-11-30.csv'",
        "hist-permission-denied-05",
    ),
    (
        "OSError: [Errno 28] No space left on device: '/tmp/airflow-extract-9c2b/chunk_00913.parquet'",
        "hist-disk-space-full-01",
    ),
    (
        'psycopg2.OperationalError: connection to server at "10.99.1.7", port 5433 failed: FATAL:  password authentication failed for user "svc_reporting"',
        "hist-authentication-failure-03",
    ),
    ("airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 7", "hist-timeout-exceeded-01"),
    (
        "google.api_core.exceptions.NotFound: 404 Not found: Table other-proj:raw.clicks_20251130 was not found in location US",
        "hist-missing-dependency-03",
    ),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES_DIFFERING_IN_IDS)
def test_same_error_with_other_ids_is_top_1(seed_index: VectorIndex, query: str, expected: str) -> None:
    hits = seed_index.search(query, k=5)
    assert hits[0].entry_id == expected
    assert hits[0].score > 0.5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 < h.score <= 1.0 for h in hits)


def test_batch_matches_single(seed_index: VectorIndex) -> None:
    queries = [q for q, _ in QUERIES_DIFFERING_IN_IDS] + ["", "zzz unrelated words qqq"]
    batch = seed_index.search_batch(queries, k=3, chunk=2)
    assert batch == [seed_index.search(q, k=3) for q in queries]
    assert batch[-2] == [] and batch[-1] == []


def test_k_and_small_index() -> None:
    index = build_index([_entry("a", "disk full"), _entry("b", "disk quota")])
    assert len(index.search("disk", k=10)) == 2
    assert index.search("disk", k=0) == []
    assert VectorIndex().search("anything") == []


def test_incremental_add_is_findable_and_keeps_old_results(seed_index: VectorIndex) -> None:
    index = VectorIndex.from_bytes(seed_index.to_bytes())
    before = {q: index.search(q, k=3) for q, _ in QUERIES_DIFFERING_IN_IDS}
    segments_before = index.n_segments
    new = _entry(
        "new-1",
        "FlinkRuntimeException: checkpoint coordinator declined checkpoint 812 of job 77",
        "increase checkpoint timeout",
    )
    index.add([new])
    assert index.n_segments == segments_before + 1  # appended, not rebuilt
    hits = index.search(
        "FlinkRuntimeException: checkpoint coordinator declined checkpoint 9 of job 1234", k=3
    )
    assert hits[0] == Hit("new-1", pytest.approx(hits[0].score)) and hits[0].score > 0.8
    for query, old_hits in before.items():
        new_hits = index.search(query, k=3)
        assert [h.entry_id for h in new_hits] == [h.entry_id for h in old_hits]
        for a, b in zip(new_hits, old_hits, strict=True):
            assert a.score == pytest.approx(b.score, abs=0.02)


def _word(i: int) -> str:
    # Letters only: the normaliser masks digits, which would make every word the same.
    return "".join("abcdefghij"[int(d)] for d in f"{i:03d}")


def test_many_adds_merge_segments_and_stay_correct() -> None:
    index = VectorIndex(n_features=2**14)
    for i in range(40):
        index.add([_entry(f"e{i}", f"unique {_word(i)}word failure in component {_word(i)}x")])
    assert len(index) == 40
    assert index.n_segments < 10
    for i in (0, 17, 39):
        assert index.search(f"unique {_word(i)}word failure", k=1)[0].entry_id == f"e{i}"


def test_update_and_remove() -> None:
    index = build_index([_entry("a", "connection refused by host"), _entry("b", "disk is full")])
    index.add([_entry("a", "java heap space exhausted")])  # same id: replaced
    assert len(index) == 2
    assert index.search("java heap space", k=1)[0].entry_id == "a"
    assert all(h.entry_id != "a" for h in index.search("connection refused", k=2))
    assert index.remove(["b", "unknown"]) == 1
    assert "b" not in index and index.search("disk is full") == []


def test_bytes_round_trip(seed_index: VectorIndex) -> None:
    blob = seed_index.to_bytes()
    assert blob.startswith(MAGIC)
    loaded = VectorIndex.from_bytes(blob)
    assert len(loaded) == len(seed_index)
    for query, _ in QUERIES_DIFFERING_IN_IDS:
        got, want = loaded.search(query), seed_index.search(query)
        assert [h.entry_id for h in got] == [h.entry_id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-4)


def test_round_trip_after_remove() -> None:
    index = build_index([_entry("a", "x failure alpha"), _entry("b", "y failure beta")])
    index.remove(["a"])
    loaded = VectorIndex.from_bytes(index.to_bytes())
    assert len(loaded) == 1 and loaded.search("alpha failure")[0].entry_id == "b"


@pytest.mark.parametrize(
    ("blob", "fragment"),
    [
        (b"", "bad magic"),
        (b"PK\x03\x04 something else", "bad magic"),
        (b"AHVIDX9\n" + b"\x00" * 20, "unsupported retrieval index format"),
        (MAGIC + b"\x00\x00\x00\x05{bad}", "damaged"),
        ("a string", "expected bytes"),
    ],
)
def test_bad_blob_errors_clearly(blob, fragment) -> None:
    with pytest.raises(RetrievalIndexError, match=fragment) as info:
        VectorIndex.from_bytes(blob)
    assert "rebuild the index" in str(info.value)


def test_truncated_blob_errors_clearly(seed_index: VectorIndex) -> None:
    blob = seed_index.to_bytes()
    with pytest.raises(RetrievalIndexError, match="damaged"):
        VectorIndex.from_bytes(blob[: len(blob) // 2])


def test_classify_package_import_stays_light() -> None:
    code = (
        "import sys, airflow_healer.core.classify; "
        "heavy = [m for m in ('sklearn', 'scipy', 'openpyxl', 'airflow') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("n", [6, 100, 5_000, 200_000])
def test_top_k_is_exact(n: int) -> None:
    import numpy as np

    from airflow_healer.core.classify.retrieval import _top_k

    rng = np.random.default_rng(n)
    for values in (rng.random(n, dtype=np.float32) ** 8, np.round(rng.random(n, dtype=np.float32), 1)):
        picked = np.sort(values[_top_k(values, 5)])
        assert np.array_equal(picked, np.sort(values)[-5:])
