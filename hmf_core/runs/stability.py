"""Cluster stability of a finished run: the run's settings trained again with further seeds on
the run's own split (its interactions.parquet, so the data is identical), each as a sub-run
RUN/stability/seed-S/ (its own id and its parent's, like the MF comparison mf/; no MF comparison,
no maps, no quality), then hmf_core.interpret.stability compares their top clusters with the
run's own and the result is written to the run's stability.json.

stability.json is derived, like quality.json: measuring again rewrites it (the CLI says so).
`python -m hmf_core.runs.stability RUN --seeds N` is the same measurement as the app's
background job (hmf_core.runs.manager.start_stability): it writes its progress, epoch by epoch,
into RUN/stability_progress.json ({"state": running|finished|failed, "fraction", "text",
"pid", "error"}) for the Metrics page.
Sub-runs already finished are reused (the same settings and seed train the same model), a
sub-run left unfinished (a killed measurement) is trained again from scratch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from hmf_core.common.errors import RunError
from hmf_core.common.progress import Report, silent
from hmf_core.interpret.stability import (
    REAPPEAR_JACCARD,
    cluster_counts,
    parallel_groupings,
    stability,
    top_clusters,
)
from hmf_core.models.interface import grouping_word
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.runclaim import RunLock
from hmf_core.runs.rundir import RunDir, run_split
from hmf_core.training.settings import TrainSettings

FOLDER = "stability"  # RUN/stability/seed-S/: the extra seeds' sub-runs
DEFAULT_RUNS = 3  # the run and two more seeds


def sub_run(run: RunDir, seed: int) -> RunDir:
    return RunDir(run.path / FOLDER / f"seed-{seed}", parent=run)


def check_finished(run: RunDir) -> None:
    """A RunError unless `run` is a finished run with a model."""
    if not run.exists():
        raise RunError(f"{run.path}: not a run directory (settings.json is missing)")
    state = run.progress().get("state", "unknown")
    if state != "finished" or not run.has_model():
        raise RunError(
            f"{run.path}: the run is {state}, not finished: stability is measured on a "
            "finished run's model"
        )


def measure_stability(
    run_dir: str | Path,
    runs: int = DEFAULT_RUNS,
    report: Report | None = None,
    callbacks: list[Callback] | None = None,
) -> dict:
    """Train `runs - 1` more seeds of a finished run (seed + 1, seed + 2, ...) as sub-runs on its
    split, compare their clusters with the run's own (hmf_core.interpret.stability) and write
    stability.json into the run; returns it. `report` hears each seed's training and the
    comparison; `callbacks` go to each fit (the CLI's epoch lines)."""
    if runs < 2:
        raise ValueError(f"--seeds counts the run itself: it must be at least 2, got {runs}")
    run = RunDir(run_dir)
    check_finished(run)
    report = report or silent
    with RunLock(run.path):  # a RunError while another process writes the run
        settings = TrainSettings(**run.settings())
        model = run.load_model()
        split = run_split(run)
        # the extra fits: the same settings on another seed, nothing but the model itself
        extra = replace(settings, compare_mf=False, projection=False, logger="csv")
        assignments, counts, parts = [top_clusters(model)], [cluster_counts(model)], []
        for number in range(1, runs):
            seed = settings.seed + number
            part = sub_run(run, seed)
            label = f"seed {seed} ({number} of {runs - 1})"
            report((number - 1) / (runs - 1), f"training seeds: {label}")
            started = time.perf_counter()
            if not _finished(part):
                if part.path.exists():
                    print(f"replacing the unfinished sub-run {part.path}", flush=True)
                    shutil.rmtree(part.path)
                part.path.mkdir(parents=True)
                part.create(parent=run)
                part.write("settings", asdict(replace(extra, seed=seed)))
                fit_run(replace(extra, seed=seed), split, part.path, f"seed {seed}", callbacks)
                if not _finished(part):
                    raise RunError(
                        f"{part.path}: training seed {seed} did not finish "
                        f"({part.progress().get('error') or part.progress().get('state')})"
                    )
            seconds = time.perf_counter() - started
            seeded = part.load_model()
            assignments.append(top_clusters(seeded))
            counts.append(cluster_counts(seeded))  # MFDMC: pruning differs from seed to seed
            parts.append({"seed": seed, "path": str(part.path.relative_to(run.path)),
                          "seconds": round(seconds, 2)})  # fmt: skip
        report(1.0, "training seeds: done")
        measured = stability(assignments, counts, REAPPEAR_JACCARD, parallel_groupings(model))
        measured["grouping"] = grouping_word(model)  # "view" for MFDMC: what "level" counts
        measured["seeds"] = [settings.seed] + [part["seed"] for part in parts]
        measured["sub_runs"] = parts
        measured["run_seconds"] = run.progress().get("elapsed_s")
        measured["measured"] = time.time()
        run.write("stability", measured)
    return measured


def _finished(part: RunDir) -> bool:
    return part.has_model() and part.progress().get("state") == "finished"


class JobProgress(Callback):
    """The background job's progress in RUN/stability_progress.json: measure_stability's
    reports (one per seed), refined by the epochs of the seed being trained."""

    def __init__(self, run: RunDir, runs: int):
        self.run, self.seeds = run, runs - 1
        self.fraction, self.text = 0.0, "starting"

    def write(self, state: str = "running", **more) -> None:
        self.run.write(
            "stability_progress",
            {"state": state, "fraction": round(self.fraction, 4), "text": self.text,
             "pid": os.getpid(), **more},
        )  # fmt: skip

    def __call__(self, fraction: float, text: str) -> None:
        self.fraction, self.text = fraction, text
        self.write()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epochs = max(1, trainer.max_epochs or 1)
        done = min(1.0, (trainer.current_epoch + 1) / epochs)
        seed_start = int(self.fraction * self.seeds + 1e-9) / self.seeds
        self.fraction = min(1.0, seed_start + done / self.seeds)
        self.write(epoch=trainer.current_epoch + 1, epochs=epochs)


def main(argv: list[str]) -> int:
    """The background job: measure_stability with its progress in stability_progress.json."""
    parser = argparse.ArgumentParser(prog="python -m hmf_core.runs.stability")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--seeds", type=int, default=DEFAULT_RUNS)
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir)
    progress = JobProgress(run, max(2, args.seeds))
    progress.write()
    try:
        measure_stability(run.path, args.seeds, report=progress, callbacks=[progress])
    except Exception as exc:  # recorded for the Metrics page; the traceback goes to the log
        progress.write("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    progress.fraction, progress.text = 1.0, "done"
    progress.write("finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
