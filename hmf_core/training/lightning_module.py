"""The LightningModule: holds the plain-torch model of a family (hmf_core.models.registry) as
`self.model`, adds only the steps.

How fast Lightning runs them (groups of optimizer steps per training_step, manual
optimization, LazyAdamW's catch-up) is training/fast_steps.py's FastSteps, mixed in."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError

from hmf_core.models import registry
from hmf_core.models.hmf import HMFConfig
from hmf_core.training.fast_steps import FastSteps
from hmf_core.training.metrics import TASK_METRICS, hits_and_reciprocal_ranks, positive_rank
from hmf_core.training.optim import LazyAdamW
from hmf_core.training.settings import LAZY_UNDER_DDP, OPTIMIZERS

# dense: fused AdamW on dense gradients; lazy: LazyAdamW on the batch's rows (same results);
# auto: lazy from LAZY_FROM_ELEMENTS elements in C_1 (MF: the embedding table) of a side up.
# Measured (benchmarks/results/sparse_optim.md, CPU s per epoch): lazy is slower at ML-100K and
# at ML-1M size (HMF C_1 1.2M elements: 1.4x), faster for MF at ML-20M size (2.8M: 0.73x) and
# about 10x faster for HMF at ML-20M size (27.7M).
LAZY_FROM_ELEMENTS = 2_000_000
EVAL_STAGES = ("val", "test")


def auto_optimizer(config: HMFConfig) -> str:
    """What `optimizer="auto"` picks on one process: lazy when C_1 (MF: the embedding table)
    of a side has at least LAZY_FROM_ELEMENTS elements."""
    users = config.n_users * (config.user_clusters[0] if config.user_depth else config.dim)
    items = config.n_items * (config.item_clusters[0] if config.item_depth else config.dim)
    return "lazy" if max(users, items) >= LAZY_FROM_ELEMENTS else "dense"


def task_metrics(task: str) -> nn.ModuleDict:
    """The torchmetrics of one stage, by the names of metrics.TASK_METRICS: RMSE over the
    set's squared errors, every other metric the mean of its per-row values."""
    made = {
        name: MeanSquaredError(squared=False) if name == "rmse" else MeanMetric()
        for name in TASK_METRICS[task]
    }
    return nn.ModuleDict({name: metric.set_dtype(torch.float64) for name, metric in made.items()})


class HMFModule(FastSteps, pl.LightningModule):
    """Rating prediction (MSE, eq. 5) or ranking (BPR, eq. 9) on the same embeddings.

    training_step is FastSteps': for each training batch of a group, the loss of
    `_shared_step(batch, "train")`, then zero_grad, manual_backward and an optimizer step.

    Validation and test metrics are torchmetrics, summed over the set and computed once at its
    end. Under DDP every process evaluates the whole set (only training is sharded), so
    `compute()`, which adds the sums and counts of every process, leaves them unchanged.

    The train loss is a running sum, not a torchmetrics MeanMetric, whose update() costs 5-7x
    more per training step (benchmarks/metric_overhead.py: 100-210 us against 17-33 us on a
    shared 2-core CPU), i.e. about 4% of an ML-100K HMF step (2.9 ms) and 10-20% of an MF step
    (0.9 ms). Under DDP each process logs the mean of its shard and sync_dist averages them."""

    def __init__(
        self,
        config: dict,
        task: str = "rating",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        logit_lr: float | None = None,
        entropy_weight: float = 0.0,
        optimizer: str = "auto",
        family: str = registry.DEFAULT_FAMILY,
    ):
        super().__init__()
        if task not in TASK_METRICS:
            raise ValueError(f"task must be 'rating' or 'ranking', not {task!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {optimizer!r}")
        self.save_hyperparameters()  # family included: every checkpoint names its family
        self.run_identity: dict = {}  # set by training.fit: RunDir.identity() of its run
        self.family = registry.family(family)
        self.model = registry.new_model(family, config, seed)  # HMF: initial_model(config, seed)
        self.task = task
        self._loss_sum, self._loss_count = 0.0, 0  # this epoch's sum of batch losses x sizes
        self._term_sums: dict[str, torch.Tensor] = {}  # the same for a family's own loss terms
        self.eval_metrics = nn.ModuleDict({stage: task_metrics(task) for stage in EVAL_STAGES})

    def _shared_step(self, batch, stage: str) -> torch.Tensor | None:
        """One batch of `stage`. Training: its loss (eq. 5 or 9, plus the entropy penalty),
        added to the epoch's running sum. "val" / "test": its scores into the stage's metrics."""
        if self.task == "rating":
            users, items, ratings = batch
            predictions = self.model(users, items)  # (B,)
            if stage != "train":
                self.eval_metrics[stage]["rmse"].update(predictions, ratings)
                return None
            loss = F.mse_loss(predictions, ratings)  # eq. (5), batch mean
        elif stage == "train":
            users, positives, negatives = batch
            margin = self.model(users, positives) - self.model(users, negatives)  # (B,)
            loss = -F.logsigmoid(margin).mean()  # eq. (9)
            items = torch.cat([positives, negatives])  # (2B,): the item rows this step read
        else:
            users, candidates = batch  # (B,), (B, 1+K): the positive in column 0
            scores = self.model.score_candidates(users, candidates)  # (B, 1+K)
            hits, reciprocal = hits_and_reciprocal_ranks(positive_rank(scores))  # (B,) each
            self.eval_metrics[stage]["hr10"].update(hits)
            self.eval_metrics[stage]["mrr10"].update(reciprocal)
            return None
        if self.hparams.entropy_weight > 0:
            loss = loss + self.hparams.entropy_weight * self.membership_entropy(users, items)
        loss = loss + self._penalties(users, items)
        self._loss_sum = self._loss_sum + loss.detach() * len(users)
        self._loss_count += len(users)
        return loss

    def membership_entropy(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Mean row entropy of the memberships, each level divided by its largest possible
        value log(m_l), so levels of any size weigh the same (MFDMC's entropy loss, as we read
        it); level 1 over the batch's rows only, higher levels over all their rows."""
        terms = []
        for side, rows in ((self.model.users, users), (self.model.items, items)):
            for level in range(1, side.depth + 1):
                probabilities = side.membership(level, rows if level == 1 else None)  # (R, m_l)
                if probabilities.shape[1] < 2:
                    continue
                entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)  # (R,)
                terms.append(entropy.mean() / math.log(probabilities.shape[1]))
        return torch.stack(terms).mean() if terms else torch.zeros((), device=users.device)

    def _penalties(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor | float:
        """A family's own loss terms (MFDMC's spread, proximity, entropy: model.penalties),
        summed, each term's epoch sum kept for the curves ("train_<name>")."""
        penalties = getattr(self.model, "penalties", None)
        if penalties is None:
            return 0.0
        terms = penalties(users, items)
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums.get(name, 0.0) + value.detach() * len(users)
        return sum(terms.values(), torch.zeros((), device=users.device))

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = 0.0, 0
        self._term_sums = {}
        prune = getattr(self.model, "prune", None)
        if prune is not None and self.current_epoch > 0:
            # MFDMC prunes "at the end of" epoch e (from its prune_from on) here, as epoch e+1
            # starts: the checkpoint of epoch e (saved by ModelCheckpoint after this module's
            # on_train_epoch_end) then holds the mask its validation metrics were measured with
            prune(self.current_epoch - 1)

    def _log_train_loss(self) -> None:
        """Logged when validation ends (it runs at the end of each training epoch, before any
        on_train_epoch_end hook), so one row of metrics holds both."""
        if self._loss_count:
            self.log("train_loss", float(self._loss_sum) / self._loss_count, sync_dist=True)
            for name, total in self._term_sums.items():
                self.log(f"train_{name}", float(total) / self._loss_count, sync_dist=True)
            self._loss_sum, self._loss_count, self._term_sums = 0.0, 0, {}
            self._log_active_centres()

    def _log_active_centres(self) -> None:
        """MFDMC: the centres this epoch trained with, per side and view (pruning comes after)."""
        active = getattr(self.model, "active_centres", None)
        if active is not None:
            for side, counts in active().items():
                for view, count in enumerate(counts, start=1):
                    self.log(f"active_{side}_view{view}", float(count), sync_dist=True)

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()  # FastSteps: LazyAdamW's rows up to date
        self._log_train_loss()  # epochs without validation

    def _log_eval(self, stage: str) -> None:
        for name, metric in self.eval_metrics[stage].items():
            value = metric.compute() if metric.update_count else 0.0
            self.log(f"{stage}_{name}", value, sync_dist=True)
            metric.reset()

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_train_loss()
        self._log_eval("val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def optimizer_kind(self) -> str:
        """'dense' or 'lazy': the setting, with 'auto' decided by the largest row table."""
        if self.hparams.optimizer != "auto":
            return self.hparams.optimizer
        if self._trainer is not None and self._trainer.world_size > 1:
            return "dense"  # DDP all-reduces dense gradients only (settings.LAZY_UNDER_DDP)
        return auto_optimizer(self.family.trained(self.model.config))

    def configure_optimizers(self):
        logits = [p for name, p in self.model.named_parameters() if "connections" in name]
        others = [p for name, p in self.model.named_parameters() if "connections" not in name]
        groups = [{"params": others}]
        if logits:
            groups.append({"params": logits, "lr": self.hparams.logit_lr or self.hparams.lr})
        if self.optimizer_kind() == "lazy":
            if self._trainer is not None and self._trainer.world_size > 1:
                raise ValueError(LAZY_UNDER_DDP)  # "auto" / "-1" devices that gave several
            # Only the batch's rows of C_1 / the MF tables get gradients and steps; skipped
            # steps are applied when a row is next read (prepare, in the forward) and before
            # the weights are (FastSteps), equal to dense AdamW (training/optim.py).
            optimizer = LazyAdamW(
                groups, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
            )
            self.model.use_sparse_gradients(True, before_lookup=optimizer.prepare)
            return optimizer
        self.model.use_sparse_gradients(False)
        # fused: one kernel for all parameters; 16-19% faster per CPU epoch, same results, and
        # no per-step workspace copy of the largest parameter (benchmarks/results/speed.md).
        return torch.optim.AdamW(
            groups,
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            fused=True,
        )

    def on_save_checkpoint(self, checkpoint) -> None:
        # state a family derives from the weights (twostage: k-means labels and centres),
        # computed from the weights this checkpoint holds and written into it
        refresh = getattr(self.model, "refresh", None)
        if refresh is not None:
            derived = {f"model.{name}": value for name, value in refresh().items()}
            checkpoint["state_dict"].update(derived)
        if self.run_identity:  # rundir.RUN_KEY: the run the checkpoint belongs to
            checkpoint["hmf_run"] = dict(self.run_identity)
