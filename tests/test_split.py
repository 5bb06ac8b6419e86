"""Splits: the paper's Table 1 on ML-100K, and the properties every split keeps."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from hmf_core.ratings import read_ratings
from hmf_core.split import make_split
from hmf_core.synthetic import planted_ratings


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
