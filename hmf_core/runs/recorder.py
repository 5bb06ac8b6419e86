"""A fit recorded into a run folder: `RunRecorder` writes progress.json (the Train page follows
it), adds the epoch and elapsed time to metrics.csv, honours STOP and keeps test_metrics.json;
`fit_run` is hmf_core.training.trainer.fit into a run folder, with that recorder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.callbacks import Callback

from hmf_core.common.files import finite_json
from hmf_core.data.split import Split
from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import TrainSettings
from hmf_core.training.trainer import fit, is_rank_zero


def fit_run(
    settings: TrainSettings,
    split: Split,
    run_dir: Path,
    label: str = "HMF",
    extra_callbacks: list[Callback] | None = None,
) -> dict:
    """Train one model on `split`, writing into the run folder `run_dir`; returns the test
    metrics."""
    if is_rank_zero():
        RunDir(run_dir).file("metrics").unlink(missing_ok=True)
        stop = RunDir(run_dir).file("stop")
        if stop.exists() and stop.stat().st_mtime < _process_started() - 2:  # 2 s: /proc's
            stop.unlink()  # left by an earlier run; one asked for since this process began
            # (while it waited in line or prepared the data) is kept and honoured
    return fit(settings, split, run_dir, RunRecorder(run_dir, label), label, extra_callbacks)


class RunRecorder(Callback):
    """Writes progress.json (at most twice a second), adds the epoch (from 1) and elapsed_s to
    each epoch's metrics (CSVLogger writes them to metrics.csv); stops the fit when STOP appears
    in the run directory."""

    def __init__(self, run_dir: Path, label: str):
        self.run = RunDir(run_dir)
        self.label = label
        self.started = time.time()
        self.last_write = 0.0
        self.state = {
            "state": "running",
            "label": label,
            "pid": os.getpid(),
            "epoch": 0,
            "batch": 0,
            "batches": 0,
            "elapsed_s": 0.0,
            "started": self.started,
        }

    def write(self, **changes) -> None:
        if not is_rank_zero():
            return
        self.state.update(changes, elapsed_s=round(time.time() - self.started, 2))
        self.run.write("progress", self.state)

    def on_fit_start(self, trainer, pl_module):
        self.write(
            device=str(trainer.strategy.root_device),
            max_epochs=trainer.max_epochs,
            threads=torch.get_num_threads(),
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.time()
        if now - self.last_write > 0.5:  # at most twice a second: a file check and a write
            self.last_write = now
            if self.run.stop_requested():
                trainer.should_stop = True
            # a Lightning batch is a group of training batches (batches.StepGroups): count
            # the training batches, one optimizer step each
            loader = trainer.train_dataloader
            size, steps = getattr(loader, "size", 1), getattr(loader, "steps", None)
            steps = steps or trainer.num_training_batches
            self.write(
                epoch=trainer.current_epoch,
                batch=min((batch_idx + 1) * size, steps),
                batches=steps,
            )

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        elapsed = torch.tensor(round(time.time() - self.started, 3), dtype=torch.float64)
        pl_module.log("epoch", trainer.current_epoch + 1, rank_zero_only=True)  # from 1
        pl_module.log("elapsed_s", elapsed, rank_zero_only=True)  # beside the module's metrics

    def on_train_epoch_end(self, trainer, pl_module):
        if self.run.stop_requested():  # epochs can be shorter than the batch-level throttle
            trainer.should_stop = True
        if not trainer.is_global_zero:
            return
        row = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.write(epoch=trainer.current_epoch + 1, batch=0, last=row)

    # what hmf_core.training.trainer.fit asks of its recorder (FitRecorder)

    def identity(self) -> dict:
        return self.run.identity()

    def fail(self, error: str) -> None:
        _record_failure(self, error)

    def stop_requested(self) -> bool:
        return self.run.stop_requested()

    def best_epoch(self, monitor: str, mode: str) -> int | None:
        return _best_epoch(self.run.path, monitor, mode)

    def tested(self, metrics: dict) -> None:
        self.run.write("test_metrics", metrics)


def _record_failure(recorder: RunRecorder, error: str) -> None:
    """progress.json says failed even on a full disk: the atomic write needs a new file; if
    that fails, overwrite the existing file in place (its blocks are already allocated)."""
    try:
        recorder.write(state="failed", error=error)
    except OSError:
        recorder.state.update(state="failed", error=error)
        try:
            with open(recorder.run.file("progress"), "r+") as handle:
                text = json.dumps(finite_json(recorder.state), default=str, allow_nan=False)
                handle.write(text)
                handle.truncate(len(text))
        except OSError:
            pass  # nothing more can be written; RunDir.progress() reports the dead process


def _best_epoch(run_dir: Path, monitor: str, mode: str) -> int | None:
    metrics = RunDir(run_dir).metrics()
    if monitor not in metrics:
        return None
    values = pd.to_numeric(metrics[monitor], errors="coerce").to_numpy(np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan  # an inf row is never the best
    if np.isnan(values).all():
        return None
    position = int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))
    return int(metrics["epoch"].iloc[position])


def _process_started() -> float:
    """When this process began (epoch seconds, within about a second: /proc/stat's boot time is
    whole seconds), from /proc; now where /proc cannot tell."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()
    return boot + ticks / os.sysconf("SC_CLK_TCK")
