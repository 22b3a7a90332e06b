"""Figures for the retrieval index: build, incremental add, query latency, memory.

Usage::

    python bench/bench_retrieval.py                    # 10k and 100k entries
    python bench/bench_retrieval.py --sizes 300000     # one larger run (about 3 GB RSS at 1M; see below)

Entries are synthetic: error-message templates of many systems, filled with random identifiers,
numbers, paths and words from a large made-up vocabulary, so postings lists have realistic lengths
(a few very common terms, a long tail of rare ones). Queries are the same templates with other ids
and numbers, plus some unrelated text. Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import string
import time

import numpy as np

from airflow_healer.core.classify.retrieval import VectorIndex

TEMPLATES = [
    "google.api_core.exceptions.Forbidden: 403 Access Denied: Table {p}:{d}.{t}: User does not have permission to query table",
    "psycopg2.OperationalError: connection to server at {ip}, port {n} failed: FATAL: password authentication failed for user {w}",
    "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='{w}.example.com', port=443): Read timed out. (read timeout={n})",
    "OSError: [Errno 28] No space left on device: '/tmp/{w}/{w2}_{n}.parquet'",
    "java.lang.OutOfMemoryError: Java heap space at org.apache.spark.{w}.{W}.insertAll({W}.scala:{n})",
    "google.api_core.exceptions.NotFound: 404 Not found: Table {p}:{d}.{t} was not found in location {loc}",
    "ModuleNotFoundError: No module named '{w}_{w2}'",
    "airflow.exceptions.AirflowNotFoundException: The conn_id `{w}_{w2}` isn't defined",
    "429 Too Many Requests: quota exceeded for metric {w} requests per minute of service {w2}.googleapis.com",
    "Pod {w}-{h} is Pending: 0/{n} nodes are available: {n} Insufficient cpu, {n} Insufficient memory",
    "pyarrow.lib.ArrowInvalid: Unable to merge: Field {w} has incompatible types: timestamp[us] vs string",
    "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x{h2} in position {n}: invalid start byte",
    "psycopg2.errors.QueryCanceled: canceling statement due to statement timeout on {w}.{w2}",
    "Workflow failed. Causes: Quota 'CPUS' exceeded. Limit: {n}.0 in region {loc}. {w} {w2} {w3}",
    "{W}Exception: {w} {w2} {w3} failed while processing {w4} in stage {n} of job {h}",
    "kubernetes.client.exceptions.ApiException: (403) pods is forbidden: User {w} cannot create resource pods in namespace {w2}",
]
LOCATIONS = ["US", "EU", "europe-west1", "us-central1", "asia-east1"]


def make_vocab(size: int, rng: random.Random) -> list[str]:
    # Letters only: the normaliser masks digits, so digit-bearing words would collapse together.
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10))) for _ in range(size)]


def fill(template: str, rng: random.Random, vocab: list[str]) -> str:
    words = rng.sample(vocab, 5)
    return template.format(
        p=f"proj-{rng.randint(1, 99999)}",
        d=f"ds_{rng.randint(1, 999)}",
        t=f"tbl_{rng.randint(1, 10**6)}",
        ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
        n=rng.randint(1, 100000),
        w=words[0],
        w2=words[1],
        w3=words[2],
        w4=words[3],
        W=words[4].capitalize(),
        h=f"{rng.getrandbits(48):012x}",
        h2=f"{rng.getrandbits(8):02x}",
        loc=rng.choice(LOCATIONS),
    )


def make_entries(start: int, count: int, rng: random.Random, vocab: list[str]) -> list[dict[str, str]]:
    entries = []
    for i in range(start, start + count):
        template = TEMPLATES[i % len(TEMPLATES)]
        extra = " ".join(rng.sample(vocab, 6))
        entries.append(
            {
                "id": f"kb-{i}",
                "title": " ".join(rng.sample(vocab, 4)),
                "message": fill(template, rng, vocab) + " " + extra,
                "context": "Seen in " + " ".join(rng.sample(vocab, 8)),
                "solution": "Retry after " + " ".join(rng.sample(vocab, 10)),
            }
        )
    return entries


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms  max {ms.max():.2f} ms"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run(size: int, batch: int, queries: int, seed: int) -> None:
    rng = random.Random(seed)
    vocab = make_vocab(50_000, rng)
    index = VectorIndex()
    print(f"\n== {size:,} entries (added in batches of {batch:,}) ==")
    build = 0.0
    for start in range(0, size, batch):
        chunk = make_entries(start, min(batch, size - start), rng, vocab)
        t0 = time.perf_counter()
        index.add(chunk)
        build += time.perf_counter() - t0
        del chunk
    gc.collect()
    print(
        f"build (vectorise + index, excluding data generation): {build:.1f} s ({size / build:,.0f} entries/s)"
    )
    print(
        f"segments: {index.n_segments}  index arrays: {index.memory_bytes() / 2**20:.0f} MiB  peak RSS so far: {rss_mb():.0f} MiB"
    )

    qrng = random.Random(seed + 1)
    texts = []
    for i in range(queries):
        if i % 10 == 9:
            texts.append(" ".join(qrng.sample(vocab, 12)))  # unrelated text
        else:
            texts.append(fill(TEMPLATES[qrng.randrange(len(TEMPLATES))], qrng, vocab))
    for text in texts[:20]:  # warm-up
        index.search(text, k=5)
    samples = []
    for text in texts:
        t0 = time.perf_counter()
        index.search(text, k=5)
        samples.append(time.perf_counter() - t0)
    print(f"search top-5, {queries} queries: {percentiles(samples)}")

    t0 = time.perf_counter()
    index.search_batch(texts, k=5)
    elapsed = time.perf_counter() - t0
    print(f"search_batch top-5, {queries} queries: {elapsed:.2f} s ({elapsed / queries * 1000:.2f} ms/query)")

    for count in (1, 100, 1000):
        new = make_entries(size + count * 10, count, rng, vocab)
        t0 = time.perf_counter()
        index.add(new)
        added = time.perf_counter() - t0
        t0 = time.perf_counter()
        hits = index.search(new[0]["message"], k=5)
        first = time.perf_counter() - t0
        found = hits[0].entry_id == new[0]["id"]
        print(
            f"incremental add of {count:>4}: {added * 1000:8.1f} ms; next query {first * 1000:.1f} ms; "
            f"new entry top-1: {found}; segments {index.n_segments}"
        )
    t0 = time.perf_counter()
    index.refresh()
    print(
        f"full norm refresh (after IDF drift > renorm_fraction): {(time.perf_counter() - t0) * 1000:.0f} ms"
    )
    t0 = time.perf_counter()
    blob = index.to_bytes()
    dumped = time.perf_counter() - t0
    t0 = time.perf_counter()
    VectorIndex.from_bytes(blob)
    print(
        f"to_bytes {dumped:.1f} s ({len(blob) / 2**20:.0f} MiB), from_bytes {time.perf_counter() - t0:.1f} s; "
        f"peak RSS {rss_mb():.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated entry counts")
    parser.add_argument("--batch", type=int, default=20_000, help="entries per add() while building")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.batch, args.queries, args.seed)


if __name__ == "__main__":
    main()
