"""Test metrics of a run's kept checkpoint, computed again from the run folder (for a run whose
worker was killed after its checkpoint was saved but before its test ran)."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from hmf_core.common.errors import RunError
from hmf_core.runs.recorder import _best_epoch
from hmf_core.runs.rundir import RunDir, run_split
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.metrics import monitor as task_monitor
from hmf_core.training.settings import TrainSettings
from hmf_core.training.trainer import _quiet_lightning, full_ranking


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
    split = run_split(run)  # the run's own split
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
