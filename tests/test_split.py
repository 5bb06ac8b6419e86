"""Splits: the paper's Table 1 on ML-100K, and the properties every split keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from hmf_core.data.ratings import RatingData, read_ratings
from hmf_core.data.split import SPLITS, make_split
from hmf_core.data.synthetic import planted_ratings


def test_temporal_split_reproduces_paper_table_1_on_ml100k():
    split = make_split(read_ratings(shared_file("ml-100k/u.data")), "temporal")
    summary = split.summary()
    assert (summary["users"], summary["items"]) == (625, 1561)
    assert (summary["train"], summary["val"], summary["test"]) == (64000, 2775, 1932)
    assert round(summary["density"], 4) == 0.0656  # 64,000 / (625 x 1,561)


@pytest.mark.parametrize("method", ["temporal", "random", "leave_last_out"])
def test_every_split_has_no_cold_start_and_recodes_to_training(method):
    data = planted_ratings(n_users=60, n_items=40, density=0.2, seed=3).data
    split = make_split(data, method, seed=1)
    assert split.n_users == split.train["user"].nunique()
    assert split.n_items == split.train["item"].nunique()
    for frame in (split.val, split.test):
        assert frame["user"].between(0, split.n_users - 1).all()
        assert frame["item"].between(0, split.n_items - 1).all()
    total = len(split.train) + len(split.val) + len(split.test)
    dropped = split.dropped_cold["val"] + split.dropped_cold["test"]
    assert total + dropped == len(data.table)


def test_temporal_split_orders_by_time():
    data = planted_ratings(n_users=30, n_items=20, seed=0).data
    split = make_split(data, "temporal")
    assert split.train["timestamp"].max() <= split.val["timestamp"].min()
    assert split.val["timestamp"].max() <= split.test["timestamp"].min()


def test_random_split_is_seeded():
    data = planted_ratings(n_users=30, n_items=20, seed=0).data
    first, again, other = (make_split(data, "random", seed=s) for s in (5, 5, 6))
    assert first.test.equals(again.test)
    assert not first.test.equals(other.test)


def test_leave_last_out_holds_out_each_users_last_two():
    data = planted_ratings(n_users=30, n_items=20, density=0.5, seed=0).data
    split = make_split(data, "leave_last_out")
    assert split.test["user"].is_unique and split.val["user"].is_unique
    merged = split.test.merge(
        split.train.groupby("user")["timestamp"].max().rename("last_train"), on="user"
    )
    assert (merged["timestamp"] > merged["last_train"]).all()
    assert len(split.test) == split.n_users  # dense data: every user has >= 3 ratings


def test_unknown_split_is_a_clear_error():
    data = planted_ratings(n_users=10, n_items=10, seed=0).data
    with pytest.raises(ValueError, match="expected one of temporal, random, leave_last_out"):
        make_split(data, "weekly")
    assert np.isfinite(data.table["rating"]).all()


def _reference_parts(data: RatingData, method: str, seed: int = 0):
    """The split as first written with pandas (sort_values, groupby), as a reference for the
    numpy version: (train, val, test) frames in original codes, in the order they keep."""
    table = data.table
    if method == "leave_last_out":
        ordered = table.sort_values(["user", "timestamp"], kind="stable")
        from_end = ordered.groupby("user").cumcount(ascending=False).to_numpy()
        counts = ordered.groupby("user")["user"].transform("size").to_numpy()
        eligible = counts >= 3
        return (
            ordered[~eligible | (from_end >= 2)],
            ordered[eligible & (from_end == 1)],
            ordered[eligible & (from_end == 0)],
        )
    if method == "temporal":
        ordered = table.sort_values("timestamp", kind="stable")
    else:
        ordered = table.iloc[np.random.default_rng(seed).permutation(len(table))]
    n_train_val = int(round(len(ordered) * 0.8))
    n_train = int(round(n_train_val * 0.8))
    return ordered.iloc[:n_train], ordered.iloc[n_train:n_train_val], ordered.iloc[n_train_val:]


@pytest.mark.parametrize("method", SPLITS)
def test_every_split_equals_the_pandas_reference(method):
    """Ties in time (few distinct times), users with 1-2 ratings, items seen only late: the
    numpy split keeps the same rows, in the same order, with the same codes."""
    rng = np.random.default_rng(5)
    rows = 4_000
    table = pd.DataFrame(
        {
            "user": rng.integers(0, 300, rows) ** 2 // 300,  # skewed: some users rate once
            "item": rng.integers(0, 150, rows),
            "rating": rng.integers(1, 6, rows).astype(np.float32),
            "timestamp": rng.integers(0, 50, rows).astype(np.int64),  # many ties
        }
    )
    table.loc[table.index[-40:], "item"] = 150 + np.arange(40)  # cold items at the end
    user_ids = np.array([f"u{k}" for k in range(300)], dtype=object)
    item_ids = np.array([f"i{k}" for k in range(190)], dtype=object)
    data = RatingData(table, user_ids, item_ids, "ref", False, True)
    split = make_split(data, method, seed=2)
    reference = _reference_parts(data, method, seed=2)
    dropped = []
    for part, expected in zip((split.train, split.val, split.test), reference, strict=True):
        decoded = pd.DataFrame(
            {
                "user": split.user_ids[part["user"].to_numpy()],
                "item": split.item_ids[part["item"].to_numpy()],
                "rating": part["rating"].to_numpy(),
                "timestamp": part["timestamp"].to_numpy(),
            }
        )
        seen = expected["user"].isin(reference[0]["user"]) & expected["item"].isin(
            reference[0]["item"]
        )
        dropped.append(int((~seen).sum()))
        expected = expected[seen]
        pd.testing.assert_frame_equal(
            decoded,
            pd.DataFrame(
                {
                    "user": user_ids[expected["user"].to_numpy()],
                    "item": item_ids[expected["item"].to_numpy()],
                    "rating": expected["rating"].to_numpy(),
                    "timestamp": expected["timestamp"].to_numpy(),
                }
            ),
        )
    assert list(split.user_ids) == list(user_ids[np.unique(reference[0]["user"])])
    assert dropped[0] == 0 and split.dropped_cold == {"val": dropped[1], "test": dropped[2]}
    assert sum(dropped) > 0  # the cold rows were there to drop
