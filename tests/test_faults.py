"""Training faults (issue 10): divergence stops the fit with state "failed" and keeps the last
finite best checkpoint; a full disk (a real, tiny tmpfs) keeps the previous best.ckpt loadable
and says "disk full"; run directories are created race-free and locked while a run writes."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, wait_for
from pytorch_lightning.callbacks import Callback

from hmf_core.common.errors import RunError
from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.runclaim import RunLock, create_run_dir
from hmf_core.runs.rundir import RunDir, load_checkpoint
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import TrainSettings

SMALL = TrainSettings(
    user_clusters=[4],
    item_clusters=[4],
    lr=3e-2,
    max_epochs=4,
    patience=20,
    projection=False,
    split="random",
)


@pytest.fixture(scope="module")
def planted_split():
    return make_split(planted_ratings(seed=0).data, "random", seed=0)


def _finite_checkpoint(path: Path) -> bool:
    model, _ = load_checkpoint(path)
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_huge_learning_rate_diverges_and_is_reported_failed(tmp_path, planted_split):
    with pytest.raises(RunError, match=r"diverged at epoch 1 \(try a lower learning rate\)"):
        fit_run(replace(SMALL, lr=1e3), planted_split, tmp_path)
    progress = RunDir(tmp_path).progress()
    assert progress["state"] == "failed"
    assert progress["error"] == "diverged at epoch 1 (try a lower learning rate)"
    assert not (tmp_path / "best.ckpt").exists()  # nothing finite to keep
    assert not (tmp_path / "test_metrics.json").exists()


class PoisonAtEpoch(Callback):
    """The fault injected: at the start of `epoch` (0-based) one weight becomes NaN."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")


def test_nan_midway_keeps_the_last_finite_best_checkpoint(tmp_path, planted_split):
    with pytest.raises(RunError, match="diverged at epoch 3"):
        fit_run(SMALL, planted_split, tmp_path, extra_callbacks=[PoisonAtEpoch(2)])
    progress = RunDir(tmp_path).progress()
    assert progress["state"] == "failed" and progress["error"].startswith("diverged at epoch 3")
    assert _finite_checkpoint(tmp_path / "best.ckpt")
    checkpoint = torch.load(tmp_path / "best.ckpt", weights_only=True)
    assert checkpoint["epoch"] <= 1  # 0-based: saved after epoch 1 or 2, never after the NaN
    metrics = RunDir(tmp_path).metrics()
    finite = metrics[np.isfinite(metrics["val_rmse"])]
    assert len(finite) >= 2  # epochs 1 and 2 validated; epoch 3 stopped at its NaN loss
    # nothing lost: the kept checkpoint is tested, and its epoch is a finite one
    test = RunDir(tmp_path).test_metrics()
    assert np.isfinite(test["test_rmse"]) and test["best_epoch"] in finite["epoch"].tolist()


def test_ratings_of_1e30_never_finish_as_a_trained_model(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["user,item,rating"] + [
        f"{u},{i},{1e30 if (u + i) % 7 == 0 else rng.integers(1, 6)}"
        for u in range(40)
        for i in rng.choice(40, size=15, replace=False)
    ]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    settings = replace(SMALL, data=str(tmp_path / "r.csv"), max_epochs=2)
    with pytest.raises(RunError, match="diverged"):
        train_run(settings, tmp_path / "run")
    progress = RunDir(tmp_path / "run").progress()
    assert progress["state"] == "failed" and "diverged" in progress["error"]
    assert not (tmp_path / "run" / "test_metrics.json").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 3 MiB tmpfs (needs root, as here); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill the disk until only about `leave` bytes are free."""
    import os

    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def test_disk_full_keeps_the_previous_checkpoint_and_says_so(tiny_disk, planted_split):
    run_dir = tiny_disk / "run"
    fit_run(replace(SMALL, max_epochs=1), planted_split, run_dir)
    before = (run_dir / "best.ckpt").read_bytes()
    assert len(before) > 8192  # three or more pages
    _fill(tiny_disk, leave=4096)  # one page: enough for progress.json, not for a checkpoint
    with pytest.raises(RunError, match="disk full"):
        fit_run(replace(SMALL, max_epochs=2, seed=1), planted_split, run_dir)
    assert (run_dir / "best.ckpt").read_bytes() == before  # untouched, not truncated
    assert _finite_checkpoint(run_dir / "best.ckpt")
    progress = json.loads((run_dir / "progress.json").read_text())
    assert progress["state"] == "failed"
    assert progress["error"].startswith("disk full: No space left on device")
    assert not list(run_dir.glob("*.tmp"))  # the partial temporary file is gone


def _claim(root: str) -> str:
    return str(create_run_dir(root, "same-second"))


def test_run_directories_made_at_once_are_all_distinct(tmp_path):
    with multiprocessing.get_context("fork").Pool(6) as pool:
        made = pool.map(_claim, [str(tmp_path)] * 24)
    assert len(set(made)) == 24
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "same-second"


HOLDER = """
import time
from hmf_core.runs.runclaim import RunLock
with RunLock({run_dir!r}):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_run_directory_in_use_is_refused_and_freed_when_its_run_dies(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(run_dir=str(run_dir))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,  # -c puts the working directory first on the path: this checkout's hmf_core
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=f"in use by a live run \\(pid {holder.pid}\\)"):
            RunLock(run_dir).acquire()
        (tmp_path / "r.csv").write_text("user,item,rating\n1,2,4\n")
        cli = subprocess.run(
            [sys.executable, "-m", "hmf_core", "train", "--data", str(tmp_path / "r.csv")]
            + ["--run-dir", str(run_dir)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert cli.returncode == 2 and "Traceback" not in cli.stderr
        assert cli.stderr.strip().splitlines() == [
            f"error: {run_dir}: in use by a live run (pid {holder.pid}); "
            "choose another --run-dir or stop that run"
        ]
        assert not (run_dir / "progress.json").exists()  # the live run's files untouched
    finally:
        holder.kill()
        holder.wait()
    wait_for(lambda: _can_lock(run_dir), timeout=10)  # the kernel dropped the dead run's lock


def _can_lock(run_dir: Path) -> bool:
    try:
        with RunLock(run_dir):
            return True
    except RunError:
        time.sleep(0.1)
        return False


def test_a_finished_run_releases_its_lock(tmp_path, planted_split):
    settings = replace(SMALL, max_epochs=1)
    from hmf_core.data.synthetic import to_csv

    to_csv(planted_ratings(seed=0), tmp_path / "r.csv")
    train_run(replace(settings, data=str(tmp_path / "r.csv")), tmp_path / "run")
    assert RunDir(tmp_path / "run").progress()["state"] == "finished"
    with RunLock(tmp_path / "run"):
        pass
