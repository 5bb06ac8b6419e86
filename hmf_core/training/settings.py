"""What a training run is asked to do: one dataclass, saved as settings.json in the run.

Kept apart from training.py so that reading or editing settings (the dashboard's Train page,
the CLI) does not import Lightning.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hmf_core.data.split import SPLITS, Split, empty_parts, split_refusal
from hmf_core.models import registry
from hmf_core.models.hmf import HMFConfig, halving_levels
from hmf_core.models.interface import by_side
from hmf_core.training.memory import memory_shortfall, training_memory_bytes
from hmf_core.training.metrics import RANKING_NEGATIVES, TASKS

if TYPE_CHECKING:
    from hmf_core.data.ratings import RatingData

# Plain MF initialised N(0, 1) like HMF reached only 1.44-1.68 test RMSE on ML-100K; N(0, 0.1)
# reached 1.095 (tests/test_movielens.py). The comparison uses the fair one.
MF_INIT_STD = 0.1

# The recipes (benchmarks/results/interpretability.md measures each; "stable", the default, is
# below). "paper": the paper and the authors' code (N(0, 1) start, one learning rate, no
# biases). "interpretable": memberships start from a spectral co-clustering of who rated what
# (hmf_core/models/warmstart.py), connection logits learn 10x faster so the ratings can move
# them, and biases absorb user leniency and item popularity so that clusters are about taste.
# Fields not named here keep their defaults.
PRESETS = {
    "paper": {
        "use_bias": False,
        "init_std": 1.0,
        "warm_start": "none",
        "logit_lr": None,
        "entropy_weight": 0.0,
    },
    "interpretable": {
        "use_bias": True,
        "init_std": 0.1,
        "warm_start": "spectral",
        "warm_start_sharpness": 0.8,
        "logit_lr": 1e-2,
        "entropy_weight": 0.0,
    },
}
# Issue 17's recipe and the default (DEFAULT_PRESET): the same clusters on every seed and a top
# level a person can read. Depth 2 on both sides, 100 fine clusters for accuracy and 25 to read
# (every cluster view opens on them: interpret.queries.readable_level); a warm start that is the
# same for every run seed (warmstart.py's spectral-consensus), and an entropy weight of 0.1 so
# training keeps it crisp. Chosen on validation RMSE and stability among 7 candidates (ML-100K,
# paper split, 3 seeds; benchmarks/results/interpretability.md), then run with 5 seeds: val RMSE
# 0.9945 +- 0.0035 against 0.9925 +- 0.0097 for "interpretable" (3 seeds: a difference well
# inside the seed spread, so readability and stability decide it); ARI of the readable level's
# top clusters across seeds 0.82 (users) / 0.95 (items), against 0.47 / 0.85 without the entropy
# weight and 0.16 / 0.44 with the run-seeded spectral start; test RMSE 1.0457 +- 0.0066 (worst
# seed 1.0569), "interpretable" 1.0590 +- 0.0183. Random split (each seed its own split): val
# 0.9308 against 0.9234, test 0.9304 against 0.9235: the accuracy this default gives up, stated
# in README and benchmarks/results/interpretability.md.
PRESETS["stable"] = {
    **PRESETS["interpretable"],
    "warm_start": "spectral-consensus",
    "entropy_weight": 0.1,
    "user_depth": 2,
    "item_depth": 2,
    "user_clusters": [100, 25],
    "item_clusters": [100, 25],
}
DEFAULT_PRESET = "stable"  # the CLI's, the Python API's and the Train page's

# A family's own recipe over PRESETS (hmf_core/models/registry.py names the families): the
# preset's fields the family does not read are dropped, then these are laid over it. HMF and
# twostage have none. MFDMC's "paper" is the method note's section 7 (paper/mfdmc-method.md:
# biases off, N(0, 1) start, loss weights 0.01, margin 1, pruning from epoch 40 at threshold 0.5
# keeping 2 centres, V = 4 views of K0 = 10 centres); its "interpretable" has biases and a
# small start like HMF's, faster connection logits, and MFDMC_TUNED.
# Chosen on ML-100K validation (random split, seed 0), with the spectral warm start (a block of
# the vectors per view) that "interpretable" shares with HMF: view entropy weight 0.01 (val RMSE
# 0.9195) over 0.05 (0.9219) and proximity weight 1.0 (0.9235, sharper: mean max membership
# 0.79-0.94 against 0.63-0.71); pruning from epoch 5, as the best epoch is about 12 (S3's 40 is
# never reached). Without the warm start no setting beat k-means on MF's genre agreement
# (benchmarks/results/mfdmc_tuning.md).
MFDMC_TUNED = {"prune_from": 5}
FAMILY_PRESETS = {
    "mfdmc": {
        "paper": {
            "use_bias": False,
            "init_std": 1.0,
            "logit_lr": None,
            "spread_weight": 0.01,
            "proximity_weight": 0.01,
            "view_entropy_weight": 0.01,
            "spread_margin": 1.0,
            "prune_from": 40,
            "prune_threshold": 0.5,
            "min_centres": 2,
            "views": 4,
            "user_centres": 10,
            "item_centres": 10,
        },
        "interpretable": {
            "use_bias": True,
            "init_std": 0.1,
            "logit_lr": 1e-2,
            **MFDMC_TUNED,
        },
    },
}
# MFDMC's "stable" is its "interpretable" (the views' spectral start as tuned), so that the
# default preset, "stable", leaves MFDMC's measured default as it was.
FAMILY_PRESETS["mfdmc"]["stable"] = {
    **FAMILY_PRESETS["mfdmc"]["interpretable"],
    "warm_start": PRESETS["interpretable"]["warm_start"],
}

# The optimizer kinds (TrainSettings.optimizer, --optimizer; training.lightning_module builds them).
OPTIMIZERS = ("auto", "dense", "lazy")

# Measured (tests/test_ddp.py): DDP all-reduces dense gradients only (sparse ones only for an
# nn.Embedding(sparse=True) module), and the lazy optimizer gives C_1 / the MF tables sparse
# gradients; under 2-process DDP on CPU backward fails with "Cannot access storage of
# SparseTensorImpl". So lazy + DDP is refused before training, in one line.
LAZY_UNDER_DDP = (
    "--optimizer lazy does not run under multi-process (DDP) training: DDP all-reduces dense "
    "gradients and the lazy optimizer's are sparse; use --optimizer dense or auto (auto is "
    "dense under DDP)"
)


# Lightning loggers a run can send its metrics to, besides metrics.csv (always written: the app
# reads it), and the package each needs (not a dependency of this project).
LOGGERS = {"csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow"}


def logger_refusal(logger: str) -> str | None:
    """Why `logger` cannot be used here (unknown, or its package is missing), or None."""
    if logger not in LOGGERS:
        return f"logger must be one of {', '.join(LOGGERS)}, not {logger!r}"
    package = LOGGERS[logger]
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    if logger == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None:
        return None  # Lightning's TensorBoardLogger writes through either
    return (
        f"--logger {logger} needs the {package} package, which is not installed: "
        f"pip install {package}"
    )


@dataclass
class TrainSettings:
    """Everything a run needs; saved as settings.json so a run can be read back or repeated."""

    data: str = ""
    items: str | None = None  # item metadata file
    users: str | None = None  # user metadata file
    columns: dict = field(default_factory=dict)  # explicit user_col / item_col / ... names
    # metadata column types chosen on the Data page: {"user" / "item": {column: type}}
    column_types: dict = field(default_factory=dict)
    task: str = "rating"  # "rating" (MSE) or "ranking" (BPR)
    positive_threshold: float | None = None  # ranking on explicit ratings: rating >= this
    split: str = "temporal"
    seed: int = 0
    family: str = registry.DEFAULT_FAMILY  # the model family (hmf_core.models.registry)
    dim: int = 20
    user_depth: int = 1
    item_depth: int = 1
    user_clusters: list[int] = field(default_factory=lambda: [200])  # one = halve per level
    item_clusters: list[int] = field(default_factory=lambda: [100])
    preset: str = "paper"  # which recipe the cluster settings below came from (PRESETS)
    temperature: float = 1.0
    use_bias: bool = False
    init_std: float = 1.0  # N(0, init_std) initial logits and embeddings; 1 = authors' code
    warm_start: str = "none"  # "spectral" / "mf": memberships start from clusters (warmstart.py)
    warm_start_sharpness: float = 0.8  # a warm-started object's first membership probability
    logit_lr: float | None = None  # learning rate of the connection logits; None = lr
    entropy_weight: float = 0.0  # weight of the mean normalised membership entropy in the loss
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
    # issue 11: "dense" = fused AdamW on dense gradients; "lazy" = training.optim.LazyAdamW,
    # only the batch's rows of C_1 / the MF tables stepped, same results as dense AdamW;
    # "auto" = lazy for large tables only (hmf_core.training.lightning_module.LAZY_FROM_ELEMENTS).
    optimizer: str = "auto"
    logger: str = "csv"  # also send metrics to this Lightning logger (LOGGERS); csv = only that
    # MFDMC's (family "mfdmc"; hmf_core/models/mfdmc.py says which of these decisions are ours)
    views: int = 4  # V, both sides
    user_centres: int = 10  # centres per view at the start
    item_centres: int = 10
    view_combine: str = "concat"  # "concat" (a slice of dim / V per view) or "sum"
    spread_weight: float = 0.01  # the loss terms' weights; 0 = off
    spread_margin: float = 1.0
    proximity_weight: float = 0.01
    view_entropy_weight: float = 0.01
    prune_from: int = 40  # first epoch (from 0) that prunes; -1 = never
    prune_threshold: float = 0.5  # prune a centre below this / its view's active count
    min_centres: int = 2  # a view keeps at least this many
    merge_distance: float = 0.0  # when pruning, merge a view's centres closer than this; 0 = never

    def several_processes(self) -> bool:
        """Whether the Lightning options name several processes: a DDP-like strategy, more
        than one node, or more than one device given by count or by list ("auto" and "-1"
        are decided by Lightning at start: HMFModule checks those)."""
        if any(name in str(self.strategy).lower() for name in ("ddp", "fsdp", "deepspeed")):
            return True
        devices = str(self.devices).strip().strip("[]")
        listed = [part for part in devices.split(",") if part.strip()]
        many = len(listed) > 1 or (devices.isdigit() and int(devices) > 1)
        return self.num_nodes > 1 or many

    def levels(self, side: str) -> tuple[int, ...]:
        depth = by_side(side, self.user_depth, self.item_depth)
        given = list(by_side(side, self.user_clusters, self.item_clusters))
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

    def model_config(self, split: Split, global_mean: float = 0.0):
        return self.config_for(split.n_users, split.n_items, global_mean)

    def config_for(self, n_users: int, n_items: int, global_mean: float = 0.0):
        """The model config these settings build, through their family (HMFConfig for
        "hmf"), for a split of that many users and items."""
        return registry.family(self.family).from_settings(self, n_users, n_items, global_mean)

    def trained_config(self, n_users: int, n_items: int) -> HMFConfig:
        """The HMF whose parameters training updates (the config itself for "hmf"; the inner
        MF of "twostage"): what memory estimates and the optimizer choice read."""
        return registry.family(self.family).trained(self.config_for(n_users, n_items))

    def unused(self) -> list[str]:
        """The fields set away from their defaults that the family does not read."""
        defaults = TrainSettings()
        return [
            name
            for name in registry.family(self.family).unused
            if getattr(self, name) != getattr(defaults, name)
        ]

    def validate(self, data: RatingData | None = None, split: dict | None = None) -> None:
        """Raise ValueError with a plain reason when these settings cannot train, on `data`
        (the rating data, as read) and `split` (`Split.summary()`) when given. The CLI (before
        training) and the Train page (before its button) ask the same question."""
        found = registry.family(self.family)  # a ValueError naming the families for an unknown one
        unused = self.unused()
        if unused:
            raise ValueError(unused_refusal(self.family, unused))
        refusal = found.refusal(self)
        if refusal:
            raise ValueError(refusal)
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {self.split!r}")
        for name in ("dim", "batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        for name, value in vars(self).items():  # settings.json is strict JSON: no inf, no NaN
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, found {value}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, found {self.lr}")
        self.levels("user"), self.levels("item")  # counts that fit the depths
        if self.optimizer not in OPTIMIZERS:
            known = f"{', '.join(OPTIMIZERS[:-1])} or {OPTIMIZERS[-1]}"
            raise ValueError(f"optimizer must be {known}, not {self.optimizer!r}")
        if self.optimizer == "lazy" and self.several_processes():
            raise ValueError(LAZY_UNDER_DDP)
        refusal = logger_refusal(self.logger)
        if refusal:
            raise ValueError(refusal)
        if data is not None and self.task == "rating" and data.implicit:
            raise ValueError(
                "this file has no rating column (implicit feedback): choose the ranking task"
            )
        if data is not None and self.task == "ranking" and data.n_items <= RANKING_NEGATIVES:
            raise ValueError(
                f"ranking evaluation samples {RANKING_NEGATIVES} unseen items per test rating, "
                f"but the data has only {data.n_items} items: use the rating task"
            )
        refusal = None
        if data is not None and split:
            refusal = split_refusal(data, split, self.split, self.seed)
        elif split and empty_parts(split):  # no data to say more with
            refusal = f"The {self.split} split leaves no {' and no '.join(empty_parts(split))} rows"
        if refusal:
            raise ValueError(refusal)
        if split:
            config = self.trained_config(split["users"], split["items"])
            needed = training_memory_bytes(
                config, self.optimizer, batch_size=self.batch_size, n_ratings=split["train"]
            )
            shortfall = memory_shortfall(needed["total"])
            if shortfall:
                raise ValueError(shortfall[0].upper() + shortfall[1:])


def unused_refusal(family: str, unused: list[str]) -> str:
    """The one line refusing fields `family` does not read, naming the family they are for
    (HMF's or MFDMC's)."""
    owners = {"mfdmc" if name in registry.MFDMC_FIELDS else "hmf" for name in unused}
    owner = owners.pop() if len(owners) == 1 else None
    whose = {"hmf": "HMF's settings", "mfdmc": "MFDMC's settings", None: "other families' settings"}
    advice = f", or train --family {owner}" if owner else ""
    return (
        f"the {family} family does not use {', '.join(unused)} ({whose[owner]}): "
        f"leave them at their defaults{advice}"
    )


def cluster_warnings(settings: TrainSettings, split: dict) -> list[str]:
    """Plain warnings (training still runs) when a side has at least as many first-level
    clusters as objects: clusters can then hold one object each and group nobody. None for a
    family without cluster levels (MFDMC: views of centres, pruned as it trains)."""
    if "user_clusters" in registry.family(settings.family).unused:
        return []
    found = []
    for side, count in (("user", split.get("users", 0)), ("item", split.get("items", 0))):
        levels = settings.levels(side)
        if levels and count and levels[0] >= count:
            found.append(
                f"{levels[0]:,} {side} clusters for {count:,} {side}s in the split: a cluster "
                f"per {side} or more groups nobody; use fewer clusters "
                f"(e.g. {max(1, count // 10):,})"
            )
    return found


def parse_cluster_counts(text: str, side: str = "") -> list[int]:
    """'200' (the first level's count, halved per level) or '200,100' (one per level)."""
    what = f"{side} clusters: " if side else ""
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(
            f"{what}expected whole numbers separated by commas, found {text!r}"
        ) from None
    if not values or any(value < 1 for value in values):
        raise ValueError(f"{what}expected positive cluster counts, found {text!r}")
    return values


def preset_fields(name: str, family: str | None = None) -> dict:
    """The fields preset `name` sets for `family` (None: HMF): PRESETS[name] less the fields
    the family does not read (and, for a family other than HMF, less the shape), with the
    family's own FAMILY_PRESETS over them."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {name!r}")
    unused = registry.FAMILIES[family].unused if family in registry.FAMILIES else ()
    if family not in (None, "hmf"):  # a preset's shape ("stable": two levels) is HMF's
        unused = (*unused, *registry.SHAPE_FIELDS)
    recipe = {k: list(v) if isinstance(v, list) else v for k, v in PRESETS[name].items()}
    recipe = {k: v for k, v in recipe.items() if k not in unused}
    return {**recipe, **FAMILY_PRESETS.get(family, {}).get(name, {})}


def with_preset(name: str, **overrides) -> TrainSettings:
    """Settings of a preset for the family in `overrides` (`preset_fields`), with any field
    overridden (a field given wins over the preset)."""
    recipe = preset_fields(name, overrides.get("family"))
    return TrainSettings(**{**recipe, "preset": name, **overrides})


def without_unused(settings: TrainSettings) -> TrainSettings:
    """`settings` with the fields its family does not read back at their defaults (the Train
    page's recipe knobs are HMF's)."""
    defaults = TrainSettings()
    return replace(settings, **{name: getattr(defaults, name) for name in settings.unused()})


def settings_from_json(path: str | Path) -> TrainSettings:
    return TrainSettings(**json.loads(Path(path).read_text()))
