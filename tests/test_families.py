"""Every model family passes the same contract (tests/family_contract.py), plus what is its
own: the registry, the family key of old runs, HMF's unchanged start."""

from __future__ import annotations

import pytest
import torch
from family_contract import FamilyContract

from hmf_core.models.hmf import HMFConfig, initial_model
from hmf_core.models.registry import FAMILIES, build_model, family, new_model
from hmf_core.runs.rundir import model_from
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.settings import TrainSettings


class TestHMF(FamilyContract):
    family = "hmf"
    train_flags = ("--user-depth", "2", "--user-clusters", "6", "--item-clusters", "4")


# ---------------------------------------------------------------- the registry and old runs


def test_the_registry_builds_hmf_with_the_same_random_draws_as_before():
    config = HMFConfig(n_users=30, n_items=20, dim=4, user_clusters=(6, 3), item_clusters=(5,))
    before = initial_model(config, seed=3)
    module = HMFModule(config.to_dict(), seed=3)  # family defaults to "hmf"
    assert module.hparams.family == "hmf"
    for (name, theirs), (_, ours) in zip(
        before.state_dict().items(), module.model.state_dict().items()
    ):
        assert torch.equal(theirs, ours), name
    again = new_model("hmf", config.to_dict(), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(before.parameters(), again.parameters()))


def test_an_old_checkpoint_and_old_settings_without_a_family_read_as_hmf():
    config = HMFConfig(n_users=10, n_items=8, dim=3, user_clusters=(2,), item_clusters=(2,))
    model = build_model("hmf", config.to_dict())
    checkpoint = {
        "hyper_parameters": {"config": config.to_dict(), "task": "rating"},  # no "family"
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
    }
    rebuilt, _ = model_from(checkpoint)
    assert rebuilt.family == "hmf" and rebuilt.config == config
    assert TrainSettings(**{"data": "r.csv", "dim": 5}).family == "hmf"


def test_an_unknown_family_is_refused_in_one_line_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"model family must be one of hmf.*not 'nope'"):
        family("nope")
    with pytest.raises(ValueError, match="model family must be one of"):
        TrainSettings(data="r.csv", family="nope").validate()
    assert set(FAMILIES) >= {"hmf"}
