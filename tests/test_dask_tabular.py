"""Dask DataFrames through the tabular pipeline: TabularPreprocessor and prepare on a Dask
frame against the pandas path, the readers, and ``xpgd fit`` reading CSV / Parquet
through Dask (threaded scheduler and a LocalCluster of worker processes)."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

import xpgd
from xpgd import metrics
from xpgd.cli import main
from xpgd.datasets import read_csv, read_parquet, read_table
from xpgd.preprocessing import TabularPreprocessor, prepare

dd = pytest.importorskip(
    "dask.dataframe",
    reason="Dask DataFrames need dask[dataframe] and pyarrow: pip install 'xpgd[dask]'",
)
pytest.importorskip("pyarrow", reason="Parquet needs pyarrow: pip install 'xpgd[parquet]'")
import dask  # noqa: E402  (after the skip: dask.dataframe is importable)
from dask.callbacks import Callback  # noqa: E402

CAR_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "car_data.csv"

OPTIONS = {
    "categorical": ["Owner"],
    "derived": {"Age": "2020 - Year"},
    "drop": ["Year", "Junk"],
}


def _cars(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Car-like rows: text, int, float and bool columns; "CNG" appears only in the second
    half (so the first partitions lack it), "city" only in the first quarter."""
    rng = np.random.default_rng(seed)
    half = n // 2
    fuel = np.concatenate(
        [rng.choice(["Petrol", "Diesel"], half), rng.choice(["Petrol", "Diesel", "CNG"], n - half)]
    )
    name = rng.choice(["ritz", "swift"], n)
    name[: n // 4 : 7] = "city"
    df = pd.DataFrame(
        {
            "Name": name,
            "Year": rng.integers(2003, 2019, n),
            "Km": rng.uniform(1e3, 1.5e5, n),
            "Fuel": fuel,
            "Owner": rng.choice([0, 1, 3], n, p=[0.7, 0.2, 0.1]),
            "Automatic": rng.random(n) < 0.3,
            "Junk": rng.normal(size=n),
        }
    )
    df["Price"] = (
        12 - 0.45 * (2020 - df["Year"]) - 2e-5 * df["Km"] + 1.5 * (df["Fuel"] == "Diesel")
    ) + 0.3 * rng.normal(size=n)
    df["Sold"] = np.where(df["Price"] + rng.normal(size=n) > df["Price"].median(), "yes", "no")
    return df


def _count_computes(fn):
    """``fn()`` and the number of graph computations it ran (threaded scheduler)."""
    count = [0]
    with Callback(start=lambda dsk: count.__setitem__(0, count[0] + 1)):
        result = fn()
    return result, count[0]


def _assert_known_chunks(a, rows):
    assert not any(np.isnan(c) for c in a.chunks[0]), a.chunks
    assert a.shape[0] == rows


def _assert_same_fit(ours, ref):
    assert ours.feature_names_out_ == ref.feature_names_out_
    assert ours.numeric_columns_ == ref.numeric_columns_
    assert ours.categorical_columns_ == ref.categorical_columns_
    assert ours.categories_ == ref.categories_
    assert ours.mean_.keys() == ref.mean_.keys() and ours.scale_.keys() == ref.scale_.keys()
    for name in ref.mean_:
        assert ours.mean_[name] == pytest.approx(ref.mean_[name], rel=1e-12, abs=1e-12)
        assert ours.scale_[name] == pytest.approx(ref.scale_[name], rel=1e-12)


# ----------------------------------------------------------------------------- preprocessor


@pytest.mark.parametrize(
    ("target", "options"),
    [
        ("Price", OPTIONS),
        ("Price", {"derived": {"LogKm": lambda d: np.log(d["Km"])}, "drop": ["Km"]}),
        ("Sold", {**OPTIONS, "scale_target": False}),
        ("Price", {"drop": ["Sold"], "scale_target": False}),
    ],
    ids=["expression-drop-categorical", "callable", "labels", "unscaled"],
)
def test_dask_fit_and_transform_equal_pandas(target, options):
    df = _cars()
    ddf = dd.from_pandas(df, npartitions=4)
    first = ddf.partitions[0].compute()
    assert "CNG" not in set(first["Fuel"]) and "CNG" in set(df["Fuel"])  # the setting

    ref = TabularPreprocessor(target, **options)
    X_ref, y_ref = ref.fit_transform(df)
    ours = TabularPreprocessor(target, **options)
    (X, y), computes = _count_computes(lambda: ours.fit_transform(ddf))
    assert computes == 1  # the fit's one pass; transform reuses its row counts
    _assert_same_fit(ours, ref)
    _assert_known_chunks(X, len(df))
    assert X.chunks[0] == tuple(len(p) for p in dask.compute(*ddf.to_delayed()))
    assert X.dtype == np.float64 and X.shape == X_ref.shape
    np.testing.assert_allclose(X.compute(), X_ref, rtol=1e-12, atol=1e-12)
    if ref.target in ref.scale_:
        np.testing.assert_allclose(y.compute(), y_ref, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(y.compute(), y_ref)
    # Every partition gives the whole group, even the first, which has no "CNG".
    cng = ours.feature_names_out_.index("Fuel_CNG")
    assert X.blocks[0].shape == (100, X.shape[1])
    assert (X.blocks[0].compute()[:, cng] == 0).all() and X_ref[:, cng].any()


def test_every_category_column_in_data_order():
    # A categorical column listed by name whose values differ by partition, a bool column,
    # and the names pandas' get_dummies would give.
    df = _cars(200, seed=3)
    ddf = dd.from_pandas(df, npartitions=5)
    ours = TabularPreprocessor("Price", **OPTIONS).fit(ddf)
    assert ours.categorical_columns_ == ["Name", "Fuel", "Owner", "Automatic", "Sold"]
    assert ours.categories_["Automatic"] == [False, True]
    dummies = pd.get_dummies(df[["Name", "Fuel"]]).columns.tolist()
    assert [c for c in ours.feature_names_out_ if c[:4] in ("Name", "Fuel")] == dummies


def test_transform_of_another_frame_counts_its_rows_once():
    df = _cars()
    pre = TabularPreprocessor("Price", **OPTIONS).fit(dd.from_pandas(df, npartitions=4))
    new = dd.from_pandas(_cars(150, seed=9), npartitions=3)
    (X, y), computes = _count_computes(lambda: pre.transform(new))
    assert computes == 1  # the row counts; the arrays stay lazy
    _assert_known_chunks(X, 150)
    X_ref, y_ref = pre.transform(_cars(150, seed=9))  # the same fitted preprocessor
    np.testing.assert_allclose(X.compute(), X_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.compute(), y_ref, rtol=1e-12, atol=1e-12)
    X_only, none = pre.transform(new.drop(columns=["Price"]))
    assert none is None and X_only.shape == X.shape
    # Lazy arrays keep the fit they were made with, even if the preprocessor is refitted.
    pre.fit(dd.from_pandas(_cars(100, seed=11).assign(Fuel="Petrol"), npartitions=2))
    assert "Fuel_CNG" not in pre.feature_names_out_
    np.testing.assert_allclose(X.compute(), X_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("handle_unknown", ["ignore", "error"])
def test_unseen_categories_on_dask(handle_unknown):
    df = _cars()
    pre = TabularPreprocessor("Price", handle_unknown=handle_unknown, **OPTIONS)
    pre.fit(dd.from_pandas(df, npartitions=4))
    new = df.iloc[:40].copy()
    new.loc[new.index[25], "Fuel"] = "LPG"  # in the second of two partitions
    X, _ = pre.transform(dd.from_pandas(new, npartitions=2))
    if handle_unknown == "ignore":
        X_ref, _ = pre.transform(new)
        np.testing.assert_allclose(X.compute(), X_ref, rtol=1e-12, atol=1e-12)
        group = [i for i, c in enumerate(pre.feature_names_out_) if c.startswith("Fuel_")]
        assert (X_ref[25, group] == 0).all()
    else:
        with pytest.raises(xpgd.InputError, match=r"column 'Fuel' has categories \['LPG'\]"):
            X.compute()  # found when the partition holding it is computed
        X.blocks[0].compute()  # the first partition has none


def test_fit_errors_on_dask_name_the_problem():
    df = _cars(100)
    ddf = dd.from_pandas(df, npartitions=4)
    computes = [0]
    with Callback(start=lambda dsk: computes.__setitem__(0, computes[0] + 1)):
        for options, match in [
            ({"target": "Cost"}, "target column 'Cost' not found"),
            ({"target": "Price", "drop": ["Colour"]}, r"cannot drop \['Colour'\]"),
            ({"target": "Price", "derived": {"Age": "2020 - Yr"}}, "cannot derive column 'Age'"),
            ({"target": "Price", "categorical": ["Colour"]}, r"categorical columns \['Colour'"),
        ]:
            with pytest.raises(xpgd.InputError, match=match):
                TabularPreprocessor(**options).fit(ddf)
    assert computes[0] == 0  # column errors come from the frame's meta, before any read
    holes = df.copy()
    holes.loc[[60, 80], "Km"] = [np.nan, np.inf]
    with pytest.raises(
        xpgd.InputError, match=r"column 'Km' has 2 missing or infinite values \(first at row 60\)"
    ):
        TabularPreprocessor("Price").fit(dd.from_pandas(holes, npartitions=4))
    blank = df.assign(Price=df["Price"].where(df.index != 70))
    with pytest.raises(xpgd.InputError, match="target column 'Price' has 1 missing values"):
        TabularPreprocessor("Price").fit(dd.from_pandas(blank, npartitions=4))
    gap = df.assign(Name=df["Name"].where(df.index != 3))
    with pytest.raises(xpgd.InputError, match="column 'Name' has missing values"):
        TabularPreprocessor("Price").fit(dd.from_pandas(gap, npartitions=4))
    with pytest.raises(xpgd.InvalidParameterError, match="handle_unknown='maybe'"):
        TabularPreprocessor("Price", handle_unknown="maybe").fit(ddf)
    X, _ = TabularPreprocessor("Price").fit(ddf).transform(dd.from_pandas(holes, npartitions=4))
    # Found by the task of the partition holding it, which names rows of the whole frame.
    with pytest.raises(
        xpgd.InputError,
        match=r"column 'Km' has 1 missing or infinite values in rows (50 to 74 \(first at "
        r"row 60|75 to 99 \(first at row 80)\)",
    ):
        X.compute()


# ----------------------------------------------------------------------------- prepare


@pytest.mark.parametrize(
    ("test_size", "seed", "fit_on", "npartitions"),
    [(0.2, 0, "train", 4), (0.35, 5, "train", 7), (13, 2, "all", 3), (0.5, 1, "train", 1)],
)
def test_prepare_holds_out_the_pandas_rows(test_size, seed, fit_on, npartitions):
    df = _cars(321, seed=seed)
    ddf = dd.from_pandas(df, npartitions=npartitions)
    ref = prepare(df, "Price", test_size=test_size, random_state=seed, fit_on=fit_on, **OPTIONS)
    ours, computes = _count_computes(
        lambda: prepare(
            ddf, "Price", test_size=test_size, random_state=seed, fit_on=fit_on, **OPTIONS
        )
    )
    assert computes == (1 if fit_on == "all" else 2)  # (count the rows,) fit: lazy after
    np.testing.assert_array_equal(ours.test_index, ref.test_index)
    np.testing.assert_array_equal(ours.train_index, ref.train_index)
    # The rows' own values identify them: the same held-out cars, in the same order.
    # (Scaled and scaled back: two roundings, hence 1e-14.)
    held_out = df.iloc[ours.test_index]
    np.testing.assert_allclose(
        ours.preprocessor.inverse_transform_target(ours.y_test).compute(),
        held_out["Price"],
        rtol=1e-14,
    )
    _assert_same_fit(ours.preprocessor, ref.preprocessor)
    for a, b in zip(ours[:4], ref[:4], strict=True):
        _assert_known_chunks(a, b.shape[0])
        np.testing.assert_allclose(a.compute(), b, rtol=1e-12, atol=1e-12)


def test_prepare_reuses_known_partition_lengths_and_checks_them():
    df = _cars(200)
    ddf = dd.from_pandas(df, npartitions=4)
    lengths = ddf.map_partitions(len).compute().tolist()
    ours, computes = _count_computes(
        lambda: prepare(ddf, "Price", partition_lengths=lengths, **OPTIONS)
    )
    assert computes == 1  # the fit only
    ref = prepare(df, "Price", **OPTIONS)
    np.testing.assert_allclose(ours.X_train.compute(), ref.X_train, rtol=1e-12, atol=1e-12)
    with pytest.raises(xpgd.InputError, match="partition_lengths has 3 entries"):
        prepare(ddf, "Price", partition_lengths=lengths[:3], **OPTIONS)
    wrong = prepare(ddf, "Price", partition_lengths=[60, 40, 50, 50], **OPTIONS)
    with pytest.raises(xpgd.InputError, match=r"a partition has 50 rows where (60|40) were"):
        wrong.X_train.compute()
    with pytest.raises(xpgd.InvalidParameterError, match="partition_lengths is for a Dask"):
        prepare(df, "Price", partition_lengths=lengths)


def test_prepare_dtype_device_and_labels_on_dask():
    df = _cars(120)
    ddf = dd.from_pandas(df, npartitions=3)
    data = prepare(ddf, "Price", dtype="float32", backend="dask", device="cpu", **OPTIONS)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.float32
    assert data.X_train.compute().dtype == np.float32
    labels = prepare(ddf, "Sold", drop=["Price"], scale_target=False)
    assert labels.y_test.dtype == object
    assert set(labels.y_train.compute().tolist()) == {"no", "yes"}
    with pytest.raises(xpgd.BackendError, match="a Dask DataFrame gives Dask arrays"):
        prepare(ddf, "Price", backend="numpy")
    with pytest.raises(xpgd.InputError, match="target column 'Cost' not found"):
        prepare(ddf, "Cost")


@pytest.mark.parametrize(
    ("target", "model"),
    [
        ("Price", xpgd.LinearRegression(solver="normal")),
        ("Sold", xpgd.LogisticRegression(solver="lbfgs", tol=1e-10)),
    ],
    ids=["linear-normal", "logistic-lbfgs"],
)
def test_a_fit_on_prepared_dask_arrays_equals_the_pandas_fit(target, model):
    from sklearn.base import clone

    df = _cars(2_000, seed=4)
    options = {**OPTIONS, "drop": [*OPTIONS["drop"], "Sold" if target == "Price" else "Price"]}
    options["scale_target"] = target == "Price"
    ours = prepare(dd.from_pandas(df, npartitions=5), target, random_state=3, **options)
    ref = prepare(df, target, random_state=3, **options)
    fitted, expected = (
        clone(model).fit(ours.X_train, ours.y_train),
        clone(model).fit(ref.X_train, ref.y_train),
    )
    # The same rows; only the order in which the row blocks' sums are added differs.
    np.testing.assert_allclose(fitted.coef_, expected.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-10, atol=1e-12)
    pred = fitted.predict(ours.X_test)
    if target == "Price":
        np.testing.assert_allclose(
            pred.compute(), expected.predict(ref.X_test), rtol=1e-10, atol=1e-10
        )
    else:
        np.testing.assert_array_equal(pred.compute(), expected.predict(ref.X_test))


def test_car_data_through_dask_equals_pandas():
    if not CAR_DATA.exists():
        pytest.skip(f"{CAR_DATA} is not present (the exercise's data live beside the checkout)")
    options = {
        "categorical": ["Owner"],
        "derived": {"Age": "2020 - Year"},
        "drop": ["Year", "Car_Name"],
    }
    df = read_csv(CAR_DATA)
    ddf = read_csv(CAR_DATA, backend="dask", blocksize=5_000)
    assert ddf.npartitions > 1
    ours = prepare(ddf, "Selling_Price", test_size=0.1, **options)
    ref = prepare(df, "Selling_Price", test_size=0.1, **options)
    np.testing.assert_array_equal(ours.test_index, ref.test_index)
    _assert_same_fit(ours.preprocessor, ref.preprocessor)
    for a, b in zip(ours[:4], ref[:4], strict=True):
        np.testing.assert_allclose(a.compute(), b, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- readers


def test_readers_whole_and_through_dask(tmp_path):
    df = _cars(500)
    df.to_csv(tmp_path / "cars.csv", index=False)
    df.to_parquet(tmp_path / "cars.parquet", row_group_size=100)
    whole = read_csv(tmp_path / "cars.csv")
    lazy = read_csv(tmp_path / "cars.csv", backend="dask", blocksize=10_000)
    assert isinstance(lazy, dd.DataFrame) and lazy.npartitions > 1
    pd.testing.assert_frame_equal(lazy.compute().reset_index(drop=True), whole, check_dtype=False)
    pq_whole = read_parquet(tmp_path / "cars.parquet")
    pq_lazy = read_table(tmp_path / "cars.parquet", backend="dask", blocksize=1)
    assert pq_lazy.npartitions == 5  # one row group each
    pd.testing.assert_frame_equal(pq_whole, df, check_dtype=False)
    pd.testing.assert_frame_equal(pq_lazy.compute().reset_index(drop=True), df, check_dtype=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "cars.csv"), whole)
    # A folder of Parquet files, as Dask and Spark write them (written here with pandas:
    # Dask's writer calls a pandas method that pandas 3.1 deprecates, which would warn).
    (tmp_path / "folder.parquet").mkdir()
    for i, lo in enumerate(range(0, 500, 200)):
        df.iloc[lo : lo + 200].to_parquet(tmp_path / "folder.parquet" / f"part.{i}.parquet")
    assert read_parquet(tmp_path / "folder.parquet", backend="dask").npartitions == 3
    assert read_parquet(tmp_path / "folder.parquet").shape == df.shape


@pytest.mark.parametrize("backend", ["pandas", "dask"])
def test_reader_errors(tmp_path, backend, monkeypatch):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    pd.DataFrame({"a": [], "b": []}).to_parquet(tmp_path / "none.parquet")
    for call, match in [
        (lambda: read_table(tmp_path / "missing.csv", backend=backend), "no such file"),
        (lambda: read_table(tmp_path / "data.txt", backend=backend), r"suffix '\.txt'"),
        (lambda: read_csv(tmp_path, backend=backend), "is a directory, not a CSV file"),
        (lambda: read_csv(tmp_path / "empty.csv", backend=backend), "is empty"),
        (lambda: read_csv(tmp_path / "header.csv", backend=backend), "header but no data"),
        (lambda: read_parquet(tmp_path / "fake.parquet", backend=backend), "as Parquet"),
        (lambda: read_parquet(tmp_path / "none.parquet", backend=backend), "has no data rows"),
    ]:
        with pytest.raises(xpgd.InputError, match=match):
            call()
    with pytest.raises(xpgd.InvalidParameterError, match="use 'pandas'"):
        read_csv(tmp_path / "header.csv", backend="numpy")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(xpgd.InputError, match=r"needs pyarrow: pip install 'xpgd\[parquet\]'"):
        read_parquet(tmp_path / "none.parquet", backend=backend)


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_scores_equal_scikit_learn(lazy, weighted):
    from sklearn import metrics as sk

    rng = np.random.default_rng(1)
    t = rng.normal(1e3, 2.0, 900)  # a large mean: the one-pass sum of squares would cancel
    p = t + rng.normal(size=900)
    w = rng.uniform(0.5, 2.0, 900) if weighted else None
    if lazy:
        import dask.array as da

        t_in, p_in = da.from_array(t, chunks=250), da.from_array(p, chunks=250)
        w_in = None if w is None else da.from_array(w, chunks=250)
    else:
        t_in, p_in, w_in = t, p, w
    scores, computes = _count_computes(
        lambda: metrics.regression_scores(t_in, p_in, sample_weight=w_in)
    )
    assert computes == (2 if lazy else 0)
    assert scores.mse == pytest.approx(sk.mean_squared_error(t, p, sample_weight=w), rel=1e-12)
    assert scores.rmse == pytest.approx(
        sk.root_mean_squared_error(t, p, sample_weight=w), rel=1e-12
    )
    assert scores.mae == pytest.approx(sk.mean_absolute_error(t, p, sample_weight=w), rel=1e-12)
    assert scores.r2 == pytest.approx(sk.r2_score(t, p, sample_weight=w), rel=1e-12)
    two = metrics.regression_scores(np.c_[t, 2 * t], np.c_[p, 2 * t + 1])
    assert two.r2 == pytest.approx(sk.r2_score(np.c_[t, 2 * t], np.c_[p, 2 * t + 1]), rel=1e-12)


def test_report_from_matrix_equals_the_report():
    rng = np.random.default_rng(2)
    t = rng.choice(["a", "b", "c"], 300)
    p = np.where(rng.random(300) < 0.8, t, rng.choice(["a", "b", "c"], 300))
    cm, labels = metrics.confusion_matrix(t, p)
    assert metrics.classification_report_from_matrix(cm, labels) == (
        metrics.classification_report(t, p)
    )
    with pytest.raises(xpgd.InputError, match="2 labels for a 3 x 3 matrix"):
        metrics.classification_report_from_matrix(cm, labels[:2])


# ----------------------------------------------------------------------------- xpgd fit


def _printed(text: str) -> dict[str, float]:
    """The metrics a fit printed: ``held-out NAME VALUE`` lines."""
    found = {}
    for line in text.splitlines():
        if line.startswith("held-out "):
            name, value = line[len("held-out ") :].rsplit(maxsplit=1)
            found[name.strip()] = float(value)
    return found


def _report_lines(text: str) -> list[str]:
    """The confusion matrix and classification report (after the accuracy line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("held-out accuracy"))
    end = next(i for i, line in enumerate(lines) if line.startswith("wrote "))
    return lines[start:end]


def _fit_both(tmp_path, capsys, data, args, *dask_args):
    """``xpgd fit`` on ``data`` without and with Dask: the outputs and saved models."""
    outputs, models = [], []
    for name, extra in (("pandas", []), ("dask", list(dask_args))):
        out = tmp_path / f"out-{name}-{data.suffix[1:]}"
        code = main(["fit", str(data), *args, "--out", str(out), "--no-progress", *extra])
        text = capsys.readouterr()
        assert code == 0, text.err
        outputs.append(text.out)
        models.append(xpgd.load(out / "model.npz"))
    return outputs, models


@pytest.fixture
def car_files(tmp_path):
    df = _cars(3_000, seed=7)
    df.to_csv(tmp_path / "cars.csv", index=False)
    df.to_parquet(tmp_path / "cars.parquet", row_group_size=400)
    return tmp_path / "cars.csv", tmp_path / "cars.parquet"


LINEAR_ARGS = [
    "--target",
    "Price",
    "--categorical",
    "Owner",
    "--derive",
    "Age=2020 - Year",
    "--drop",
    "Year",
    "Sold",
]


def _assert_same_printed_metrics(outputs, models):
    # Both runs fit the same rows; the sums are added in another order (per partition
    # against NumPy's row blocks), so the coefficients agree to rounding (1e-10 checked
    # on the saved models) and the metrics, printed to 6 significant digits, agree to
    # within one unit of the last printed digit (relative 1e-5 at worst).
    ours, ref = _printed(outputs[1]), _printed(outputs[0])
    assert ours.keys() == ref.keys() and len(ref) >= 1
    for name in ref:
        assert ours[name] == pytest.approx(ref[name], rel=1e-5), name
    np.testing.assert_allclose(models[1].coef_, models[0].coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(models[1].intercept_, models[0].intercept_, rtol=1e-10)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_fit_through_dask_prints_the_same_metrics(car_files, suffix, tmp_path, capsys):
    data = car_files[0] if suffix == "csv" else car_files[1]
    outputs, models = _fit_both(
        tmp_path, capsys, data, LINEAR_ARGS, "--backend", "dask", "--blocksize", "30000"
    )
    assert "read through Dask: " in outputs[1] and "read through Dask" not in outputs[0]
    partitions = int(outputs[1].split("read through Dask: ")[1].split()[0])
    assert partitions >= 4  # blocks of 30 kB (CSV), row groups (Parquet)
    rows = outputs[0].split("\n")[0].split(": ", 1)[1]
    assert rows in outputs[1]  # the same rows, features and split sizes
    _assert_same_printed_metrics(outputs, models)
    assert (tmp_path / f"out-dask-{suffix}" / "predictions.png").read_bytes()[:4] == b"\x89PNG"


def test_logistic_fit_through_dask_prints_the_same_report(car_files, tmp_path, capsys):
    args = ["--target", "Sold", "--drop", "Price", "--model", "logistic"]
    outputs, models = _fit_both(tmp_path, capsys, car_files[1], args, "--backend", "dask")
    assert _report_lines(outputs[1]) == _report_lines(outputs[0])
    np.testing.assert_allclose(models[1].coef_, models[0].coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(models[1].classes_, ["no", "yes"])


def test_fit_through_dask_plots_a_sample(car_files, tmp_path, capsys, monkeypatch):
    import xpgd.cli
    import xpgd.plotting

    shown = []
    real = xpgd.plotting.plot_predictions

    def spy(truth, pred, *args, **kwargs):
        shown.append((np.asarray(truth).shape, np.asarray(pred).shape, type(truth)))
        return real(truth, pred, *args, **kwargs)

    monkeypatch.setattr(xpgd.plotting, "plot_predictions", spy)
    monkeypatch.setattr(xpgd.cli, "PLOT_SAMPLE", 50)
    args = ["fit", str(car_files[0]), *LINEAR_ARGS, "--backend", "dask", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "predictions.png plots 50 of the 600 held-out rows (a seeded random sample" in out
    assert shown == [((50,), (50,), np.ndarray)]  # only the sample reached the host


def test_fit_on_a_cluster_reads_through_dask(car_files, tmp_path, capsys, cluster_client):
    address = cluster_client.scheduler.address
    outputs, models = _fit_both(
        tmp_path,
        capsys,
        car_files[0],
        LINEAR_ARGS,
        "--scheduler",
        address,
        "--blocksize",
        "30000",
    )
    assert f"Dask cluster {address}: 2 workers" in outputs[1]
    assert "read through Dask: " in outputs[1]
    _assert_same_printed_metrics(outputs, models)


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (None, ["--target", "Price"], "no such file"),
        (b"a,Price\n1,2\n", ["--target", "Price", "--suffix", ".txt"], "suffix '.txt'"),
        (b"a,Price\n1,2\n2,3\n", ["--target", "Cost"], "target column 'Cost' not found"),
        (b"", ["--target", "y"], "is empty"),
        (b"x1,y\n", ["--target", "y"], "has a header but no data rows"),
        (b"x1,x2,y\n1,2\n3,4,5\n6,7,8\n", ["--target", "y"], "1 blank values"),
        (b"x1,x2,y\n1,2,\n3,4,\n", ["--target", "y"], "has no values"),
        (b"x1,y\n1,a\n2,b\n3,c\n", ["--target", "y", "--model", "linear"], "is not numeric"),
        (b"x1,y\n1,a\n2,a\n3,a\n", ["--target", "y"], "has 1 class"),
        (b"x1,x2,y\n1,2,3\n4,5,6\n7,8,9,10\n", ["--target", "y"], "cannot parse"),
        # Past the 256 kB from which Dask infers the types: x1 turns to text in the last block.
        (b"x1,y\n" + b"1,2\n" * 80_000 + b"oops,3\n", ["--target", "y"], "change type"),
    ],
    ids=[
        "missing",
        "suffix",
        "target",
        "empty",
        "header",
        "blank",
        "all-blank",
        "text-target",
        "one-class",
        "ragged-later",
        "type-changes",
    ],
)
def test_bad_input_through_dask_gives_one_line(tmp_path, capsys, content, argv, message):
    argv = list(argv)
    suffix = ".csv"
    if "--suffix" in argv:
        suffix = argv.pop(argv.index("--suffix") + 1)
        argv.remove("--suffix")
    path = tmp_path / f"data{suffix}"
    if content is not None:
        path.write_bytes(content)
    code = main(
        ["fit", str(path), *argv, "--backend", "dask", "--blocksize", "100000"]
        + ["--out", str(tmp_path), "--max-iter", "20"]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpgd: error: ") and message in lines[0], err


def test_blocksize_needs_dask(car_files, capsys):
    assert main(["fit", str(car_files[0]), "--target", "Price", "--blocksize", "1MB"]) == 2
    assert "--blocksize sets the size of the blocks Dask reads" in capsys.readouterr().err
