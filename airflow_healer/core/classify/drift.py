"""Has production drifted away from what the classifier was trained on?

:func:`drift_report` compares recent production messages with a baseline sample of training texts
on two signs that the model is out of its depth:

* **low confidence**: the share of messages whose most probable class has a probability below
  ``min_confidence``, tested with Fisher's exact test on the 2x2 table (recent vs baseline);
* **unseen vocabulary**: per message, the share of its word tokens that are not in the model's
  word vocabulary, tested with the Mann-Whitney U test (recent vs baseline).

Both tests are one-sided: only *more* uncertainty or *more* unknown words in production is drift
worth acting on; a recent sample that is easier than the baseline is not. Drift is declared when
either test rejects at ``alpha``. Tokens are read the way the model reads them: the message's word
view (:func:`~airflow_healer.core.classify.features.prepare`, which normalises it first) through the
fitted word vectoriser's own analyzer, keeping single words (its n-grams add nothing here).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import fisher_exact, mannwhitneyu

from airflow_healer.core.classify.features import prepare

log = logging.getLogger(__name__)

#: How many of the most frequent unseen terms of the recent set the report lists.
TOP_TERMS = 10


def _unseen_shares(model: Any, texts: Sequence[str]) -> tuple[list[float], Counter[str], int]:
    """Per-message share of unseen words, how many recent messages hold each unseen word, and how
    many messages had no word at all (left out of the shares: they say nothing about vocabulary)."""
    word = model.features_.word_
    analyzer = word.build_analyzer()
    vocab = word.vocabulary_
    shares: list[float] = []
    doc_freq: Counter[str] = Counter()
    empty = 0
    for text in texts:
        # The analyzer yields words and word pairs; pairs are joined by a space, words never are.
        tokens = [t for t in analyzer(prepare(text)) if " " not in t]
        if not tokens:
            empty += 1
            continue
        unseen = [t for t in tokens if t not in vocab]
        shares.append(len(unseen) / len(tokens))
        doc_freq.update(set(unseen))
    return shares, doc_freq, empty


def _low_confidence(model: Any, texts: Sequence[str], min_confidence: float) -> int:
    proba = model.predict_proba(list(texts))
    return int((proba.max(axis=1) < min_confidence).sum())


def _p(value: float) -> float:
    # Identical samples (all zeros, say) can give NaN: no evidence of a difference.
    return 1.0 if value is None or math.isnan(value) else float(value)


def drift_report(
    model: Any,
    recent_texts: Sequence[str],
    baseline_texts: Sequence[str],
    *,
    min_confidence: float = 0.35,
    alpha: float = 0.01,
) -> dict[str, Any]:
    """Compare recent production messages with a baseline sample of training texts.

    :param model: a fitted :class:`~airflow_healer.core.classify.model.ErrorClassifier`.
    :param recent_texts: error messages seen in production lately.
    :param baseline_texts: a sample of the texts the model was trained on (or held out from them).
    :param min_confidence: a prediction whose top probability is below this counts as low-confidence.
    :param alpha: significance level of each test.
    :return: ``drift`` (bool), ``message`` (one line), ``n_recent``, ``n_baseline``, and two sections,
        ``low_confidence`` and ``unseen_vocabulary``, each with its figures, ``test``, ``p_value`` and
        ``drift``; ``unseen_vocabulary["top_terms"]`` lists ``(term, n_recent_messages)`` pairs.
        With no recent or no baseline messages nothing is tested: ``drift`` is ``False``, the
        sections are ``None`` and ``message`` says why.
    """
    recent, baseline = list(recent_texts), list(baseline_texts)
    report: dict[str, Any] = {
        "drift": False,
        "message": "",
        "n_recent": len(recent),
        "n_baseline": len(baseline),
        "alpha": alpha,
        "min_confidence": min_confidence,
        "low_confidence": None,
        "unseen_vocabulary": None,
    }
    if not recent or not baseline:
        missing = "recent" if not recent else "baseline"
        report["message"] = f"no {missing} messages to compare: pass at least one, drift was not tested"
        return report

    low_r = _low_confidence(model, recent, min_confidence)
    low_b = _low_confidence(model, baseline, min_confidence)
    table = [[low_r, len(recent) - low_r], [low_b, len(baseline) - low_b]]
    p_low = _p(fisher_exact(table, alternative="greater")[1])
    low = {
        "recent_count": low_r,
        "baseline_count": low_b,
        "recent_share": low_r / len(recent),
        "baseline_share": low_b / len(baseline),
        "test": "Fisher's exact test, one-sided (recent share higher)",
        "p_value": p_low,
        "drift": p_low < alpha,
    }

    shares_r, doc_freq, empty_r = _unseen_shares(model, recent)
    shares_b, _, empty_b = _unseen_shares(model, baseline)
    if shares_r and shares_b:
        p_unseen = _p(mannwhitneyu(shares_r, shares_b, alternative="greater").pvalue)
    else:
        p_unseen = 1.0
    unseen = {
        "recent_mean": float(np.mean(shares_r)) if shares_r else 0.0,
        "baseline_mean": float(np.mean(shares_b)) if shares_b else 0.0,
        "recent_no_words": empty_r,
        "baseline_no_words": empty_b,
        "test": "Mann-Whitney U, one-sided (recent shares higher)",
        "p_value": p_unseen,
        "drift": p_unseen < alpha,
        "top_terms": doc_freq.most_common(TOP_TERMS),
    }

    report.update(low_confidence=low, unseen_vocabulary=unseen, drift=low["drift"] or unseen["drift"])
    signs = [name for name, part in (("low confidence", low), ("unseen vocabulary", unseen)) if part["drift"]]
    report["message"] = (
        f"drift in {' and '.join(signs)} at alpha {alpha}: consider retraining on recent messages"
        if signs
        else f"no drift detected at alpha {alpha}"
    )
    log.info(
        "drift report: %s (low-confidence p=%.3g, unseen-vocabulary p=%.3g)",
        report["message"],
        p_low,
        p_unseen,
    )
    return report


def format_drift(report: dict[str, Any]) -> str:
    """The report of :func:`drift_report` as a few lines for a human."""
    lines = [
        f"{'DRIFT' if report['drift'] else 'no drift'}: {report['message']}",
        f"  messages: {report['n_recent']} recent, {report['n_baseline']} baseline",
    ]
    low, unseen = report.get("low_confidence"), report.get("unseen_vocabulary")
    if low:
        lines.append(
            f"  low confidence (< {report['min_confidence']:.2f}): recent {low['recent_share']:.1%} "
            f"({low['recent_count']}), baseline {low['baseline_share']:.1%} ({low['baseline_count']}); "
            f"p = {low['p_value']:.3g}{' *' if low['drift'] else ''}"
        )
    if unseen:
        lines.append(
            f"  unseen words per message: recent {unseen['recent_mean']:.1%}, "
            f"baseline {unseen['baseline_mean']:.1%}; p = {unseen['p_value']:.3g}{' *' if unseen['drift'] else ''}"
        )
        if unseen["top_terms"]:
            terms = ", ".join(f"{t} ({n})" for t, n in unseen["top_terms"])
            lines.append(f"  most frequent unseen words (messages): {terms}")
    return "\n".join(lines)


__all__ = ["TOP_TERMS", "drift_report", "format_drift"]
