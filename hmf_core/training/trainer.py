"""One training run, start to finish: data -> split -> fit -> test, written to a run directory."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from hmf_core.common.errors import RunError
from hmf_core.common.files import finite_json
from hmf_core.common.progress import QUALITY_STEP, Report, RunSteps, silent, span
from hmf_core.data.datasets import coverage_message, metadata_coverage
from hmf_core.data.metadata import align, read_metadata
from hmf_core.data.ratings import RatingData, far_ratings, read_ratings
from hmf_core.data.split import Split, make_split
from hmf_core.models.warmstart import warm_start
from hmf_core.runs.runclaim import RunLock
from hmf_core.runs.rundir import RunDir, data_fingerprint
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.faults import DivergenceGuard, SafeCheckpoint, disk_full
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.metrics import monitor as task_monitor
from hmf_core.training.settings import MF_INIT_STD, TrainSettings, cluster_warnings


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


PREPARING = "preparing"  # progress.json's "refused" when reading or splitting refused the data
READ_SHARE = 0.7  # of preparing a run's data, the share of reading (splitting: the rest)


def prepare_run(
    settings: TrainSettings, run_dir: Path, report: Report | None = None
) -> tuple[RatingData, Split]:
    """Read, split and write everything the dashboard needs before the first epoch. Rank 0
    writes how far reading and splitting are into progress.json (hmf_core.common.progress.RunSteps):
    "reading <file>: parsing: 120 of 488 MB", "splitting: ..." and the fraction of both; `report`
    (the CLI's progress bar) hears each part from 0 to 1 with the same words."""
    steps = RunSteps(run_dir) if is_rank_zero() else None
    report = report if is_rank_zero() else None
    name = Path(settings.data).name
    reading = both(span(steps, 0.0, READ_SHARE), report)
    data = load_data(settings, lambda fraction, text: reading(fraction, f"reading {name}: {text}"))
    splitting = both(span(steps, READ_SHARE, 1.0), report)
    split = make_split(
        data,
        settings.split,
        settings.seed,
        report=lambda fraction, text: splitting(fraction, f"splitting: {text}"),
    )
    settings.validate(data, split.summary())
    if not is_rank_zero():
        return data, split
    steps(1.0, "writing the split and the metadata into the run")
    for warning in [*data.problems, *cluster_warnings(settings, split.summary())]:
        print(f"warning: {warning}", flush=True)  # the CLI's and the worker log's
    run = RunDir(run_dir)
    run.write("settings", asdict(settings))
    summary = {"data": data.summary(), "split": split.summary()}
    run.write("data", summary)
    # ties data.json to the run; the family says what kind of model the run trains
    run.update_meta(data_fingerprint=data_fingerprint(summary), family=settings.family)
    for kind, ids, path in (
        ("user", split.user_ids, settings.users),
        ("item", split.item_ids, settings.items),
    ):
        metadata = read_metadata(path, kind=kind) if path else None
        if metadata is not None:  # the Data page's warning, in the CLI and the worker log
            rated = data.user_ids if kind == "user" else data.item_ids
            coverage = metadata_coverage(metadata, rated)
            if not coverage.complete:
                print(f"warning: {coverage_message(coverage, path, kind)}", flush=True)
        align(metadata, ids, kind).to_csv(run.file(f"{kind}s"), index_label="index")
    frames = [
        frame.assign(stage=stage)
        for stage, frame in (("train", split.train), ("val", split.val), ("test", split.test))
    ]
    pd.concat(frames, ignore_index=True).to_parquet(run.file("interactions"))
    steps.update(step="starting training", step_fraction=None)
    return data, split


def both(first: Report, second: Report | None) -> Report:
    """One report heard by two listeners (progress.json and the CLI's bar)."""
    if second is None:
        return first

    def forward(fraction: float, text: str) -> None:
        first(fraction, text)
        second(fraction, text)

    return forward


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


def fit(
    settings: TrainSettings,
    split: Split,
    run_dir: Path,
    label: str = "HMF",
    extra_callbacks: list[Callback] | None = None,
) -> dict:
    """Train one model on `split`, writing into `run_dir`; returns the test metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_rank_zero():
        RunDir(run_dir).file("metrics").unlink(missing_ok=True)
        stop = RunDir(run_dir).file("stop")
        if stop.exists() and stop.stat().st_mtime < _process_started() - 2:  # 2 s: /proc's
            stop.unlink()  # left by an earlier run; one asked for since this process began
            # (while it waited in line or prepared the data) is kept and honoured
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
    module.run_identity = RunDir(run_dir).identity()  # carried by its best.ckpt
    warm_start(
        module.model, split.train, settings.warm_start, settings.warm_start_sharpness, settings.seed
    )
    datamodule = HMFDataModule(split, settings.task, settings.batch_size, settings.seed)
    monitor, mode = task_monitor(settings.task)
    recorder = RunRecorder(run_dir, label)
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
    with _quiet_lightning():  # its "GPU available" and tips lines are noise in a run log
        trainer = pl.Trainer(
            accelerator=settings.accelerator,
            devices=settings.devices,
            strategy=settings.strategy,
            num_nodes=settings.num_nodes,
            precision=settings.precision,
            max_epochs=settings.max_epochs,
            callbacks=callbacks + (extra_callbacks or []),
            default_root_dir=run_dir,
            logger=experiment_loggers(settings, run_dir),
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
        )
    recorder.write(state="running")
    try:
        with _quiet_lightning():
            trainer.fit(module, datamodule=datamodule)
    except BaseException as exc:
        full = disk_full(exc)
        if full is not None:
            error = f"disk full: {full.strerror} in {run_dir}; the previous best.ckpt is kept"
            _record_failure(recorder, error)
            raise RunError(f"{label} training failed: {error}") from exc
        _record_failure(recorder, f"{type(exc).__name__}: {exc}")
        raise
    stopped = RunDir(run_dir).stop_requested()
    if guard.epoch is not None:  # diverged: the last finite best (if any) is still tested
        kept = "; the last finite best.ckpt is kept" if checkpoint.best_model_path else ""
        test = _test(trainer, module, datamodule, checkpoint, run_dir, monitor, mode, settings)
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
    test_metrics = _test(trainer, module, datamodule, checkpoint, run_dir, monitor, mode, settings)
    recorder.write(state="stopped" if stopped else "finished", test=test_metrics)
    return test_metrics


def _test(
    trainer, module, datamodule, checkpoint, run_dir: Path, monitor: str, mode: str, settings
):
    """Test metrics of the best checkpoint, written to test_metrics.json ({} without one): the
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
    test_metrics["best_epoch"] = _best_epoch(run_dir, monitor, mode)
    test_metrics["epochs_run"] = trainer.current_epoch
    if is_rank_zero():
        test_metrics.update(full_ranking(module.model, datamodule.split, settings))
        RunDir(run_dir).write("test_metrics", test_metrics)
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


TRAINED = ("checkpoint", "metrics", "test_metrics", "data", "maps", "quality")  # a run's output


def train_run(
    settings: TrainSettings,
    run_dir: str | Path,
    callbacks: list[Callback] | None = None,
    lock: RunLock | None = None,
    report: Report | None = None,
) -> dict:
    """The whole run: prepare, fit HMF, optionally fit MF on the same split, then the maps.
    `lock`: the run directory's lock, already held by the caller (hmf_core.runs.runclaim's claim);
    else it is taken here. A directory that already holds a trained run is refused: runs are
    never trained into again (the CLI's --overwrite replaces one first). `report` hears the
    steps around training (reading, splitting, cluster quality, maps)."""
    run_dir = Path(run_dir)
    own_lock = lock is None
    lock = lock or RunLock(run_dir)
    if is_rank_zero() and own_lock:
        lock.acquire()  # a RunError when a live run already writes here
    try:
        if is_rank_zero():
            _refuse_trained(RunDir(run_dir))
        return _train_run(settings, run_dir, callbacks, report)
    finally:
        if own_lock:
            lock.release()


def _refuse_trained(run: RunDir) -> None:
    """A RunError when `run` already holds a trained run's output (or an MF comparison)."""
    found = [run.file(name) for name in TRAINED] + [run.path / "mf"]
    trained = [path.name for path in found if path.exists()]
    if trained:
        raise RunError(
            f"{run.path}: holds a trained run already ({trained[0]}); runs are never trained "
            "into again: train into a new run directory"
        )


def _train_run(
    settings: TrainSettings,
    run_dir: Path,
    callbacks: list[Callback] | None,
    report: Report | None = None,
) -> dict:
    try:
        _, split = prepare_run(settings, run_dir, report)
    except Exception as exc:
        run_dir.mkdir(parents=True, exist_ok=True)
        RunDir(run_dir).write(
            "progress",
            {  # refused: nothing trained, so the CLI removes what it made
                "state": "failed",
                "pid": os.getpid(),
                "error": str(exc),
                "label": "HMF",
                "refused": PREPARING,
            },
        )
        raise
    results = {"hmf": fit(settings, split, run_dir, "HMF", callbacks)}
    if settings.compare_mf and not RunDir(run_dir).stop_requested():
        if is_rank_zero():  # the MF comparison is a sub-run: its own id and its parent's
            RunDir(run_dir / "mf").create(parent=RunDir(run_dir))
        mf_settings = replace(  # plain MF: HMF at depth 0, whatever the run's family
            settings, family="hmf", user_depth=0, item_depth=0, init_std=MF_INIT_STD
        )
        results["mf"] = fit(mf_settings, split, run_dir / "mf", "MF", callbacks)
    if is_rank_zero() and RunDir(run_dir).has_model():
        from hmf_core.interpret.quality import record_quality

        steps = RunSteps(run_dir)  # the Train page says so (4 s at ML-100K, 47 s at ML-25M)
        steps.update(step=QUALITY_STEP)
        (report or silent)(0.0, QUALITY_STEP)
        try:
            record_quality(run_dir)  # a failure is recorded in quality.json, never fails the run
        finally:
            steps.done()
            (report or silent)(1.0, f"{QUALITY_STEP}: done")
    if settings.projection and is_rank_zero() and RunDir(run_dir).has_model():
        compute_maps(run_dir, report)
    return results


def compute_maps(run_dir: Path, report: Report | None = None) -> dict:
    """The 2-D maps of a trained run. A failure here is recorded in maps.json and printed, but
    leaves the run itself finished: the model and its metrics are fine. `report` hears the
    steps (PCA, UMAP)."""
    from hmf_core.interpret.projection import save_projections  # umap's import is slow: only here

    try:
        return save_projections(run_dir, report=report)
    except Exception as exc:
        RunDir(run_dir).write("maps", {"error": f"{type(exc).__name__}: {exc}"})
        print(f"computing the maps failed: {exc}", flush=True)
        return {}


def evaluate_checkpoint(run_dir: str | Path, force: bool = False) -> dict:
    """Test metrics of a run's kept best.ckpt (HMF, and the MF comparison's when it has one),
    written to test_metrics.json: for a run whose worker was killed after a checkpoint was
    saved but before its test ran. A part that has test metrics is left alone unless `force`.
    The split is the run's own (interactions.parquet), so the metrics are those training would
    have written. Returns {"hmf": metrics, "mf": metrics} for the parts evaluated."""
    import inspect

    from hmf_core.common.files import DamagedFile

    run = RunDir(run_dir)
    if not run.exists():
        raise RunError(f"{run_dir}: not a run directory (settings.json is missing)")
    damage = run.damage()
    if damage is not None and damage.path.name != "test_metrics.json":
        raise damage  # recomputing only mends test_metrics.json
    if run.process_alive() and run.progress().get("state") in ("queued", "running"):
        raise RunError(f"{run_dir}: still training; its test metrics are computed at the end")
    if not run.has_model():
        raise RunError(f"{run_dir}: no checkpoint (best.ckpt) to evaluate")
    settings = TrainSettings(**run.settings())
    interactions = run.interactions()
    stages = {stage: interactions[interactions["stage"] == stage] for stage in EVAL_PARTS}
    split = Split(
        train=stages["train"].drop(columns="stage").reset_index(drop=True),
        val=stages["val"].drop(columns="stage").reset_index(drop=True),
        test=stages["test"].drop(columns="stage").reset_index(drop=True),
        user_ids=run.users()["id"].to_numpy(),
        item_ids=run.items()["id"].to_numpy(),
        method=settings.split,
        dropped_cold={"val": 0, "test": 0},
    )
    monitor, mode = task_monitor(settings.task)
    parameters = set(inspect.signature(HMFModule.__init__).parameters) - {"self"}
    results = {}
    for label, part in (("hmf", run), ("mf", run.comparison())):
        if part is None or not part.has_model():
            continue
        try:
            if part.test_metrics() and not force:
                continue
        except DamagedFile:
            pass  # the damaged file is replaced below
        checkpoint = torch.load(part.file("checkpoint"), map_location="cpu", weights_only=True)
        hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if k in parameters}
        module = HMFModule(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
        datamodule = HMFDataModule(split, settings.task, settings.batch_size, settings.seed)
        with _quiet_lightning():
            trainer = pl.Trainer(
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
            tested = trainer.test(module, datamodule=datamodule, verbose=False)
        metrics = {k: float(v) for k, v in tested[0].items()}
        try:
            metrics["best_epoch"] = _best_epoch(part.path, monitor, mode)
            metrics["epochs_run"] = len(part.metrics())
        except DamagedFile:  # metrics.csv: the test metrics themselves are still right
            metrics.update(best_epoch=None, epochs_run=None)
        metrics.update(full_ranking(module.model, split, settings))
        part.write("test_metrics", metrics)
        results[label] = metrics
    return results


EVAL_PARTS = ("train", "val", "test")
