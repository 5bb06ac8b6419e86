"""Progress of reading and splitting (issue 11.3): the reports of hmf_core, the steps a run
writes into progress.json, the Train page's phase, and the Data page's progress bar."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from streamlit.testing.v1 import AppTest

import hmf_core.data.textfiles as textfiles
from dashboard.text import literal
from hmf_core.common.progress import QUALITY_STEP, monotone, span, step_of
from hmf_core.data.ratings import PARSED, read_ratings
from hmf_core.data.split import SPLITS, make_split
from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.runs.manager import run_status
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.steps import RunSteps
from hmf_core.runs.train_run import prepare_run, train_run
from hmf_core.training.settings import TrainSettings

SMALL_BLOCK = 1 << 16  # 64 KiB blocks: a 2-3 MB file is read in dozens of blocks


def write_ratings(path: Path, rows: int, seed: int = 0) -> Path:
    """A headered CSV of `rows` random ratings (known answer: the table written)."""
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "userId": rng.integers(1, 5_000, rows),
            "movieId": rng.integers(1, 2_000, rows),
            "rating": rng.integers(1, 11, rows) / 2.0,
            "timestamp": rng.integers(789_652_009, 1_427_784_002, rows),
        }
    ).to_csv(path, index=False)
    return path


class Recorder:
    def __init__(self):
        self.reports: list[tuple[float, str]] = []

    def __call__(self, fraction: float, text: str) -> None:
        self.reports.append((fraction, text))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.reports]


def assert_monotone_to_one(fractions: list[float]) -> None:
    assert fractions, "no report"
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), fractions
    assert fractions[-1] == 1.0


def test_reading_a_multi_block_file_reports_monotone_fractions_ending_at_one(tmp_path, monkeypatch):
    path = write_ratings(tmp_path / "ratings.csv", 120_000)
    monkeypatch.setattr(textfiles, "BLOCK", SMALL_BLOCK)
    blocks = -(-path.stat().st_size // SMALL_BLOCK)
    assert blocks >= 30
    recorder = Recorder()
    data = read_ratings(path, report=recorder)
    assert_monotone_to_one(recorder.fractions)
    parsing = [(f, t) for f, t in recorder.reports if t.startswith("parsing")]
    # one report per block (plus the first and the last), spread over the parsing share
    assert blocks <= len(parsing) <= blocks + 2
    assert parsing[-1][0] == pytest.approx(PARSED)
    assert any(0.1 < f < PARSED - 0.1 for f, _ in parsing)
    megabytes = f"{path.stat().st_size / 1e6:,.0f} MB"
    assert parsing[-1][1] == f"parsing: {megabytes} of {megabytes}"
    texts = [t for _, t in recorder.reports]
    assert texts.index("coding the user ids") < texts.index("coding the item ids")
    assert texts[-1] == f"read {len(data.table):,} ratings"
    # the same table as a reading that reports to nobody, and as one block at a time
    monkeypatch.setattr(textfiles, "BLOCK", 1 << 24)
    quiet = read_ratings(path)
    pd.testing.assert_frame_equal(data.table, quiet.table)
    assert list(data.user_ids) == list(quiet.user_ids)


def test_reading_a_parquet_file_reports_too(tmp_path):
    frame = pd.read_csv(write_ratings(tmp_path / "r.csv", 1_000))
    frame.to_parquet(tmp_path / "r.parquet")
    recorder = Recorder()
    read_ratings(tmp_path / "r.parquet", report=recorder)
    assert_monotone_to_one(recorder.fractions)


@pytest.mark.parametrize("method", SPLITS)
def test_every_split_reports_its_phases_and_ends_at_one(tmp_path, method):
    data = read_ratings(write_ratings(tmp_path / "r.csv", 5_000))
    recorder = Recorder()
    split = make_split(data, method, seed=3, report=recorder)
    assert_monotone_to_one(recorder.fractions)
    assert len(recorder.reports) >= 3  # ordering, re-coding, done
    assert recorder.reports[-1][1] == (
        f"split: {len(split.train):,} train, {len(split.val):,} val, {len(split.test):,} test"
    )
    pd.testing.assert_frame_equal(split.train, make_split(data, method, seed=3).train)


def test_span_and_monotone_map_and_clip_fractions():
    recorder = Recorder()
    part = span(monotone(recorder), 0.5, 1.0)
    for fraction in (0.0, 0.5, 0.2, 1.0):
        part(fraction, "x")
    assert recorder.fractions == [0.5, 0.75, 0.75, 1.0]
    clipped = Recorder()
    monotone(clipped)(7.0, "beyond")
    assert clipped.fractions == [1.0]


def test_run_steps_keep_the_other_fields_and_are_throttled(tmp_path):
    run = RunDir(tmp_path)
    run.write("progress", {"state": "queued", "pid": 12345, "label": "HMF"})
    steps = RunSteps(tmp_path, interval=3600)
    steps(0.0, "reading r.csv: parsing: 0 of 9 MB")
    steps(0.5, "reading r.csv: parsing: 4 of 9 MB")  # same step, too soon: not written
    assert step_of(run.progress()) == (0.0, "reading r.csv: parsing: 0 of 9 MB")
    steps(0.6, "splitting: shuffling the ratings")  # a new step: written at once
    assert step_of(run.progress()) == (0.6, "splitting: shuffling the ratings")
    steps(1.0, "splitting: split: 3 train, 1 val, 1 test")  # the end: written at once
    progress = run.progress()
    assert progress["step_fraction"] == 1.0
    assert {k: progress[k] for k in ("state", "pid", "label")} == {
        "state": "queued",
        "pid": 12345,
        "label": "HMF",
    }
    steps.done()
    assert "step" not in run.progress() and step_of(run.progress()) is None
    steps.update(step=QUALITY_STEP)
    assert step_of(run.progress()) == (None, QUALITY_STEP)


def test_a_run_writes_its_reading_and_splitting_then_quality_steps(tmp_path, monkeypatch):
    """prepare_run and the end of train_run write the steps the Train page shows, in order."""
    to_csv(planted_ratings(seed=0), tmp_path / "ratings.csv")
    written = []
    update = RunSteps.update

    def spy(self, **fields):  # the real update, recorded
        update(self, **fields)
        written.append(json.loads(self.run.file("progress").read_text()))

    monkeypatch.setattr(RunSteps, "update", spy)
    monkeypatch.setattr(RunSteps, "__init__", _unthrottled(RunSteps.__init__))
    settings = TrainSettings(
        data=str(tmp_path / "ratings.csv"),
        user_clusters=[4],
        item_clusters=[4],
        max_epochs=1,
        projection=False,
        compare_mf=False,
        split="random",
    )
    prepare_run(settings, tmp_path / "prep")
    steps = [p.get("step") for p in written]
    fractions = [p["step_fraction"] for p in written if "step_fraction" in p]
    assert steps[0].startswith("reading ratings.csv: parsing")
    assert any(s.startswith("splitting: ") for s in steps)
    assert steps[-1] == "starting training"
    assert_monotone_to_one(fractions)
    reading = [p["step_fraction"] for p in written if p["step"].startswith("reading")]
    assert max(reading) == pytest.approx(0.7)  # reading is the first 70%

    written.clear()
    train_run(replace(settings, max_epochs=1), tmp_path / "run")
    quality = [p for p in written if p.get("step") == QUALITY_STEP]
    assert len(quality) == 1 and quality[0]["state"] == "finished"
    assert "step" not in RunDir(tmp_path / "run").progress()  # done: the step is gone


def _unthrottled(init):
    def wrapped(self, run_dir, interval=0.5):
        init(self, run_dir, interval=0.0)

    return wrapped


def test_the_run_status_names_the_quality_step_while_its_process_lives(tmp_path):
    run = RunDir(tmp_path)
    run.write("settings", {"compare_mf": False, "projection": False})
    run.write("progress", {"state": "finished", "pid": os.getpid()})
    assert run_status(run).phase == "finished"
    RunSteps(tmp_path).update(step=QUALITY_STEP)
    status = run_status(run)
    assert (status.phase, status.active) == (QUALITY_STEP, True)
    run.write("progress", {"state": "finished", "pid": 2**22 + 7, "step": QUALITY_STEP})
    assert run_status(run).phase == "finished"  # a dead process computes nothing


@pytest.mark.usefixtures("data_in_tmp")
def test_the_data_page_shows_the_reading_progress_of_a_file_by_path(tmp_path, monkeypatch):
    path = write_ratings(tmp_path / "large.csv", 200_000)
    monkeypatch.setattr(textfiles, "BLOCK", SMALL_BLOCK)
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120).run()
    at.segmented_control(key="data_source").set_value("Files on this machine").run()
    at.text_input(key="path_ratings").input(str(path))
    at.run()
    at.button(key="use_paths").click().run()
    assert not at.exception and not at.error
    rows = len(read_ratings(path).table)
    bars = [element.proto for element in at.get("progress")]
    # the bar holds the reader's own last report (hmf_core.common.progress), drawn by the page
    assert [(bar.value, bar.text) for bar in bars] == [(100, f"100% · read {rows:,} ratings")]
    [status] = at.status
    assert status.label.startswith(r"Read large\.csv: " + f"{rows:,} ratings in ")
    assert "Uploads of up to" not in "".join(c.value for c in at.caption)
    assert "The reader takes files of up to 1.0 GiB" in "".join(c.value for c in at.caption)


def test_the_train_page_shows_the_step_a_preparing_run_writes(tmp_path, monkeypatch):
    """A run whose live process (this one) is reading its data: the Train page draws the step
    progress.json names, with its fraction; then the cluster quality step after training."""
    settings = TrainSettings(data=str(tmp_path / "r.csv"), max_epochs=3, projection=False)
    run = RunDir(tmp_path / "runs" / "preparing")
    run.write("settings", asdict(settings))
    text = "reading r.csv: parsing: 120 of 488 MB"
    run.write("progress", {"state": "queued", "pid": os.getpid(), "label": "HMF"})
    RunSteps(run.path).update(step=text, step_fraction=0.25)
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["run"] = "preparing"
    at.run()
    at.switch_page("views/train.py").run()
    assert not at.exception
    bars = [(e.proto.value, e.proto.text) for e in at.get("progress")]
    assert (25, f"{literal(text)}…") in bars  # the file name is shown literally
    run.write("progress", {"state": "finished", "pid": os.getpid(), "step": QUALITY_STEP})
    at.run()
    bars = [(e.proto.value, e.proto.text) for e in at.get("progress")]
    assert (100, f"{QUALITY_STEP}…") in bars


@pytest.fixture
def finished_run_copy(finished_runs, tmp_path, monkeypatch):
    """A copy of conftest's finished "tiny" run (the session's own stays as it is), open in
    an AppTest."""
    shutil.copytree(finished_runs / "tiny", tmp_path / "runs" / "tiny")
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["run"] = "tiny"
    return RunDir(tmp_path / "runs" / "tiny"), at.run()


def test_the_metrics_page_says_the_cluster_quality_is_being_computed(finished_run_copy):
    """While the run's process computes quality.json (progress.json names the step), the
    Metrics page says so instead of "not yet"."""
    run, at = finished_run_copy
    run.file("quality").unlink()
    run.write("progress", {**run.progress(), "pid": os.getpid(), "step": QUALITY_STEP})
    at.switch_page("views/metrics.py").run()
    assert not at.exception
    shown = " ".join(str(e.value) for e in at.info)
    assert "Computing the cluster quality now" in shown and "not yet" not in shown
    RunSteps(run.path).done()
    at.run()
    assert "No cluster quality for this run yet" in " ".join(str(e.value) for e in at.info)
