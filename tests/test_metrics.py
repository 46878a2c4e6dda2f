"""Metrics against hand-computed cases."""

import numpy as np
import pytest

from scratchnet import metrics


def test_confusion_matrix_and_per_class_scores_by_hand():
    # true:  0 0 0 1 1 2
    # pred:  0 0 1 1 2 2
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = metrics.confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    p, r, f = metrics.precision_recall_f1(cm)
    # class 0: P = 2/2, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 1/2, R = 1/1
    np.testing.assert_allclose(p, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(r, [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(f, [2 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5])
    rep = metrics.classification_report(y_true, y_pred, 3)
    assert rep["accuracy"] == pytest.approx(4 / 6)
    assert rep["macro_precision"] == pytest.approx(2 / 3)
    assert rep["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert rep["per_class"]["support"] == [3, 2, 1]
    assert rep["confusion_matrix"] == cm.tolist()


def test_class_never_predicted_or_absent_scores_zero_not_nan():
    rep = metrics.classification_report([0, 0, 1], [0, 0, 0], 3)
    assert rep["per_class"]["precision"] == [pytest.approx(2 / 3), 0.0, 0.0]
    assert rep["per_class"]["recall"] == [1.0, 0.0, 0.0]
    assert all(np.isfinite(rep["per_class"]["f1"]))


def test_metrics_reject_bad_labels():
    with pytest.raises(ValueError, match="same count"):
        metrics.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="integer class labels"):
        metrics.confusion_matrix([0.5], [0])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="zero samples"):
        metrics.accuracy([], [])


def test_perfect_predictions():
    y = np.arange(10).repeat(3)
    rep = metrics.classification_report(y, y)
    assert rep["accuracy"] == rep["macro_f1"] == 1.0
    np.testing.assert_array_equal(np.diag(rep["confusion_matrix"]), 3)
