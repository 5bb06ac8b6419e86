"""Limits on runs (hmf_core.runs.limits): trainings at once wait in a queue of slots in the runs
folder, in the order they were started, and leave it when stopped; a full runs folder refuses
a new training with the figures."""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import wait_for
from test_runs import settings_for

from hmf_core.common.errors import RunError
from hmf_core.runs import limits
from hmf_core.runs.limits import RunLimits
from hmf_core.runs.manager import describe, run_status, start_run, stop_run
from hmf_core.runs.rundir import FILES
from hmf_core.runs.worker import PROGRESS, STOP

ONE_AT_A_TIME = RunLimits(trainings=1)


def phase(run) -> str:
    return run_status(run).phase


def test_a_second_run_waits_in_line_and_starts_when_the_first_finishes(tmp_path):
    root = tmp_path / "runs"
    first = start_run(settings_for(tmp_path, max_epochs=12), root=root, limits=ONE_AT_A_TIME)
    second = start_run(settings_for(tmp_path, max_epochs=2), root=root, limits=ONE_AT_A_TIME)
    wait_for(lambda: phase(second) == "queued, position 1", timeout=60)
    assert describe(second)["state"] == "queued, position 1"  # the run list says so too
    assert run_status(second).active  # waiting counts as active: the page keeps refreshing
    left_queue = None
    while run_status(first).active:  # the second never trains while the first does
        if left_queue is None and not phase(second).startswith("queued"):
            left_queue = time.time()
        time.sleep(0.2)
    assert left_queue is None, "the second run left the queue while the first was active"
    assert first.progress()["state"] == "finished", first.log_tail()
    wait_for(lambda: second.progress()["state"] == "finished" and not second.process_alive())
    assert "test_rmse" in second.test_metrics(), second.log_tail()
    assert first.meta()["ended"] <= second.meta()["ended"]
    assert not list((root / limits.QUEUE).iterdir())  # every ticket given up


def test_stop_takes_a_queued_run_out_of_line_and_the_next_moves_up(tmp_path):
    root = tmp_path / "runs"
    first = start_run(settings_for(tmp_path, max_epochs=10_000), root=root, limits=ONE_AT_A_TIME)
    second = start_run(settings_for(tmp_path, max_epochs=1), root=root, limits=ONE_AT_A_TIME)
    third = start_run(settings_for(tmp_path, max_epochs=1), root=root, limits=ONE_AT_A_TIME)
    wait_for(lambda: phase(second) == "queued, position 1", timeout=60)
    wait_for(lambda: phase(third) == "queued, position 2", timeout=60)

    stop_run(second)  # Stop while queued: it leaves the line without training
    wait_for(lambda: phase(second) == "stopped" and not second.process_alive(), timeout=30)
    assert second.progress()["error"] == "stopped while queued"
    assert not second.has_model() and not second.file("metrics").exists()
    wait_for(lambda: phase(third) == "queued, position 1", timeout=30)

    os.kill(third.progress()["pid"], signal.SIGKILL)  # a queued worker that dies...
    wait_for(lambda: phase(third) == "failed", timeout=30)
    assert run_status(third).error == "the training process ended before training started"
    assert phase(first) in ("preparing data", "training HMF")  # ...the first went on

    fourth = start_run(settings_for(tmp_path, max_epochs=1), root=root, limits=ONE_AT_A_TIME)
    wait_for(lambda: phase(fourth) == "queued, position 1", timeout=60)  # the dead one is gone
    stop_run(first)
    wait_for(lambda: fourth.progress()["state"] == "finished" and not fourth.process_alive())
    assert first.progress()["state"] == "stopped"
    assert not list((root / limits.QUEUE).iterdir())


def test_a_ticket_whose_holder_died_is_not_waited_for(tmp_path):
    dead, descriptor = limits.take_ticket(tmp_path)
    os.close(descriptor)  # as when its worker dies: the kernel drops the lock
    alive, held = limits.take_ticket(tmp_path)
    try:
        assert dead.name < alive.name  # taken first, so ahead in line...
        assert limits.queue_position(alive) == 1  # ...but nobody holds it: not waited for
        assert not dead.exists()
        later, later_held = limits.take_ticket(tmp_path)
        assert limits.queue_position(later) == 2  # a live ticket ahead is waited for
        os.close(later_held)
    finally:
        os.close(held)


def test_slots_are_taken_up_to_the_limit_and_freed_with_their_holder(tmp_path):
    taken = [limits.try_slot(tmp_path, 2) for _ in range(2)]
    assert None not in taken and limits.try_slot(tmp_path, 2) is None
    assert limits.trainings_running(tmp_path, 2) == 2
    os.close(taken[0])
    assert limits.trainings_running(tmp_path, 2) == 1
    again = limits.try_slot(tmp_path, 2)
    assert again is not None
    for descriptor in (again, taken[1]):
        os.close(descriptor)


def test_a_full_runs_folder_refuses_a_new_training_with_the_figures(tmp_path):
    root = tmp_path / "runs"
    (root / "old-run").mkdir(parents=True)
    (root / "old-run" / "best.ckpt").write_bytes(os.urandom(2_000_000))
    with pytest.raises(RunError) as refusal:
        start_run(
            settings_for(tmp_path),
            root=root,
            limits=RunLimits(disk_bytes=1_000_000, disk_setting="HMF_SHARED_RUNS_GB"),
        )
    message = str(refusal.value)
    assert f"the runs folder {root} uses 2.0 MB, above the limit of 1.0 MB" in message
    assert "(HMF_SHARED_RUNS_GB)" in message
    assert [p.name for p in root.iterdir()] == ["old-run"]  # no run directory was made
    assert limits.check_disk(root, 3_000_000) >= 2_000_000  # under the limit: no refusal


def test_the_worker_names_the_run_files_as_rundir_does():
    assert (PROGRESS, STOP) == (FILES["progress"], FILES["stop"])
