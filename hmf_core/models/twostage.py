"""The two-stage baseline that HMF claims to replace (Sugahara & Okamoto, arXiv 2311.13277,
section 1): first plain matrix factorization on the ratings, then k-means on its embeddings.

Stage 1, scores: plain (optionally biased) MF, an HMF of depth 0 on both sides
(HMFConfig(user_clusters=(), item_clusters=())) held as `self.mf`, so training, the optimizers
(LazyAdamW through use_sparse_gradients), the memory estimates and DDP are HMF's unchanged.
Stage 2, clusters: k-means per side (sklearn KMeans, seed KMEANS_SEED, n_init 10) on the MF's
object vectors U0 (M, d) gives one hard grouping: membership one-hot (M, k), cluster vectors
the k-means centres (k, d) in the scoring space, no links. The clusters never change a score.

The labels and centres are buffers, so every checkpoint holds them; `refresh()` computes them
from the current embeddings. The Lightning module calls it as each checkpoint is saved
(HMFModule.on_save_checkpoint) and writes them into that checkpoint's state dict: a checkpoint's
clusters are always those of its own embeddings, also when training stops early or is killed
after a save (a k-means at the end of training would leave such a checkpoint without them).
It costs one k-means per side per saved checkpoint, on random-start embeddings of ML-100K
size (943 x 1,682, k 20 / 10) 0.10 s, of ML-1M size (6,040 x 3,706, k 200 / 100) 1.95 s, on one
CPU thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.models.interface import Grouping, check_side

KMEANS_SEED = 0  # k-means is seeded by this, not the run's seed: it is part of the family
KMEANS_INITS = 10  # k-means starts; the best (lowest inertia) is kept


@dataclass(frozen=True)
class TwoStageConfig:
    """Everything needed to rebuild the model; saved in every checkpoint. A side's clusters:
    (k,) for one k-means grouping of k clusters, () for none."""

    n_users: int
    n_items: int
    dim: int = 20
    use_bias: bool = False
    init_std: float = 0.1
    global_mean: float = 0.0
    user_clusters: tuple[int, ...] = (200,)
    item_clusters: tuple[int, ...] = (100,)

    def __post_init__(self):
        object.__setattr__(self, "user_clusters", tuple(int(c) for c in self.user_clusters))
        object.__setattr__(self, "item_clusters", tuple(int(c) for c in self.item_clusters))
        if self.n_users < 1 or self.n_items < 1:
            raise ValueError("TwoStageConfig needs at least one user and one item")
        for side, clusters, count in (
            ("user", self.user_clusters, self.n_users),
            ("item", self.item_clusters, self.n_items),
        ):
            if len(clusters) > 1:
                raise ValueError(
                    f"the twostage family has one k-means grouping per side: give one {side} "
                    f"cluster count (and depth 1), not {len(clusters)}"
                )
            if clusters and not 1 <= clusters[0] <= count:
                raise ValueError(
                    f"k-means of {clusters[0]} {side} clusters needs between 1 and "
                    f"{count:,} clusters (the {side}s in the split)"
                )

    def clusters(self, side: str) -> int:
        """k of a side's k-means, 0 when it has none."""
        given = self.user_clusters if check_side(side) == "user" else self.item_clusters
        return given[0] if given else 0

    def mf_config(self) -> HMFConfig:
        """The plain MF of stage 1: HMF of depth 0."""
        return HMFConfig(
            n_users=self.n_users,
            n_items=self.n_items,
            dim=self.dim,
            user_clusters=(),
            item_clusters=(),
            use_bias=self.use_bias,
            init_std=self.init_std,
            global_mean=self.global_mean,
        )

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def from_settings(settings, n_users: int, n_items: int, global_mean: float = 0.0):
    """The config a TrainSettings asks for: its depth-1 cluster count per side is k."""
    return TwoStageConfig(
        n_users=n_users,
        n_items=n_items,
        dim=settings.dim,
        use_bias=settings.use_bias,
        init_std=settings.init_std,
        global_mean=global_mean,
        user_clusters=settings.levels("user"),
        item_clusters=settings.levels("item"),
    )


def settings_refusal(settings) -> str | None:
    """One k-means grouping per side: depth 0 or 1 and one cluster count."""
    for side in ("user", "item"):
        depth = settings.user_depth if side == "user" else settings.item_depth
        given = settings.user_clusters if side == "user" else settings.item_clusters
        if depth > 1 or len(given) > 1:
            return (
                f"the twostage family has one k-means grouping per side: give --{side}-depth "
                f"0 or 1 and one --{side}-clusters count (found depth {depth}, counts "
                f"{','.join(map(str, given))})"
            )
    return None


def initial_model(config: TwoStageConfig, seed: int) -> TwoStage:
    """The model as training starts it: the same random draws as the plain MF of HMF
    (hmf.initial_model of config.mf_config())."""
    torch.manual_seed(seed)
    return TwoStage(config)


class TwoStage(nn.Module):
    """MF, then k-means: `model(users, items)` -> scores (B,), the MF's. A ClusterModel
    (models/interface.py) with one parallel grouping per side."""

    family = "twostage"

    def __init__(self, config: TwoStageConfig):
        super().__init__()
        self.config = config
        self.mf = HMF(config.mf_config())  # stage 1: every parameter
        for side, count in (("user", config.n_users), ("item", config.n_items)):
            k = config.clusters(side)
            labels = torch.zeros(count if k else 0, dtype=torch.long)  # (M,): cluster of each
            self.register_buffer(f"{side}_labels", labels)
            self.register_buffer(f"{side}_centres", torch.zeros(k, config.dim))  # (k, d)

    def use_sparse_gradients(self, enabled: bool = True, before_lookup=None) -> None:
        self.mf.use_sparse_gradients(enabled, before_lookup)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.mf(users, items)  # (B,)

    def score_candidates(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return self.mf.score_candidates(users, candidates)  # (B, K)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.mf.score_all(users)  # (B, N)

    def object_vectors(self, side: str) -> torch.Tensor:
        return self.mf.object_vectors(side).detach()  # (M, d); depth 0 returns the table

    def bias_terms(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.mf.bias_terms(users, items)

    @torch.no_grad()
    def groupings(self, side: str) -> list[Grouping]:
        k = self.config.clusters(side)
        if not k:
            return []
        labels = getattr(self, f"{side}_labels")  # (M,)
        return [
            Grouping(
                name="k-means",
                membership=F.one_hot(labels, k).to(self.mf.users.root.dtype),  # (M, k)
                cluster_vectors=getattr(self, f"{side}_centres").clone(),  # (k, d)
                links=None,
            )
        ]

    @torch.no_grad()
    def refresh(self) -> dict[str, torch.Tensor]:
        """Stage 2 on the current embeddings: k-means per side into the label and centre
        buffers; returns them by their state-dict names (without the "model." prefix)."""
        from sklearn.cluster import KMeans  # only when clustering: sklearn's import is slow
        from threadpoolctl import threadpool_limits

        for side in ("user", "item"):
            k = self.config.clusters(side)
            if not k:
                continue
            vectors = self.object_vectors(side).double().cpu().numpy()  # (M, d)
            # on the threads training uses (trainer.cpu_threads): k-means's default (every
            # core) ran 40x slower on a busy 2-core machine (7.5 s against 0.18 s, ML-100K size)
            with threadpool_limits(torch.get_num_threads()):
                kmeans = KMeans(k, n_init=KMEANS_INITS, random_state=KMEANS_SEED).fit(vectors)
            labels = getattr(self, f"{side}_labels")
            centres = getattr(self, f"{side}_centres")
            labels.copy_(torch.as_tensor(kmeans.labels_, dtype=torch.long))  # (M,)
            centres.copy_(torch.as_tensor(kmeans.cluster_centers_, dtype=centres.dtype))  # (k, d)
        return dict(self.named_buffers())
