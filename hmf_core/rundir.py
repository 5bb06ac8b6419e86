"""A run directory: everything one training run wrote, readable later without the process.

Every file of a run is reached through `RunDir` by name (`FILES`), so no caller builds a path
inside a run:

settings.json      what was asked for (data paths, task, split, hyperparameters)
meta.json          the user's name and note for the run, when Train was pressed (created) and
                   when its training process ended (ended), in epoch seconds
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
import zipfile
from pathlib import Path

import pandas as pd
import torch

from hmf_core.errors import RunError
from hmf_core.files import DamagedFile, read_json, write_json
from hmf_core.model import HMF, HMFConfig

FILES = {
    "settings": "settings.json",
    "meta": "meta.json",
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
AGAIN = "train the run again (or delete its directory)"
RECOVERY = {  # what to do when a file is damaged, by its name in FILES
    "settings": AGAIN,
    "data": AGAIN,
    "users": AGAIN,
    "items": AGAIN,
    "interactions": AGAIN,
    "checkpoint": AGAIN,
    "progress": "the run's state is unknown: " + AGAIN,
    "metrics": "the curves cannot be drawn; the checkpoint and the test metrics are not affected",
    "test_metrics": "compute them again: python -m hmf_core evaluate RUN_DIR --compute",
    "maps": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "map_pca": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "map_umap": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "quality": "compute it again: python -m hmf_core quality RUN_DIR",
    "meta": "give the run its name and note again (Train page, or python -m hmf_core name)",
}
MAX_NAME = 80  # characters of a run's name (one line)
MAX_NOTE = 2000  # characters of its note
SETTINGS_TYPES = {
    "data": str,
    "items": str,
    "users": str,
    "task": str,
    "split": str,
    "preset": str,
    "accelerator": str,
    "dim": int,
    "user_depth": int,
    "item_depth": int,
    "max_epochs": int,
    "compare_mf": bool,
    "projection": bool,
    "user_clusters": list,
    "item_clusters": list,
}
TABLE_COLUMNS = {  # columns every page relies on
    "users": ("id", "label"),
    "items": ("id", "label"),
    "interactions": ("user", "item", "rating", "stage"),
}


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

    def fingerprint(self) -> tuple:
        """(name, modification time in ns, size) of every file of the run and of its MF
        comparison: equal fingerprints, equal files (a cache key for what is read from them)."""
        entries = []
        for folder in (self.path, self.path / "mf"):
            try:
                with os.scandir(folder) as found:
                    for entry in found:
                        if entry.is_file():
                            info = entry.stat()
                            entries.append((entry.path, info.st_mtime_ns, info.st_size))
            except OSError:
                continue
        return tuple(sorted(entries))

    def exists(self) -> bool:
        return self.file("settings").exists()

    def created(self) -> float:
        """When the run was asked for, in epoch seconds: meta.json's `created` (written once,
        when Train is pressed), else settings.json's modification time (older runs)."""
        try:
            created = self.meta().get("created")
        except DamagedFile:
            created = None
        return created if created is not None else self.file("settings").stat().st_mtime

    def meta(self) -> dict:
        """meta.json: name and note (text, "" when unset), created and ended (epoch seconds or
        absent); DamagedFile when a field has the wrong type."""
        meta = self.json("meta")
        for key, types in (("name", (str,)), ("note", (str,))):
            if meta.get(key) is not None and not isinstance(meta[key], types):
                raise self.damaged("meta", f'"{key}" should be text, found {meta[key]!r:.40}')
        for key in ("created", "ended"):
            value = meta.get(key)
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool)
            ):
                raise self.damaged("meta", f'"{key}" should be a time, found {value!r:.40}')
        return {
            "name": meta.get("name") or "",
            "note": meta.get("note") or "",
            **{key: float(meta[key]) for key in ("created", "ended") if meta.get(key) is not None},
        }

    @property
    def label(self) -> str:
        """What the run is called where people read it: its name, else its directory's."""
        try:
            return self.meta()["name"] or self.name
        except DamagedFile:
            return self.name

    def update_meta(self, **changes) -> dict:
        """Change some fields of meta.json (name, note, created, ended) and write it atomically;
        a name is one line of at most MAX_NAME characters, a note at most MAX_NOTE."""
        try:
            meta = self.meta()
        except DamagedFile:
            meta = {}  # rewritten whole: the damaged fields are lost, the new ones kept
        if "name" in changes:
            changes["name"] = clean_name(changes["name"])
        if "note" in changes:
            changes["note"] = clean_note(changes["note"])
        meta.update(changes)
        self.write("meta", meta)
        return meta

    def json(self, name: str) -> dict:
        """One of the run's JSON files ({} when absent); DamagedFile when it cannot be used."""
        return read_json(self.file(name), RECOVERY.get(name, AGAIN))

    def damaged(self, name: str, reason: str) -> DamagedFile:
        return DamagedFile(self.file(name), reason, RECOVERY.get(name, AGAIN))

    def settings(self) -> dict:
        settings = self.json("settings")
        for name, wanted in SETTINGS_TYPES.items():  # what the pages and the run list use
            value = settings.get(name)
            if value is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
                if wanted is bool and isinstance(value, bool):
                    continue
                raise self.damaged("settings", f'"{name}" has the wrong type: {value!r:.40}')
        return settings

    def write(self, name: str, payload: dict) -> None:
        """Write one of the run's JSON files atomically (settings, progress, maps...)."""
        write_json(self.file(name), payload)

    def data_summary(self) -> dict:
        summary = self.json("data")
        for part in ("data", "split"):
            if not isinstance(summary.get(part, {}), dict):
                raise self.damaged("data", f'"{part}" should be an object')
        return summary

    def process_alive(self) -> bool:
        """Whether the process that last wrote progress.json still runs (training, the MF
        comparison, or the maps after training)."""
        return process_alive(self._progress().get("pid"))

    def _progress(self) -> dict:
        progress = self.json("progress")
        checks = {
            "state": (str,),
            "pid": (int,),
            "epoch": (int, float),
            "batch": (int, float),
            "batches": (int, float),
            "elapsed_s": (int, float),
            "last": (dict,),
            "error": (str,),
        }
        for key, types in checks.items():
            value = progress.get(key)
            if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
                raise self.damaged("progress", f'"{key}" has the wrong type: {value!r:.40}')
        return progress

    def progress(self) -> dict:
        progress = self._progress()
        if progress.get("state") == "running" and not process_alive(progress.get("pid")):
            progress["state"] = "failed"
            progress.setdefault("error", "the training process ended without finishing")
        return progress

    def metrics(self) -> pd.DataFrame:
        """One row per validated epoch: epoch (from 1), train_loss, the val metrics, elapsed_s."""
        path = self.file("metrics")
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame()
        try:
            frame = pd.read_csv(path, encoding="utf-8")
            if "epoch" not in frame.columns:
                raise ValueError("no epoch column")
            validated = frame.filter(like="val_").notna().any(axis=1)
            frame = frame[validated].drop(columns=["step"], errors="ignore")
            # the test row (training logs the test metrics last) is not an epoch
            frame = frame.drop(columns=[c for c in frame.columns if c.startswith("test_")])
            frame = frame[["epoch", *(c for c in frame.columns if c != "epoch")]]
            frame = frame.astype({"epoch": int}).reset_index(drop=True)
            numbers = frame.apply(pd.to_numeric, errors="coerce")
            if (numbers.isna() & frame.notna()).any().any():
                raise ValueError("a value that is not a number")
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise self.damaged(
                "metrics", reason.splitlines()[0] if reason else "unreadable"
            ) from None
        return numbers

    def test_metrics(self) -> dict:
        metrics = self.json("test_metrics")
        for key, value in metrics.items():
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool)
            ):
                raise self.damaged(
                    "test_metrics", f'"{key}" should be a number, found {value!r:.40}'
                )
        return metrics

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
        try:
            model, _ = load_checkpoint(self.file("checkpoint"))
        except Exception as exc:  # truncated, not a checkpoint, another model's weights
            raise self.damaged("checkpoint", f"{type(exc).__name__}: {exc}") from None
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
            raise self.damaged(name, "missing")
        try:
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_csv(
                    path, keep_default_na=False, na_values=[""], dtype={"id": str}, encoding="utf-8"
                )
        except Exception as exc:  # pyarrow's and pandas' errors for a truncated or foreign file
            raise self.damaged(name, _reason(exc)) from None
        absent = [c for c in TABLE_COLUMNS.get(name, ()) if c not in frame.columns]
        if absent:
            raise self.damaged(name, f"no column {absent[0]!r}")
        return frame

    def map(self, method: str) -> pd.DataFrame | None:
        """The map written after training ("pca" or "umap"), or None if not written yet."""
        if method not in MAP_METHODS:
            raise ValueError(f"map method must be one of {list(MAP_METHODS)}, got {method!r}")
        path = self.file(f"map_{method}")
        if not path.exists():
            return None
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise self.damaged(f"map_{method}", _reason(exc)) from None
        absent = [c for c in ("x", "y", "kind", "level", "index") if c not in frame.columns]
        if absent:
            raise self.damaged(f"map_{method}", f"no column {absent[0]!r}")
        return frame

    def maps_ready(self) -> list[str]:
        return [method for method in MAP_METHODS if self.file(f"map_{method}").exists()]

    def map_timings(self) -> dict:
        """maps.json: the seconds each map took, or {"error": ...} when computing them failed
        (a damaged maps.json reads as such an error)."""
        try:
            return self.json("maps")
        except DamagedFile as damage:
            return {"error": str(damage)}

    def quality(self) -> dict:
        """quality.json: cluster quality (hmf_core.quality), or {"error": ...}, or {} before;
        a damaged quality.json reads as {"error": what is wrong and how to recover}."""
        try:
            quality = self.json("quality")
            if quality and "error" not in quality:
                for part in ("sides", "columns"):
                    if not isinstance(quality.get(part, {}), (dict, list)):
                        raise self.damaged("quality", f'"{part}" has the wrong type')
        except DamagedFile as damage:
            return {"error": str(damage)}
        return quality

    def damage(self) -> DamagedFile | None:
        """The first damaged file of the run (the MF comparison's included), or None: every
        JSON file and metrics.csv read, the tables' headers and the parquet files' footers
        checked, the checkpoint's zip directory read. Cheap enough for every run of a list."""
        import pyarrow.parquet as pq

        parts = [self] + ([self.comparison()] if self.comparison() is not None else [])
        try:
            self.settings()
            for part in parts:
                part.progress()
                part.test_metrics()
                part.metrics()
                checkpoint = part.file("checkpoint")
                if checkpoint.exists() and not zipfile.is_zipfile(checkpoint):
                    raise part.damaged("checkpoint", "not a complete checkpoint")
            self.data_summary()
            for name in ("maps", "quality"):
                self.json(name)
            tables_written = self.file("data").exists()  # with the tables, before epoch one
            for name in ("users", "items"):
                if tables_written or self.file(name).exists():
                    self._check_header(name)
            for name in ("interactions", "map_pca", "map_umap"):
                if self.file(name).exists() or (name == "interactions" and tables_written):
                    try:
                        pq.read_metadata(self.file(name))
                    except Exception as exc:
                        raise self.damaged(name, _reason(exc)) from None
        except DamagedFile as damage:
            return damage
        return None

    def _check_header(self, name: str) -> None:
        try:
            header = pd.read_csv(self.file(name), nrows=2, encoding="utf-8").columns
        except Exception as exc:
            raise self.damaged(name, _reason(exc)) from None
        absent = [c for c in TABLE_COLUMNS[name] if c not in header]
        if absent:
            raise self.damaged(name, f"no column {absent[0]!r}")

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


def clean_name(text: object) -> str:
    """A run name as stored: one line (any line breaks or tabs become spaces), outer spaces
    removed, at most MAX_NAME characters. Shown literally wherever it appears."""
    return " ".join(str(text or "").split())[:MAX_NAME]


def clean_note(text: object) -> str:
    """A run note as stored: outer blank space removed, at most MAX_NOTE characters."""
    return str(text or "").strip()[:MAX_NOTE]


def _reason(exc: BaseException) -> str:
    """An exception of a file reader as a short reason."""
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"unreadable: {text}"


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
