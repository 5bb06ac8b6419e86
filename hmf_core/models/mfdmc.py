"""MFDMC, matrix factorization with dynamic multi-view clustering (Gao, Liu, Fu, Xu, Wu, arXiv
2504.14565), plain torch. Our reimplementation: the paper's body was not available, so every
decision of `../shared/paper/mfdmc-method.md` section 7 is a field of MFDMCConfig (saved in every
checkpoint), and the ones that are ours are marked "ours" below.

Per side (users shown; items alike with their own centres), views v = 1..V:
    weights   pi_{u,v} = softmax(s_{u,v} / T) over the view's active centres   (decision 1, ours)
    view      p_{u,v}  = sum_k pi_{u,v,k} a_{v,k}                              (S3's "eq. 2")
    vector    p_u = [p_{u,1}; ...; p_{u,V}] (concat: view v owns a d/V slice)  (decision 2, ours)
              or sum_v p_{u,v} (combine="sum")
    score     <p_u, q_i> (+ global, user and item biases when use_bias)        (decision 5)

Loss terms besides the prediction loss (decision 6, forms ours; `penalties`), each off at 0:
    spread    mean over active centre pairs j<k of [margin - |a_j - a_k|]_+, per view
    proximity sum_k pi_k |p_v - a_k|^2 (reading P-a: soft k-means compactness), batch mean
    entropy   H(pi_v) / log K_v(active) (the "custom mapping" as we read it), minimised
Pruning (decision 7, `prune`): from epoch `prune_from` at the end of every epoch, a centre whose
mean weight over all of the side's objects is below prune_threshold / K_v(active) is masked for
good (its logits set to -inf), keeping at least min_centres per view. The mask is a buffer, so
checkpoints keep pruned centres pruned. Before that (ours, off at merge_distance 0), a centre
within merge_distance of a heavier one of its view is merged into it: its weight moves to the
heavier one, so no object's vector moves by more than that distance. The mean-weight rule alone
keeps such duplicates (two centres at one place, each holding part of one group, both above
the threshold; tests/test_mfdmc_planted.py).

With one view, no pruning and no loss terms, MFDMC is HMF at depth 1 (U0 = S(C1) U1) with the
same parameters (tests/test_mfdmc.py). A ClusterModel (models/interface.py): each view is a
parallel grouping of its active centres, the centres placed in the scoring space (concat: zeros
outside their slice).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hmf_core.models.hmf import DotProductScores
from hmf_core.models.interface import Grouping, by_side
from hmf_core.models.starts import normal

COMBINES = ("concat", "sum")


@dataclass(frozen=True)
class MFDMCConfig:
    """Everything needed to rebuild the model; saved in every checkpoint."""

    n_users: int
    n_items: int
    dim: int = 20
    views: int = 4  # V, the same on both sides so that view v of users meets view v of items
    user_centres: int = 10  # K0 per view at the start (S3)
    item_centres: int = 10
    combine: str = "concat"  # ours: "concat" (a slice of dim / V per view) or "sum"
    temperature: float = 1.0  # ours: softmax temperature of the weights
    use_bias: bool = False  # FunkMF and HMF have none
    init_std: float = 1.0  # N(0, init_std) logits and centres
    global_mean: float = 0.0  # initial global bias when use_bias
    spread_weight: float = 0.01  # lambda_s (placeholder, ours)
    spread_margin: float = 1.0  # rho (placeholder, ours)
    proximity_weight: float = 0.01  # lambda_p (placeholder, ours)
    entropy_weight: float = 0.01  # lambda_e (placeholder, ours)
    prune_from: int | None = 40  # first epoch (from 0) that may prune (S3); None: never
    prune_threshold: float = 0.5  # theta (ours): prune below theta / K_v(active)
    min_centres: int = 2  # ours: a view keeps at least this many centres
    merge_distance: float = 0.0  # ours: merge centres closer than this when pruning; 0 = never

    def __post_init__(self):
        if self.n_users < 1 or self.n_items < 1:
            raise ValueError("MFDMCConfig needs at least one user and one item")
        if self.views < 1 or self.user_centres < 1 or self.item_centres < 1:
            raise ValueError("MFDMC needs at least one view and one centre per view")
        if self.combine not in COMBINES:
            raise ValueError(f"combine must be one of {', '.join(COMBINES)}, not {self.combine!r}")
        if self.combine == "concat" and self.dim % self.views:
            raise ValueError(
                f"with concatenated views the dimension must be a multiple of the number of "
                f"views: dim {self.dim} is not divisible by {self.views} views"
            )
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        if self.min_centres < 1:
            raise ValueError("min_centres must be at least 1")
        if min(self.spread_weight, self.proximity_weight, self.entropy_weight) < 0:
            raise ValueError("the loss weights cannot be negative")
        if self.merge_distance < 0:
            raise ValueError("merge_distance cannot be negative")

    def centres(self, side: str) -> int:
        return int(by_side(side, self.user_centres, self.item_centres))

    @property
    def view_dim(self) -> int:
        """Each centre's length: dim / V (concat) or dim (sum)."""
        return self.dim // self.views if self.combine == "concat" else self.dim

    def to_dict(self) -> dict:
        return asdict(self)


class MultiViewEmbedding(nn.Module):
    """One side of MFDMC: membership logits of every object in every view, the views' centres
    and which centres are still active."""

    # As in hmf.HierarchicalEmbedding: sparse row gradients of the logits for LazyAdamW, and
    # before_lookup(table, rows) to bring the rows a batch reads up to date.
    sparse_gradients = False
    before_lookup = None

    def __init__(self, n_objects: int, config: MFDMCConfig, centres: int):
        super().__init__()
        self.views, self.n_centres = config.views, centres
        self.temperature, self.combine = config.temperature, config.combine
        # named "connections" like HMF's logits: their own learning rate (logit_lr) and lazy rows
        std = config.init_std
        self.connections = nn.Parameter(normal(n_objects, config.views * centres, std=std))
        self.centres = nn.Parameter(normal(config.views, centres, config.view_dim, std=std))
        # s: (M, V * K) logits; a: (V, K, d_v) centres
        self.register_buffer("active", torch.ones(config.views, centres, dtype=torch.bool))

    def weights(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """pi: (R, V, K), softmax over each view's active centres (pruned ones get 0)."""
        logits = self.connections if rows is None else self._rows(rows)  # (R, V * K)
        logits = logits.view(-1, self.views, self.n_centres)  # (R, V, K)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        logits = logits.masked_fill(~self.active, float("-inf"))  # decision 1: masking
        return torch.softmax(logits, dim=-1)  # (R, V, K)

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        if self.sparse_gradients:
            if self.before_lookup is not None and torch.is_grad_enabled():
                self.before_lookup(self.connections, rows)
            return F.embedding(rows, self.connections, sparse=True)  # (R, V * K)
        return self.connections.index_select(0, rows)  # as HMF's lookup: faster than [rows]

    def view_vectors(self, weights: torch.Tensor) -> torch.Tensor:
        """p_{u,v} = sum_k pi_{u,v,k} a_{v,k}: (R, V, K) -> (R, V, d_v)."""
        return torch.einsum("rvk,vkd->rvd", weights, self.centres)

    def combined(self, views: torch.Tensor) -> torch.Tensor:
        """(R, V, d_v) -> the object vectors (R, d): the views side by side, or their sum."""
        if self.combine == "concat":
            return views.reshape(len(views), -1)  # (R, V * d_v)
        return views.sum(1)  # (R, d)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.combined(self.view_vectors(self.weights(index)))  # (B, d)

    def penalties(self, rows: torch.Tensor, config: MFDMCConfig) -> dict[str, torch.Tensor]:
        """The unweighted spread, proximity and entropy terms of this side (module docstring),
        proximity and entropy over the batch's rows."""
        terms = {}
        if config.spread_weight > 0:
            terms["spread"] = self._spread(config.spread_margin)
        weights = None
        if config.proximity_weight > 0 or config.entropy_weight > 0:
            weights = self.weights(rows)  # (B, V, K)
        if config.proximity_weight > 0:
            views = self.view_vectors(weights)  # (B, V, d_v)
            gaps = (views[:, :, None, :] - self.centres[None]).pow(2).sum(-1)  # (B, V, K)
            terms["proximity"] = (weights * gaps).sum(-1).mean()
        if config.entropy_weight > 0:
            terms["entropy"] = self._entropy(weights)
        return terms

    def _spread(self, margin: float) -> torch.Tensor:
        per_view = []
        for view in range(self.views):
            centres = self.centres[view][self.active[view]]  # (K_v, d_v)
            if len(centres) < 2:
                continue
            first, second = torch.triu_indices(len(centres), len(centres), offset=1)
            gaps = (centres[first] - centres[second]).pow(2).sum(-1).add(1e-12).sqrt()  # pairs
            per_view.append(F.relu(margin - gaps).mean())
        return torch.stack(per_view).mean() if per_view else self.centres.sum() * 0

    def _entropy(self, weights: torch.Tensor) -> torch.Tensor:
        counts = self.active.sum(-1)  # K_v(active): (V,)
        entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)  # (B, V)
        usable = counts > 1  # log 1 = 0: a view with one centre has no entropy to lower
        if not usable.any():
            return weights.sum() * 0
        return (entropy[:, usable] / counts[usable].log()).mean()

    @torch.no_grad()
    def merge(self, distance: float, min_centres: int) -> None:
        """Merge each active centre within `distance` of a heavier active centre of its view
        into the nearest such one, lightest first, while the view has more than min_centres:
        the heavier one's logit becomes T logsumexp(s_keep / T, s_gone / T), so every object's
        weight on the pair moves to it, and the lighter one is masked."""
        mean = self.weights().mean(0)  # (V, K)
        logits = self.connections.data.view(-1, self.views, self.n_centres)  # (M, V, K)
        for view in range(self.views):
            heaviest = mean[view].masked_fill(~self.active[view], -1.0).argsort(descending=True)
            for rank in range(len(heaviest) - 1, 0, -1):
                gone, heavier = int(heaviest[rank]), heaviest[:rank]
                heavier = heavier[self.active[view, heavier]]
                if not self.active[view, gone] or int(self.active[view].sum()) <= min_centres:
                    continue
                gaps = (self.centres[view, heavier] - self.centres[view, gone]).norm(dim=-1)
                if len(gaps) == 0 or gaps.min() >= distance:
                    continue
                keep = int(heavier[gaps.argmin()])
                pair = logits[:, view, [keep, gone]] / self.temperature  # (M, 2)
                logits[:, view, keep] = self.temperature * torch.logsumexp(pair, dim=-1)
                self.active[view, gone] = False

    @torch.no_grad()
    def prune(self, threshold: float, min_centres: int) -> None:
        """Mask the centres whose mean weight over all objects is below threshold / K_v(active),
        keeping the min_centres heaviest of each view (decision 7)."""
        mean = self.weights().mean(0)  # (V, K)
        for view in range(self.views):
            active = self.active[view]
            count = int(active.sum())
            weak = active & (mean[view] < threshold / count)
            keep = max(min_centres, count - int(weak.sum()))
            if keep >= count:
                continue
            ranked = mean[view].masked_fill(~active, -1.0).argsort(descending=True)
            self.active[view] = False
            self.active[view, ranked[:keep]] = True

    def grouping(self, view: int, dim: int) -> Grouping:
        """View `view` (from 0) as a grouping of its active centres in the scoring space."""
        active = self.active[view]
        membership = self.weights()[:, view, active]  # (M, K_v)
        centres = self.centres[view, active]  # (K_v, d_v)
        if self.combine == "concat":
            placed = centres.new_zeros(len(centres), dim)  # (K_v, d)
            width = centres.shape[1]
            placed[:, view * width : (view + 1) * width] = centres
            centres = placed
        return Grouping(name=f"view {view + 1}", membership=membership, cluster_vectors=centres)


def initial_model(config: MFDMCConfig, seed: int) -> MFDMC:
    """The model as training starts it: every random draw from the run's seed."""
    torch.manual_seed(seed)
    return MFDMC(config)


class MFDMC(DotProductScores):
    """MFDMC for rating or ranking: `model(users, items)` -> scores (B,). A ClusterModel
    (models/interface.py) whose groupings are its views; scored like HMF (DotProductScores)."""

    family = "mfdmc"
    exact_groupings = False  # one view's clusters reproduce only its slice of a vector
    grouping_word = "view"

    def __init__(self, config: MFDMCConfig):
        super().__init__()
        self.config = config
        self.users = MultiViewEmbedding(config.n_users, config, config.user_centres)
        self.items = MultiViewEmbedding(config.n_items, config, config.item_centres)
        self.add_biases(config)

    # ------------------------------------------------------------ training: losses and pruning

    def penalties(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted loss terms besides the prediction loss, {"spread", "proximity",
        "entropy"} (those with a positive weight), each the mean of the two sides'."""
        weight = {
            "spread": self.config.spread_weight,
            "proximity": self.config.proximity_weight,
            "entropy": self.config.entropy_weight,
        }
        found = [self.users.penalties(users, self.config), self.items.penalties(items, self.config)]
        return {name: weight[name] * (found[0][name] + found[1][name]) / 2 for name in found[0]}

    def prune(self, epoch: int) -> bool:
        """Prune at the end of `epoch` (from 0) when pruning has started; whether it ran."""
        start = self.config.prune_from
        if start is None or epoch < start:
            return False
        for side in (self.users, self.items):
            if self.config.merge_distance > 0:
                side.merge(self.config.merge_distance, self.config.min_centres)
            side.prune(self.config.prune_threshold, self.config.min_centres)
        return True

    def active_centres(self) -> dict[str, list[int]]:
        """Active centres per view: {"user": [K_1, ...], "item": [...]}."""
        return {
            "user": [int(count) for count in self.users.active.sum(-1)],
            "item": [int(count) for count in self.items.active.sum(-1)],
        }

    # ------------------------------------------------------------ the ClusterModel interface

    def side(self, side: str) -> MultiViewEmbedding:
        return by_side(side, self.users, self.items)

    @torch.no_grad()
    def object_vectors(self, side: str) -> torch.Tensor:
        embedding = self.side(side)
        return embedding.combined(embedding.view_vectors(embedding.weights()))  # (M, d)

    @torch.no_grad()
    def groupings(self, side: str) -> list[Grouping]:
        embedding = self.side(side)
        return [embedding.grouping(view, self.config.dim) for view in range(self.config.views)]
