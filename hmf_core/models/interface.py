"""The one interface every view of a run consumes: a cluster model (in the spirit of implicit's
MatrixFactorizationBase). HMF (models/hmf.py) and the two-stage baseline (models/twostage.py)
implement it; interpretation, the map, quality, naming and every dashboard page read a model only
through it, so a new family is a model that implements it plus a registry entry.

Per side ("user" / "item") a cluster model has
- object vectors in the scoring space: U0 (M, d);
- groupings, numbered from 1 (the pages call the number a "level", or a "view": see
  grouping_word): each a membership matrix P (M, m) whose rows sum to 1, its cluster
  vectors C (m, d) in the same scoring space, and
  `links` (m_prev, m), P(cluster of grouping g-1 -> cluster of grouping g), when groupings are
  nested (HMF's levels) or None when they are parallel (MFDMC's views, a k-means partition).

Scores are <U0_i, V0_j> plus optional biases. Any grouping pair (g, h) decomposes a score
exactly (eq. 11 for HMF, where the "own" terms are 0):

    <u, v> = sum_st P_s Q_t <C_s, D_t>          cluster pairs
           + <u - P C, v>                        the user's own offset from its clusters' mix
           + <P C, v - Q D>                      the item's own offset
    score  = <u, v> + biases
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

SIDES = ("user", "item")


def check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be 'user' or 'item', got {side!r}")
    return side


def by_side(side: str, user, item):
    """`user` for the user side, `item` for the item side (checked): the one user/item switch."""
    return user if check_side(side) == "user" else item


def other_side(side: str) -> str:
    """ "item" for "user" and "user" for "item"."""
    return by_side(side, "item", "user")


@dataclass(frozen=True)
class Grouping:
    """One way of grouping one side's objects into clusters."""

    name: str  # what the pages call it: "level 1", "k-means"
    membership: torch.Tensor  # P(object -> cluster): (M, m), rows sum to 1
    cluster_vectors: torch.Tensor  # (m, d), in the scoring space
    links: torch.Tensor | None = None  # (m_prev, m) when nested under grouping g-1, else None

    @property
    def n_clusters(self) -> int:
        return int(self.membership.shape[1])

    def top_clusters(self):
        """(M,) int64 numpy array: each object's most probable cluster (its membership's argmax)."""
        return self.membership.detach().argmax(dim=1).cpu().numpy()


@runtime_checkable
class ClusterModel(Protocol):
    """What a family's model offers the rest of the product (besides nn.Module's forward)."""

    family: str  # the registry key: "hmf", "twostage"
    config: object  # a frozen dataclass with n_users, n_items, dim and to_dict()

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of pairs: users (B,), items (B,) -> (B,)."""

    def score_candidates(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """users (B,), candidates (B, K) -> (B, K)."""

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """users (B,) -> scores of every item (B, N)."""

    def object_vectors(self, side: str) -> torch.Tensor:
        """U0 or V0: (M, d)."""

    def groupings(self, side: str) -> list[Grouping]:
        """The side's groupings, grouping 1 first; [] when the side has none (plain MF)."""

    def bias_terms(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """The score's bias parts, each (B,): {"global", "user", "item"}; {} without biases."""


def read_only(model: ClusterModel) -> ClusterModel:
    """`model` (in eval mode) with each side's groupings and object vectors computed once and
    kept: for a model that is only read from now on, as the dashboard's, loaded from a
    checkpoint. At ML-20M size a cluster click otherwise recomputed the (138,493 x 200)
    membership softmax two or three times, and one explained score every user's vector three
    times (0.28 s). Training must not use it: what is kept would not follow the weights."""
    model.eval()
    # on this object only: its class and other models are unchanged
    model.groupings = _kept_per_side(model.groupings)
    model.object_vectors = _kept_per_side(model.object_vectors)
    return model


def _kept_per_side(method):
    """`method(side)`, computed once per side (without gradients) and kept."""
    computed: dict = {}

    def kept(side: str):
        side = check_side(side)
        if side not in computed:
            with torch.no_grad():
                computed[side] = method(side)
        return computed[side]

    return kept


def grouping_word(model: ClusterModel) -> str:
    """What the pages call one of the model's groupings: its `grouping_word` class attribute
    ("view" for MFDMC's parallel views), else "level" (HMF's levels, the two-stage k-means)."""
    return str(getattr(model, "grouping_word", "level"))


def n_objects(model: ClusterModel, side: str) -> int:
    return int(by_side(side, model.config.n_users, model.config.n_items))


def grouping(model: ClusterModel, side: str, number: int) -> Grouping:
    """Grouping `number` (from 1) of a side, with an error that names the valid range."""
    found = model.groupings(check_side(side))
    if not found:
        raise ValueError(f"the {side} side has no clusters (plain MF)")
    if not 1 <= number <= len(found):
        raise ValueError(f"{side} level must be between 1 and {len(found)}, got {number}")
    return found[number - 1]


@torch.no_grad()
def decompose(
    model: ClusterModel, user: int, item: int, user_grouping: int, item_grouping: int
) -> dict[str, torch.Tensor]:
    """One score split into parts that sum to it (module docstring), in float64:
    {"pairs": (m_u, m_i) cluster-pair contributions, "user_weights" (m_u,), "item_weights"
    (m_i,), "inner_products" (m_u, m_i), "user_own": (), "item_own": (), "biases": {name: ()}}.
    Grouping 0 means the object itself (its own vector as a single cluster)."""
    u = model.object_vectors("user")[user].double()  # (d,)
    v = model.object_vectors("item")[item].double()  # (d,)
    p, c = _weights_and_vectors(model, "user", user, user_grouping, u)  # (m_u,), (m_u, d)
    q, d = _weights_and_vectors(model, "item", item, item_grouping, v)  # (m_i,), (m_i, d)
    inner = c @ d.T  # (m_u, m_i)
    user_mix, item_mix = p @ c, q @ d  # (d,), (d,)
    device = u.device
    biases = model.bias_terms(
        torch.tensor([user], device=device), torch.tensor([item], device=device)
    )
    return {
        "pairs": p[:, None] * q[None, :] * inner,  # (m_u, m_i): eq. (11)
        "user_weights": p,
        "item_weights": q,
        "inner_products": inner,
        "user_own": (u - user_mix) @ v,
        "item_own": user_mix @ (v - item_mix),
        "biases": {name: value.detach().double().reshape(-1)[0] for name, value in biases.items()},
    }


def _weights_and_vectors(model, side: str, index: int, number: int, own: torch.Tensor):
    if number == 0 or not model.groupings(side):
        return torch.ones(1, dtype=own.dtype, device=own.device), own[None, :]
    found = grouping(model, side, number)
    return found.membership[index].double(), found.cluster_vectors.double()
