"""The classic car-price experiment on any CSV with the car dealership's columns.

Linear regression of ``Selling_Price``: ``Age = 2020 - Year`` replaces ``Year``;
``Car_Name``, ``Fuel_Type``, ``Seller_Type``, ``Transmission`` and ``Owner`` one-hot
encoded; numeric columns and the target z-scored; 10% held out. Runs the classic
(learning rate 0.03, 100 plain gradient steps from zero, preprocessing fitted on all rows
as the exercise did) and then ``xpgd.LinearRegression`` with preprocessing fitted on the
training rows only; prints MSE, RMSE, MAE and R^2 in the original units (lakh INR) and
writes the predicted-vs-truth plot.

    python examples/car_price.py path/to/car_data.csv [--backend B] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import pathlib

import pandas as pd
from array_api_compat import device

import xpgd
from xpgd import metrics, plotting
from xpgd.preprocessing import prepare

CATEGORICAL = ["Car_Name", "Fuel_Type", "Seller_Type", "Transmission", "Owner"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", type=pathlib.Path, help="the car dealership CSV")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--out", default="xpgd-output", type=pathlib.Path)
    parser.add_argument("--seed", default=0, type=int)
    args = parser.parse_args()
    df = pd.read_csv(args.csv)
    options = dict(
        test_size=0.1,
        random_state=args.seed,
        categorical=CATEGORICAL,
        derived={"Age": "2020 - Year"},
        drop=["Year"],
        backend=args.backend,
    )

    # The classic: preprocessing on all rows, a bias column, 100 steps of 0.03.
    classic = prepare(df, "Selling_Price", fit_on="all", **options)
    xp = xpgd._backend.namespace(xpgd._backend.backend_name_of(classic.X_train))

    def with_bias(X):
        ones = xp.ones((X.shape[0], 1), dtype=X.dtype, device=device(X))
        return xp.concat([ones, X], axis=1)

    A = with_bias(classic.X_train)
    cost, params = xpgd.gradient_descent(
        A, classic.y_train, xp.zeros(A.shape[1], dtype=A.dtype), 0.03, 100, loss="squared"
    )
    inv = classic.preprocessor.inverse_transform_target
    classic_pred = inv(xpgd.predict(with_bias(classic.X_test), params, loss="squared"))
    classic_truth = inv(classic.y_test)

    # The library way: preprocessing learnt on the training rows only, fit to convergence.
    data = prepare(df, "Selling_Price", **options)
    model = xpgd.LinearRegression(backend=args.backend).fit(data.X_train, data.y_train)
    inv = data.preprocessor.inverse_transform_target
    pred, truth = inv(model.predict(data.X_test)), inv(data.y_test)

    print(
        f"{len(df)} cars, {len(data.preprocessor.feature_names_out_)} features after encoding; "
        f"{data.X_train.shape[0]} training rows, {data.X_test.shape[0]} held out"
    )
    print(f"classic cost (MSE, scaled): {float(cost[0]):.4f} -> {float(cost[-1]):.4f}")
    print(f"{'held out, lakh INR':30s} {'MSE':>8s} {'RMSE':>7s} {'MAE':>7s} {'R^2':>7s}")
    for name, t, p in (
        ("classic (lr 0.03, 100 steps)", classic_truth, classic_pred),
        (f"LinearRegression ({model.n_iter_} it.)", truth, pred),
    ):
        print(
            f"{name:30s} {metrics.mean_squared_error(t, p):8.3f} "
            f"{metrics.root_mean_squared_error(t, p):7.3f} "
            f"{metrics.mean_absolute_error(t, p):7.3f} {metrics.r2_score(t, p):7.3f}"
        )
    paths = [
        plotting.plot_cost_history(
            cost,
            args.out / "car_cost_history.png",
            title="Car prices: gradient descent (lr 0.03)",
            ylabel="MSE (scaled target)",
        ),
        plotting.plot_predictions(
            truth,
            pred,
            args.out / "car_predictions.png",
            title="Selling price, held-out cars",
            unit="lakh INR",
        ),
    ]
    print("wrote " + ", ".join(map(str, paths)))


if __name__ == "__main__":
    main()
