"""Background runs: a separate process, followed through its run directory, stopped on request."""

from __future__ import annotations

import os
import signal
from dataclasses import replace

from conftest import wait_for

from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.runs import manager as run_manager
from hmf_core.runs.manager import describe, run_status, runs, start_run, stop_run
from hmf_core.runs.rundir import RunDir
from hmf_core.training.trainer import TrainSettings


def settings_for(tmp_path, **changes) -> TrainSettings:
    to_csv(planted_ratings(seed=0), tmp_path / "ratings.csv")
    base = TrainSettings(
        data=str(tmp_path / "ratings.csv"),
        user_clusters=[4],
        item_clusters=[4],
        lr=3e-2,
        weight_decay=0.0,
        projection=False,
        split="random",
        batch_size=32,
        patience=1000,
    )
    return replace(base, **changes)


def test_a_run_in_the_background_can_be_followed_and_stopped(tmp_path):
    run = start_run(settings_for(tmp_path, max_epochs=10_000), root=tmp_path / "runs")
    assert run.progress()["state"] in ("queued", "running")
    wait_for(lambda: len(run.metrics()) >= 2)  # curves grow while it trains
    stop_run(run)
    wait_for(lambda: run.progress()["state"] == "stopped")
    assert run.has_model() and "test_rmse" in run.test_metrics()
    assert len(run.metrics()) < 10_000
    listed = runs(tmp_path / "runs")
    assert [r.name for r in listed] == [run.name]
    assert describe(listed[0])["state"] == "stopped"


def test_background_jobs_run_at_a_lower_priority_than_the_app(tmp_path):
    """Training (and the jobs it starts) yields the CPU to the app: BACKGROUND_NICENESS above
    the process that started it, 19 at most."""
    run = start_run(settings_for(tmp_path, max_epochs=10_000), root=tmp_path / "runs")
    pid = wait_for(lambda: run.progress().get("state") == "running" and run.progress()["pid"])
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(mine + run_manager.BACKGROUND_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected > mine
    stop_run(run)
    wait_for(lambda: run.progress()["state"] == "stopped")


def test_a_killed_worker_is_reported_as_failed(tmp_path):
    run = start_run(settings_for(tmp_path, max_epochs=10_000), root=tmp_path / "runs")
    wait_for(lambda: run.progress().get("state") == "running")
    os.kill(run.progress()["pid"], signal.SIGKILL)
    state = wait_for(lambda: run.progress()["state"] == "failed" and run.progress())
    assert "ended without finishing" in state["error"]


def test_a_bad_file_fails_the_run_with_the_reason(tmp_path):
    (tmp_path / "bad.csv").write_text("user,item,rating\n1,2,x\n")
    run = start_run(TrainSettings(data=str(tmp_path / "bad.csv")), root=tmp_path / "runs")
    progress = wait_for(lambda: run.progress()["state"] == "failed" and run.progress())
    assert progress["error"] == "bad.csv, line 2: expected a number in column 'rating', found 'x'"
    assert RunDir(run.path).settings()["data"] == str(tmp_path / "bad.csv")
    assert run_status(run).phase == "failed" and not run_status(run).active


def test_a_relative_runs_root_works_from_any_working_directory(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, max_epochs=2)
    monkeypatch.chdir(tmp_path)
    run = start_run(settings, root="relative-runs")
    assert run.path.is_absolute() and run.path.parent == tmp_path / "relative-runs"
    wait_for(lambda: run.progress()["state"] == "finished")
    assert run.test_metrics()["test_rmse"] > 0 and len(run.metrics()) == 2


def test_runs_reaps_the_workers_it_started(tmp_path):
    """A finished worker stays a zombie until its parent waits for it; runs() does."""
    run = start_run(settings_for(tmp_path, max_epochs=1), root=tmp_path / "runs")
    process = run_manager._children[(str(run.path), "train")]
    wait_for(lambda: run.progress()["state"] == "finished")
    wait_for(lambda: not run.process_alive())  # exited: a zombie, not yet reaped
    assert (str(run.path), "train") in run_manager._children

    def reaped_by_runs() -> bool:
        runs(tmp_path / "runs")  # the leader shows Z a moment before its last thread ends
        return process.returncode is not None

    wait_for(reaped_by_runs)
    assert process.returncode == 0 and (str(run.path), "train") not in run_manager._children
    assert run_status(run).phase == "finished"
