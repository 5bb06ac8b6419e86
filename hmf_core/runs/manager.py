"""Background runs: each training, and each map computation, is its own process working in a
run directory.

A process (not a thread of the app) survives app reruns, reloaded tabs and an app restart, and
anyone who knows the run directory can follow it. Stopping writes STOP into the directory; the
training ends its epoch cleanly, keeps its best checkpoint and still computes the maps.

The lifecycle in one place: `spawn` starts every process, `runs` reaps the finished ones, and
`run_status` says where a run stands (the one state machine the CLI and the app share).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hmf_core.common.errors import RunError
from hmf_core.common.files import DamagedFile, diverged_fields, read_json
from hmf_core.common.places import runs_root
from hmf_core.common.progress import QUALITY_STEP
from hmf_core.runs.limits import RunLimits, check_disk, take_ticket
from hmf_core.runs.runclaim import create_run_dir
from hmf_core.runs.rundir import RunDir, list_runs
from hmf_core.training.metrics import METRIC_LABELS
from hmf_core.training.settings import TrainSettings

FINAL_STATES = ("finished", "stopped", "failed")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


# Processes started by this process, by (run directory, job): reaped by runs(); the map job of
# a run is looked up here (a map job writes no progress.json of its own).
_children: dict[tuple[str, str], subprocess.Popen] = {}

# Niceness added to every background job (training, maps, stability): while one trains, the app
# answers first. On the 2-core test machine (ML-100K, benchmarks/results/latency.md) a reload
# while a run trained went from 0.99 / 0.97 s to 0.93 / 0.90 s at p50, and the run's time to
# its best epoch did not change.
BACKGROUND_NICENESS = 10


def spawn(
    run: RunDir, job: str, command: list[str], log: str, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen:
    """Start `python -m <command...>` for `run` in its own session, its output in the run's
    `log` file, and remember it as (run, job). `pass_fds`: descriptors the process inherits."""
    with open(run.file(log), "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PACKAGE_ROOT,  # `-m hmf_core...` finds the package here even when not installed
            start_new_session=True,
            pass_fds=pass_fds,
        )
    _children[(str(run.path), job)] = process
    _lower_priority(process.pid)
    return process


def _lower_priority(pid: int) -> None:
    """Run process `pid` at BACKGROUND_NICENESS above this process (19 at most), set from here
    rather than in the child (Popen's preexec_fn is unsafe in the app's threaded server).
    Where priorities cannot be set (the process already ended, no os.setpriority) it runs as is."""
    try:
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, pid, min(mine + BACKGROUND_NICENESS, 19))
    except (AttributeError, OSError):
        pass


def job_running(run: RunDir, job: str) -> bool:
    """Whether a `job` process this process started for `run` still runs."""
    process = _children.get((str(run.path), job))
    return process is not None and process.poll() is None


def new_run_name(settings: TrainSettings) -> str:
    depth = f"p{settings.user_depth}q{settings.item_depth}"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{settings.task}-{depth}"


def start_run(
    settings: TrainSettings,
    root: str | Path | None = None,
    name: str | None = None,
    label: str = "",
    note: str = "",
    limits: RunLimits | None = None,
) -> RunDir:
    """Start training in a new process; returns at once with the run directory (called `name`,
    by default the time and the shape). `label` and `note` are the user's name and note for the
    run (meta.json, with the time Train was pressed). `limits`: a RunError with the figures when
    the runs folder uses more disk than allowed; with a number of trainings at once, the worker
    waits in the runs folder's queue (`hmf_core.runs.limits`) for a slot before it trains."""
    limits = limits or RunLimits()
    root = Path(root).resolve() if root is not None else runs_root()  # the worker's cwd differs
    check_disk(root, limits.disk_bytes, limits.disk_setting)
    run_dir = create_run_dir(root, name or new_run_name(settings))  # atomic: no exists() gap
    run = RunDir(run_dir)
    run.create(name=label, note=note)  # meta.json: its new run id, name, note, created
    run.write("settings", asdict(settings))
    command, inherited = ["hmf_core.runs.worker", str(run.path)], ()
    if limits.trainings:  # a place in line, taken here so that the queue keeps the Train order
        ticket, descriptor = take_ticket(root)
        command += ["--slots", str(limits.trainings), "--ticket", str(ticket)]
        inherited = (descriptor,)  # the worker inherits the ticket's lock
    try:
        process = spawn(run, "train", command, "log", pass_fds=inherited)
    finally:
        for descriptor in inherited:
            os.close(descriptor)
    run.write(
        "progress", {"state": "queued", "pid": process.pid, "label": "HMF", "started": time.time()}
    )
    return run


def start_maps(run: RunDir) -> None:
    """Compute a finished run's maps in a separate process (`python -m hmf_core maps`): UMAP
    takes seconds to tens of seconds on a CPU, and a process keeps the app responsive."""
    if not job_running(run, "maps"):
        spawn(run, "maps", ["hmf_core", "maps", str(run.path)], "maps_log")


BUSY_JOBS = ("maps", "stability")


def stability_job(run: RunDir) -> dict:
    """The background stability job's stability_progress.json ({} when none ran); a damaged one
    reads as {"state": "failed", "error": ...}. Here, not in runs.stability, which imports
    Lightning: the Metrics page reads it on every visit (a first visit paid 2.8 s of imports)."""
    try:
        return read_json(run.file("stability_progress"), "measure the stability again")
    except DamagedFile as damage:
        return {"state": "failed", "error": str(damage)}


def start_stability(run: RunDir, seeds: int = 3) -> None:
    """Measure a finished run's cluster stability in a separate process (`python -m
    hmf_core.runs.stability RUN --seeds N`: `seeds - 1` more trainings, progress in
    stability_progress.json, the result in stability.json). A RunError with one clear line when
    the run is not finished, or its training, maps or another measurement still run."""
    from hmf_core.runs.stability import check_finished  # Lightning: only when asked

    busy = [job for job in BUSY_JOBS if job_running(run, job)]
    status = run_status(run)
    if status.active:
        busy.insert(0, status.phase)
    if busy:
        raise RunError(
            f"{run.name}: not started: {', '.join(busy)} still running for this run; "
            "measure the stability when it is done"
        )
    check_finished(run)
    if seeds < 2:
        raise RunError(f"seeds counts the run itself: it must be at least 2, got {seeds}")
    command = ["hmf_core.runs.stability", str(run.path), "--seeds", str(seeds)]
    run.write("stability_progress", {"state": "running", "fraction": 0.0, "text": "starting"})
    spawn(run, "stability", command, "stability_log")


def stop_run(run: RunDir) -> None:
    run.request_stop()


def runs(root: str | Path | None = None) -> list[RunDir]:
    """Run directories under `root`, newest first (and finished workers are reaped)."""
    for key, process in list(_children.items()):
        if process.poll() is not None:  # poll() reaps it: no zombie left behind
            del _children[key]
    return list_runs(root if root is not None else runs_root())


def run_worker(run_dir: Path) -> int:
    """Body of the training process: read settings.json, train, record any failure."""
    from hmf_core.runs.train_run import train_run
    from hmf_core.training.settings import settings_from_json

    run = RunDir(run_dir)
    settings = settings_from_json(run.file("settings"))
    try:
        train_run(settings, run_dir)
    except Exception as exc:  # recorded for the dashboard; the traceback goes to log.txt
        progress = run.progress()
        if progress.get("state") != "failed":
            run.write(
                "progress", {**progress, "state": "failed", "pid": os.getpid(), "error": str(exc)}
            )
        raise
    finally:
        run.update_meta(ended=time.time())  # the run's wall time ends here (run_status)
    return 0


@dataclass
class RunStatus:
    phase: str  # preparing data, training HMF, training MF, computing cluster quality,
    # computing maps, finished...
    active: bool  # the training process is still working
    hmf: dict  # progress.json of HMF
    mf: dict | None  # progress.json of the MF comparison, if there is one
    error: str | None = None
    started: float | None = None  # when Train was pressed (epoch seconds)
    ended: float | None = None  # when the training process ended; None while active
    now: float = 0.0  # when this status was read

    @property
    def elapsed_s(self) -> float:
        """Wall time from Train to the end of the run (to now while it is active): what the
        Train panel and the run list both show."""
        if self.started is None:
            return 0.0
        end = self.now if self.active or self.ended is None else self.ended
        return max(0.0, end - self.started)


def run_status(run: RunDir) -> RunStatus:
    """Where a run stands and its times: from its files, and whether its process is alive for
    the steps that follow HMF's training (the MF comparison, then the maps). A run whose
    settings or progress cannot be read is "damaged (<file>: <reason>)", its error says how
    to recover. The one source of a run's state and times for the app, its lists and the CLI."""
    now = time.time()
    try:
        status = _status(run)
    except DamagedFile as damage:
        status = RunStatus(f"damaged ({damage.short})", False, {}, None, str(damage))
    status.now = now
    status.started, status.ended = _times(run, status)
    return status


def _times(run: RunDir, status: RunStatus) -> tuple[float | None, float | None]:
    """(started, ended) as recorded: meta.json's created and ended; for a run whose process was
    killed before it could write `ended`, the last write of its progress files."""
    try:
        meta = run.meta()
        started = meta.get("created", run.created())
    except (DamagedFile, OSError):
        return None, None
    if status.active:
        return started, None
    ended = meta.get("ended")
    if ended is None:
        stamps = [part.stamp("progress") for part in (run, run.comparison()) if part is not None]
        ended = max((stamp[0] / 1e9 for stamp in stamps if stamp), default=None)
    return started, None if ended is None else max(ended, started)


def _status(run: RunDir) -> RunStatus:
    hmf = run.progress()  # reports a dead process that was training as failed
    mf_run = run.comparison()
    mf = mf_run.progress() if mf_run is not None else None
    state = hmf.get("state", "queued")
    error = hmf.get("error")
    alive = run.process_alive()
    if state == "queued":
        if alive and hmf.get("position"):  # waiting for a slot (hmf_core.runs.limits)
            return RunStatus(f"queued, position {hmf['position']}", True, hmf, mf)
        if alive:
            return RunStatus("preparing data", True, hmf, mf)
        return RunStatus(
            "failed", False, hmf, mf, error or "the training process ended before training started"
        )
    if state == "running":
        return RunStatus("training HMF", True, hmf, mf)
    if state not in ("finished", "stopped"):
        return RunStatus(state, False, hmf, mf, error)
    if alive and hmf.get("step") == QUALITY_STEP:  # hmf_core.runs.steps.RunSteps wrote it
        return RunStatus(QUALITY_STEP, True, hmf, mf)
    settings = run.settings()
    if (
        settings.get("compare_mf")
        and state == "finished"
        and (mf is None or mf.get("state") not in FINAL_STATES)
    ):
        next_step = "training MF"
    elif settings.get("projection", True) and run.has_model() and not run.file("maps").exists():
        next_step = "computing maps"
    else:
        return RunStatus(state, False, hmf, mf, error)
    if alive:
        return RunStatus(next_step, True, hmf, mf)
    return RunStatus(state, False, hmf, mf, error)


def format_metrics(metrics: dict, stage: str = "test") -> str:
    """A run's metrics of one stage as people read them: "RMSE 0.9234" or
    "HR@10 0.4123 · MRR@10 0.2011" (4 decimals; "" when there are none); a metric that was NaN
    or infinite reads "RMSE diverged". The full-ranking metrics (..._full) are left to the
    Metrics page and `evaluate`: a run list stays one line."""
    shown = []
    diverged = diverged_fields(metrics)  # NaN or infinite when written (hmf_core.common.files)
    for key, value in metrics.items():
        if not key.startswith(f"{stage}_") or key.endswith("_full"):
            continue
        name = METRIC_LABELS.get(key.removeprefix(f"{stage}_"), key.removeprefix(f"{stage}_"))
        if key in diverged:
            shown.append(f"{name} diverged")
        elif isinstance(value, (int, float)) and math.isfinite(value):
            shown.append(f"{name} {value:.4f}")
    return " · ".join(shown)


def run_note(run: RunDir) -> str:
    """The run's note ("" when it has none or meta.json cannot be read)."""
    try:
        return run.meta()["note"]
    except DamagedFile:
        return ""


def format_duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def describe(run: RunDir, status: RunStatus | None = None) -> dict:
    """One line of a run list: name, data file, state and elapsed time (both from `run_status`,
    the one the Train panel shows), test metrics, task, depths, note, and the run directory
    (what identifies the run: names may repeat);
    a run with a damaged file is listed with the state "damaged (<file>: <reason>)"."""
    damage = run.damage()
    if damage is not None:
        return {
            "name": run.label,
            "data": "",
            "state": f"damaged ({damage.short})",
            "run": run.name,
        }
    status = status or run_status(run)
    settings = run.settings()
    return {
        "name": run.label,
        "data": Path(settings.get("data", "")).name,
        "state": status.phase,
        "elapsed": format_duration(status.elapsed_s),
        "test": format_metrics(run.test_metrics()),
        "note": run_note(run),
        "epoch": status.hmf.get("epoch"),
        "task": settings.get("task"),
        "depth": f"{settings.get('user_depth')}/{settings.get('item_depth')}",
        "run": run.name,
    }
