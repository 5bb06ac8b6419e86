"""The memory estimate the dashboard shows before training."""

from __future__ import annotations

import os

import pytest

from hmf_core.memory import (
    available_memory_bytes,
    memory_shortfall,
    parameter_count,
    training_memory_bytes,
)
from hmf_core.model import HMF, HMFConfig
from hmf_core.settings import TrainSettings


def test_memory_estimate_counts_parameters():
    for config in (
        HMFConfig(50, 30, dim=4, user_clusters=(8, 4), item_clusters=(6,)),
        HMFConfig(50, 30, dim=4, user_clusters=(), item_clusters=(), use_bias=True),
    ):
        model = HMF(config)
        assert parameter_count(config) == sum(p.numel() for p in model.parameters())
        parts = training_memory_bytes(config)
        assert parts["optimizer_state"] == 2 * parts["parameters"]
        assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    with pytest.raises(ValueError, match="optimizer"):
        training_memory_bytes(config, optimizer="lion")


def test_available_memory_is_read_and_a_model_that_cannot_fit_is_refused():
    available = available_memory_bytes()
    assert available is not None and 0 < available <= os.sysconf("SC_PHYS_PAGES") * 4096 * 2
    assert memory_shortfall(1) is None
    reason = memory_shortfall(10 * available)
    assert reason.startswith("training needs about") and "GiB is available" in reason
    # The same question before training (CLI and Train page): 10 million users x 5,000
    # clusters is ~200 GB of logits alone, more than any machine this runs on has free.
    settings = TrainSettings(user_clusters=[5000], item_clusters=[100])
    split = {"users": 10_000_000, "items": 1000, "train": 1000, "val": 10, "test": 10}
    with pytest.raises(ValueError, match="GiB is available now"):
        settings.validate(split=split)
    settings.validate(split={**split, "users": 1000})  # a small one fits
