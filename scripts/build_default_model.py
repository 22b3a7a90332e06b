"""Regenerate the training corpus and the shipped classifier, deterministically.

Usage: python scripts/build_default_model.py [--n-per-class 1700] [--seed 0] [--jobs 2] [--out PATH]

Prints the cross-validated figures of every candidate and writes the model next to the package data
(``airflow_healer/core/classify/data/error_classifier.bin``) unless ``--out`` says otherwise.
``train`` adds the uninformative messages of ``corpus.generate_uninformative`` (same seed), so the
model answers messages that name no cause with low confidence.
The real-world evaluation set is never read here: it is for evaluation only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from airflow_healer.core.classify import corpus
from airflow_healer.core.classify.model import DEFAULT_MODEL_FILE, train

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "airflow_healer" / "core" / "classify" / "data" / DEFAULT_MODEL_FILE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=1700)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    rows = corpus.generate(n_per_class=args.n_per_class, seed=args.seed)
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    print(
        f"corpus: {len(rows)} examples, {len(corpus.labels())} labels, seed {args.seed} "
        f"({time.perf_counter() - t0:.1f}s)"
    )

    clf = train(texts, labels, rows, cv=args.cv, random_state=args.seed, n_jobs=args.jobs)
    blob = clf.to_bytes()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)

    md = clf.metadata_
    print(f"{'model':8} {'params':70} {'cv macro-F1':>12} {'std':>7} {'secs':>6}")
    for r in md["cv"]:
        print(
            f"{r['model']:8} {json.dumps(r['params']):70} {r['cv_macro_f1']:12.4f} {r['cv_macro_f1_std']:7.4f} {r['seconds']:6.1f}"
        )
    print(f"chosen: {md['chosen']} {json.dumps(md['params'])}; calibration {md['calibration']}")
    print(
        f"uninformative: {md['n_uninformative']} messages that name no cause, each trained once per class "
        f"(corpus.generate_uninformative, seed {args.seed})"
    )
    print(f"features: {md['n_features']}; training data sha256 {md['training_sha256'][:16]}...")
    print(
        f"train() total {md['train_seconds']}s, final fit {md['fit_seconds']}s; model {len(blob) / 1e6:.2f} MB -> {args.out.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
