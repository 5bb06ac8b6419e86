"""The memory estimate the dashboard shows before training."""

from __future__ import annotations

import pytest

from hmf_core.memory import parameter_count, training_memory_bytes
from hmf_core.model import HMF, HMFConfig


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
