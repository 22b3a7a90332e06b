"""Figures of the error classifier: quality on the real-world dev set, speed, size, training time.

Usage: python bench/bench_classifier.py [--dev PATH] [--train-n 20000] [--jobs 2] [--cv 5] [--skip-train]

Prints figures only; nothing here asserts on time. The dev set is read for evaluation only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from importlib import resources
from pathlib import Path

from airflow_healer.core.classify import corpus
from airflow_healer.core.classify.evaluate import evaluate, format_report
from airflow_healer.core.classify.model import DEFAULT_MODEL_FILE, ErrorClassifier, load_default, train

DEFAULT_DEV = os.environ.get("HEALER_DEV_SET", "")


#: Messages that name no cause: a model that knows it cannot tell answers each below min_confidence.
UNINFORMATIVE_PROBES = [
    "something went wrong",
    "zorblax quux flimflam wibble glorped the snarfle",
    "Process exited with return code 1",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "Task failed with no captured error (state failed); see the task log. The task may have been killed "
    "(OOM, heartbeat timeout) before its callback ran.",
    "Job failed",
    "RuntimeError",
    "KeyError: 'customer'",
    "AssertionError: row counts differ",
    "Unexpected failure in step load_orders",
    "Command '['bash', 'run.sh']' returned non-zero exit status 2.",
]
MIN_CONFIDENCE = 0.35


def _rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", default=DEFAULT_DEV, help="real-world dev set (jsonl); env HEALER_DEV_SET")
    ap.add_argument("--train-n", type=int, default=20_000)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--jobs", type=int, default=2, help="n_jobs of the timed train() run")
    ap.add_argument("--cv", type=int, default=5)
    args = ap.parse_args(argv)

    ref = resources.files("airflow_healer.core.classify").joinpath("data", DEFAULT_MODEL_FILE)
    size = len(ref.read_bytes())
    t0 = time.perf_counter()
    blob = ref.read_bytes()
    clf = ErrorClassifier.from_bytes(blob)
    load_s = time.perf_counter() - t0
    load_default()
    md = clf.metadata_
    print(
        f"model: {md['chosen']} {json.dumps(md['params'])}, calibration {md['calibration']}, "
        f"{md['n_features']} features, trained on {md['n_examples']} examples; {size / 1e6:.2f} MB; load {load_s * 1000:.0f} ms"
    )
    for fam, best in md.get("cv_best", {}).items():
        print(
            f"  cv ({md.get('cv_folds')}-fold, synthetic corpus) {fam:7} macro-F1 {best['cv_macro_f1']:.4f} {json.dumps(best['params'])}"
        )

    if args.dev and Path(args.dev).is_file():
        rows = _rows(args.dev)
        rep = evaluate(clf, rows)
        print(f"\nreal-world dev set ({len(rows)} rows, {rep['n_ambiguous']} ambiguous)")
        print(format_report(rep))
        if rep["errors"]:
            print("\nmisclassified (id: truth -> predicted @ confidence):")
            for e in rep["errors"]:
                amb = " (ambiguous)" if e["ambiguous"] else ""
                print(f"  {e['id']}: {e['label']} -> {e['predicted']} @ {e['confidence']:.2f}{amb}")
        texts = [r["text"] for r in rows]
    else:
        print("\n(no dev set given: pass --dev or set HEALER_DEV_SET; quality figures skipped)")
        texts = [r["text"] for r in corpus.generate(n_per_class=10, seed=99)]

    probs = clf.predict_proba(UNINFORMATIVE_PROBES).max(axis=1)
    print(
        f"\nuninformative probes: {sum(p < MIN_CONFIDENCE for p in probs)}/{len(probs)} below "
        f"min_confidence {MIN_CONFIDENCE}, max probability {max(probs):.3f}"
    )
    for text, p in zip(UNINFORMATIVE_PROBES, probs, strict=True):
        print(f"  {p:.3f}  {text[:90]!r}")

    # Latency of one classification, as the failure callback calls it.
    for t in texts[:20]:
        clf.classify(t)
    lat = []
    for i in range(600):
        t = texts[i % len(texts)]
        s = time.perf_counter()
        clf.classify(t)
        lat.append((time.perf_counter() - s) * 1000)
    lat.sort()
    print(
        f"\none classification: p50 {statistics.median(lat):.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms"
    )

    batch = (texts * (4000 // len(texts) + 1))[:4000]
    s = time.perf_counter()
    clf.predict_proba(batch)
    el = time.perf_counter() - s
    print(f"batch of {len(batch)}: {len(batch) / el:,.0f} messages/s (one core)")

    if not args.skip_train:
        # The target: the full recipe (features, grid, CV, calibrated final fit) on 20,000
        # generated examples in under two minutes on two cores.
        rows = corpus.generate(n_per_class=args.train_n // 12 + 1, seed=5)[: args.train_n]
        s = time.perf_counter()
        trained = train(
            [r["text"] for r in rows], [r["label"] for r in rows], rows, cv=args.cv, n_jobs=args.jobs
        )
        took = time.perf_counter() - s
        tmd = trained.metadata_
        print(
            f"\ntrain() on {len(rows)} examples, {args.cv}-fold CV, {len(tmd['cv'])} candidates, "
            f"n_jobs={args.jobs}: {took:.1f} s wall-clock "
            f"(features {tmd['features_seconds']} s, CV {tmd['cv_seconds']} s, final calibrated fit "
            f"{tmd['fit_seconds']} s); chose {tmd['chosen']} {json.dumps(tmd['params'])}"
        )
        for r in tmd["cv"]:
            print(
                f"  {r['model']:7} {json.dumps(r['params']):70} macro-F1 {r['cv_macro_f1']:.4f} "
                f"+- {r['cv_macro_f1_std']:.4f}  ({r['seconds']} s of fold jobs)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
