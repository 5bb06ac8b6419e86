"""Cluster quality of a run folder: quality.json computed from the run's checkpoint, its start
rebuilt as training built it, its MF comparison and its metadata (hmf_core.interpret.quality
computes it from models; this module reads and writes the run)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hmf_core.common.errors import RunError
from hmf_core.data.metadata import align, read_metadata
from hmf_core.interpret.quality import has_hmf_start, model_quality
from hmf_core.models.hmf import HMF
from hmf_core.models.warmstart import start_model
from hmf_core.runs.rundir import RunDir, load_checkpoint


def rebuild_start(run_dir: str | Path, model: HMF | None = None) -> HMF:
    """The model as training started it, as hmf_core.training.trainer.fit builds it:
    initial_model(config, seed), then the run's warm start (hmf_core.models.warmstart) from its
    training interactions. Seed and warm start from settings.json (the seed else from the
    checkpoint's hyperparameters)."""
    run = RunDir(run_dir)
    hparams = {}
    if model is None:
        model, hparams = load_checkpoint(run.file("checkpoint"))
    settings = run.settings()
    seed = settings.get("seed", hparams.get("seed"))
    if seed is None:
        raise RunError(f"{run.path}: settings.json has no seed: the start cannot be rebuilt")
    method = settings.get("warm_start", "none")
    train = run.interactions().query("stage == 'train'") if method != "none" else None
    sharpness = settings.get("warm_start_sharpness", 0.8)
    return start_model(model.config, int(seed), train, method, sharpness)


def _metadata(run: RunDir, kind: str, override: str | Path | None) -> pd.DataFrame | None:
    """users.csv / items.csv of the run, or `override` (a metadata file) aligned to its ids."""
    own = run.users() if kind == "user" else run.items()
    if override is None:
        return own
    metadata = read_metadata(override, kind=kind)
    aligned = align(metadata, own["id"].to_numpy(), kind)
    matched = aligned[[c for c in metadata.columns if c != "label"]].notna().any(axis=1).sum()
    if matched == 0:
        raise ValueError(
            f"{Path(override).name}: none of the run's {len(own)} {kind} ids is in the file "
            f"(the run's ids look like {own['id'].head(3).tolist()}, the file's like "
            f"{metadata.index[:3].tolist()})"
        )
    return aligned


def run_quality(
    run_dir: str | Path, items: str | Path | None = None, users: str | Path | None = None
) -> dict:
    """Cluster quality of a trained run; writes quality.json into the run and returns it.
    `items` / `users` name metadata files used instead of the run's own items.csv / users.csv."""
    run = RunDir(run_dir)
    if not run.exists():
        raise RunError(f"{run.path}: not a run directory (settings.json is missing)")
    model = run.load_model()
    mf_run = run.comparison()
    quality = model_quality(
        model,
        seed=int(run.settings().get("seed", 0)),
        initial=rebuild_start(run.path, model) if has_hmf_start(model) else None,
        mf=mf_run.load_model() if mf_run is not None and mf_run.has_model() else None,
        users=_metadata(run, "user", users),
        items=_metadata(run, "item", items),
    )
    quality["metadata"] = {"user": _source(users), "item": _source(items)}
    quality["start"] = run.settings().get("warm_start", "none")  # what movement compares to
    run.write("quality", quality)
    return quality


def record_quality(run_dir: str | Path) -> dict:
    """run_quality for the end of training: a failure is written to quality.json as
    {"error": ...} and printed, leaving the run itself finished."""
    try:
        return run_quality(run_dir)
    except Exception as exc:
        error = {"error": f"{type(exc).__name__}: {exc}"}
        RunDir(run_dir).write("quality", error)
        print(f"computing cluster quality failed: {exc}", flush=True)
        return error


def _source(path: str | Path | None) -> str:
    return str(Path(path).resolve()) if path is not None else "run"
