"""One training run, start to finish, into a run folder: the data read and split (written
into the run), HMF fitted (and the MF comparison), then cluster quality and the maps."""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
from pytorch_lightning.callbacks import Callback

from hmf_core.common.errors import RunError
from hmf_core.common.progress import QUALITY_STEP, Report, silent, span
from hmf_core.data.column_types import resolve_types
from hmf_core.data.datasets import coverage_message, metadata_coverage
from hmf_core.data.metadata import align, read_metadata
from hmf_core.data.ratings import RatingData
from hmf_core.data.split import Split, make_split
from hmf_core.models.interface import by_side
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.runclaim import RunLock
from hmf_core.runs.rundir import RunDir, data_fingerprint
from hmf_core.runs.steps import RunSteps
from hmf_core.training.settings import MF_INIT_STD, TrainSettings, cluster_warnings
from hmf_core.training.trainer import is_rank_zero, load_data

PREPARING = "preparing"  # progress.json's "refused" when reading or splitting refused the data
READ_SHARE = 0.7  # of preparing a run's data, the share of reading (splitting: the rest)


def prepare_run(
    settings: TrainSettings, run_dir: Path, report: Report | None = None
) -> tuple[RatingData, Split]:
    """Read, split and write everything the dashboard needs before the first epoch. Rank 0
    writes how far reading and splitting are into progress.json (hmf_core.runs.steps.RunSteps):
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
    types = {}
    for kind, ids, path in (
        ("user", split.user_ids, settings.users),
        ("item", split.item_ids, settings.items),
    ):
        metadata = read_metadata(path, kind=kind) if path else None
        if metadata is not None:
            # typed as the Data page showed the file, with its overrides
            chosen = settings.column_types.get(kind)
            types[kind] = resolve_types(metadata.reset_index(), chosen, Path(path).name)
            # the Data page's warning, in the CLI and the worker log
            rated = by_side(kind, data.user_ids, data.item_ids)
            coverage = metadata_coverage(metadata, rated)
            if not coverage.complete:
                print(f"warning: {coverage_message(coverage, path, kind)}", flush=True)
        align(metadata, ids, kind).to_csv(run.file(f"{kind}s"), index_label="index")
    run.write_column_types(types)
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


TRAINED = ("checkpoint", "metrics", "test_metrics", "data", "maps", "quality")  # a run's output


def train_run(
    settings: TrainSettings,
    run_dir: str | Path,
    callbacks: list[Callback] | None = None,
    lock: RunLock | None = None,
    report: Report | None = None,
) -> dict:
    """The whole run: prepare, fit the family's model, optionally fit MF on the same split,
    then the maps; returns the test metrics, {settings.family: ..., "mf": ...}.
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
    # keyed by the run's family ("hmf", "twostage", "mfdmc"); "mf" for the comparison below
    results = {settings.family: fit_run(settings, split, run_dir, "HMF", callbacks)}
    if settings.compare_mf and not RunDir(run_dir).stop_requested():
        if is_rank_zero():  # the MF comparison is a sub-run: its own id and its parent's
            RunDir(run_dir / "mf").create(parent=RunDir(run_dir))
        mf_settings = replace(  # plain MF: HMF at depth 0, whatever the run's family
            settings, family="hmf", user_depth=0, item_depth=0, init_std=MF_INIT_STD
        )
        results["mf"] = fit_run(mf_settings, split, run_dir / "mf", "MF", callbacks)
    if is_rank_zero() and RunDir(run_dir).has_model():
        from hmf_core.runs.quality_files import record_quality

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
    from hmf_core.runs.maps import save_projections  # umap's import is slow: only here

    try:
        return save_projections(run_dir, report=report)
    except Exception as exc:
        RunDir(run_dir).write("maps", {"error": f"{type(exc).__name__}: {exc}"})
        print(f"computing the maps failed: {exc}", flush=True)
        return {}
