"""The memory estimate the dashboard shows before training."""

from __future__ import annotations

import os

import pytest

from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.training.memory import (
    available_memory_bytes,
    memory_shortfall,
    parameter_count,
    training_memory_bytes,
)
from hmf_core.training.settings import TrainSettings


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


def test_the_lazy_estimate_counts_every_tensor_the_lazy_optimizer_holds():
    """Known answer: after warm-up steps, LazyAdamW holds both moments of every parameter, a
    step counter per row of C_1, a dense gradient buffer the size of C_1 and gathered rows;
    the estimate's parts are exactly those sizes (the gathered rows at most)."""
    import torch
    import torch.nn.functional as F

    from hmf_core.training.lightning_module import HMFModule
    from hmf_core.training.memory import row_tables

    config = HMFConfig(300, 200, dim=8, user_clusters=(16,), item_clusters=(12,))
    module = HMFModule(config.to_dict(), optimizer="lazy")
    optimizer = module.configure_optimizers()
    generator = torch.Generator().manual_seed(0)
    batch = 64

    def steps(count: int) -> None:
        for _ in range(count):
            users = torch.randint(0, 300, (batch,), generator=generator)
            items = torch.randint(0, 200, (batch,), generator=generator)
            ratings = torch.rand(batch, generator=generator) * 4 + 1
            loss = F.mse_loss(module.model(users, items), ratings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    steps(3)  # in the warm-up
    held = {"moments": 0, "counters": 0, "warm-up": 0}
    for state in optimizer.state.values():
        held["moments"] += sum(state[k].nbytes for k in ("exp_avg", "exp_avg_sq"))
        held["counters"] += state["last_step"].nbytes if "last_step" in state else 0
        held["warm-up"] += state["dense_grad"].nbytes if "dense_grad" in state else 0
    parts = training_memory_bytes(config, "lazy", batch_size=batch)
    dense = training_memory_bytes(config, "adamw", batch_size=batch)
    tables = row_tables(config)
    assert tables == [(300, 16), (200, 12)]
    table_bytes = 4 * (300 * 16 + 200 * 12)
    assert (
        parts["optimizer_state"]
        == held["moments"] + held["counters"]
        == dense["optimizer_state"] + 8 * (300 + 200)
    )
    assert held["warm-up"] == table_bytes  # the warm-up's dense gradient, counted
    steps(optimizer.warmup_steps)  # past it: rows are gathered into kept buffers
    gathered = sum(buffer.nbytes for buffer in optimizer._buffers.values())
    assert 0 < gathered <= parts["optimizer_workspace"] - table_bytes
    assert parts["gradients"] < dense["gradients"]  # C_1's gradients are sparse
    assert parts["total"] > dense["total"]  # but the warm-up buffer outweighs them
    assert training_memory_bytes(config, "auto", batch_size=batch) == parts  # the larger


def test_the_ring_size_memory_counts_is_the_lazy_optimizers_own():
    """training.memory sizes LazyAdamW's catch-up ring without importing the optimizer (its
    numba kernels); the ring the optimizer allocates has exactly that size."""
    import torch

    from hmf_core.training.memory import plan_ring_bytes
    from hmf_core.training.optim import _Plans

    plans = _Plans((1e-3, (0.9, 0.999), 1e-8, 1e-4), 1e-6, torch.device("cpu"))
    assert plans.ring.numel() * plans.ring.element_size() == plan_ring_bytes()
