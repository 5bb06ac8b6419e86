"""Background runs: each training is its own process writing a run directory.

A process (not a thread of the app) survives app reruns, reloaded tabs and an app restart, and
anyone who knows the run directory can follow it. Stopping writes STOP into the directory; the
training ends its epoch cleanly, keeps its best checkpoint and still computes the maps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from hmf_core.runclaim import create_run_dir
from hmf_core.rundir import RunDir, list_runs, write_json
from hmf_core.settings import TrainSettings


def runs_root() -> Path:
    """Where runs live: $HMF_RUNS_DIR (read at each call), else ./runs; always absolute, since
    the worker process runs with another working directory."""
    return Path(os.environ.get("HMF_RUNS_DIR", "runs")).resolve()


_children: list[subprocess.Popen] = []  # workers started by this process, reaped by runs()


def new_run_name(settings: TrainSettings) -> str:
    depth = f"p{settings.user_depth}q{settings.item_depth}"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{settings.task}-{depth}"


def start_run(
    settings: TrainSettings, root: str | Path | None = None, name: str | None = None
) -> RunDir:
    """Start training in a new process; returns at once with the run directory."""
    root = Path(root).resolve() if root is not None else runs_root()  # the worker's cwd differs
    run_dir = create_run_dir(root, name or new_run_name(settings))  # atomic: no exists() gap
    settings_path = run_dir / "settings.json"
    write_json(settings_path, asdict(settings))
    log = open(run_dir / "log.txt", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "hmf_core.worker", str(run_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    write_json(
        run_dir / "progress.json",
        {"state": "queued", "pid": process.pid, "label": "HMF", "started": time.time()},
    )
    return RunDir(run_dir)


def stop_run(run: RunDir) -> None:
    run.request_stop()


def runs(root: str | Path | None = None) -> list[RunDir]:
    """Run directories under `root`, newest first (and finished workers are reaped)."""
    _children[:] = [child for child in _children if child.poll() is None]
    return list_runs(root if root is not None else runs_root())


def run_worker(run_dir: Path) -> int:
    """Body of the training process: read settings.json, train, record any failure."""
    from hmf_core.settings import settings_from_json
    from hmf_core.training import train_run

    settings = settings_from_json(run_dir / "settings.json")
    try:
        train_run(settings, run_dir)
    except Exception as exc:  # recorded for the dashboard; the traceback goes to log.txt
        progress = RunDir(run_dir).progress()
        if progress.get("state") not in ("failed",):
            write_json(
                run_dir / "progress.json",
                {**progress, "state": "failed", "pid": os.getpid(), "error": str(exc)},
            )
        raise
    return 0


def describe(run: RunDir) -> dict:
    """One line of a run list: name, state, task, depths, best metric."""
    settings = run.settings()
    progress = run.progress()
    test = run.test_metrics()
    return {
        "run": run.name,
        "state": progress.get("state", "unknown"),
        "task": settings.get("task"),
        "data": Path(settings.get("data", "")).name,
        "depth": f"{settings.get('user_depth')}/{settings.get('item_depth')}",
        "epoch": progress.get("epoch"),
        "test": json.dumps({k: round(v, 4) for k, v in test.items() if k.startswith("test_")})
        if test
        else "",
    }
