"""The model families, by the `family` key that settings.json, meta.json and every checkpoint
carry ("hmf" when absent: runs from before families). A new family is a ClusterModel
(models/interface.py) plus one entry in FAMILIES; the CLI's --family, the Train page's choice,
training (through the Lightning module) and rundir.model_from read it from here.

A family's `from_settings` reads a TrainSettings (hmf_core.training.settings) by its fields
only: this layer does not import the training layer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from hmf_core.models import mfdmc, twostage
from hmf_core.models.hmf import HMF, HMFConfig, initial_model
from hmf_core.models.starts import undrawn

DEFAULT_FAMILY = "hmf"  # what a settings.json, meta.json or checkpoint without the key means


def _no_refusal(settings) -> str | None:
    return None


# Module-level functions, not lambdas: a Family is held by the Lightning module, which DDP's
# spawn start method pickles.
def _itself(config: HMFConfig) -> HMFConfig:
    return config


def _inner_mf(config: twostage.TwoStageConfig) -> HMFConfig:
    return config.mf_config()


def _as_hmf(config: mfdmc.MFDMCConfig) -> HMFConfig:
    """The HMF of depth 1 whose row tables are as wide as MFDMC's logits (V x K per object)."""
    return HMFConfig(
        n_users=config.n_users,
        n_items=config.n_items,
        dim=config.dim,
        user_clusters=(config.views * config.user_centres,),
        item_clusters=(config.views * config.item_centres,),
        use_bias=config.use_bias,
    )


@dataclass(frozen=True)
class Family:
    """One model family: how to build it, start it and size it."""

    name: str  # the key: settings.json's, meta.json's and the checkpoints' "family"
    label: str  # what the CLI's help and the Train page call it
    short: str  # what metric labels call its model: "HMF Test RMSE", "MFDMC epochs"
    config: type  # a frozen dataclass with n_users, n_items, dim and to_dict()
    model: type  # a ClusterModel: model(config)
    start: Callable[[Any, int], Any]  # (config, seed) -> the model as training starts it
    from_settings: Callable[[Any, int, int, float], Any]  # (settings, M, N, global mean)
    trained: Callable[[Any], HMFConfig]  # the HMF whose parameters training updates: memory
    # estimates and the dense/lazy optimizer choice read it
    unused: tuple[str, ...] = ()  # TrainSettings fields it does not read (refused when set)
    refusal: Callable[[Any], str | None] = _no_refusal  # settings it cannot train, in a line


def hmf_from_settings(settings, n_users: int, n_items: int, global_mean: float = 0.0) -> HMFConfig:
    return HMFConfig(
        n_users=n_users,
        n_items=n_items,
        dim=settings.dim,
        user_clusters=settings.levels("user"),
        item_clusters=settings.levels("item"),
        temperature=settings.temperature,
        use_bias=settings.use_bias,
        global_mean=global_mean,
        init_std=settings.init_std,
    )


def mfdmc_from_settings(settings, n_users: int, n_items: int, global_mean: float = 0.0):
    return mfdmc.MFDMCConfig(
        n_users=n_users,
        n_items=n_items,
        dim=settings.dim,
        views=settings.views,
        user_centres=settings.user_centres,
        item_centres=settings.item_centres,
        combine=settings.view_combine,
        temperature=settings.temperature,
        use_bias=settings.use_bias,
        init_std=settings.init_std,
        global_mean=global_mean,
        spread_weight=settings.spread_weight,
        spread_margin=settings.spread_margin,
        proximity_weight=settings.proximity_weight,
        entropy_weight=settings.view_entropy_weight,
        prune_from=settings.prune_from if settings.prune_from >= 0 else None,
        prune_threshold=settings.prune_threshold,
        min_centres=settings.min_centres,
        merge_distance=settings.merge_distance,
    )


def mfdmc_refusal(settings) -> str | None:
    """The config's own checks (views dividing the dimension, ...), asked before training."""
    try:
        mfdmc_from_settings(settings, 1, 1)
    except ValueError as error:
        return f"MFDMC: {error}"
    return None


# The TrainSettings fields only MFDMC reads, and those only HMF reads.
MFDMC_FIELDS = (
    "views",
    "user_centres",
    "item_centres",
    "view_combine",
    "spread_weight",
    "spread_margin",
    "proximity_weight",
    "view_entropy_weight",
    "prune_from",
    "prune_threshold",
    "min_centres",
    "merge_distance",
)
HMF_FIELDS = ("warm_start", "warm_start_sharpness", "entropy_weight")
SHAPE_FIELDS = ("user_depth", "item_depth", "user_clusters", "item_clusters")

FAMILIES: dict[str, Family] = {
    "hmf": Family(
        name="hmf",
        label="HMF (hierarchical matrix factorization)",
        short="HMF",
        config=HMFConfig,
        model=HMF,
        start=initial_model,
        from_settings=hmf_from_settings,
        trained=_itself,
        unused=MFDMC_FIELDS,
    ),
    "twostage": Family(
        name="twostage",
        label="MF then k-means (the two-stage baseline)",
        short="Two-stage",
        config=twostage.TwoStageConfig,
        model=twostage.TwoStage,
        start=twostage.initial_model,
        from_settings=twostage.from_settings,
        trained=_inner_mf,
        unused=(*HMF_FIELDS, "logit_lr", "temperature", *MFDMC_FIELDS),
        refusal=twostage.settings_refusal,
    ),
    "mfdmc": Family(
        name="mfdmc",
        label="MFDMC (multi-view clusters, pruned as they train)",
        short="MFDMC",
        config=mfdmc.MFDMCConfig,
        model=mfdmc.MFDMC,
        start=mfdmc.initial_model,
        from_settings=mfdmc_from_settings,
        trained=_as_hmf,
        unused=("entropy_weight", *SHAPE_FIELDS),
        refusal=mfdmc_refusal,
    ),
}


def family(name: str | None) -> Family:
    """The family called `name` (None: DEFAULT_FAMILY); a ValueError naming the known ones."""
    name = DEFAULT_FAMILY if name is None else name
    if name not in FAMILIES:
        raise ValueError(f"model family must be one of {', '.join(FAMILIES)}, not {name!r}")
    return FAMILIES[name]


def model_name(name: str | None) -> str:
    """The short name of a family's model ("HMF" for None or a family this version lacks)."""
    return FAMILIES[name].short if name in FAMILIES else FAMILIES[DEFAULT_FAMILY].short


def build_model(name: str | None, config: dict, drawn: bool = True):
    """A family's model from its config as saved (config.to_dict()), weights untrained;
    `drawn=False`: its big tables not even drawn (starts.undrawn), for a checkpoint to fill."""
    found = family(name)
    with nullcontext() if drawn else undrawn():
        return found.model(found.config(**config))


def new_model(name: str | None, config: dict, seed: int):
    """A family's model as training starts it: every random draw from `seed`."""
    found = family(name)
    return found.start(found.config(**config), seed)
