"""Score a classifier on labelled rows: macro-F1, per-class figures, confusion matrix, calibration.

Rows are mappings with ``text`` and ``label`` (and optionally ``ambiguous``: 1 where the wording points
elsewhere than the root cause, ``exception_type``/``operator``/``system`` metadata). Every figure is
computed twice: on all rows and on the rows not marked ambiguous.

Plain Python on purpose: the CLI can evaluate any ``predict`` function without scikit-learn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Prediction = tuple[str, float | None]


def _predict(predictor: Any, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
    texts = [str(r.get("text", "")) for r in rows]
    if hasattr(predictor, "predict_proba") and hasattr(predictor, "classes_"):
        proba = predictor.predict_proba(texts)
        classes = list(predictor.classes_)
        out = []
        for p in proba:
            i = max(range(len(classes)), key=lambda k: p[k])
            out.append((str(classes[i]), float(p[i])))
        return out
    if not callable(predictor):
        raise TypeError(
            "predictor must be a fitted classifier (predict_proba + classes_) or a callable(texts)"
        )
    raw = list(predictor(texts))
    if len(raw) != len(texts):
        raise ValueError(f"predictor returned {len(raw)} predictions for {len(texts)} texts")
    out = []
    for p in raw:
        if isinstance(p, (tuple, list)):
            out.append((str(p[0]), None if p[1] is None else float(p[1])))
        else:
            out.append((str(p), None))
    return out


def expected_calibration_error(
    correct: Sequence[bool], confidence: Sequence[float], n_bins: int = 10
) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over equal-width bins.

    A confidence of exactly 1.0 falls in the last bin; 0.0 in the first.
    """
    n = len(correct)
    if n == 0:
        return 0.0
    bins: list[list[tuple[bool, float]]] = [[] for _ in range(n_bins)]
    for ok, conf in zip(correct, confidence, strict=True):
        b = min(int(conf * n_bins), n_bins - 1) if conf > 0 else 0
        bins[b].append((ok, conf))
    ece = 0.0
    for items in bins:
        if items:
            acc = sum(1 for ok, _ in items if ok) / len(items)
            avg = sum(c for _, c in items) / len(items)
            ece += abs(acc - avg) * len(items) / n
    return ece


def _section(
    y_true: list[str], preds: list[Prediction], labels: list[str] | None, n_bins: int
) -> dict[str, Any]:
    y_pred = [p for p, _ in preds]
    # Like scikit-learn's default: the classes are those seen in the truth or the predictions.
    classes = list(labels) if labels else sorted(set(y_true) | set(y_pred))
    index = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    per_class: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    n = len(y_true)
    correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]
    confidences = [c for _, c in preds]
    has_conf = n > 0 and all(c is not None for c in confidences)
    return {
        "n": n,
        "accuracy": sum(correct) / n if n else 0.0,
        "macro_f1": sum(v["f1"] for v in per_class.values()) / len(per_class) if per_class else 0.0,
        "per_class": per_class,
        "confusion": {"labels": classes, "matrix": matrix},
        "ece": expected_calibration_error(correct, confidences, n_bins) if has_conf else None,
        "mean_confidence": sum(confidences) / n if has_conf else None,
    }


def evaluate(
    predictor: Any | Callable[[list[str]], Sequence[Any]],
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[str] | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Score ``predictor`` on ``rows``.

    :param predictor: a fitted classifier with ``predict_proba`` and ``classes_``, or a callable taking
        a list of texts and returning labels or ``(label, confidence)`` pairs.
    :param rows: mappings with ``text``, ``label`` and optionally ``ambiguous``.
    :param labels: the classes to report on (default: those in the truth or the predictions).
    :param n_bins: bins of the expected calibration error.
    :return: ``{"all": section, "unambiguous": section, "n_ambiguous": int, "errors": [...]}``; a
        section has ``n``, ``accuracy``, ``macro_f1``, ``per_class``, ``confusion``, ``ece``.
    """
    rows = list(rows)
    preds = _predict(predictor, rows)
    y_true = [str(r["label"]) for r in rows]
    clear = [i for i, r in enumerate(rows) if not int(r.get("ambiguous", 0) or 0)]
    labels = list(labels) if labels else None
    errors = [
        {
            "id": rows[i].get("id", i),
            "label": y_true[i],
            "predicted": preds[i][0],
            "confidence": preds[i][1],
            "ambiguous": int(rows[i].get("ambiguous", 0) or 0),
        }
        for i in range(len(rows))
        if preds[i][0] != y_true[i]
    ]
    return {
        "all": _section(y_true, preds, labels, n_bins),
        "unambiguous": _section([y_true[i] for i in clear], [preds[i] for i in clear], labels, n_bins),
        "n_ambiguous": len(rows) - len(clear),
        "errors": errors,
    }


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def format_report(report: Mapping[str, Any], confusion: bool = True) -> str:
    """A plain-text rendering of :func:`evaluate`'s report for terminals and logs."""
    a, u = report["all"], report["unambiguous"]
    lines = [
        f"{'':24}{'all':>10}{'unambiguous':>14}",
        f"{'examples':24}{a['n']:>10}{u['n']:>14}",
        f"{'macro-F1':24}{_fmt(a['macro_f1']):>10}{_fmt(u['macro_f1']):>14}",
        f"{'accuracy':24}{_fmt(a['accuracy']):>10}{_fmt(u['accuracy']):>14}",
        f"{'ECE':24}{_fmt(a['ece']):>10}{_fmt(u['ece']):>14}",
        f"{'mean confidence':24}{_fmt(a['mean_confidence']):>10}{_fmt(u['mean_confidence']):>14}",
        "",
        f"{'class (all rows)':24}{'prec':>7}{'recall':>8}{'F1':>7}{'n':>5}",
    ]
    for c, m in a["per_class"].items():
        lines.append(f"{c:24}{m['precision']:7.2f}{m['recall']:8.2f}{m['f1']:7.2f}{m['support']:5d}")
    if confusion and a["confusion"]["labels"]:
        labels = a["confusion"]["labels"]
        short = [c[:4] for c in labels]
        lines += [
            "",
            "confusion (rows: truth, columns: predicted)",
            " " * 24 + "".join(f"{s:>5}" for s in short),
        ]
        for c, row in zip(labels, a["confusion"]["matrix"], strict=True):
            lines.append(f"{c:24}" + "".join(f"{v:5d}" if v else "    ." for v in row))
    return "\n".join(lines)
