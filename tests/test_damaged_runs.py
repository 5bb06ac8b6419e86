"""Damaged run directories (issue 10): every page still renders, the page that needs the damaged
file names it and says how to recover, the run list shows the run as damaged, and
`python -m hmf_core evaluate` prints one line and exits 2."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO
from test_app import PAGES, app, shown, visit

from hmf_core.runs.manager import describe, run_status
from hmf_core.runs.rundir import PARQUET_KEY, RunDir


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _json(path: Path, value) -> None:
    path.write_text(json.dumps(value))


def _settings_data_seven(run: Path) -> None:
    settings = json.loads((run / "settings.json").read_text())
    _json(run / "settings.json", {**settings, "data": 7})


def _ragged_metrics(run: Path) -> None:
    with open(run / "metrics.csv", "a") as handle:
        handle.write("1,2,3,4,5,6,7,8,9,10,11,12\n")


OTHER = "tiny-ranking"  # another finished run (its own run id): files copied from it are foreign
OTHER_RUN = [Path()]  # its directory, set by damaged_run


def _from_other(*names: str):
    """Copy files of another run over this one's (a checkpoint swapped in, say)."""

    def copy(run: Path) -> None:
        for name in names:
            shutil.copy(OTHER_RUN[0] / name, run / name)

    return copy


def _mf_of_other(run: Path) -> None:
    """mf/ as if copied from another run: its parent is that run's id."""
    meta = json.loads((run / "mf" / "meta.json").read_text())
    other = json.loads((OTHER_RUN[0] / "meta.json").read_text())
    _json(run / "mf" / "meta.json", {**meta, "parent": other["run_id"]})


def _map_of_other(run: Path) -> None:
    """map_umap.parquet carrying another run's id in its metadata."""
    other = json.loads((OTHER_RUN[0] / "meta.json").read_text())
    table = pq.read_table(run / "map_umap.parquet")
    metadata = {**table.schema.metadata, PARQUET_KEY: other["run_id"].encode()}
    pq.write_table(table.replace_schema_metadata(metadata), run / "map_umap.parquet")


class Payload:
    """Pickled as a call of a global that torch.load(weights_only=True) does not allow."""

    def __reduce__(self):
        return (datetime.date, (2020, 1, 1))


def _pickle_payload(run: Path) -> None:
    checkpoint = torch.load(run / "best.ckpt", weights_only=True)
    torch.save({**checkpoint, "payload": Payload()}, run / "best.ckpt")


# name -> (the damaged file, how it is damaged)
DAMAGES = {
    "settings-list": ("settings.json", lambda run: _json(run / "settings.json", [1, 2])),
    "settings-data-7": ("settings.json", _settings_data_seven),
    "settings-not-json": ("settings.json", lambda run: (run / "settings.json").write_text("{")),
    "progress-list": ("progress.json", lambda run: _json(run / "progress.json", [])),
    "mf-progress-not-utf8": (
        "progress.json",
        lambda run: (run / "mf" / "progress.json").write_bytes(b'{"state": "\xff\xfe"}'),
    ),
    "test-metrics-list": ("test_metrics.json", lambda run: _json(run / "test_metrics.json", [1])),
    "test-metrics-text": (
        "test_metrics.json",
        lambda run: _json(run / "test_metrics.json", {"test_rmse": "low"}),
    ),
    "metrics-binary": ("metrics.csv", lambda run: (run / "metrics.csv").write_bytes(bytes(256))),
    "metrics-ragged": ("metrics.csv", _ragged_metrics),
    "users-missing": ("users.csv", lambda run: (run / "users.csv").unlink()),
    "items-binary": ("items.csv", lambda run: (run / "items.csv").write_bytes(b"\x00\xff" * 64)),
    "interactions-truncated": (
        "interactions.parquet",
        lambda run: _truncate(run / "interactions.parquet"),
    ),
    "map-truncated": ("map_umap.parquet", lambda run: _truncate(run / "map_umap.parquet")),
    "quality-not-json": ("quality.json", lambda run: (run / "quality.json").write_text("{x")),
    "quality-list": ("quality.json", lambda run: _json(run / "quality.json", [])),
    "data-list": ("data.json", lambda run: _json(run / "data.json", ["split"])),
    "maps-not-json": ("maps.json", lambda run: (run / "maps.json").write_bytes(b"\x89PNG")),
    "checkpoint-truncated": ("best.ckpt", lambda run: _truncate(run / "best.ckpt")),
    # issue 19: a file of another run, or one a safe load refuses
    "checkpoint-of-another-run": ("best.ckpt", _from_other("best.ckpt")),
    "checkpoint-pickle-payload": ("best.ckpt", _pickle_payload),
    "test-metrics-of-another-run": ("test_metrics.json", _from_other("test_metrics.json")),
    "quality-of-another-run": ("quality.json", _from_other("quality.json")),
    "progress-of-another-run": ("progress.json", _from_other("progress.json")),
    "data-of-another-run": ("data.json", _from_other("data.json")),
    "maps-of-another-run": (
        "maps.json",
        lambda run: _json(run / "maps.json", {"pca_s": 0.1, "run_id": "0123456789abcdef"}),
    ),
    "map-of-another-run": ("map_umap.parquet", _map_of_other),
    "mf-of-another-run": ("meta.json", _mf_of_other),
}


def damaged_run(finished_runs: Path, root: Path, damage: str) -> RunDir:
    shutil.copytree(finished_runs / "tiny", root / "broken")
    OTHER_RUN[0] = finished_runs / OTHER
    DAMAGES[damage][1](root / "broken")
    return RunDir(root / "broken")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_run_never_raises_on_a_page_and_names_the_file(
    finished_runs, tmp_path, monkeypatch, damage
):
    file_name = DAMAGES[damage][0]
    run = damaged_run(finished_runs, tmp_path / "runs", damage)
    assert describe(run)["state"].startswith(f"damaged ({file_name}: ")
    assert run.damage().path.name == file_name

    at = app(tmp_path / "runs", monkeypatch)
    at.query_params["run"] = "broken"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = []
    for page in PAGES:
        visit(at, page)  # asserts no page exception
        said += [shown(e.value) for e in (*at.error, *at.warning, *at.info)]
        said += [shown(e.value) for e in at.sidebar.caption]
    named = [text for text in said if file_name in text]
    assert named, f"no page named {file_name}: {said}"

    visit(at, "train")
    listed = {row["run"]: row["state"] for _, row in _runs_table(at).iterrows()}
    assert listed["broken"].startswith(f"damaged ({file_name}: ")


def _runs_table(at):
    for element in at.dataframe:
        if {"run", "state"} <= set(element.value.columns):
            return element.value
    raise AssertionError("no run list")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_evaluate_on_a_damaged_run_prints_one_line_and_exits_2(finished_runs, tmp_path, damage):
    run = damaged_run(finished_runs, tmp_path, damage)
    done = subprocess.run(
        [sys.executable, "-m", "hmf_core", "evaluate", str(run.path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: ") and DAMAGES[damage][0] in lines[0]
    assert "is damaged (" in lines[0]


def test_an_intact_run_is_not_called_damaged(finished_runs):
    for name in ("tiny", "tiny-no-maps", "tiny-ranking"):
        run = RunDir(finished_runs / name)
        assert run.damage() is None, run.damage()
        assert run_status(run).phase == "finished"
