"""The Lightning fit and test of one model on a split (`fit`), telling a recorder how it goes
(`FitRecorder`; hmf_core.runs.recorder writes it into a run folder, hmf_core.runs.train_run is a
whole run)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Protocol

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from hmf_core.common.errors import RunError
from hmf_core.common.progress import Report
from hmf_core.data.ratings import RatingData, far_ratings, read_ratings
from hmf_core.data.split import Split
from hmf_core.models.warmstart import warm_start
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.faults import DivergenceGuard, SafeCheckpoint, disk_full
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.metrics import monitor as task_monitor
from hmf_core.training.settings import TrainSettings


def cpu_threads(requested: int | None = None) -> int:
    """Intra-op threads for CPU training. Measured on a 2-core machine (benchmarks/threads.py):
    with the other core busy (the dashboard, UMAP), 2 threads ran 2.7x slower than 1, while on
    an idle machine 2 threads gained only 1.3x. So use half the cores, at most 8."""
    if requested:
        return requested
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, (available or 1) // 2))


def load_data(settings: TrainSettings, report: Report | None = None) -> RatingData:
    data = read_ratings(settings.data, **settings.columns, report=report)
    if settings.task == "ranking" and not data.implicit:
        threshold = settings.positive_threshold
        if threshold is not None:
            data = data.as_implicit(threshold)
    return data


def is_rank_zero() -> bool:
    """False in the extra processes of multi-process (DDP) training: only rank 0 writes files."""
    return rank_zero_only.rank == 0


def experiment_loggers(settings: TrainSettings, run_dir: Path) -> list:
    """Lightning loggers of a run: the CSVLogger always (metrics.csv, which the app reads),
    plus TensorBoard's or MLflow's for `settings.logger`. settings.validate() has already
    refused a logger whose package is missing, naming the pip command."""
    loggers = [CSVLogger(run_dir, name="", version="", flush_logs_every_n_steps=1)]
    if settings.logger == "tensorboard":
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="tensorboard", version=""))
    elif settings.logger == "mlflow":
        from pytorch_lightning.loggers import MLFlowLogger

        loggers.append(
            MLFlowLogger(
                experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "hmf-explorer"),
                run_name="/".join(run_dir.resolve().parts[-2 if run_dir.name == "mf" else -1 :]),
                tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
            )
        )
    return loggers


class FitRecorder(Protocol):
    """Whom `fit` tells how it goes: a Lightning Callback (it is one of the fit's callbacks)
    that also hears the fit's state and its failure, says whether a stop was asked for, and
    keeps the test metrics. hmf_core.runs.recorder.RunRecorder writes them into a run folder
    (progress.json, test_metrics.json)."""

    def identity(self) -> dict:
        """What the checkpoint carries: {"run_id", "data_fingerprint"} or {}."""

    def write(self, **changes) -> None:
        """The fit's state: state, device, max_epochs, error, test..."""

    def fail(self, error: str) -> None:
        """The fit failed with `error`, even on a full disk."""

    def stop_requested(self) -> bool:
        """Whether someone asked the fit to stop."""

    def best_epoch(self, monitor: str, mode: str) -> int | None:
        """The epoch (from 1) of the best value of `monitor` ("min" or "max" best)."""

    def tested(self, metrics: dict) -> None:
        """The best checkpoint's test metrics (rank 0 only)."""


def fit(
    settings: TrainSettings,
    split: Split,
    run_dir: Path,
    recorder: FitRecorder,
    label: str = "HMF",
    extra_callbacks: list[Callback] | None = None,
) -> dict:
    """Train one model on `split` with Lightning (its checkpoint and loggers in `run_dir`),
    telling `recorder` how it goes; returns the test metrics. A run folder's fit:
    hmf_core.runs.recorder.fit_run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cpu_threads(settings.threads))
    pl.seed_everything(settings.seed, workers=False, verbose=False)
    global_mean = float(split.train["rating"].mean()) if settings.task == "rating" else 0.0
    config = settings.model_config(split, global_mean)
    module = HMFModule(
        config.to_dict(),
        task=settings.task,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        logit_lr=settings.logit_lr,
        optimizer=settings.optimizer,
        entropy_weight=settings.entropy_weight,
        family=settings.family,
    )
    module.run_identity = recorder.identity()  # carried by its best.ckpt
    warm_start(
        module.model, split.train, settings.warm_start, settings.warm_start_sharpness, settings.seed
    )
    datamodule = HMFDataModule(split, settings.task, settings.batch_size, settings.seed)
    monitor, mode = task_monitor(settings.task)
    guard = DivergenceGuard(monitor, _explosion_limit(settings, split))
    checkpoint = SafeCheckpoint(
        dirpath=run_dir,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
        guard=guard,
    )
    callbacks = [
        recorder,
        guard,
        checkpoint,
        EarlyStopping(monitor=monitor, mode=mode, patience=settings.patience),
    ]
    trainer = _lightning_trainer(settings, run_dir, callbacks + (extra_callbacks or []))
    recorder.write(state="running")
    try:
        with _quiet_lightning():
            trainer.fit(module, datamodule=datamodule)
    except BaseException as exc:
        full = disk_full(exc)
        if full is not None:
            error = f"disk full: {full.strerror} in {run_dir}; the previous best.ckpt is kept"
            recorder.fail(error)
            raise RunError(f"{label} training failed: {error}") from exc
        recorder.fail(f"{type(exc).__name__}: {exc}")
        raise
    stopped = recorder.stop_requested()
    if guard.epoch is not None:  # diverged: the last finite best (if any) is still tested
        kept = "; the last finite best.ckpt is kept" if checkpoint.best_model_path else ""
        test = _test(trainer, module, datamodule, checkpoint, recorder, monitor, mode, settings)
        cause = far_ratings(split.train["rating"].to_numpy()) if settings.task == "rating" else None
        error = guard.message(cause)
        recorder.write(state="failed", error=error, **({"test": test} if test else {}))
        raise RunError(f"{label} training {error}{kept}")
    if not checkpoint.best_model_path:
        recorder.write(
            state="stopped" if stopped else "failed",
            error="stopped before the first validated epoch: no checkpoint",
        )
        return {}
    test_metrics = _test(trainer, module, datamodule, checkpoint, recorder, monitor, mode, settings)
    recorder.write(state="stopped" if stopped else "finished", test=test_metrics)
    return test_metrics


def _lightning_trainer(settings: TrainSettings, run_dir: Path, callbacks: list) -> pl.Trainer:
    """The Lightning Trainer of a fit: the settings' devices and epochs, the run's loggers."""
    with _quiet_lightning():  # its "GPU available" and tips lines are noise in a run log
        return pl.Trainer(
            accelerator=settings.accelerator,
            devices=settings.devices,
            strategy=settings.strategy,
            num_nodes=settings.num_nodes,
            precision=settings.precision,
            max_epochs=settings.max_epochs,
            callbacks=callbacks,
            default_root_dir=run_dir,
            logger=experiment_loggers(settings, run_dir),
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
        )


def _test(
    trainer,
    module,
    datamodule,
    checkpoint,
    recorder: FitRecorder,
    monitor: str,
    mode: str,
    settings,
):
    """Test metrics of the best checkpoint, told to the recorder ({} without one): the
    task's own (RMSE; HR@10 and MRR@10 against sampled negatives) and the full-ranking ones."""
    if not checkpoint.best_model_path:
        return {}
    # the test metrics go to the loggers too (a last row of metrics.csv, which RunDir.metrics
    # leaves out: it holds the epochs) and to test_metrics.json
    with _quiet_lightning():
        results = trainer.test(
            module, datamodule=datamodule, ckpt_path=checkpoint.best_model_path, verbose=False
        )
    test_metrics = {k: float(v) for k, v in results[0].items()}
    test_metrics["best_epoch"] = recorder.best_epoch(monitor, mode)
    test_metrics["epochs_run"] = trainer.current_epoch
    if is_rank_zero():
        test_metrics.update(full_ranking(module.model, datamodule.split, settings))
        recorder.tested(test_metrics)
    return test_metrics


def full_ranking(model, split: Split, settings: TrainSettings) -> dict:
    """NDCG / Recall / Precision @10 and @20 over all unseen items (training.full_ranking) of
    the best checkpoint; {} and a printed line when they cannot be computed (e.g. memory): the
    run and its other test metrics stand, and `evaluate --compute` can try again."""
    from hmf_core.training.full_ranking import split_full_ranking

    try:
        return split_full_ranking(model, split, settings.task, settings.positive_threshold)
    except Exception as exc:
        print(f"full-ranking metrics not computed: {type(exc).__name__}: {exc}", flush=True)
        return {}


def _explosion_limit(settings: TrainSettings, split: Split) -> float | None:
    """A validation RMSE beyond 100x the span of the training ratings (at least 100) is no
    model of them: the fit has diverged even while the numbers are still finite."""
    if settings.task != "rating":
        return None
    ratings = split.train["rating"]
    return 100.0 * max(1.0, float(ratings.max() - ratings.min()))


class _quiet_lightning:
    """Lightning's info lines (GPU available, ...) are noise in a run log."""

    def __enter__(self):
        self.logger = logging.getLogger("pytorch_lightning")
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        return self

    def __exit__(self, *exc):
        self.warnings.__exit__(*exc)
        self.logger.setLevel(self.level)
        return False
