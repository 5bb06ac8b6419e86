"""FastSteps (hmf_core/training/fast_steps.py), the speed machinery mixed into HMFModule: any
checkpoint of a lazy run holds caught-up weights, and the module still pickles."""

from __future__ import annotations

import pickle

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.models.hmf import HMFConfig
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.lightning_module import HMFModule

SAVE_AT = 160  # optimizer steps: past LazyAdamW's 100 warm-up steps, a whole number of groups


class SaveWeightsAt(Callback):
    """trainer.save_checkpoint(weights_only=True) mid-epoch: Lightning calls no callback hook
    for a weights-only save, only the module's state_dict()."""

    def __init__(self, path):
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == SAVE_AT:
            trainer.save_checkpoint(self.path, weights_only=True)


def test_a_weights_only_checkpoint_mid_epoch_holds_caught_up_lazy_weights(tmp_path):
    """Lazy and dense runs over the same batches, saved at the same step without validation:
    equal weights. A row left behind would be off by about lr = 1e-2 per skipped step;
    float32 rounding leaves < 1e-4."""
    split = make_split(planted_ratings(seed=0).data, "random", seed=0)
    assert len(split.train) / 32 > SAVE_AT + 8  # the save falls inside the first epoch
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(8,), item_clusters=(8,))
    saved = {}
    for optimizer in ("dense", "lazy"):
        module = HMFModule(config.to_dict(), lr=1e-2, weight_decay=1e-2, optimizer=optimizer)
        trainer = pl.Trainer(
            max_steps=SAVE_AT + 8,
            limit_val_batches=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[SaveWeightsAt(tmp_path / f"{optimizer}.ckpt")],
            default_root_dir=tmp_path,
        )
        trainer.fit(module, datamodule=HMFDataModule(split, batch_size=32, steps_per_batch=8))
        saved[optimizer] = torch.load(tmp_path / f"{optimizer}.ckpt")["state_dict"]
    for name, want in saved["dense"].items():
        got = saved["lazy"][name]
        assert torch.allclose(got, want, rtol=0, atol=1e-4), (name, (got - want).abs().max())


def test_the_module_pickles_as_ddp_spawn_sends_it():
    config = HMFConfig(30, 20, user_clusters=(4,), item_clusters=(4,))
    module = pickle.loads(pickle.dumps(HMFModule(config.to_dict(), optimizer="lazy")))
    assert not module.automatic_optimization  # FastSteps' manual optimization
    assert module.state_dict().keys() == HMFModule(config.to_dict()).state_dict().keys()
