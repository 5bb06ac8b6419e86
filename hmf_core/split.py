"""Train / validation / test splits of a RatingData table.

Every split drops validation and test rows whose user or item never appears in training (no
cold start, as the paper) and re-codes users and items to those seen in training, so model
row `k` is `split.user_ids[k]` in the original file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hmf_core.progress import Report, monotone
from hmf_core.ratings import RatingData

SPLITS = ("temporal", "random", "leave_last_out")


@dataclass
class Split:
    train: pd.DataFrame  # columns user, item, rating, timestamp (codes into user_ids/item_ids)
    val: pd.DataFrame
    test: pd.DataFrame
    user_ids: np.ndarray  # original id of model user k
    item_ids: np.ndarray
    method: str
    dropped_cold: dict  # rows dropped from val/test because user or item is unseen in train

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def summary(self) -> dict:
        return {
            "method": self.method,
            "users": self.n_users,
            "items": self.n_items,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "density": len(self.train) / max(1, self.n_users * self.n_items),
            "dropped_cold_val": self.dropped_cold["val"],
            "dropped_cold_test": self.dropped_cold["test"],
        }


def make_split(
    data: RatingData, method: str = "temporal", seed: int = 0, report: Report | None = None
) -> Split:
    """`report(fraction, text)` hears its phases: ordering the rows, then re-coding the parts
    (hmf_core.progress); its last fraction is 1.0."""
    report = monotone(report)
    if method == "temporal":
        return temporal_global_split(data, report=report)
    if method == "random":
        return random_split(data, seed=seed, report=report)
    if method == "leave_last_out":
        return leave_last_out_split(data, report=report)
    raise ValueError(f"unknown split {method!r}; expected one of {', '.join(SPLITS)}")


ORDERED = 0.5  # share of a split's time spent ordering the rows (the rest: re-coding the parts)


def temporal_global_split(
    data: RatingData,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    report: Report | None = None,
) -> Split:
    """Paper section 4.1: sort all interactions by time; the last 20% is test, and the last 20%
    of the rest is validation. Ties keep file order (stable sort)."""
    report = monotone(report)
    report(0.0, "sorting the ratings by time")
    ordered = data.table.sort_values("timestamp", kind="stable")
    n_train_val = int(round(len(ordered) * (1 - test_fraction)))
    n_train = int(round(n_train_val * (1 - val_fraction)))
    return _finish(
        data,
        ordered.iloc[:n_train],
        ordered.iloc[n_train:n_train_val],
        ordered.iloc[n_train_val:],
        "temporal",
        report,
    )


def random_split(
    data: RatingData,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    seed: int = 0,
    report: Report | None = None,
) -> Split:
    """The same proportions as the temporal split, over a seeded shuffle."""
    report = monotone(report)
    report(0.0, "shuffling the ratings")
    order = np.random.default_rng(seed).permutation(len(data.table))
    shuffled = data.table.iloc[order]
    n_train_val = int(round(len(shuffled) * (1 - test_fraction)))
    n_train = int(round(n_train_val * (1 - val_fraction)))
    return _finish(
        data,
        shuffled.iloc[:n_train],
        shuffled.iloc[n_train:n_train_val],
        shuffled.iloc[n_train_val:],
        f"random(seed={seed})",
        report,
    )


def leave_last_out_split(data: RatingData, report: Report | None = None) -> Split:
    """Per user: the last interaction is test, the one before validation, the rest training.
    Users with fewer than 3 interactions keep all of them in training."""
    report = monotone(report)
    report(0.0, "ordering each user's ratings by time")
    ordered = data.table.sort_values(["user", "timestamp"], kind="stable")
    from_end = ordered.groupby("user").cumcount(ascending=False).to_numpy()  # 0 = last
    counts = ordered.groupby("user")["user"].transform("size").to_numpy()
    eligible = counts >= 3
    test = ordered[eligible & (from_end == 0)]
    val = ordered[eligible & (from_end == 1)]
    train = ordered[~eligible | (from_end >= 2)]
    return _finish(data, train, val, test, "leave_last_out", report)


def _finish(
    data: RatingData,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    method: str,
    report: Report | None = None,
) -> Split:
    report = report or monotone(None)
    report(ORDERED, "re-coding the training users and items")
    train_users = np.unique(train["user"].to_numpy())
    train_items = np.unique(train["item"].to_numpy())
    user_code = np.full(data.n_users, -1, dtype=np.int64)
    user_code[train_users] = np.arange(len(train_users))
    item_code = np.full(data.n_items, -1, dtype=np.int64)
    item_code[train_items] = np.arange(len(train_items))

    def recode(frame: pd.DataFrame) -> pd.DataFrame:
        users = user_code[frame["user"].to_numpy()]
        items = item_code[frame["item"].to_numpy()]
        known = (users >= 0) & (items >= 0)
        return pd.DataFrame(
            {
                "user": users[known],
                "item": items[known],
                "rating": frame["rating"].to_numpy()[known],
                "timestamp": frame["timestamp"].to_numpy()[known],
            }
        )

    train_clean = recode(train)
    report(ORDERED + (1 - ORDERED) * 0.8, "dropping unseen users and items from val / test")
    val_clean, test_clean = recode(val), recode(test)
    report(
        1.0, f"split: {len(train_clean):,} train, {len(val_clean):,} val, {len(test_clean):,} test"
    )
    return Split(
        train=train_clean,
        val=val_clean,
        test=test_clean,
        user_ids=data.user_ids[train_users],
        item_ids=data.item_ids[train_items],
        method=method,
        dropped_cold={"val": len(val) - len(val_clean), "test": len(test) - len(test_clean)},
    )
