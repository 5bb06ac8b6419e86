"""Seeded synthetic rating data with planted structure: a known answer for tests.

`planted_ratings`: one level of groups. Every user belongs to one of `user_groups`, every item
to one of `item_groups`; a user rates an item `high` when the item's group is the one its group
likes (group g likes item group g % item_groups), `low` otherwise, plus Gaussian noise. A model
that learned the structure puts users of one group in one cluster.
Every pair is equally likely to be rated unless `liked_density` is given: then a user rates
the items its group likes with that probability (the rest with `density`), so who rated what
carries the groups too (the spectral warm start reads only that).

`planted_hierarchy`: two levels, sampled from HMF's own generative model (eq. 3-4, 6):
U0 = S1 S2 U2 with one-hot S1 (object -> fine cluster) and fine clusters that are mixtures of
coarse ones (each row of S2 has one dominant parent), the same on the item side, and ratings
<U0_i, V0_j> + offset + Gaussian noise. Depth 2 then has a known answer at both levels.

`planted_roles`: several independent roles (MFDMC's views have a known answer). Role r splits
the users into g_r groups and the items into g_r groups, each drawn independently of the other
roles; a user likes the items of its own group in that role. A rating is
offset + sum_r strength * (1[user group == item group] - 1/g_r) + Gaussian noise, so every role
moves a rating by the same amount and none can be read from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.data.ratings import RatingData


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
    liked_density: float | None = None,
) -> PlantedData:
    """`liked_density`: the share of liked pairs observed (the others: `density`); None: every
    pair alike, so only the rating values carry the groups, not who rated what."""
    rng = np.random.default_rng(seed)
    user_group = np.arange(n_users) % user_groups
    item_group = np.arange(n_items) % item_groups
    likes = (user_group[:, None] % item_groups) == item_group[None, :]  # (M, N)
    chance = np.where(likes, density if liked_density is None else liked_density, density)
    observed = rng.random((n_users, n_items)) < chance  # (M, N)
    users, items = np.nonzero(observed)
    liked = likes[users, items]
    ratings = np.where(liked, high, low) + rng.normal(0.0, noise, len(users))
    ratings = np.clip(ratings, min(low, high), max(low, high)).astype(np.float32)
    data = _rating_data(rng, users, items, ratings, (n_users, n_items), f"planted(seed={seed})")
    return PlantedData(data=data, user_group=user_group, item_group=item_group)


def _rating_data(rng, users, items, ratings, shape: tuple[int, int], source: str) -> RatingData:
    """Observed (user, item, rating) codes as RatingData, timestamps in a seeded random order;
    ids are the codes 0..M-1 and 0..N-1."""
    order = rng.permutation(len(ratings))  # timestamps in random order
    table = pd.DataFrame(
        {
            "user": users[order].astype(np.int64),
            "item": items[order].astype(np.int64),
            "rating": ratings[order],
            "timestamp": np.arange(len(ratings), dtype=np.int64),
        }
    )
    return RatingData(
        table=table,
        user_ids=np.arange(shape[0]),
        item_ids=np.arange(shape[1]),
        source=source,
        implicit=False,
        has_timestamp=True,
    )


def to_csv(planted: PlantedData | PlantedHierarchy | PlantedRoles, path) -> None:
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


@dataclass
class PlantedSide:
    """One side of a planted hierarchy; labels are per object code."""

    fine: np.ndarray  # (M,) fine cluster of each object (level 1)
    coarse: np.ndarray  # (M,) dominant parent of its fine cluster (level 2)
    fine_to_coarse: np.ndarray  # (m_1, m_2) S2: rows sum to 1, one dominant parent each
    coarse_embeddings: np.ndarray  # (m_2, d) U2
    embeddings: np.ndarray  # (M, d) U0 = S1 S2 U2

    def labels(self, level: int) -> np.ndarray:
        return {1: self.fine, 2: self.coarse}[level]


@dataclass
class PlantedHierarchy:
    data: RatingData
    users: PlantedSide
    items: PlantedSide
    offset: float

    def expected_ratings(self) -> np.ndarray:
        """The noise-free rating matrix <U0_i, V0_j> + offset: (M, N)."""
        return self.users.embeddings @ self.items.embeddings.T + self.offset


def _planted_side(
    rng: np.random.Generator,
    n_objects: int,
    fine: int,
    coarse: int,
    dim: int,
    scale: float,
    dominant: tuple[float, float],
    secondary: float,
) -> PlantedSide:
    if not 2 <= coarse <= fine <= n_objects:
        raise ValueError(
            f"need 2 <= coarse ({coarse}) <= fine ({fine}) <= objects ({n_objects}) clusters"
        )
    # U2: coarse embeddings along orthonormal directions (orthogonal when coarse <= dim).
    gaussian = rng.normal(size=(max(dim, coarse), max(dim, coarse)))
    directions, _ = np.linalg.qr(gaussian)  # orthonormal columns
    coarse_embeddings = directions[:coarse, :dim]  # (m_2, d)
    coarse_embeddings = (
        scale * coarse_embeddings / np.linalg.norm(coarse_embeddings, axis=1, keepdims=True)
    )  # rows of norm `scale`
    # S2: fine cluster c's dominant parent is c % coarse (balanced). Siblings (fine clusters of
    # one parent, j = c // coarse) must differ, or the fine level has no answer: sibling j gets
    # the j-th of evenly spaced weights in `dominant`, and the rest is spread over the other
    # parents by a Dirichlet draw that favours a secondary parent chosen per sibling.
    parent = np.arange(fine) % coarse  # (m_1,)
    sibling = np.arange(fine) // coarse  # (m_1,)
    siblings = np.bincount(parent, minlength=coarse)  # (m_2,)
    low, high = dominant
    fine_to_coarse = np.zeros((fine, coarse))  # (m_1, m_2)
    for c in range(fine):
        weight = low + (high - low) * (sibling[c] + 0.5) / siblings[parent[c]]
        others = np.array([p for p in range(coarse) if p != parent[c]])
        fine_to_coarse[c, parent[c]] = weight
        concentration = np.ones(len(others))
        concentration[sibling[c] % len(others)] += secondary
        fine_to_coarse[c, others] = (1 - weight) * rng.dirichlet(concentration)
    # S1: one-hot, balanced, in random object order.
    fine_label = rng.permutation(np.arange(n_objects) % fine)  # (M,)
    fine_embeddings = fine_to_coarse @ coarse_embeddings  # U1 = S2 U2: (m_1, d)
    return PlantedSide(
        fine=fine_label,
        coarse=parent[fine_label],
        fine_to_coarse=fine_to_coarse,
        coarse_embeddings=coarse_embeddings,
        embeddings=fine_embeddings[fine_label],  # U0 = S1 U1: (M, d)
    )


def planted_hierarchy(
    n_users: int = 400,
    n_items: int = 300,
    user_clusters: tuple[int, int] = (12, 4),
    item_clusters: tuple[int, int] = (12, 4),
    dim: int = 8,
    scale: float = 2.0,
    dominant: tuple[float, float] = (0.6, 0.8),
    secondary: float = 10.0,
    density: float = 0.3,
    noise: float = 0.3,
    offset: float = 0.0,
    seed: int = 0,
) -> PlantedHierarchy:
    """Ratings from a two-level HMF (fine, coarse clusters per side); see the module docstring.

    Coarse embeddings have norm `scale`; a fine cluster puts a weight in `dominant` on its
    parent (siblings evenly spaced) and the rest on the others by a Dirichlet draw whose
    concentration is 1 + `secondary` on one other parent per sibling, 1 elsewhere.
    Siblings are well apart when a parent has fewer fine clusters than there are other
    parents; with 2 coarse clusters only the spaced weights tell siblings apart.
    Each (user, item) pair is observed with probability `density`."""
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], not {density}")
    rng = np.random.default_rng(seed)
    users = _planted_side(rng, n_users, *user_clusters, dim, scale, dominant, secondary)
    items = _planted_side(rng, n_items, *item_clusters, dim, scale, dominant, secondary)
    observed = rng.random((n_users, n_items)) < density  # (M, N)
    user_codes, item_codes = np.nonzero(observed)
    means = (users.embeddings[user_codes] * items.embeddings[item_codes]).sum(1) + offset
    ratings = (means + rng.normal(0.0, noise, len(means))).astype(np.float32)
    source = f"planted_hierarchy(seed={seed})"
    data = _rating_data(rng, user_codes, item_codes, ratings, (n_users, n_items), source)
    return PlantedHierarchy(data=data, users=users, items=items, offset=offset)


@dataclass
class PlantedRoles:
    """Ratings from independent planted roles; labels are per object code, one row per role."""

    data: RatingData
    user_roles: np.ndarray  # (R, M): user k's group in role r
    item_roles: np.ndarray  # (R, N)
    strength: float
    offset: float

    def labels(self, side: str, role: int) -> np.ndarray:
        """The planted groups of `side` ("user" or "item") in `role` (from 0): (M,) or (N,)."""
        return {"user": self.user_roles, "item": self.item_roles}[side][role]

    def expected_ratings(self) -> np.ndarray:
        """The noise-free rating matrix: (M, N)."""
        return _role_means(self.user_roles, self.item_roles, self.strength, self.offset)


def _role_means(user_roles, item_roles, strength: float, offset: float) -> np.ndarray:
    """offset + sum over roles of strength * (1[same group] - 1/g_r): (M, N)."""
    means = np.full((user_roles.shape[1], item_roles.shape[1]), float(offset))  # (M, N)
    for users, items in zip(user_roles, item_roles):
        groups = int(max(users.max(), items.max())) + 1
        same = users[:, None] == items[None, :]  # (M, N)
        means += strength * (same - 1.0 / groups)
    return means


def planted_roles(
    n_users: int = 240,
    n_items: int = 180,
    groups: tuple[int, ...] = (3, 3),
    strength: float = 2.0,
    density: float = 0.3,
    noise: float = 0.3,
    offset: float = 0.0,
    seed: int = 0,
) -> PlantedRoles:
    """Ratings from len(`groups`) independent roles, role r with groups[r] groups a side (module
    docstring). Groups are balanced and drawn by an independent permutation per role and side;
    each (user, item) pair is observed with probability `density`."""
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], not {density}")
    if not groups or min(groups) < 2 or max(groups) > min(n_users, n_items):
        raise ValueError(
            f"each role needs 2 to min(users, items) = {min(n_users, n_items)} groups, "
            f"not {tuple(groups)}"
        )
    rng = np.random.default_rng(seed)
    user_roles = np.stack([rng.permutation(np.arange(n_users) % g) for g in groups])  # (R, M)
    item_roles = np.stack([rng.permutation(np.arange(n_items) % g) for g in groups])  # (R, N)
    observed = rng.random((n_users, n_items)) < density  # (M, N)
    user_codes, item_codes = np.nonzero(observed)
    means = _role_means(user_roles, item_roles, strength, offset)[user_codes, item_codes]
    ratings = (means + rng.normal(0.0, noise, len(means))).astype(np.float32)
    source = f"planted_roles(seed={seed})"
    data = _rating_data(rng, user_codes, item_codes, ratings, (n_users, n_items), source)
    return PlantedRoles(
        data=data, user_roles=user_roles, item_roles=item_roles, strength=strength, offset=offset
    )


def planted_labels(planted: PlantedHierarchy, kind: str, ids: np.ndarray) -> pd.DataFrame:
    """Planted labels of the objects with these original ids (e.g. a split's `user_ids`, i.e.
    model order) as metadata columns planted_level1 (fine), planted_level2 (coarse): what
    hmf_core.interpret.quality.model_quality takes as `users` / `items` for the planted ARI."""
    side = planted.users if kind == "user" else planted.items
    ids = np.asarray(ids)  # the generator's ids are 0..M-1, so an id is its row
    return pd.DataFrame(
        {"id": ids, "planted_level1": side.fine[ids], "planted_level2": side.coarse[ids]}
    )


def write_planted_labels(planted: PlantedHierarchy, users_path, items_path) -> None:
    """Planted labels as metadata CSVs (id, planted_level1, planted_level2): given as a run's
    users/items files, hmf_core.interpret.quality reports the adjusted Rand index per level."""
    for kind, ids, path in (
        ("user", planted.data.user_ids, users_path),
        ("item", planted.data.item_ids, items_path),
    ):
        planted_labels(planted, kind, ids).to_csv(Path(path), index=False)
