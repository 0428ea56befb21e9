"""scikit-learn's own estimator checks, on NumPy input.

xpgd's estimators implement scikit-learn's protocol (get_params / set_params, tags, fitted
attributes) without inheriting from ``sklearn.base.BaseEstimator``, so that
``import xpgd`` does not import scikit-learn (about a second). scikit-learn warns about
the missing base class when it collects the checks; the checks below are what prove the
compatibility, so that one warning is silenced here and nowhere else.
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

import xpgd

_NO_BASE = "Estimator .* does not inherit from `sklearn.base.BaseEstimator`"

# The checks fit tiny but badly conditioned data (near-collinear blobs, separable classes
# with a small L2 penalty): a first-order method needs more than the default 1000
# iterations there to meet tol=1e-4, as scikit-learn's own checks allow for its iterative
# estimators. Everything else is at its default.
ESTIMATORS = [
    xpgd.LinearRegression(max_iter=20_000),
    xpgd.LogisticRegression(max_iter=20_000),
]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=_NO_BASE, category=UserWarning)
    _checks = parametrize_with_checks(ESTIMATORS)


@_checks
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NO_BASE, category=UserWarning)
        check(estimator)
