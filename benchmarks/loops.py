"""The two training paths the speed studies time, over the same model, batches and optimizer:
a bare hand-written torch loop, and our Lightning path (HMFModule + HMFDataModule under
pl.Trainer). Both step the optimizer HMFModule.configure_optimizers builds for the same
setting (`optimizer`: auto, dense = fused AdamW, lazy = hmf_core.training.optim.LazyAdamW); every
speed study (speed.py, overhead.py, sparse_optim.py, threads.py) times these two."""

from __future__ import annotations

import gc
import math
import tempfile
import time

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback

from benchmarks.harness import Clock, peak_memory, reset_peak_memory
from hmf_core.data.split import Split
from hmf_core.models.hmf import HMF, HMFConfig, halving_levels
from hmf_core.training.datamodule import STEPS_PER_BATCH, HMFDataModule, frame_tensors
from hmf_core.training.lightning_module import HMFModule, auto_optimizer
from hmf_core.training.optim import LazyAdamW
from hmf_core.training.trainer import cpu_threads

PAPER_CLUSTERS = (200, 100)  # TrainSettings' default, the low end of the paper's grid
LR, WEIGHT_DECAY = 1e-3, 1e-4
STEADY_FROM = 111  # LazyAdamW's first 100 steps are its dense warm-up: steady steps after
MODELS = {"MF": 0, "HMF depth 1": 1, "HMF depth 2": 2, "HMF depth 3": 3}  # name: depth


def adamw(parameters) -> torch.optim.AdamW:
    """The optimizer HMFModule.configure_optimizers builds (fused: one kernel per step)."""
    return torch.optim.AdamW(parameters, lr=LR, weight_decay=WEIGHT_DECAY, fused=True)


def make_optimizer(kind: str, model: HMF) -> torch.optim.Optimizer:
    """What HMFModule.configure_optimizers builds for `kind` ('auto' resolved as it does on
    one process); the speed studies check the label against the Lightning path's."""
    if kind == "auto":
        kind = auto_optimizer(model.config)
    if kind == "lazy":
        optimizer = LazyAdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        model.use_sparse_gradients(True, before_lookup=optimizer.prepare)
        return optimizer
    model.use_sparse_gradients(False)
    return adamw(model.parameters())


def optimizer_label(optimizer: torch.optim.Optimizer) -> str:
    if isinstance(optimizer, LazyAdamW):
        return "LazyAdamW"
    return f"{type(optimizer).__name__}(fused={bool(optimizer.defaults.get('fused'))})"


def steady(result: dict, clock: Clock, steady_from: int, batch_size: int) -> dict:
    """Step-limited runs: the step figures (and the extrapolated epoch) from the steps from
    `steady_from` on only (LazyAdamW's first 100 steps are its dense warm-up); also the
    median CPU ms of the warm-up steps 2..steady_from-1 of the first epoch."""
    records = np.array(clock.step_records)  # (steps, 3): wall s, CPU s, faults
    result["warmup_step_cpu_ms"] = (
        1000 * float(np.median(records[: steady_from - 2, 1])) if steady_from > 2 else math.nan
    )
    result["step_cpu_ms"] = 1000 * float(np.median(records[:, 1])) if len(records) else math.nan
    if not result["extrapolated"] or steady_from <= 2 or len(records) <= steady_from - 2:
        return result
    step_s, step_cpu_s, faults = np.median(records[steady_from - 2 :], axis=0)
    result["step_cpu_ms"] = 1000 * float(step_cpu_s)
    steps = math.ceil(result["rows"] / batch_size)  # steps of a full epoch
    result.update(
        epoch_s=float(step_s) * steps,
        cpu_s=float(step_cpu_s) * steps,
        step_ms=1000 * float(step_s),
        faults_per_step=float(faults),
    )
    result["ratings_per_s"] = result["rows"] / result["epoch_s"]
    return result


def model_config(
    n_users: int, n_items: int, depth: int, clusters=PAPER_CLUSTERS, dim: int = 20
) -> HMFConfig:
    """MF (depth 0) or HMF of the given depth, clusters halving per level."""
    return HMFConfig(
        n_users=n_users,
        n_items=n_items,
        dim=dim,
        user_clusters=halving_levels(clusters[0], depth),
        item_clusters=halving_levels(clusters[1], depth),
    )


def bare_epochs(
    config: HMFConfig,
    split: Split,
    batch_size: int,
    epochs: int,
    threads: int | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    optimizer: str = "auto",
    steady_from: int = 0,
) -> dict:
    """The bare loop: the same HMF, batches as index slices of a seeded permutation, the
    optimizer HMFModule builds for `optimizer` (LazyAdamW caught up at each epoch end, as
    HMFModule does), timed per epoch and per step. Also the peak memory of training above
    what the data tensors already took."""
    device = torch.device(device)
    torch.set_num_threads(cpu_threads(threads))
    users, items, ratings = frame_tensors(split.train, device)
    gc.collect()
    baseline = reset_peak_memory(device)
    torch.manual_seed(seed)
    model = HMF(config).to(device)
    optimizer = make_optimizer(optimizer, model)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    clock = Clock(device)
    for _ in range(epochs):
        clock.start_epoch()
        order = torch.randperm(len(users), generator=generator, device=device)
        for batch_idx, begin in enumerate(range(0, len(order), batch_size)):
            if max_steps and batch_idx >= max_steps:
                break
            clock.start_step()
            index = order[begin : begin + batch_size]  # (B,)
            batch = [t.index_select(0, index) for t in (users, items, ratings)]  # as TensorBatches
            loss = F.mse_loss(model(*batch[:2]), batch[2])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            clock.end_step(batch_idx)
        # free the permutation (index is a view of it) before the next epoch draws one, as the
        # estimate counts one
        del order, index
        caught = time.process_time()
        if isinstance(optimizer, LazyAdamW):
            optimizer.catch_up()
        catch_up_cpu_s = time.process_time() - caught
        clock.end_epoch()
    result = clock.summary(len(users), batch_size, bool(max_steps))
    result["rows"] = len(users)
    result = steady(result, clock, steady_from, batch_size)
    result["catch_up_cpu_s"] = catch_up_cpu_s
    result["peak_bytes"] = peak_memory(device) - baseline
    result["optimizer"] = optimizer_label(optimizer)
    del model, optimizer
    return result


class EpochTimer(Callback):
    """A Clock driven by Lightning's hooks; an epoch runs from one epoch's start to the next
    (so end-of-epoch hooks count)."""

    def __init__(self, device: torch.device):
        self.clock = Clock(device)

    def on_train_epoch_start(self, trainer, pl_module):
        self.clock.end_epoch()
        self.clock.start_epoch()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.clock.start_step()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.clock.end_step(batch_idx, len(batch))  # a group of optimizer steps (StepGroups)

    def on_train_end(self, trainer, pl_module):
        self.clock.end_epoch()


def lightning_epochs(
    config: HMFConfig,
    split: Split,
    batch_size: int,
    epochs: int,
    threads: int | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    module_class: type[HMFModule] = HMFModule,
    precision: str = "32-true",
    optimizer: str = "auto",
    steady_from: int = 0,
    steps_per_batch: int = STEPS_PER_BATCH,
    family: str = "hmf",
) -> dict:
    """Our path: HMFModule + HMFDataModule under pl.Trainer, no validation, no checkpoints.
    `max_steps` counts optimizer steps (rounded up to whole groups of `steps_per_batch`);
    `family`: the model family of `config` (hmf_core.models.registry: "hmf", "mfdmc")."""
    torch.set_num_threads(cpu_threads(threads))
    pl.seed_everything(seed, verbose=False)
    module = module_class(
        config.to_dict(),
        task="rating",
        lr=LR,
        weight_decay=WEIGHT_DECAY,
        optimizer=optimizer,
        family=family,
    )
    datamodule = HMFDataModule(split, "rating", batch_size, seed, steps_per_batch=steps_per_batch)
    timer = EpochTimer(torch.device(device))
    with tempfile.TemporaryDirectory(prefix="hmf-speed-") as root:
        trainer = pl.Trainer(
            accelerator="gpu" if device.startswith("cuda") else "cpu",
            devices=1,
            precision=precision,
            max_epochs=epochs,
            limit_train_batches=math.ceil(max_steps / steps_per_batch) if max_steps else 1.0,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[timer],
            default_root_dir=root,
        )
        trainer.fit(module, datamodule=datamodule)
    result = timer.clock.summary(len(split.train), batch_size, bool(max_steps))
    result["rows"] = len(split.train)
    result = steady(result, timer.clock, steady_from, batch_size)
    result["optimizer"] = optimizer_label(trainer.optimizers[0])
    return result
