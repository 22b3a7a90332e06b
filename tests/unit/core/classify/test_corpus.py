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


# --- the uninformative family --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninformative():
    return corpus.generate_uninformative(n=400, seed=7)


def test_uninformative_is_deterministic():
    assert corpus.generate_uninformative(n=50, seed=3) == corpus.generate_uninformative(n=50, seed=3)
    assert corpus.generate_uninformative(n=50, seed=3) != corpus.generate_uninformative(n=50, seed=4)


def test_uninformative_rows_have_no_label(uninformative):
    assert len(uninformative) == 400
    for r in uninformative:
        assert set(r) == {"text", "label", "system", "exception_type", "operator"}
        assert r["label"] is None and r["text"].strip()


def test_uninformative_rows_fill_every_slot(uninformative):
    for r in uninformative:
        assert not re.search(r"\{(?:[a-z]+[0-9]?|[A-Z][a-z]*[0-9]?|[A-Z]{1,5})\}", r["text"]), r["text"]
        assert not re.search(r"\(\([^()]*\|", r["text"]), r["text"]


def test_uninformative_templates_are_all_used():
    n = len(corpus.UNINFORMATIVE)
    rows = corpus.generate_uninformative(n=n, seed=0, wrap=False)
    # One full cycle uses every template once: the system of each row tells its template's family.
    assert Counter(r["system"] for r in rows) == Counter(system for system, _ in corpus.UNINFORMATIVE)


def test_uninformative_exit_codes_stay_generic(uninformative):
    # 137, SIGKILL and OOMKilled name an OOM kill: they belong to labelled templates, not here.
    for r in uninformative:
        assert not re.search(r"\b137\b|SIGKILL|OOMKilled|Negsignal", r["text"]), r["text"]


@pytest.mark.parametrize(
    "needle",
    [
        "return code 1",
        "non-zero exit status",
        "Task failed",
        "see logs for details",
        "Something went wrong",
        "ValueError: invalid literal for int()",
        "Task failed with no captured error",
        "Traceback (most recent call last):",
    ],
)
def test_uninformative_covers_the_generic_shapes(uninformative, needle):
    assert any(needle in r["text"] for r in uninformative)


def test_uninformative_has_made_up_words_and_bare_exceptions():
    rows = corpus.generate_uninformative(n=len(corpus.UNINFORMATIVE) * 3, seed=2, wrap=False)
    texts = {r["text"] for r in rows}
    assert any(t in texts for t in ("RuntimeError", "Exception", "AssertionError", "NotImplementedError"))
    vocab = set(" ".join(corpus._WORDS).split())
    made_up = [t for t in texts if re.fullmatch(r"[a-z]+ [a-z]+ [a-z]+", t) and not set(t.split()) & vocab]
    assert made_up


def test_uninformative_wrapping_matches_the_labelled_corpus():
    bare = corpus.generate_uninformative(n=200, seed=1, wrap=False)
    wrapped = corpus.generate_uninformative(n=200, seed=1)
    frame = re.compile(r"^Traceback \(most recent call last\):\n  File ", re.M)
    assert not any(frame.search(r["text"]) for r in bare)
    assert any(frame.search(r["text"]) for r in wrapped)
    assert any("{taskinstance.py:" in r["text"] for r in wrapped)
