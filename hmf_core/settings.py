"""What a training run is asked to do: one dataclass, saved as settings.json in the run.

Kept apart from training.py so that reading or editing settings (the dashboard's Train page,
the CLI) does not import Lightning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hmf_core.model import HMFConfig, halving_levels
from hmf_core.split import Split

# Plain MF initialised N(0, 1) like HMF reached only 1.44-1.68 test RMSE on ML-100K; N(0, 0.1)
# reached 1.095 (tests/test_movielens.py). The comparison uses the fair one.
MF_INIT_STD = 0.1


@dataclass
class TrainSettings:
    """Everything a run needs; saved as settings.json so a run can be read back or repeated."""

    data: str = ""
    items: str | None = None  # item metadata file
    users: str | None = None  # user metadata file
    columns: dict = field(default_factory=dict)  # explicit user_col / item_col / ... names
    task: str = "rating"  # "rating" (MSE) or "ranking" (BPR)
    positive_threshold: float | None = None  # ranking on explicit ratings: rating >= this
    split: str = "temporal"
    seed: int = 0
    dim: int = 20
    user_depth: int = 1
    item_depth: int = 1
    user_clusters: list[int] = field(default_factory=lambda: [200])  # one = halve per level
    item_clusters: list[int] = field(default_factory=lambda: [100])
    temperature: float = 1.0
    use_bias: bool = False
    init_std: float = 1.0  # N(0, init_std) initial logits and embeddings; 1 = authors' code
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 1024
    max_epochs: int = 512
    patience: int = 5
    compare_mf: bool = False
    projection: bool = True  # compute the 2-D maps for the dashboard after training
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    threads: int | None = None  # CPU intra-op threads; None = chosen by cpu_threads()
    # issue 11: "dense" = fused AdamW on dense gradients; "lazy" = hmf_core.optim.LazyAdamW,
    # only the batch's rows of C_1 / the MF tables stepped, same results as dense AdamW;
    # "auto" = lazy for large tables only (hmf_core.lightning_module.LAZY_FROM_ELEMENTS).
    optimizer: str = "auto"

    def levels(self, side: str) -> tuple[int, ...]:
        depth = self.user_depth if side == "user" else self.item_depth
        given = list(self.user_clusters if side == "user" else self.item_clusters)
        if depth == 0:
            return ()
        if len(given) == 1:
            return halving_levels(given[0], depth)
        if len(given) != depth:
            raise ValueError(
                f"{side} depth is {depth} but {len(given)} cluster counts were "
                "given: give one (halved per level) or one per level"
            )
        return tuple(given)

    def model_config(self, split: Split, global_mean: float = 0.0) -> HMFConfig:
        return self.config_for(split.n_users, split.n_items, global_mean)

    def config_for(self, n_users: int, n_items: int, global_mean: float = 0.0) -> HMFConfig:
        """The model these settings build for a split of that many users and items."""
        return HMFConfig(
            n_users=n_users,
            n_items=n_items,
            dim=self.dim,
            user_clusters=self.levels("user"),
            item_clusters=self.levels("item"),
            temperature=self.temperature,
            use_bias=self.use_bias,
            global_mean=global_mean,
            init_std=self.init_std,
        )


def settings_from_json(path: str | Path) -> TrainSettings:
    return TrainSettings(**json.loads(Path(path).read_text()))
