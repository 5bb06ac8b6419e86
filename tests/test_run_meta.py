"""A run's name, note and times (meta.json), its one state and wall time (runs.run_status) that
the Train panel and the run list share, formatted metrics, and the split a dataset defaults to.
Run directories are written by hand, with known times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_RATINGS, REPO, shared_file

from hmf_core.data.datasets import TEMPORAL_MIN_TEST, default_split
from hmf_core.data.ratings import RatingData, read_ratings
from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.runs.compare import (
    changed_settings,
    compare_curves,
    compare_table,
    data_labels,
    incomparable,
    run_labels,
)
from hmf_core.runs.manager import describe, format_duration, format_metrics, run_status
from hmf_core.runs.rundir import MAX_NAME, RunDir, list_runs

DEAD_PID = 2**22 + 12345  # above Linux's pid_max: no process has it


def write_run(folder, name, *, state="finished", pid=DEAD_PID, meta=None, test=None):
    path = folder / name
    path.mkdir(parents=True)
    settings = {"task": "rating", "data": "/x/u.data", "user_depth": 1, "item_depth": 1}
    (path / "settings.json").write_text(json.dumps({**settings, "projection": False}))
    progress = {"state": state, "pid": pid, "epoch": 3, "elapsed_s": 1.0, "started": 0.0}
    (path / "progress.json").write_text(json.dumps(progress))
    if meta is not None:
        (path / "meta.json").write_text(json.dumps(meta))
    if test is not None:
        (path / "test_metrics.json").write_text(json.dumps(test))
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8], "val_rmse": [1.1, 1.0]}).to_csv(
        path / "metrics.csv", index=False
    )
    return RunDir(path)


# --- times: one source for the panel and the list ---------------------------------------------


def test_a_finished_run_took_the_wall_time_from_train_to_the_end_of_its_process(tmp_path):
    run = write_run(tmp_path, "a", meta={"created": 1000.0, "ended": 1050.5})
    status = run_status(run)
    assert (status.phase, status.active) == ("finished", False)
    assert status.elapsed_s == pytest.approx(50.5)  # not the fit's own elapsed_s (1.0)
    row = describe(run)
    assert (row["state"], row["elapsed"]) == (status.phase, "0:50")


def test_an_active_run_counts_from_train_and_never_restarts_when_settings_are_rewritten(
    tmp_path,
):
    started = time.time() - 42
    run = write_run(tmp_path, "a", state="running", pid=os.getpid(), meta={"created": started})
    status = run_status(run)
    assert status.active and status.phase == "training HMF"
    assert 42 <= status.elapsed_s < 60
    # The worker writes settings.json again when it has read the data: the clock goes on.
    run.write("settings", run.settings())
    assert run_status(run).elapsed_s >= 42
    assert run.created() == started  # and the run list keeps its order


def test_a_killed_run_ends_at_its_last_progress_write(tmp_path):
    run = write_run(tmp_path, "a", state="running", meta={"created": 1000.0})
    os.utime(run.file("progress"), (1090.0, 1090.0))
    status = run_status(run)
    assert status.phase == "failed" and status.ended == pytest.approx(1090.0)
    assert status.elapsed_s == pytest.approx(90.0)


def test_describe_and_run_status_agree_on_every_run(tmp_path):
    runs = [
        write_run(tmp_path, "queued", state="queued", pid=os.getpid(), meta={"created": 5.0}),
        write_run(tmp_path, "running", state="running", pid=os.getpid(), meta={"created": 5.0}),
        write_run(tmp_path, "done", meta={"created": 5.0, "ended": 70.0}),
        write_run(tmp_path, "old"),  # no meta.json: written before names existed
    ]
    for run in runs:
        status = run_status(run)
        row = describe(run, status)
        assert row["state"] == status.phase == describe(run)["state"]
        assert row["elapsed"] == format_duration(status.elapsed_s)
    assert describe(runs[0])["state"] == "preparing data"
    assert describe(runs[3])["name"] == "old"


def test_durations_and_metrics_are_formatted():
    assert [format_duration(s) for s in (0, 59.9, 61, 3600, 3725)] == [
        "0:00",
        "0:59",
        "1:01",
        "1:00:00",
        "1:02:05",
    ]
    assert format_metrics({"test_rmse": 0.923456789, "best_epoch": 4}) == "RMSE 0.9235"
    ranking = {"test_hr10": 0.41234, "test_mrr10": 0.2, "val_hr10": 0.5}
    assert format_metrics(ranking) == "HR@10 0.4123 · MRR@10 0.2000"
    assert format_metrics({"val_rmse": 1.0}, "val") == "RMSE 1.0000"
    assert format_metrics({}) == ""


def test_the_run_list_shows_formatted_test_metrics_not_json(tmp_path):
    run = write_run(tmp_path, "a", test={"test_rmse": 0.9876543, "best_epoch": 2})
    assert describe(run)["test"] == "RMSE 0.9877"


# --- names and notes ------------------------------------------------------------------------


def test_a_name_and_a_note_are_stored_and_shown_as_typed(tmp_path):
    run = write_run(tmp_path, "20260101-a")
    assert run.label == "20260101-a"  # no name yet: the directory's
    hostile = "**bold** [link](http://x) $x$\n<b>two</b>"
    run.update_meta(name=hostile, note=hostile)
    assert run.label == "**bold** [link](http://x) $x$ <b>two</b>"  # one line, text kept
    assert run.meta()["note"] == hostile
    assert describe(run)["name"] == run.label and describe(run)["note"] == hostile
    run.update_meta(note="second thoughts")  # the name stays
    assert (run.label, run.meta()["note"]) == (
        "**bold** [link](http://x) $x$ <b>two</b>",
        "second thoughts",
    )
    run.update_meta(name="x" * 500)
    assert run.label == "x" * MAX_NAME
    assert not list(run.path.glob(".*.tmp"))  # written atomically, no temporary left


def test_a_damaged_meta_file_falls_back_to_the_directory_name(tmp_path):
    run = write_run(tmp_path, "a")
    run.file("meta").write_text('{"name": 7}')
    assert run.label == "a" and describe(run)["note"] == ""
    run.update_meta(name="mended")  # rewritten whole
    assert run.label == "mended"


def test_a_fingerprint_changes_with_any_file_of_the_run_or_of_its_mf(tmp_path):
    run = write_run(tmp_path, "a")
    before = run.fingerprint()
    assert before == run.fingerprint()
    (run.path / "best.ckpt").write_bytes(b"not a checkpoint")  # the run list shows damage
    damaged = run.fingerprint()
    assert damaged != before
    (run.path / "mf").mkdir()
    (run.path / "mf" / "progress.json").write_text("{}")
    assert run.fingerprint() != damaged


def test_runs_are_listed_by_when_train_was_pressed(tmp_path):
    late = write_run(tmp_path, "late", meta={"created": 2000.0})
    early = write_run(tmp_path, "early", meta={"created": 1000.0})
    os.utime(early.file("settings"), (3000.0, 3000.0))  # rewritten later: order unchanged
    assert [run.name for run in list_runs(tmp_path)] == [late.name, early.name]


def test_compare_names_runs_and_tells_twins_apart(tmp_path):
    runs = [
        write_run(tmp_path, "r1", meta={"name": "baseline"}, test={"test_rmse": 1.0}),
        write_run(tmp_path, "r2", meta={"name": "baseline"}, test={"test_rmse": 1.1}),
        write_run(tmp_path, "r3", meta={"name": "deep", "note": "depth 3"}),
        write_run(tmp_path, "r4"),
    ]
    assert run_labels(runs) == {
        "r1": "baseline · r1",
        "r2": "baseline · r2",
        "r3": "deep",
        "r4": "r4",
    }
    table = compare_table(runs)
    assert list(table.columns[:5]) == ["name", "data", "note", "test_rmse", "best_epoch"]
    assert table.columns[-1] == "run"
    assert table.set_index("run").loc["r3", ["name", "note"]].tolist() == ["deep", "depth 3"]
    curves = compare_curves(runs)
    assert set(curves["name"]) == {"baseline · r1", "baseline · r2", "deep", "r4"}
    assert set(table["data"]) == {"u.data"} and incomparable(runs) is None  # one file, no split


def test_compare_names_each_runs_data_and_says_when_metrics_are_not_comparable(tmp_path):
    """Runs are compared on their data fingerprint (data and split): equal fingerprints, one
    label; another fingerprint on the same file name gets its first digits; other data, a
    one-line warning naming the groups."""
    runs = [
        write_run(tmp_path, "a", meta={"name": "x", "data_fingerprint": "aaaa1111aaaa1111"}),
        write_run(tmp_path, "b", meta={"name": "x", "data_fingerprint": "aaaa1111aaaa1111"}),
        write_run(tmp_path, "c", meta={"name": "y", "data_fingerprint": "bbbb2222bbbb2222"}),
    ]
    assert data_labels(runs[:2]) == {"a": "u.data", "b": "u.data"}
    assert incomparable(runs[:2]) is None
    assert data_labels(runs) == {
        "a": "u.data · aaaa11",
        "b": "u.data · aaaa11",
        "c": "u.data · bbbb22",
    }
    warning = incomparable(runs)
    assert warning == (
        "These runs were trained on 2 different datasets or splits (u.data · aaaa11: x · a, "
        "x · b; u.data · bbbb22: y): their metrics are not comparable."
    )
    assert compare_table(runs).set_index("run")["data"].to_dict() == data_labels(runs)
    assert set(compare_curves(runs)["data"]) == {"u.data · aaaa11", "u.data · bbbb22"}


def test_changed_settings_names_the_fields_that_differ():
    old = {"dim": 64, "lr": 0.001, "user_clusters": [8], "threads": None}
    new = {"dim": 64, "lr": 0.002, "user_clusters": (8,), "threads": None, "seed": 1}
    assert changed_settings(old, new) == ["lr", "seed"]
    assert changed_settings(old, old) == []


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "hmf_core", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_the_cli_names_a_run_and_changes_its_name_later(tmp_path):
    to_csv(planted_ratings(seed=0), tmp_path / "ratings.csv")
    run_dir = tmp_path / "run"
    trained = run_cli(
        "train",
        "--data",
        str(tmp_path / "ratings.csv"),
        "--run-dir",
        str(run_dir),
        "--user-clusters",
        "4",
        "--item-clusters",
        "4",
        "--max-epochs",
        "1",
        "--no-projection",
        "--split",
        "random",
        "--name",
        "first try",
        "--note",
        "*as typed*",
    )
    assert trained.returncode == 0, trained.stderr
    assert "name: first try\nnote: *as typed*" in trained.stdout
    run = RunDir(run_dir)
    status = run_status(run)
    assert run.label == "first try" and status.ended is not None
    assert 0 < status.elapsed_s < 300
    renamed = run_cli("name", str(run_dir), "--name", "second")
    assert renamed.returncode == 0 and "name: second\nnote: *as typed*" in renamed.stdout
    assert "name: second" in run_cli("evaluate", str(run_dir)).stdout


# --- the split a dataset defaults to ----------------------------------------------------------


def timed_ratings(n_users: int, per_user: int, late_users: int, repeats: int = 1) -> RatingData:
    """`n_users` users rate items 0..per_user-1 early; the last `late_users` of them rate them
    all again `repeats` times in a late burst. With the burst a quarter of the early ratings,
    the temporal split's test set (the last 20% in time) is exactly the burst; the early
    ratings come in a shuffled order, so every user and item is seen in training."""
    users = np.repeat(np.arange(n_users), per_user)
    items = np.tile(np.arange(per_user), n_users)
    times = np.random.default_rng(0).permutation(len(users))
    table = pd.DataFrame({"user": users, "item": items, "rating": 4.0, "timestamp": times})
    assert late_users * repeats * 4 == n_users, "the burst must be 1/4 of the early ratings"
    late = table[table["user"] >= n_users - late_users]
    bursts = [late.assign(timestamp=late["timestamp"] + 10**9 * (r + 1)) for r in range(repeats)]
    table = pd.concat([table, *bursts], ignore_index=True)
    return RatingData(
        table=table,
        user_ids=np.arange(n_users).astype(str),
        item_ids=np.arange(per_user).astype(str),
        source="synthetic",
        implicit=False,
        has_timestamp=True,
    )


def test_temporal_is_the_default_when_it_tests_enough_ratings_of_enough_users():
    # 100 users x 50 items; 25 users' late burst (1,250 rows) is 20% of 6,250: test = theirs.
    choice = default_split(timed_ratings(100, 50, 25))
    assert choice.method == "temporal", choice.reason
    assert "1,250 test ratings from 25 of 100 users (25%)" in choice.reason


def test_random_is_the_default_when_the_temporal_test_is_too_small_or_too_few_users():
    few_ratings = timed_ratings(40, 30, 10)  # 300 test ratings < 1,000
    assert 300 < TEMPORAL_MIN_TEST
    assert default_split(few_ratings).method == "random"
    few_users = default_split(timed_ratings(400, 60, 4, repeats=25))  # 6,000 test ratings...
    assert few_users.method == "random"
    assert "6,000 test ratings from 4 of 400 users (1%)" in few_users.reason  # ...of 1% of users
    untimed = timed_ratings(100, 50, 25)
    untimed.has_timestamp = False
    assert default_split(untimed).reason == "the rating file has no timestamps"


def test_ml100k_defaults_to_temporal_and_the_demo_to_random():
    choice = default_split(read_ratings(shared_file("ml-100k/u.data")))
    assert choice.method == "temporal" and "1,932 test ratings from 89 of 625" in choice.reason
    demo = default_split(read_ratings(DEMO_RATINGS))
    assert demo.method == "random" and "174 test ratings" in demo.reason
