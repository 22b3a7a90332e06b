"""evaluate(): exact figures on a tiny hand-made example, both with and without ambiguous rows."""

from __future__ import annotations

import pytest

from airflow_healer.core.classify.evaluate import evaluate, expected_calibration_error, format_report

ROWS = [
    {"id": 1, "text": "a", "label": "x", "ambiguous": 0},
    {"id": 2, "text": "b", "label": "x", "ambiguous": 0},
    {"id": 3, "text": "c", "label": "y", "ambiguous": 0},
    {"id": 4, "text": "d", "label": "y", "ambiguous": 1},
]
# Predictions: a->x (0.9), b->y (0.6), c->y (0.8), d->x (0.7)
PRED = {"a": ("x", 0.9), "b": ("y", 0.6), "c": ("y", 0.8), "d": ("x", 0.7)}


def predict(texts):
    return [PRED[t] for t in texts]


@pytest.fixture(scope="module")
def report():
    return evaluate(predict, ROWS)


def test_all_rows(report):
    a = report["all"]
    # x: tp=1 fp=1 fn=1 -> P=R=F1=0.5 ; y: tp=1 fp=1 fn=1 -> 0.5
    assert a["n"] == 4
    assert a["accuracy"] == pytest.approx(0.5)
    assert a["per_class"]["x"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert a["per_class"]["y"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert a["macro_f1"] == pytest.approx(0.5)
    assert a["confusion"] == {"labels": ["x", "y"], "matrix": [[1, 1], [1, 1]]}
    # bins: 0.6 wrong (bin 6), 0.7 wrong (bin 7), 0.8 right (bin 8), 0.9 right (bin 9)
    assert a["ece"] == pytest.approx((0.6 + 0.7 + 0.2 + 0.1) / 4)


def test_without_ambiguous_rows(report):
    u = report["unambiguous"]
    # x: tp=1 fp=0 fn=1 -> P=1, R=.5, F1=2/3 ; y: tp=1 fp=1 fn=0 -> P=.5, R=1, F1=2/3
    assert report["n_ambiguous"] == 1
    assert u["n"] == 3
    assert u["accuracy"] == pytest.approx(2 / 3)
    assert u["per_class"]["x"]["precision"] == pytest.approx(1.0)
    assert u["per_class"]["x"]["recall"] == pytest.approx(0.5)
    assert u["macro_f1"] == pytest.approx(2 / 3)
    assert u["confusion"]["matrix"] == [[1, 1], [0, 1]]
    assert u["ece"] == pytest.approx((0.6 + 0.2 + 0.1) / 3)


def test_errors_are_listed(report):
    assert [e["id"] for e in report["errors"]] == [2, 4]


def test_label_only_predictor_has_no_ece():
    rep = evaluate(lambda texts: [PRED[t][0] for t in texts], ROWS)
    assert rep["all"]["ece"] is None
    assert rep["all"]["macro_f1"] == pytest.approx(0.5)


def test_classes_never_predicted_count_with_zero_f1():
    rep = evaluate(lambda texts: ["x"] * len(texts), ROWS[:3])
    # x: P=2/3 R=1 F1=0.8 ; y: 0
    assert rep["all"]["macro_f1"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    "correct, conf, expected",
    [
        ([True, True], [1.0, 1.0], 0.0),
        ([False], [1.0], 1.0),
        ([True, False], [0.5, 0.5], 0.0),
        ([], [], 0.0),
    ],
)
def test_ece_edges(correct, conf, expected):
    assert expected_calibration_error(correct, conf) == pytest.approx(expected)


def test_wrong_length_predictor_is_rejected():
    with pytest.raises(ValueError, match="predictions"):
        evaluate(lambda texts: ["x"], ROWS)


def test_format_report_mentions_the_figures(report):
    text = format_report(report)
    assert "macro-F1" in text and "0.500" in text and "0.667" in text and "ECE" in text
