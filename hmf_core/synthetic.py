"""Seeded synthetic rating data with planted user and item groups: a known answer for tests.

Every user belongs to one of `user_groups`, every item to one of `item_groups`; a user rates an
item `high` when the item's group is the one its group likes (group g likes item group
g % item_groups), `low` otherwise, plus Gaussian noise. A model that learned the structure puts
users of one group in one cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hmf_core.ratings import RatingData


@dataclass
class PlantedData:
    data: RatingData
    user_group: np.ndarray  # planted group of user code k
    item_group: np.ndarray


def planted_ratings(
    n_users: int = 240,
    n_items: int = 160,
    user_groups: int = 4,
    item_groups: int = 4,
    density: float = 0.25,
    high: float = 5.0,
    low: float = 1.0,
    noise: float = 0.3,
    seed: int = 0,
) -> PlantedData:
    rng = np.random.default_rng(seed)
    user_group = np.arange(n_users) % user_groups
    item_group = np.arange(n_items) % item_groups
    observed = rng.random((n_users, n_items)) < density  # (M, N)
    users, items = np.nonzero(observed)
    liked = (user_group[users] % item_groups) == item_group[items]
    ratings = np.where(liked, high, low) + rng.normal(0.0, noise, len(users))
    ratings = np.clip(ratings, min(low, high), max(low, high)).astype(np.float32)
    order = rng.permutation(len(users))  # timestamps in random order
    table = pd.DataFrame(
        {
            "user": users[order].astype(np.int64),
            "item": items[order].astype(np.int64),
            "rating": ratings[order],
            "timestamp": np.arange(len(users), dtype=np.int64),
        }
    )
    data = RatingData(
        table=table,
        user_ids=np.arange(n_users),
        item_ids=np.arange(n_items),
        source=f"planted(seed={seed})",
        implicit=False,
        has_timestamp=True,
    )
    return PlantedData(data=data, user_group=user_group, item_group=item_group)


def to_csv(planted: PlantedData, path) -> None:
    """Write as a plain ratings CSV (userId,movieId,rating,timestamp) for end-to-end tests."""
    table = planted.data.table
    pd.DataFrame(
        {
            "userId": planted.data.user_ids[table["user"]],
            "movieId": planted.data.item_ids[table["item"]],
            "rating": table["rating"].round(2),
            "timestamp": table["timestamp"],
        }
    ).to_csv(path, index=False)
