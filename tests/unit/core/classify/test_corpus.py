"""The training-corpus generator: deterministic, balanced, realistic enough to be useful."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from airflow_healer.core.classify import corpus
from airflow_healer.core.types import ErrorType


@pytest.fixture(scope="module")
def rows():
    return corpus.generate(n_per_class=60, seed=7)


def test_same_seed_same_corpus():
    assert corpus.generate(n_per_class=20, seed=3) == corpus.generate(n_per_class=20, seed=3)


def test_other_seed_other_corpus():
    assert corpus.generate(n_per_class=20, seed=3) != corpus.generate(n_per_class=20, seed=4)


def test_labels_are_exactly_the_known_error_types(rows):
    assert set(corpus.labels()) == {t.value for t in ErrorType.known()}
    assert Counter(r["label"] for r in rows) == {t.value: 60 for t in ErrorType.known()}


def test_rows_have_the_documented_fields(rows):
    for r in rows:
        assert set(r) == {"text", "label", "system", "exception_type", "operator"}
        assert r["text"].strip()


def test_no_unfilled_slots_or_alternatives(rows):
    for r in rows:
        assert not re.search(r"\{(?:[a-z]+[0-9]?|[A-Z]{1,5})\}", r["text"]), r["text"]
        assert not re.search(r"\(\([^()]*\|", r["text"]), r["text"]


@pytest.mark.parametrize("label", [t.value for t in ErrorType.known()])
def test_every_type_has_many_templates_across_systems(label):
    templates = corpus.TEMPLATES[label]
    assert len(templates) >= 35
    assert len({system for system, _ in templates}) >= 6


def test_texts_vary_a_lot(rows):
    assert len({r["text"] for r in rows}) > 0.95 * len(rows)


def test_unwrapped_messages_are_bare(rows):
    bare = corpus.generate(n_per_class=10, seed=1, wrap=False)
    assert not any(r["text"].startswith("Traceback (most recent call last)") for r in bare)


def test_metadata_is_sometimes_missing(rows):
    assert any(r["exception_type"] is None for r in rows)
    assert any(r["exception_type"] for r in rows)
    assert any(r["operator"] is None for r in rows)


def test_corpus_and_evaluate_import_without_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_healer.core.classify.corpus, airflow_healer.core.classify.evaluate\n"
        "import airflow_healer.core.normalize\n"
        "heavy = [m for m in ('sklearn', 'scipy', 'pandas', 'airflow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
