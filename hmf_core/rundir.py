"""A run directory: everything one training run wrote, readable later without the process.

Every file of a run is reached through `RunDir` by name (`FILES`), so no caller builds a path
inside a run:

settings.json      what was asked for (data paths, task, split, hyperparameters)
data.json          data and split summaries
users.csv          model user k -> original id, label, metadata (items.csv alike)
interactions.parquet  the split's rows (user, item, rating, timestamp, stage)
progress.json      live state: state, epoch, batch, elapsed, device, error
metrics.csv        one row per epoch (Lightning's CSVLogger): epoch, train_loss, val metrics,
                   elapsed_s
best.ckpt          best checkpoint (weights + config; torch.load(weights_only=True) works)
test_metrics.json  test metrics of the best checkpoint
log.txt            the training process's output (maps_log.txt: the map process's)
map_pca.parquet, map_umap.parquet, maps.json   the 2-D maps and their timings (or error)
quality.json       cluster quality after training (hmf_core.quality), or its error
mf/                the same for the plain-MF comparison, when asked for
STOP               written to ask a running training to stop
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import torch

from hmf_core.errors import RunError
from hmf_core.files import read_json, write_json
from hmf_core.model import HMF, HMFConfig

FILES = {
    "settings": "settings.json",
    "data": "data.json",
    "users": "users.csv",
    "items": "items.csv",
    "interactions": "interactions.parquet",
    "progress": "progress.json",
    "metrics": "metrics.csv",
    "checkpoint": "best.ckpt",
    "test_metrics": "test_metrics.json",
    "log": "log.txt",
    "maps_log": "maps_log.txt",
    "maps": "maps.json",
    "quality": "quality.json",
    "map_pca": "map_pca.parquet",
    "map_umap": "map_umap.parquet",
    "stop": "STOP",
}
MAP_METHODS = ("pca", "umap")  # in the order they are written


def load_checkpoint(path: str | Path) -> tuple[HMF, dict]:
    """Rebuild a model from a checkpoint alone; returns (model in eval mode, hyperparameters)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    model = HMF(HMFConfig(**hparams["config"]))
    state = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval(), dict(hparams)


class RunDir:
    """A run directory, read and written by the names in `FILES`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the run's files, by its name in `FILES` ("log", "map_umap"...)."""
        if name not in FILES:
            raise KeyError(f"a run has no file called {name!r}; known: {', '.join(FILES)}")
        return self.path / FILES[name]

    def stamp(self, name: str) -> tuple:
        """(modification time in ns, size) of a file, () when absent: part of cache keys, so an
        rewritten file is read again."""
        try:
            info = self.file(name).stat()
        except OSError:
            return ()
        return (info.st_mtime_ns, info.st_size)

    def exists(self) -> bool:
        return self.file("settings").exists()

    def created(self) -> float:
        """When the run was asked for (settings.json is written then), in epoch seconds."""
        return self.file("settings").stat().st_mtime

    def settings(self) -> dict:
        return read_json(self.file("settings"))

    def write(self, name: str, payload: dict) -> None:
        """Write one of the run's JSON files atomically (settings, progress, maps...)."""
        write_json(self.file(name), payload)

    def data_summary(self) -> dict:
        return read_json(self.file("data"))

    def process_alive(self) -> bool:
        """Whether the process that last wrote progress.json still runs (training, the MF
        comparison, or the maps after training)."""
        return process_alive(read_json(self.file("progress")).get("pid"))

    def progress(self) -> dict:
        progress = read_json(self.file("progress"))
        if progress.get("state") == "running" and not process_alive(progress.get("pid")):
            progress["state"] = "failed"
            progress.setdefault("error", "the training process ended without finishing")
        return progress

    def metrics(self) -> pd.DataFrame:
        """One row per validated epoch: epoch (from 1), train_loss, the val metrics, elapsed_s."""
        path = self.file("metrics")
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame()
        frame = pd.read_csv(path)
        validated = frame.filter(like="val_").notna().any(axis=1)
        frame = frame[validated].drop(columns=["step"], errors="ignore")
        frame = frame[["epoch", *(c for c in frame.columns if c != "epoch")]]
        return frame.astype({"epoch": int}).reset_index(drop=True)

    def test_metrics(self) -> dict:
        return read_json(self.file("test_metrics"))

    def comparison(self) -> RunDir | None:
        mf = RunDir(self.path / "mf")
        return mf if mf.file("progress").exists() else None

    def has_model(self) -> bool:
        return self.file("checkpoint").exists()

    def checkpoint_stamp(self) -> int | None:
        """The checkpoint's modification time (ns): what every cache of the model is keyed by."""
        stamp = self.stamp("checkpoint")
        return stamp[0] if stamp else None

    def load_model(self) -> HMF:
        if not self.has_model():
            raise RunError(
                f"{self.path}: no checkpoint yet (best.ckpt is written after the "
                "first validated epoch)"
            )
        model, _ = load_checkpoint(self.file("checkpoint"))
        return model

    def users(self) -> pd.DataFrame:
        return self.table("users")

    def items(self) -> pd.DataFrame:
        return self.table("items")

    def interactions(self) -> pd.DataFrame:
        return self.table("interactions")

    def table(self, name: str) -> pd.DataFrame:
        """users.csv, items.csv (model row -> id, label, metadata) or interactions.parquet."""
        path = self.file(name)
        if not path.exists():
            raise RunError(f"{self.path}: {path.name} is missing")
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"id": str})

    def map(self, method: str) -> pd.DataFrame | None:
        """The map written after training ("pca" or "umap"), or None if not written yet."""
        if method not in MAP_METHODS:
            raise ValueError(f"map method must be one of {list(MAP_METHODS)}, got {method!r}")
        path = self.file(f"map_{method}")
        return pd.read_parquet(path) if path.exists() else None

    def maps_ready(self) -> list[str]:
        return [method for method in MAP_METHODS if self.file(f"map_{method}").exists()]

    def map_timings(self) -> dict:
        """maps.json: the seconds each map took, or {"error": ...} when computing them failed."""
        return read_json(self.file("maps"))

    def quality(self) -> dict:
        """quality.json: cluster quality (hmf_core.quality), or {"error": ...}, or {} before."""
        return read_json(self.file("quality"))

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the training process's output."""
        path = self.file("log")
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def request_stop(self) -> None:
        for run in (self, RunDir(self.path / "mf")):
            if run.path.exists():
                run.file("stop").write_text(time.strftime("%Y-%m-%d %H:%M:%S"))

    def stop_requested(self) -> bool:
        return self.file("stop").exists()


def process_alive(pid) -> bool:
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
    return sorted(runs, key=RunDir.created, reverse=True)
