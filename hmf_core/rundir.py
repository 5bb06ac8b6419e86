"""A run directory: everything one training run wrote, readable later without the process.

settings.json      what was asked for (data paths, task, split, hyperparameters)
data.json          data and split summaries
users.csv          model user k -> original id, label, metadata (items.csv alike)
interactions.parquet  the split's rows (user, item, rating, timestamp, stage)
progress.json      live state: state, epoch, batch, elapsed, device, error
metrics.csv        one row per epoch: train_loss, val metric, elapsed_s
best.ckpt          best checkpoint (weights + config; torch.load(weights_only=True) works)
test_metrics.json  test metrics of the best checkpoint
mf/                the same for the plain-MF comparison, when asked for
STOP               written to ask a running training to stop
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from hmf_core.errors import RunError
from hmf_core.model import HMF, HMFConfig

STATES = ("queued", "running", "finished", "stopped", "failed")


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, so a reader never sees half a file."""
    temporary = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(temporary, path)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def load_checkpoint(path: str | Path) -> tuple[HMF, dict]:
    """Rebuild a model from a checkpoint alone; returns (model in eval mode, hyperparameters)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    model = HMF(HMFConfig(**hparams["config"]))
    state = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval(), dict(hparams)


class RunDir:
    """Read side of a run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return (self.path / "settings.json").exists()

    def settings(self) -> dict:
        return read_json(self.path / "settings.json")

    def data_summary(self) -> dict:
        return read_json(self.path / "data.json")

    def process_alive(self) -> bool:
        """Whether the process that last wrote progress.json still runs (training, the MF
        comparison, or the maps after training)."""
        return _process_alive(read_json(self.path / "progress.json").get("pid"))

    def progress(self) -> dict:
        progress = read_json(self.path / "progress.json")
        if progress.get("state") == "running" and not _process_alive(progress.get("pid")):
            progress["state"] = "failed"
            progress.setdefault("error", "the training process ended without finishing")
        return progress

    def metrics(self) -> pd.DataFrame:
        path = self.path / "metrics.csv"
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame()
        return pd.read_csv(path)

    def test_metrics(self) -> dict:
        return read_json(self.path / "test_metrics.json")

    def comparison(self) -> RunDir | None:
        mf = RunDir(self.path / "mf")
        return mf if (mf.path / "progress.json").exists() else None

    def has_model(self) -> bool:
        return (self.path / "best.ckpt").exists()

    def load_model(self) -> HMF:
        if not self.has_model():
            raise RunError(
                f"{self.path}: no checkpoint yet (best.ckpt is written after the "
                "first validated epoch)"
            )
        model, _ = load_checkpoint(self.path / "best.ckpt")
        return model

    def users(self) -> pd.DataFrame:
        return self._table("users.csv")

    def items(self) -> pd.DataFrame:
        return self._table("items.csv")

    def interactions(self) -> pd.DataFrame:
        path = self.path / "interactions.parquet"
        if not path.exists():
            raise RunError(f"{self.path}: interactions.parquet is missing")
        return pd.read_parquet(path)

    def _table(self, name: str) -> pd.DataFrame:
        path = self.path / name
        if not path.exists():
            raise RunError(f"{self.path}: {name} is missing")
        return pd.read_csv(path, keep_default_na=False, na_values=[""])

    def request_stop(self) -> None:
        (self.path / "STOP").write_text(time.strftime("%Y-%m-%d %H:%M:%S"))
        mf = self.path / "mf"
        if mf.exists():
            (mf / "STOP").write_text(time.strftime("%Y-%m-%d %H:%M:%S"))

    def stop_requested(self) -> bool:
        return (self.path / "STOP").exists()


def _process_alive(pid) -> bool:
    """True while the process runs. A killed child that its parent (the app) has not reaped
    yet is a zombie: signal 0 still reaches it, so read its state from /proc where there is one."""
    if pid is None:
        return True  # written by an older writer: trust the state
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def list_runs(root: str | Path) -> list[RunDir]:
    """Run directories under `root`, newest first."""
    root = Path(root)
    if not root.exists():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and RunDir(p).exists()]
    return sorted(runs, key=lambda run: (run.path / "settings.json").stat().st_mtime, reverse=True)
