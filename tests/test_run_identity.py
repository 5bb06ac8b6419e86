"""Runs are immutable once started and every file of a run carries its identity (issue 19): the
CLI never trains into a directory that holds a run (--overwrite replaces it whole), a refusal
at read time leaves nothing behind, and runs written before run ids still open."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, hmf_cli, small_demo
from test_faults import HOLDER

from hmf_core.runs.manager import describe, run_status
from hmf_core.runs.runclaim import RUN_ENTRIES
from hmf_core.runs.rundir import FILES, PARQUET_KEY, RUN_KEY, RunDir

TINY = ["--max-epochs", "1", "--split", "random", "--user-clusters", "4", "--item-clusters", "4"]


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return hmf_cli(*args, cwd=cwd, timeout=300)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def files_of(folder: Path) -> dict[str, tuple]:
    """relative path -> (inode, mtime, size) of every file under `folder`."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(folder))] = (info.st_ino, info.st_mtime_ns, info.st_size)
    return found


def test_every_run_file_name_makes_a_directory_a_run():
    assert set(FILES.values()) | {"mf"} <= RUN_ENTRIES


def test_retraining_into_a_finished_run_is_refused_and_overwrite_leaves_no_old_file(
    finished_runs, tmp_path
):
    old = tmp_path / "R"
    shutil.copytree(finished_runs / "tiny", old)  # MF comparison, maps, quality, log.txt
    (old / "mf" / "log.txt").write_text("the old MF's log\n")
    old_id = RunDir(old).run_id()
    before = files_of(old)
    kinds = ["mf/best.ckpt", "maps.json", "map_pca.parquet", "map_umap.parquet", "quality.json"]
    kinds += ["test_metrics.json", "best.ckpt", "metrics.csv", "log.txt", "mf/log.txt"]
    assert set(kinds) <= set(before) and old_id

    ratings, _ = small_demo(tmp_path / "other", users=25)  # other data, no MF, no maps
    args = ["train", "--data", str(ratings), "--run-dir", str(old), *TINY, "--no-projection"]
    refused = one_line_error(cli(*args))
    assert refused == (
        f"error: {old}: holds a run already (finished); runs are never trained into again: "
        "add --overwrite to replace it, or choose another --run-dir"
    )
    assert files_of(old) == before  # not one file touched

    done = cli(*args, "--overwrite")
    assert done.returncode == 0, done.stderr[-2000:]
    after = files_of(old)
    run = RunDir(old)
    new_id = run.run_id()
    assert new_id and new_id != old_id
    for name in ("mf/best.ckpt", "maps.json", "map_pca.parquet", "map_umap.parquet", "log.txt"):
        assert name not in after, name  # kinds the new run does not write are gone
    assert not (old / "mf").exists()
    for name, (inode, *_rest) in after.items():  # the old files lived until the end: no reuse
        assert before.get(name, (None,))[0] != inode, f"{name} survived"
    for name in ("test_metrics.json", "quality.json", "progress.json"):
        assert json.loads((old / name).read_text())["run_id"] == new_id, name
    assert torch.load(old / "best.ckpt", weights_only=True)[RUN_KEY]["run_id"] == new_id
    assert run.metrics()["epoch"].tolist() == [1]  # the old run had two epochs
    assert run.data_summary()["split"]["users"] <= 25
    assert run.damage() is None and run_status(run).phase == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "other"]  # nothing left aside
    evaluated = cli("evaluate", str(old))
    assert evaluated.returncode == 0 and "MF" not in evaluated.stdout.replace("HMF", "")


def test_two_cli_runs_into_one_run_dir_the_second_is_refused(tmp_path):
    ratings, _ = small_demo(tmp_path / "data", users=20)
    run_dir = tmp_path / "run"
    args = ["train", "--data", str(ratings), "--run-dir", str(run_dir), *TINY, "--no-projection"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    before = files_of(run_dir)
    assert "holds a run already (finished)" in one_line_error(cli(*args))
    assert files_of(run_dir) == before


def test_a_read_time_refusal_never_touches_a_finished_run(finished_runs, tmp_path):
    shutil.copytree(finished_runs / "tiny", tmp_path / "R")
    before = files_of(tmp_path / "R")
    (tmp_path / "bad.csv").write_text("user,item,rating\n1,2,4\n3,4,five\n")
    args = ["train", "--data", str(tmp_path / "bad.csv"), "--run-dir", str(tmp_path / "R")]
    for extra in ([], ["--overwrite"]):
        line = one_line_error(cli(*args, *extra))
        assert ("holds a run already" in line) if not extra else ("line 3" in line), line
        assert files_of(tmp_path / "R") == before  # with --overwrite: put back as it was
        assert describe(RunDir(tmp_path / "R"))["state"] == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "bad.csv"]


def test_a_cli_refusal_at_read_time_leaves_no_run_directory(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,4\n3,4,five\n")
    deep = tmp_path / "new" / "deeper" / "run"
    assert "line 3" in one_line_error(cli("train", "--data", str(bad), "--run-dir", str(deep)))
    assert not (tmp_path / "new").exists()  # the parents it made too

    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(cli("train", "--data", str(bad), "--run-dir", str(empty)))
    assert empty.is_dir() and not list(empty.iterdir())  # it was there: kept, emptied

    work = tmp_path / "cwd"
    work.mkdir()
    one_line_error(cli("train", "--data", str(bad), cwd=work))  # default runs/<time>
    assert not list(work.iterdir())  # neither the run nor runs/


def test_overwrite_refuses_a_live_run_and_a_folder_that_is_no_run(finished_runs, tmp_path):
    run_dir = tmp_path / "R"
    shutil.copytree(finished_runs / "tiny", run_dir)
    before = files_of(run_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(run_dir=str(run_dir))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    ratings, _ = small_demo(tmp_path / "data", users=20)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_line_error(
            cli("train", "--data", str(ratings), "--run-dir", str(run_dir), "--overwrite")
        )
        assert line == (
            f"error: {run_dir}: in use by a live run (pid {holder.pid}); "
            "choose another --run-dir or stop that run"
        )
    finally:
        holder.kill()
        holder.wait()
    after = files_of(run_dir)
    after.pop("run.lock")  # the holder wrote its pid there
    before.pop("run.lock", None)
    assert after == before

    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "thesis.tex").write_text("keep me")
    line = one_line_error(
        cli("train", "--data", str(ratings), "--run-dir", str(documents), "--overwrite")
    )
    assert "holds files that are not a run's (thesis.tex...)" in line
    assert [p.name for p in documents.iterdir()] == ["thesis.tex"]


def test_every_file_of_a_run_carries_its_id(finished_runs):
    run = RunDir(finished_runs / "tiny")
    run_id = run.run_id()
    mf = run.comparison()
    assert run_id and mf.run_id() != run_id
    assert json.loads(mf.file("meta").read_text())["parent"] == run_id
    for part in (run, mf):
        for name in ("progress", "test_metrics"):
            assert json.loads(part.file(name).read_text())["run_id"] == part.run_id()
        stamp = torch.load(part.file("checkpoint"), weights_only=True)[RUN_KEY]
        fingerprint = run.meta()["data_fingerprint"]
        assert stamp == {"run_id": part.run_id(), "data_fingerprint": fingerprint}
    for name in ("maps", "quality"):
        assert json.loads(run.file(name).read_text())["run_id"] == run_id
    for method in ("pca", "umap"):
        assert pq.read_metadata(run.file(f"map_{method}")).metadata[PARQUET_KEY] == run_id.encode()
    assert "run_id" not in run.test_metrics() and "run_id" not in run.map_timings()


def legacy_copy(source: Path, target: Path) -> RunDir:
    """A run as written before run ids: no id in meta.json nor in any file."""
    shutil.copytree(source, target)
    for folder in (target, target / "mf"):
        for path in folder.glob("*.json"):
            payload = json.loads(path.read_text())
            for key in ("run_id", "parent", "data_fingerprint"):
                payload.pop(key, None)
            path.write_text(json.dumps(payload))
        checkpoint = folder / "best.ckpt"
        if checkpoint.exists():
            loaded = torch.load(checkpoint, weights_only=True)
            loaded.pop(RUN_KEY)
            torch.save(loaded, checkpoint)
    for path in target.glob("map_*.parquet"):
        table = pq.read_table(path)
        metadata = {k: v for k, v in table.schema.metadata.items() if k != PARQUET_KEY}
        pq.write_table(table.replace_schema_metadata(metadata), path)
    return RunDir(target)


def test_a_legacy_run_without_ids_still_opens(finished_runs, tmp_path):
    run = legacy_copy(finished_runs / "tiny", tmp_path / "legacy")
    assert run.run_id() is None and run.comparison().run_id() is None
    assert run.damage() is None and describe(run)["state"] == "finished"
    assert run.load_model() is not None and run.map("umap") is not None
    assert "error" not in run.quality() and run.test_metrics()
    evaluated = cli("evaluate", str(run.path))
    assert evaluated.returncode == 0 and "HMF (finished): test_rmse=" in evaluated.stdout

    # a legacy file inside a run with an id is taken unchecked too (stated choice)
    shutil.copytree(finished_runs / "tiny", tmp_path / "mixed")
    shutil.copy(run.file("checkpoint"), tmp_path / "mixed" / "best.ckpt")
    assert RunDir(tmp_path / "mixed").damage() is None


@pytest.mark.parametrize("name", ["best.ckpt", "map_umap.parquet", "quality.json"])
def test_the_pages_do_not_use_a_file_of_another_run(finished_runs, tmp_path, name):
    """A checkpoint, map or quality.json of another run is refused where the pages read it
    (here the run's id changed, so all of its files are another run's)."""
    from hmf_core.common.files import DamagedFile

    shutil.copytree(finished_runs / "tiny", tmp_path / "run")
    run = RunDir(tmp_path / "run")
    run.update_meta(run_id="0123456789abcdef")  # the run is another one now: its files foreign
    if name == "best.ckpt":
        with pytest.raises(DamagedFile, match="best.ckpt is damaged \\(belongs to run "):
            run.load_model()
    elif name == "map_umap.parquet":
        with pytest.raises(DamagedFile, match="not this run \\(0123456789abcdef\\)"):
            run.map("umap")
    else:
        assert "quality.json is damaged (belongs to run" in run.quality()["error"]
