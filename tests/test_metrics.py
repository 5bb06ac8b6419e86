"""The module's logged metrics (torchmetrics over an epoch) equal the metrics computed at once
from the model on the whole set, and the task -> metric map names them."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.models.hmf import HMFConfig
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.metrics import hit_ratio_and_mrr, lower_is_better, metric_names, monitor


@pytest.fixture(autouse=True)
def small_eval_batches(monkeypatch):
    """Many validation batches, so the epoch's sums are what is tested."""
    monkeypatch.setattr("hmf_core.training.datamodule.EVAL_BATCH", 7)


def validate(task: str, data, batch_size: int = 64):
    split = make_split(data, "random", seed=0)
    config = HMFConfig(split.n_users, split.n_items, dim=4, user_clusters=(3,), item_clusters=(3,))
    module = HMFModule(config.to_dict(), task=task, seed=1)
    datamodule = HMFDataModule(split, task, batch_size=batch_size)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (logged,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return logged, module.model.eval(), datamodule.eval_tensors["val"]


def test_validation_rmse_is_the_rmse_of_the_whole_set():
    logged, model, (users, items, ratings) = validate("rating", planted_ratings(seed=0).data)
    with torch.no_grad():
        expected = (model(users, items) - ratings).pow(2).mean().sqrt().item()
    assert set(logged) == {"val_rmse"}
    assert logged["val_rmse"] == pytest.approx(expected, rel=1e-6)


def test_validation_hit_ratio_and_mrr_are_those_of_the_whole_set():
    data = planted_ratings(n_items=150, seed=0, density=0.4).data.as_implicit(3.0)
    logged, model, (users, candidates) = validate("ranking", data, batch_size=16)
    with torch.no_grad():
        scores = model.score_candidates(users, candidates)  # (E, 100)
    ranks = (scores[:, 1:] >= scores[:, :1]).sum(1)  # (E,): ties count against the positive
    hit, mrr = hit_ratio_and_mrr(ranks)
    assert set(logged) == {"val_hr10", "val_mrr10"}
    assert logged["val_hr10"] == pytest.approx(hit) and logged["val_mrr10"] == pytest.approx(mrr)


def test_each_task_names_its_metrics_once():
    assert metric_names("rating", "test") == ["test_rmse"]
    assert metric_names("ranking", "val") == ["val_hr10", "val_mrr10"]
    assert monitor("rating") == ("val_rmse", "min") and monitor("ranking") == ("val_hr10", "max")
    assert lower_is_better("test_rmse") and not lower_is_better("val_mrr10")
