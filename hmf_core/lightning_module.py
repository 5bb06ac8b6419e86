"""The LightningModule: holds the plain-torch HMF as `self.model`, adds only the steps."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from hmf_core.metrics import hit_ratio_and_mrr, positive_rank, rmse
from hmf_core.model import HMFConfig, initial_model
from hmf_core.optim import LazyAdamW

MONITOR = {"rating": ("val_rmse", "min"), "ranking": ("val_hr10", "max")}
# dense: fused AdamW on dense gradients; lazy: LazyAdamW on the batch's rows (same results);
# auto: lazy from LAZY_FROM_ELEMENTS elements in C_1 (MF: the embedding table) of a side up.
# Measured (benchmarks/results/sparse_optim.md, CPU s per epoch): lazy is slower at ML-100K and
# at ML-1M size (HMF C_1 1.2M elements: 1.4x), faster for MF at ML-20M size (2.8M: 0.73x) and
# about 10x faster for HMF at ML-20M size (27.7M).
OPTIMIZERS = ("auto", "dense", "lazy")
LAZY_FROM_ELEMENTS = 2_000_000


class HMFModule(pl.LightningModule):
    """Rating prediction (MSE, eq. 5) or ranking (BPR, eq. 9) on the same embeddings."""

    def __init__(
        self,
        config: dict,
        task: str = "rating",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        optimizer: str = "auto",
    ):
        super().__init__()
        if task not in MONITOR:
            raise ValueError(f"task must be 'rating' or 'ranking', not {task!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {optimizer!r}")
        self.save_hyperparameters()
        self.model = initial_model(HMFConfig(**config), seed)
        self.task = task
        self._reset_sums()

    def __setattr__(self, name: str, value) -> None:
        # Lightning sets _current_fx_name (a str) around every hook call, 44 times a training
        # step; nn.Module.__setattr__ checks parameters, modules and buffers each time, 13% of
        # an ML-100K MF step through Lightning (cProfile). It is never any of those: set it
        # directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _reset_sums(self) -> None:
        self._sums: dict[str, list] = {}

    def _add(self, name: str, value) -> None:
        self._sums.setdefault(name, []).append(value)

    def training_step(self, batch, batch_idx):
        if self.task == "rating":
            users, items, ratings = batch
            loss = F.mse_loss(self.model(users, items), ratings)  # eq. (5), batch mean
        else:
            users, positives, negatives = batch
            margin = self.model(users, positives) - self.model(users, negatives)  # (B,)
            loss = -F.logsigmoid(margin).mean()  # eq. (9)
        self._add("train_loss", (loss.detach() * len(users), len(users)))
        return loss

    def on_train_epoch_start(self) -> None:
        self._sums.pop("train_loss", None)

    def _log_train_loss(self) -> None:
        """Logged when validation ends (it runs at the end of each training epoch, before any
        on_train_epoch_end hook), so one row of metrics holds both."""
        pairs = self._sums.pop("train_loss", [])
        if pairs:
            total = torch.stack([p[0] for p in pairs]).sum().item()
            self.log("train_loss", total / sum(p[1] for p in pairs), sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self._catch_up()
        self._log_train_loss()  # epochs without validation

    def _shared_eval(self, batch, stage: str) -> None:
        if self.task == "rating":
            users, items, ratings = batch
            error = self.model(users, items) - ratings  # (B,)
            self._add(f"{stage}_se", (error.pow(2).sum().item(), len(users)))
        else:
            users, candidates = batch
            scores = self.model.score_candidates(users, candidates)  # (B, 1+K)
            self._add(f"{stage}_ranks", positive_rank(scores))

    def _log_eval(self, stage: str) -> None:
        """Every process evaluates the whole set (only training is sharded), so the values
        agree across processes and sync_dist's mean leaves them unchanged."""
        if self.task == "rating":
            pairs = self._sums.pop(f"{stage}_se", [])
            value = rmse(sum(p[0] for p in pairs), sum(p[1] for p in pairs))
            self.log(f"{stage}_rmse", value, sync_dist=True)
        else:
            ranks = self._sums.pop(f"{stage}_ranks", [])
            hit, mrr = hit_ratio_and_mrr(torch.cat(ranks)) if ranks else (0.0, 0.0)
            self.log(f"{stage}_hr10", hit, sync_dist=True)
            self.log(f"{stage}_mrr10", mrr, sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._shared_eval(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_train_loss()
        self._log_eval("val")

    def test_step(self, batch, batch_idx):
        self._shared_eval(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def optimizer_kind(self) -> str:
        """'dense' or 'lazy': the setting, with 'auto' decided by the largest row table."""
        if self.hparams.optimizer != "auto":
            return self.hparams.optimizer
        if self._trainer is not None and self._trainer.world_size > 1:
            return "dense"  # sparse gradients under DDP: not measured, not tested
        sides = (self.model.users, self.model.items)
        tables = [side.connections[0] if side.depth else side.root for side in sides]
        return "lazy" if max(t.numel() for t in tables) >= LAZY_FROM_ELEMENTS else "dense"

    def configure_optimizers(self):
        if self.optimizer_kind() == "lazy":
            # Only the batch's rows of C_1 / the MF tables get gradients and steps; skipped
            # steps are applied when a row is next read, equal to dense AdamW (hmf_core/optim.py).
            optimizer = LazyAdamW(
                self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
            )
            self.model.use_sparse_gradients(True, before_lookup=optimizer.prepare)
            return optimizer
        self.model.use_sparse_gradients(False)
        # fused: one kernel for all parameters; 16-19% faster per CPU epoch, same results, and
        # no per-step workspace copy of the largest parameter (benchmarks/results/speed.md).
        return torch.optim.AdamW(
            self.parameters(),
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            fused=True,
        )

    # LazyAdamW leaves rows outside recent batches behind; bring every row up to date before
    # anything reads the weights: validation (and the checkpoint saved after it), the end of
    # an epoch without validation (ModelCheckpoint runs after this module's hook), any save,
    # and the end of training.
    def _catch_up(self) -> None:
        trainer = self._trainer
        for optimizer in trainer.optimizers if trainer is not None else ():
            if isinstance(optimizer, LazyAdamW):
                optimizer.catch_up()

    def on_validation_epoch_start(self) -> None:
        self._catch_up()

    def on_save_checkpoint(self, checkpoint) -> None:
        self._catch_up()

    def on_train_end(self) -> None:
        self._catch_up()
