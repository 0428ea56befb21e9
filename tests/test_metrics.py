"""Array-API metrics against scikit-learn's, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import xpgd
from xpgd import metrics
from xpgd._validation import default_float
from xpgd.testing import assert_close


@pytest.fixture
def regression(rng):
    y = rng.normal(size=50)
    return y, y + 0.3 * rng.normal(size=50), rng.uniform(0.5, 2.0, size=50)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (metrics.mean_squared_error, skm.mean_squared_error),
        (metrics.root_mean_squared_error, skm.root_mean_squared_error),
        (metrics.mean_absolute_error, skm.mean_absolute_error),
        (metrics.r2_score, skm.r2_score),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_sklearn(backend, regression, ours, theirs, weighted):
    y, pred, w = regression
    sw = w if weighted else None
    value = ours(backend.asarray(y), backend.asarray(pred), sample_weight=sw)
    assert isinstance(value, float)
    assert value == pytest.approx(theirs(y, pred, sample_weight=sw), rel=1e-12)
    # y_true on the host follows the predictions
    assert ours(y, backend.asarray(pred), sample_weight=sw) == pytest.approx(value, rel=1e-14)


def test_two_output_r2_averages_outputs(rng):
    y = rng.normal(size=(40, 2))
    pred = y + rng.normal(size=(40, 2)) * [0.1, 0.5]
    assert metrics.r2_score(y, pred) == pytest.approx(skm.r2_score(y, pred), rel=1e-12)


def test_classification_metrics_match_sklearn(backend, rng):
    y = rng.integers(0, 3, size=60)
    pred = np.where(rng.uniform(size=60) < 0.7, y, rng.integers(0, 3, size=60))
    yb, pb = backend.asarray(y), backend.asarray(pred)
    assert metrics.accuracy_score(yb, pb) == pytest.approx(skm.accuracy_score(y, pred))
    cm, _ = metrics.confusion_matrix(yb, pb)
    expected_ns = backend.xp
    assert_close(cm, skm.confusion_matrix(y, pred), xp=expected_ns, device=backend.device)
    scores = metrics.precision_recall_f1(yb, pb)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    # Per-class scores come in the namespace's default float (float32 for torch).
    default = default_float(backend.xp, None if backend.name == "dask" else backend.device)
    for ours, theirs in ((scores.precision, p), (scores.recall, r), (scores.f1, f)):
        assert_close(ours, theirs, xp=expected_ns, device=backend.device, dtype=default)
    np.testing.assert_array_equal(xpgd.to_numpy(scores.support), s)


def test_string_labels_and_report():
    y = np.array(["cat", "dog", "dog", "cat", "bird"])
    pred = np.array(["cat", "dog", "cat", "cat", "bird"])
    cm, labels = metrics.confusion_matrix(y, pred)
    np.testing.assert_array_equal(labels, ["bird", "cat", "dog"])
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred))
    report = metrics.classification_report(y, pred)
    assert "precision" in report and "accuracy" in report
    assert "0.800" in report  # 4 of 5 right
    for name in ("bird", "cat", "dog", "macro avg", "weighted avg"):
        assert name in report


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        metrics.mean_squared_error(np.zeros(3), np.zeros(2))
