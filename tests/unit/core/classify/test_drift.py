"""Drift report: same-distribution samples pass, unseen vocabulary is flagged, empty input is explained."""

from __future__ import annotations

import random

import pytest

from airflow_healer.core.classify import corpus
from airflow_healer.core.classify.drift import TOP_TERMS, drift_report, format_drift
from airflow_healer.core.classify.model import ErrorClassifier

SMALL = {"word_max_features": 3000, "char_max_features": 4000}

# Made-up systems and words the generator never produces: what a new platform's errors look like.
_NOVEL = [
    "zorblax",
    "quennafit",
    "drimple",
    "vostrangle",
    "plumbatron",
    "kezzik",
    "morvane",
    "trellisql",
    "snuffwerk",
    "yabbadrive",
    "glorptank",
    "fizzcart",
]


def _texts(n_per_class: int, seed: int) -> list[str]:
    return [r["text"] for r in corpus.generate(n_per_class=n_per_class, seed=seed)]


def _novel(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(_NOVEL).title()}Fault: {rng.choice(_NOVEL)} {rng.choice(_NOVEL)} "
        f"{rng.choice(_NOVEL)} on {rng.choice(_NOVEL)}-node"
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def model():
    rows = corpus.generate(n_per_class=40, seed=11)
    return ErrorClassifier(model="linear", **SMALL).fit([r["text"] for r in rows], [r["label"] for r in rows])


@pytest.fixture(scope="module")
def baseline():
    return _texts(15, seed=21)


def test_same_generator_shows_no_drift(model, baseline):
    report = drift_report(model, _texts(15, seed=22), baseline)
    assert report["drift"] is False
    assert report["low_confidence"]["p_value"] >= 0.01
    assert report["unseen_vocabulary"]["p_value"] >= 0.01
    assert report["n_recent"] == report["n_baseline"] == 180


def test_unseen_vocabulary_is_flagged(model, baseline):
    report = drift_report(model, _novel(60), baseline)
    unseen = report["unseen_vocabulary"]
    assert report["drift"] is True and unseen["drift"] is True
    assert unseen["p_value"] < 1e-6
    assert unseen["recent_mean"] > 0.3 > unseen["baseline_mean"]
    top = [term for term, _ in unseen["top_terms"]]
    assert 0 < len(top) <= TOP_TERMS
    assert set(top) <= set(_NOVEL) | {"fault", "node"}
    assert "unseen vocabulary" in report["message"]


def test_mixed_recent_set_still_drifts(model, baseline):
    # A third of production from an unknown platform is enough to notice.
    report = drift_report(model, _texts(10, seed=23) + _novel(60), baseline)
    assert report["unseen_vocabulary"]["drift"] is True


@pytest.mark.parametrize(
    "recent, baseline_n, missing", [([], 5, "recent"), (["OSError: boom"], 0, "baseline")]
)
def test_empty_input_is_explained_not_tested(model, baseline, recent, baseline_n, missing):
    report = drift_report(model, recent, baseline[:baseline_n])
    assert report["drift"] is False
    assert report["low_confidence"] is None and report["unseen_vocabulary"] is None
    assert f"no {missing} messages" in report["message"]
    assert "no drift" in format_drift(report).lower()


def test_format_drift_names_the_figures(model, baseline):
    text = format_drift(drift_report(model, _novel(40), baseline))
    assert text.startswith("DRIFT")
    assert "unseen words per message" in text and "low confidence" in text
    assert "p = " in text and any(word in text for word in _NOVEL)


def test_low_confidence_counts_follow_the_threshold(model, baseline):
    recent = _texts(5, seed=24)
    strict = drift_report(model, recent, baseline, min_confidence=1.01)["low_confidence"]
    lax = drift_report(model, recent, baseline, min_confidence=0.0)["low_confidence"]
    assert strict["recent_count"] == len(recent) and strict["recent_share"] == 1.0
    assert lax["recent_count"] == 0 and lax["p_value"] == 1.0
