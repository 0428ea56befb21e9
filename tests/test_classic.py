"""The classic exercise's figures, from its original data files in ../shared/data.

The files are not part of the project (the car data's license is unconfirmed); these
tests read them when they are beside the checkout and skip, saying so, when not.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import xpgd
from xpgd import metrics
from xpgd.model_selection import train_test_split
from xpgd.preprocessing import prepare

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
CAR_CATEGORICAL = ["Car_Name", "Fuel_Type", "Seller_Type", "Transmission", "Owner"]


def _csv(name: str):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not present (the exercise's data live beside the checkout)")
    pd = pytest.importorskip("pandas")
    return pd, path


def test_iris_classic_figures(backend):
    pd, path = _csv("iris.csv")
    df = pd.read_csv(path, header=None, names=["f1", "f2", "f3", "f4", "Class"])
    assert len(df) == 150
    X = df[["f1", "f2", "f3", "f4"]].to_numpy()
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)  # z-scored before the split
    X = np.hstack([np.ones((150, 1)), X])
    y = (df["Class"] != "Iris-setosa").to_numpy(dtype=np.float64)[:, None]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    cost, params = xpgd.gradient_descent(
        backend.asarray(X_tr), backend.asarray(y_tr), backend.asarray(np.zeros((5, 1))), 0.05, 1000
    )
    n_train = X_tr.shape[0]
    assert n_train == 120
    # The classic printed the summed cost: 120 * ln 2 at the zero start.
    assert n_train * float(xpgd.to_numpy(cost)[0]) == pytest.approx(120 * math.log(2), rel=1e-12)
    predicted = np.round(xpgd.to_numpy(xpgd.predict(backend.asarray(X_te), params)))
    assert metrics.accuracy_score(y_te[:, 0], predicted[:, 0]) == 1.0


def _car_split(seed: int):
    pd, path = _csv("car_data.csv")
    df = pd.read_csv(path)
    data = prepare(
        df,
        "Selling_Price",
        test_size=0.1,
        random_state=seed,
        fit_on="all",
        categorical=CAR_CATEGORICAL,
        derived={"Age": "2020 - Year"},
        drop=["Year"],
    )
    A = np.hstack([np.ones((len(data.X_train), 1)), data.X_train])
    A_test = np.hstack([np.ones((len(data.X_test), 1)), data.X_test])
    return data, A, A_test


def test_car_classic_preprocessing_matches_the_exercise_by_hand():
    pd, path = _csv("car_data.csv")
    df = pd.read_csv(path)
    # The exercise's steps, written out with pandas.
    ref = df.copy()
    ref["Age"] = 2020 - ref["Year"]
    ref = ref.drop("Year", axis=1)
    for col in CAR_CATEGORICAL:
        ref = pd.concat([ref, pd.get_dummies(ref[col], prefix=col)], axis=1).drop(col, axis=1)
    for col in ref.columns:
        if ref[col].dtype in ("float64", "int64"):
            ref[col] = (ref[col] - ref[col].mean()) / ref[col].std()
    data, _, _ = _car_split(0)
    pre = data.preprocessor
    X_all, y_all = pre.transform(df)
    expected = ref.drop("Selling_Price", axis=1)
    assert sorted(pre.feature_names_out_) == sorted(expected.columns)
    np.testing.assert_allclose(
        X_all, expected[pre.feature_names_out_].to_numpy(float), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(y_all, ref["Selling_Price"].to_numpy(), rtol=1e-12)


def test_car_classic_figures(backend):
    data, A, A_test = _car_split(0)
    inv = data.preprocessor.inverse_transform_target
    cost, params = xpgd.gradient_descent(
        backend.asarray(A),
        backend.asarray(data.y_train),
        backend.asarray(np.zeros(A.shape[1])),
        0.03,
        100,
        loss="squared",
    )
    pred = inv(xpgd.to_numpy(xpgd.predict(A_test, xpgd.to_numpy(params), loss="squared")))
    r2 = metrics.r2_score(inv(data.y_test), pred)
    assert 0.62 <= r2 <= 0.91, r2  # the range the exercise saw across random splits
    assert np.all(np.diff(xpgd.to_numpy(cost)) < 0)


def test_car_converged_gradient_descent_reaches_minimum_norm_least_squares():
    # One-hot groups plus the bias column are collinear: least squares has many solutions.
    # Gradient descent from zero stays in the row space, so it converges to the
    # minimum-norm one, which is what lstsq returns.
    data, A, A_test = _car_split(0)
    assert np.linalg.matrix_rank(A) < A.shape[1]
    inv = data.preprocessor.inverse_transform_target
    _, params = xpgd.gradient_descent(
        A, data.y_train, np.zeros(A.shape[1]), "auto", 3000, loss="squared", solver="nesterov"
    )
    exact = np.linalg.lstsq(A, data.y_train, rcond=None)[0]
    truth = inv(data.y_test)
    ours = metrics.r2_score(truth, inv(A_test @ params))
    assert ours == pytest.approx(metrics.r2_score(truth, inv(A_test @ exact)), abs=1e-3)
    np.testing.assert_allclose(params, exact, atol=1e-6)
