"""TabularPreprocessor, prepare and the backend-agnostic train/test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xpgd
from xpgd.model_selection import split_indices, train_test_split
from xpgd.preprocessing import TabularPreprocessor, prepare


@pytest.fixture
def cars():
    return pd.DataFrame(
        {
            "Name": ["a", "b", "a", "c", "b", "a"],
            "Year": [2010, 2012, 2014, 2016, 2018, 2019],
            "Km": [90.0, 70.0, 50.0, 40.0, 20.0, 10.0],
            "Owner": [0, 1, 0, 0, 3, 0],
            "Price": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
        }
    )


def test_matches_pandas_get_dummies_and_zscore(cars):
    pre = TabularPreprocessor(
        "Price", categorical=["Owner"], derived={"Age": "2020 - Year"}, drop=["Year"]
    )
    X, y = pre.fit_transform(cars)
    ref = cars.assign(Age=2020 - cars["Year"]).drop(columns=["Year"])
    for col in ("Name", "Owner"):
        ref = pd.concat([ref, pd.get_dummies(ref[col], prefix=col)], axis=1).drop(columns=col)
    for col in ("Km", "Age", "Price"):
        ref[col] = (ref[col] - ref[col].mean()) / ref[col].std()
    assert pre.feature_names_out_ == [
        "Km",
        "Age",
        "Name_a",
        "Name_b",
        "Name_c",
        "Owner_0",
        "Owner_1",
        "Owner_3",
    ]
    np.testing.assert_allclose(X, ref[pre.feature_names_out_].to_numpy(float), atol=1e-15)
    np.testing.assert_allclose(y, ref["Price"], rtol=1e-14)
    np.testing.assert_allclose(pre.inverse_transform_target(y), cars["Price"], rtol=1e-14)


def test_unseen_categories_are_all_zero_or_an_error(cars):
    pre = TabularPreprocessor("Price").fit(cars)
    new = cars.iloc[:2].assign(Name=["a", "zzz"])
    X, _ = pre.transform(new)
    names = pre.feature_names_out_
    group = [names.index(f"Name_{v}") for v in ("a", "b", "c")]
    np.testing.assert_array_equal(X[:, group], [[1, 0, 0], [0, 0, 0]])
    strict = TabularPreprocessor("Price", handle_unknown="error").fit(cars)
    with pytest.raises(xpgd.InputError, match=r"categories \['zzz'\] not seen in fit"):
        strict.transform(new)


def test_column_order_is_stable_whatever_the_row_order(cars):
    a = TabularPreprocessor("Price").fit(cars)
    b = TabularPreprocessor("Price").fit(cars.iloc[::-1])
    assert a.feature_names_out_ == b.feature_names_out_


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "Cost"}, "target column 'Cost' not found"),
        ({"target": "Price", "drop": ["Colour"]}, r"cannot drop \['Colour'\]"),
        ({"target": "Price", "derived": {"Age": "2020 - Yr"}}, "cannot derive column 'Age'"),
        ({"target": "Price", "categorical": ["Colour"]}, r"categorical columns \['Colour'\]"),
    ],
)
def test_errors_name_the_column(cars, kwargs, match):
    with pytest.raises(xpgd.InputError, match=match):
        TabularPreprocessor(**kwargs).fit(cars)


def test_missing_values_are_reported(cars):
    cars.loc[2, "Km"] = np.nan
    with pytest.raises(xpgd.InputError, match=r"column .Km. has 1 missing or infinite values"):
        TabularPreprocessor("Price").fit(cars)


def test_prepare_fits_on_training_rows_by_default(cars):
    train_only = prepare(cars, "Price", test_size=2, random_state=1)
    everything = prepare(cars, "Price", test_size=2, random_state=1, fit_on="all")
    rows = train_only.train_index
    assert train_only.preprocessor.mean_["Km"] == pytest.approx(cars["Km"].iloc[rows].mean())
    assert everything.preprocessor.mean_["Km"] == pytest.approx(cars["Km"].mean())
    np.testing.assert_array_equal(train_only.test_index, everything.test_index)


def test_prepare_moves_the_split_to_the_backend_once(cars):
    data = prepare(
        cars,
        "Price",
        test_size=2,
        random_state=0,
        backend="array_api_strict",
        device="device1",
        dtype="float32",
    )
    import array_api_strict as xps

    for a in (data.X_train, data.X_test, data.y_train, data.y_test):
        assert a.device == xps.Device("device1")
    assert data.X_train.dtype == xps.float32


def test_split_is_the_same_rows_on_every_backend(backend):
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20)
    ref = train_test_split(X, y, test_size=0.25, random_state=7)
    ours = train_test_split(backend.asarray(X), backend.asarray(y), test_size=0.25, random_state=7)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(xpgd.to_numpy(a), b)
    assert ref[1].shape == (5, 2)


def test_split_sizes_and_errors():
    train, test = split_indices(10, test_size=0.25, random_state=0)
    assert len(test) == 3 and len(train) == 7  # rounded up, as scikit-learn does
    assert set(train) | set(test) == set(range(10))
    with pytest.raises(xpgd.InputError, match="cannot hold out 10 of 10 rows"):
        split_indices(10, test_size=10)
    with pytest.raises(ValueError, match="test_size"):
        split_indices(10, test_size=1.5)
