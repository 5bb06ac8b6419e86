"""Hierarchical Matrix Factorization (Sugahara & Okamoto, arXiv 2311.13277), plain torch.

User side, depth p:  U0 = S(C1) S(C2) ... S(Cp) Up          eq. (3), (6)
Item side, depth q:  V0 = S(D1) S(D2) ... S(Dq) Vq          eq. (4), (6)
S = row-wise softmax (eq. 7-8), here of logits / temperature. Depth 0 is plain MF.
Prediction <U0_i, V0_j> (+ optional biases, our extension; off = faithful to the paper).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hmf_core.models.interface import Grouping, check_side
from hmf_core.models.starts import normal

# The ways an HMF can start: random (the paper), or from a clustering of the ratings
# (hmf_core/models/warmstart.py); "-consensus": the same start for every run seed.
WARM_STARTS = ("none", "spectral", "mf", "spectral-consensus", "mf-consensus")

# HierarchicalEmbedding.forward works on the distinct rows of a batch when REPEATS_FROM x the
# batch is at least the side's objects. Measured per step (1 thread, batch 1,024, HMF depth
# 1, 200/100): ML-100K 2.4-2.8 -> 1.8 ms (943 users, 1,682 items: many repeats); ML-1M size
# 3.7 -> 3.8-4.0 ms if always on (6,040 x 3,706: few repeats, so the sort costs more than it
# saves), hence the threshold.
REPEATS_FROM = 2


def halving_levels(first: int, depth: int) -> tuple[int, ...]:
    """Paper section 5.4: m_l = m_1 / 2^(l-1), rounded up, never below 1."""
    return tuple(max(1, math.ceil(first / 2**level)) for level in range(depth))


@dataclass(frozen=True)
class HMFConfig:
    """Everything needed to rebuild the model; saved in every checkpoint."""

    n_users: int
    n_items: int
    dim: int = 20
    user_clusters: tuple[int, ...] = (200,)  # clusters per level; len = user depth p
    item_clusters: tuple[int, ...] = (100,)  # len = item depth q
    temperature: float = 1.0
    use_bias: bool = False
    init_std: float = 1.0  # authors' code: N(0, 1) logits and root embeddings
    global_mean: float = 0.0  # initial global bias when use_bias

    def __post_init__(self):
        object.__setattr__(self, "user_clusters", tuple(int(c) for c in self.user_clusters))
        object.__setattr__(self, "item_clusters", tuple(int(c) for c in self.item_clusters))
        if self.n_users < 1 or self.n_items < 1:
            raise ValueError("HMFConfig needs at least one user and one item")
        if any(c < 1 for c in self.user_clusters + self.item_clusters):
            raise ValueError("every level needs at least one cluster")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    @property
    def user_depth(self) -> int:
        return len(self.user_clusters)

    @property
    def item_depth(self) -> int:
        return len(self.item_clusters)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class HierarchyLevels:
    """What one side (users or items) looks like after training, for drawing."""

    membership: list[torch.Tensor] = field(default_factory=list)  # S(C_l): (m_{l-1}, m_l)
    object_to_level: list[torch.Tensor] = field(default_factory=list)  # S(C1)..S(C_l): (M, m_l)
    cluster_embeddings: list[torch.Tensor] = field(default_factory=list)  # U^(l): (m_l, d)
    object_embeddings: torch.Tensor | None = None  # U^(0): (M, d)


class HierarchicalEmbedding(nn.Module):
    """One side of HMF: connection logits per level and the root cluster embeddings."""

    # Row lookups of C_1 (MF: of the root table) back-propagate a sparse COO gradient of the
    # batch's rows only, for training.optim.LazyAdamW; off = a dense (M, m_1) gradient. While
    # gradients are recorded, before_lookup(table, rows) runs first: LazyAdamW.prepare brings
    # those rows up to date (steps they skipped), so the forward reads what dense AdamW has.
    # It stays here, not in training.fast_steps with the rest of the catch-up: only the lookup
    # knows which rows of which table a forward reads (users; items, or positives and
    # negatives; the entropy penalty's rows). A training step that prepared them itself would
    # have to repeat the model's and the task's lookups (a row it missed is read stale and the
    # run silently stops being AdamW) and concatenate the rows again each step.
    sparse_gradients = False
    before_lookup = None

    def __init__(
        self,
        n_objects: int,
        clusters: tuple[int, ...],
        dim: int,
        temperature: float = 1.0,
        init_std: float = 1.0,
    ):
        super().__init__()
        sizes = (n_objects, *clusters)  # m_0 = M, m_1, ..., m_p
        self.temperature = temperature
        self.connections = nn.ParameterList(
            nn.Parameter(normal(sizes[level], sizes[level + 1], std=init_std))
            for level in range(len(clusters))
        )  # C_l: (m_{l-1}, m_l)
        self.root = nn.Parameter(normal(sizes[-1], dim, std=init_std))  # U^(p): (m_p, d)

    @property
    def depth(self) -> int:
        return len(self.connections)

    def membership(self, level: int, rows: torch.Tensor | None = None) -> torch.Tensor:
        """S(C_level), optionally only some rows: eq. (7)."""
        logits = self.connections[level - 1]
        if rows is not None:
            logits = self._rows(logits, rows)  # (rows, m_level)
        if self.temperature != 1.0:  # skipped at 1: a (batch x m_level) pass each way
            logits = logits / self.temperature
        return torch.softmax(logits, dim=-1)  # (rows, m_level)

    def _rows(self, table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if self.sparse_gradients:
            if self.before_lookup is not None and torch.is_grad_enabled():
                self.before_lookup(table, rows)
            return F.embedding(rows, table, sparse=True)  # same values as table[rows]
        # index_select, not table[rows]: the same rows, and forward + backward (a dense
        # index_add_) take 0.36 ms instead of 0.64 at ML-1M size (6,040 x 200, 1,024 rows)
        return table.index_select(0, rows)

    def cluster_embeddings(self, level: int) -> torch.Tensor:
        """U^(level) = S(C_{level+1}) ... S(C_p) U^(p): eq. (3) read from the top down."""
        embeddings = self.root  # (m_p, d)
        for upper in range(self.depth, level, -1):
            embeddings = self.membership(upper) @ embeddings  # (m_{upper-1}, d)
        return embeddings  # (m_level, d)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """Embeddings U^(0) of the objects in `index`, touching only their rows of C_1.

        A batch that is long against the side's objects repeats many of them (ML-100K: 1,024
        ratings of 943 users, about 600 distinct): then the softmax and the product run once
        per distinct object and their vectors are repeated (benchmarks/results/speed.md)."""
        if self.depth == 0:
            return self._rows(self.root, index)  # (B, d): plain MF
        clusters = self.cluster_embeddings(1)  # (m_1, d)
        if REPEATS_FROM * len(index) < len(self.connections[0]):
            return self.membership(1, index) @ clusters  # (B, m_1) @ (m_1, d) -> (B, d)
        rows, inverse = torch.unique(index, return_inverse=True)  # (U,), (B,)
        return (self.membership(1, rows) @ clusters).index_select(0, inverse)  # (U, d) -> (B, d)

    def object_to_level(self, level: int) -> torch.Tensor:
        """P(object -> level-l cluster) = S(C1) ... S(C_l): eq. (6) collapsed; rows sum to 1."""
        probabilities = self.membership(1)  # (M, m_1)
        for upper in range(2, level + 1):
            probabilities = probabilities @ self.membership(upper)  # (M, m_upper)
        return probabilities  # (M, m_level)

    @torch.no_grad()
    def levels(self) -> HierarchyLevels:
        levels = HierarchyLevels()
        for level in range(1, self.depth + 1):
            levels.membership.append(self.membership(level))  # (m_{l-1}, m_l)
            levels.object_to_level.append(self.object_to_level(level))  # (M, m_l)
            levels.cluster_embeddings.append(self.cluster_embeddings(level))
        levels.object_embeddings = self.cluster_embeddings(0)  # (M, d)
        return levels


def initial_model(config: HMFConfig, seed: int) -> HMF:
    """The model as training starts it: every random draw of the start happens here, from the
    run's seed, so the start can be rebuilt later (interpret.quality compares against it)."""
    torch.manual_seed(seed)
    return HMF(config)


class DotProductScores(nn.Module):
    """What HMF and MFDMC (models/mfdmc.py) score alike: <user vector, item vector> plus the
    optional global, user and item biases (our extension). A subclass sets `config` (with
    n_users, n_items, use_bias, global_mean), then the `users` and `items` modules (index (B,)
    -> vectors (B, d), with sparse_gradients / before_lookup), then calls add_biases; it also
    defines object_vectors(side) (every object's vector: ClusterModel's), which score_all reads."""

    def add_biases(self, config) -> None:
        if config.use_bias:
            self.global_bias = nn.Parameter(torch.tensor(float(config.global_mean)))
            self.user_bias = nn.Parameter(torch.zeros(config.n_users))
            self.item_bias = nn.Parameter(torch.zeros(config.n_items))

    def use_sparse_gradients(self, enabled: bool = True, before_lookup=None) -> None:
        """Sparse row gradients for C_1 / the MF tables, or dense ones. LazyAdamW needs
        before_lookup=optimizer.prepare, which catches up the rows a batch reads."""
        for side in (self.users, self.items):
            side.sparse_gradients = enabled
            side.before_lookup = before_lookup if enabled else None

    def bias(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor | float:
        if not self.config.use_bias:
            return 0.0
        return self.global_bias + self.user_bias[users] + self.item_bias[items]  # (B,)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        user_vectors = self.users(users)  # (B, d)
        item_vectors = self.items(items)  # (B, d)
        return (user_vectors * item_vectors).sum(-1) + self.bias(users, items)  # (B,)

    def score_candidates(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scores of each user's candidate items: users (B,), candidates (B, K) -> (B, K)."""
        user_vectors = self.users(users)  # (B, d)
        item_vectors = self.items(candidates.reshape(-1)).view(*candidates.shape, -1)  # (B, K, d)
        scores = torch.einsum("bd,bkd->bk", user_vectors, item_vectors)  # (B, K)
        if self.config.use_bias:
            scores = scores + self.global_bias + self.user_bias[users, None]
            scores = scores + self.item_bias[candidates]
        return scores

    @torch.no_grad()
    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for some users: (B,) -> (B, N)."""
        item_vectors = self.object_vectors("item")  # (N, d): every item, no row lookup
        scores = self.users(users) @ item_vectors.T  # (B, N)
        if self.config.use_bias:
            scores = scores + self.global_bias + self.user_bias[users, None] + self.item_bias
        return scores

    def bias_terms(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.config.use_bias:
            return {}
        return {
            "global": self.global_bias.expand(len(users)),  # (B,)
            "user": self.user_bias[users],  # (B,)
            "item": self.item_bias[items],  # (B,)
        }


class HMF(DotProductScores):
    """HMF for rating or ranking: `model(users, items)` -> scores (B,). A ClusterModel
    (models/interface.py): each level is a nested grouping."""

    family = "hmf"
    # Every level's groupings reproduce the object vectors, U0 = P^(l) U^(l) (eq. 6), so
    # interface.decompose's own terms are 0 (interpret.queries.exact_groupings reads this).
    exact_groupings = True

    def __init__(self, config: HMFConfig):
        super().__init__()
        self.config = config
        self.users = HierarchicalEmbedding(
            config.n_users, config.user_clusters, config.dim, config.temperature, config.init_std
        )
        self.items = HierarchicalEmbedding(
            config.n_items, config.item_clusters, config.dim, config.temperature, config.init_std
        )
        self.add_biases(config)

    # ------------------------------------------------------------ the ClusterModel interface

    def side(self, side: str) -> HierarchicalEmbedding:
        return self.users if check_side(side) == "user" else self.items

    @torch.no_grad()
    def object_vectors(self, side: str) -> torch.Tensor:
        return self.side(side).cluster_embeddings(0)  # U^(0): (M, d)

    @torch.no_grad()
    def groupings(self, side: str) -> list[Grouping]:
        """Level l: P = S(C1)...S(C_l) (eq. 6), vectors U^(l), links S(C_l) below level 1."""
        hierarchy = self.side(side)
        return [
            Grouping(
                name=f"level {level}",
                membership=hierarchy.object_to_level(level),  # (M, m_l)
                cluster_vectors=hierarchy.cluster_embeddings(level),  # (m_l, d)
                links=hierarchy.membership(level) if level > 1 else None,  # (m_{l-1}, m_l)
            )
            for level in range(1, hierarchy.depth + 1)
        ]
