"""The model families, by the `family` key that settings.json, meta.json and every checkpoint
carry ("hmf" when absent: runs from before families). A new family is a ClusterModel
(models/interface.py) plus one entry in FAMILIES; the CLI's --family, the Train page's choice,
training (through the Lightning module) and rundir.model_from read it from here.

A family's `from_settings` reads a TrainSettings (hmf_core.training.settings) by its fields
only: this layer does not import the training layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hmf_core.models import twostage
from hmf_core.models.hmf import HMF, HMFConfig, initial_model

DEFAULT_FAMILY = "hmf"  # what a settings.json, meta.json or checkpoint without the key means


def _no_refusal(settings) -> str | None:
    return None


# Module-level functions, not lambdas: a Family is held by the Lightning module, which DDP's
# spawn start method pickles.
def _itself(config: HMFConfig) -> HMFConfig:
    return config


def _inner_mf(config: twostage.TwoStageConfig) -> HMFConfig:
    return config.mf_config()


@dataclass(frozen=True)
class Family:
    """One model family: how to build it, start it and size it."""

    name: str  # the key: settings.json's, meta.json's and the checkpoints' "family"
    label: str  # what the CLI's help and the Train page call it
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


FAMILIES: dict[str, Family] = {
    "hmf": Family(
        name="hmf",
        label="HMF (hierarchical matrix factorization)",
        config=HMFConfig,
        model=HMF,
        start=initial_model,
        from_settings=hmf_from_settings,
        trained=_itself,
    ),
    "twostage": Family(
        name="twostage",
        label="MF then k-means (the two-stage baseline)",
        config=twostage.TwoStageConfig,
        model=twostage.TwoStage,
        start=twostage.initial_model,
        from_settings=twostage.from_settings,
        trained=_inner_mf,
        unused=("warm_start", "warm_start_sharpness", "logit_lr", "entropy_weight", "temperature"),
        refusal=twostage.settings_refusal,
    ),
}


def family(name: str | None) -> Family:
    """The family called `name` (None: DEFAULT_FAMILY); a ValueError naming the known ones."""
    name = DEFAULT_FAMILY if name is None else name
    if name not in FAMILIES:
        raise ValueError(f"model family must be one of {', '.join(FAMILIES)}, not {name!r}")
    return FAMILIES[name]


def build_model(name: str | None, config: dict):
    """A family's model from its config as saved (config.to_dict()), weights untrained."""
    found = family(name)
    return found.model(found.config(**config))


def new_model(name: str | None, config: dict, seed: int):
    """A family's model as training starts it: every random draw from `seed`."""
    found = family(name)
    return found.start(found.config(**config), seed)
