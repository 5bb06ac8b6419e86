"""Train / validation / test splits of a RatingData table.

Every split drops validation and test rows whose user or item never appears in training (no
cold start, as the paper) and re-codes users and items to those seen in training, so model
row `k` is `split.user_ids[k]` in the original file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hmf_core.common.progress import Report, monotone
from hmf_core.data.ratings import RatingData

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
    (hmf_core.common.progress); its last fraction is 1.0."""
    report = monotone(report)
    if method == "temporal":
        return temporal_global_split(data, report=report)
    if method == "random":
        return random_split(data, seed=seed, report=report)
    if method == "leave_last_out":
        return leave_last_out_split(data, report=report)
    raise ValueError(f"unknown split {method!r}; expected one of {', '.join(SPLITS)}")


ORDERED = 0.4  # share of a split's time spent ordering the rows (the rest: re-coding the parts)


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
    order = np.argsort(data.table["timestamp"].to_numpy(), kind="stable")  # (R,) rows by time
    n_train_val = int(round(len(order) * (1 - test_fraction)))
    n_train = int(round(n_train_val * (1 - val_fraction)))
    parts = order[:n_train], order[n_train:n_train_val], order[n_train_val:]
    return _finish(data, *parts, "temporal", report)


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
    order = np.random.default_rng(seed).permutation(len(data.table))  # (R,) rows shuffled
    n_train_val = int(round(len(order) * (1 - test_fraction)))
    n_train = int(round(n_train_val * (1 - val_fraction)))
    parts = order[:n_train], order[n_train:n_train_val], order[n_train_val:]
    return _finish(data, *parts, f"random(seed={seed})", report)


def leave_last_out_split(data: RatingData, report: Report | None = None) -> Split:
    """Per user: the last interaction is test, the one before validation, the rest training.
    Users with fewer than 3 interactions keep all of them in training. Rows are ordered by
    user, then time, then file order (two stable sorts: 5-10x faster than pandas' sort by
    two columns and its groupby at 20M rows)."""
    report = monotone(report)
    report(0.0, "ordering each user's ratings by time")
    users = data.table["user"].to_numpy()
    by_time = np.argsort(data.table["timestamp"].to_numpy(), kind="stable")  # (R,)
    order = by_time[np.argsort(users[by_time], kind="stable")]  # (R,) by user, then time
    del by_time
    counts = np.bincount(users, minlength=data.n_users)  # (M,) ratings per user
    first = np.cumsum(counts) - counts  # (M,) position of each user's first row in `order`
    ordered_users = users[order]  # (R,)
    per_user = counts[ordered_users]  # (R,) ratings of the row's user
    from_end = per_user - 1 - (np.arange(len(order)) - first[ordered_users])  # (R,) 0 = last
    del ordered_users
    eligible = per_user >= 3
    test = order[eligible & (from_end == 0)]
    val = order[eligible & (from_end == 1)]
    train = order[~eligible | (from_end >= 2)]
    return _finish(data, train, val, test, "leave_last_out", report)


def _finish(
    data: RatingData,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    method: str,
    report: Report | None = None,
) -> Split:
    """The parts, given as row numbers of `data.table` in the order they keep: users and items
    re-coded to those seen in training, val / test rows of unseen ones dropped."""
    report = report or monotone(None)
    report(ORDERED, "re-coding the training users and items")
    table = data.table
    columns = {name: table[name].to_numpy() for name in ("user", "item", "rating", "timestamp")}
    train_user_rows = columns["user"][train]  # (T,)
    train_item_rows = columns["item"][train]
    # sorted distinct codes seen in training (bincount: O(R), unlike a sort or a hash)
    train_users = np.flatnonzero(np.bincount(train_user_rows, minlength=data.n_users))
    train_items = np.flatnonzero(np.bincount(train_item_rows, minlength=data.n_items))
    user_code = np.full(data.n_users, -1, dtype=np.int64)
    user_code[train_users] = np.arange(len(train_users))
    item_code = np.full(data.n_items, -1, dtype=np.int64)
    item_code[train_items] = np.arange(len(train_items))

    def recode(rows: np.ndarray, users=None, items=None) -> pd.DataFrame:
        users = user_code[columns["user"][rows] if users is None else users]  # (P,)
        items = item_code[columns["item"][rows] if items is None else items]
        known = (users >= 0) & (items >= 0)
        if not known.all():
            rows, users, items = rows[known], users[known], items[known]
        return pd.DataFrame(
            {
                "user": users,
                "item": items,
                "rating": columns["rating"][rows],
                "timestamp": columns["timestamp"][rows],
            }
        )

    train_clean = recode(train, train_user_rows, train_item_rows)
    del train_user_rows, train_item_rows
    report(ORDERED + (1 - ORDERED) * 0.7, "dropping unseen users and items from val / test")
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


# --- when a split leaves nothing to validate or test on -----------------------------------------

MIN_RATINGS = 4  # the fewest ratings the 64/16/20 splits give a validation and a test row
MIN_USER_RATINGS = 3  # leave_last_out: a user's last rating is test, the one before validation


def empty_parts(summary: dict) -> list[str]:
    """The parts ("train", "val", "test") a split's summary leaves without a row."""
    return [part for part in ("train", "val", "test") if not summary.get(part)]


def split_refusal(data: RatingData, summary: dict, method: str, seed: int = 0) -> str | None:
    """Why `method`'s split of `data` (its `summary`) cannot train and evaluate, with the
    minimum that split needs and, only where one would work on this data (each is made here to
    know), the splits to use instead. None when every part has rows."""
    empty = empty_parts(summary)
    if not empty:
        return None
    names = {"train": "training", "val": "validation", "test": "test"}
    left = (
        f"The {method} split leaves no {' and no '.join(names[p] for p in empty)} rows "
        f"({summary.get('train', 0):,} training, {summary.get('val', 0):,} validation and "
        f"{summary.get('test', 0):,} test rows are left"
    )
    left += "; validation and test rows whose user or item never occurs in training are dropped)"
    working = []
    for other in SPLITS:
        if other == method:
            continue
        made = make_split(data, other, seed).summary()
        if not empty_parts(made):
            label = f"the random split (seed {seed})" if other == "random" else f"the {other} split"
            working.append(
                f"{label} leaves {made['train']:,} training, {made['val']:,} validation and "
                f"{made['test']:,} test rows"
            )
    minimum = _minimum(data, method)
    if working:
        return f"{left}: {minimum}. Use another split: {'; '.join(working)}."
    return (
        f"{left}: {minimum}. No split can evaluate this data: it is too small "
        f"({len(data.table):,} ratings of {data.n_users:,} users and {data.n_items:,} items). "
        f"The temporal and random splits need at least {MIN_RATINGS} ratings, leave_last_out a "
        f"user with at least {MIN_USER_RATINGS}, and each validation and test rating a user and "
        "an item that also have training ratings: add ratings"
    )


def _minimum(data: RatingData, method: str) -> str:
    """What `method` needs that this data lacks, in words with the figures."""
    rows = len(data.table)
    counts = np.bincount(data.table["user"].to_numpy(), minlength=data.n_users)  # (M,)
    if method == "leave_last_out":
        if not (counts >= MIN_USER_RATINGS).any():
            return (
                f"leave_last_out needs users with at least {MIN_USER_RATINGS} ratings (the last "
                f"is test, the one before validation); the most any user has is {counts.max()}"
            )
        return (
            "the items of the users' last two ratings never occur in their training rows; "
            "validation and test need items that also have training ratings"
        )
    if rows < MIN_RATINGS:
        return (
            f"the data is too small: the {method} split needs at least {MIN_RATINGS} ratings "
            f"(64% train, 16% validation, 20% test), and this data has {rows}"
        )
    if (counts <= 1).all():
        return (
            "every user has a single rating, so no user of a validation or test rating also "
            "has a training rating; each user needs at least 2 ratings"
        )
    if method == "temporal":
        return (
            "the users or items of its newest ratings (validation and test) first appear in "
            "them; each needs a user and an item that also have older, training ratings"
        )
    return (
        "the users or items of its validation or test ratings have no training ratings; each "
        "needs a user and an item that also occur in training"
    )
