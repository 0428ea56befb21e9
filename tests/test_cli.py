"""The xpgd command: demo, fit, backends, compare, and one clear line for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import xpgd
from xpgd.cli import Progress, main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def car_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame(
        {
            "Name": rng.choice(["ritz", "swift", "city"], size=n),
            "Year": rng.integers(2005, 2019, size=n),
            "Km": rng.uniform(1e3, 1e5, size=n),
            "Fuel": rng.choice(["Petrol", "Diesel"], size=n),
            "Owner": rng.choice([0, 1], size=n),
        }
    )
    df["Price"] = 10 - 0.4 * (2020 - df["Year"]) - 2e-5 * df["Km"] + (df["Fuel"] == "Diesel")
    df["Price"] += 0.2 * rng.normal(size=n)
    df["Sold"] = np.where(df["Price"] > df["Price"].median(), "yes", "no")
    path = tmp_path / "cars.csv"
    df.to_csv(path, index=False)
    return path


def test_demo_prints_the_report_and_writes_plots(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Initial cost: 0.693147" in out and "= 120 ln 2" in out
    assert "Final cost:" in out and "Confusion matrix" in out and "precision" in out
    assert "R^2" in out and "LinearRegression" in out
    for name in (
        "iris_cost_history",
        "iris_confusion_matrix",
        "diabetes_cost_history",
        "diabetes_predictions",
    ):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == PNG and len(data) > 10_000


def test_fit_linear_on_a_csv(car_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = main(
        [
            "fit",
            str(car_csv),
            "--target",
            "Price",
            "--categorical",
            "Owner",
            "--derive",
            "Age=2020 - Year",
            "--drop",
            "Year",
            "--drop",
            "Sold",
            "--out",
            str(out_dir),
            "--backend",
            "array_api_strict",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "linear regression" in out
    r2 = float(out.split("held-out R^2")[1].split()[0])
    assert r2 > 0.9
    for name in ("cost_history.png", "predictions.png"):
        assert (out_dir / name).read_bytes()[:8] == PNG
    model = xpgd.load(out_dir / "model.npz")
    assert isinstance(model, xpgd.LinearRegression) and model.n_features_in_ == 9


def test_fit_logistic_on_a_csv(car_csv, tmp_path, capsys):
    code = main(
        ["fit", str(car_csv), "--target", "Sold", "--drop", "Price", "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "logistic regression" in out and "held-out accuracy" in out
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:8] == PNG
    model = xpgd.load(tmp_path / "model.npz", backend="torch")
    np.testing.assert_array_equal(model.classes_, ["no", "yes"])


def test_progress_bar_shows_on_long_fits(capsys):
    import io

    stream = io.StringIO()
    bar = Progress(100, force=True, delay=0.0, stream=stream)
    bar(50, 0.25, 1e-3)
    bar.close()
    assert "[###############---------------] 50/100" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


def test_backends_and_compare(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and np.__version__ in out
    assert (
        main(["compare", "--backends", "numpy,array_api_strict", "--fixed", "--max-iter", "50"])
        == 0
    )
    table = capsys.readouterr().out
    assert "device1" in table and "float32" in table


def test_compare_backends_function_agrees(rng):
    X = rng.normal(size=(200, 4))
    y = (X @ [1.0, -1.0, 0.5, 0.0] > 0).astype(int)
    rows = xpgd.compare_backends(
        xpgd.LogisticRegression(tol=None, max_iter=100),
        X,
        y,
        backends=["numpy", "array_api_strict", "dask"],
    )
    assert rows[0].backend == "numpy" and rows[0].dtype == "float64"
    for row in rows:
        assert row.error == ""
        limit = 1e-12 if row.dtype == "float64" else 1e-4
        assert row.coef_max_rel_diff <= limit and row.loss_rel_diff <= limit
    bad = xpgd.compare_backends(xpgd.LinearRegression(), X, X[:, 0], backends=["nonesuch"])
    assert "unknown backend 'nonesuch'" in bad[-1].error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "{dir}/missing.csv", "--target", "Price"], "no such file"),
        (["fit", "{csv}", "--target", "Cost"], "target column 'Cost' not found"),
        (["fit", "{csv}", "--target", "Sold", "--model", "linear"], "is not numeric"),
        (["fit", "{one_class}", "--target", "Sold", "--model", "logistic"], "has 1 class"),
        (["fit", "{empty}", "--target", "Price"], "is empty"),
        (["fit", "{header}", "--target", "Price"], "has a header but no data rows"),
        (["fit", "{csv}", "--target", "Price", "--backend", "jax"], "unknown backend 'jax'"),
        (["demo", "--backend", "cupy", "--out", "{dir}"], "backend 'cupy'"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(argv, message, car_csv, tmp_path, capsys):
    if "cupy" in argv and xpgd.available_backends().get("cupy"):
        pytest.skip("CuPy works here, so it is not a bad input")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("Price,Km\n")
    (tmp_path / "one.csv").write_text("Km,Sold\n1,yes\n2,yes\n3,yes\n")
    paths = {
        "dir": tmp_path,
        "csv": car_csv,
        "one_class": tmp_path / "one.csv",
        "empty": tmp_path / "empty.csv",
        "header": tmp_path / "header.csv",
    }
    code = main([a.format(**paths) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpgd: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_python_dash_m_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "xpgd", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"xpgd {xpgd.__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "xpgd", "fit", "/nonexistent.csv", "--target", "y"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_save_load_round_trip_on_other_backends(tmp_path, rng):
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, 2.0, -1.0] + 0.5
    model = xpgd.LinearRegression().fit(X, y)
    path = model.save(tmp_path / "m.npz", note="test")
    for backend in ("numpy", "array_api_strict", "torch", "dask"):
        loaded = xpgd.load(path, backend=backend)
        pred = loaded.predict(X)
        np.testing.assert_allclose(xpgd.to_numpy(pred), model.predict(X), rtol=1e-12)
    with pytest.raises(xpgd.InputError, match="not a readable xpgd model"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        xpgd.load(tmp_path / "junk.npz")


def test_demo_runs_on_array_api_strict_device1(tmp_path, capsys):
    # device1 refuses any silent conversion to NumPy: the whole demo must stay there,
    # with only the explicit transfers for printing and plotting.
    args = ["demo", "--backend", "array_api_strict", "--device", "device1"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "backend array_api_strict on device1" in out and "Initial cost: 0.693147" in out
