"""A run directory: everything one training run wrote, readable later without the process.

Every file of a run is reached through `RunDir` by name (`FILES`), so no caller builds a path
inside a run:

settings.json      what was asked for (data paths, task, split, hyperparameters)
meta.json          the user's name and note for the run, when Train was pressed (created) and
                   when its training process ended (ended), in epoch seconds; the model
                   `family` (hmf_core.models.registry; absent in older runs: "hmf")
data.json          data and split summaries
users.csv          model user k -> original id, label, metadata (items.csv alike)
column_types.json  the type of every metadata column, {"user": {column: type}, "item": ...}
                   (hmf_core.data.column_types: detected, or chosen on the Data page); absent
                   in older runs: detected when read
interactions.parquet  the split's rows (user, item, rating, timestamp, stage)
progress.json      live state: state, epoch, batch, elapsed, device, error
metrics.csv        one row per epoch (Lightning's CSVLogger): epoch, train_loss, val metrics,
                   elapsed_s
best.ckpt          best checkpoint (weights + config; torch.load(weights_only=True) works)
test_metrics.json  test metrics of the best checkpoint
log.txt            the training process's output (maps_log.txt: the map process's)
map_pca.parquet, map_umap.parquet, maps.json   the 2-D maps and their timings (or error)
map_names.parquet, map_metadata.parquet   what the maps job computed for the Map's names and
                   hovers (interpret.projection.map_names, map_metadata), saved so a first
                   visit reads them; computed again when absent, unreadable or older
quality.json       cluster quality after training (hmf_core.interpret.quality), or its error
mf/                the same for the plain-MF comparison, when asked for
stability.json     cluster stability across seeds (hmf_core.runs.stability), when measured;
stability/seed-S/  the extra seeds it trained, sub-runs like mf/
sweep.json         a sweep's trial only (hmf_core.runs.sweep): its sweep, trial number and rank
STOP               written to ask a running training to stop

Runs are immutable once started: a new training never writes into a directory that holds a run
(hmf_core.runs.runclaim.claim_run_dir refuses, or with --overwrite moves the old run aside whole).
Every run gets an identity when it is created: a random `run_id` in meta.json (the MF
comparison's mf/meta.json: its own id and its `parent`'s), and, once its data is split, the
`data_fingerprint` of data.json. Every file the run writes afterwards carries the id:
progress.json, test_metrics.json, maps.json, quality.json and stability.json a "run_id" key,
best.ckpt a top-level "hmf_run" entry, the map parquet files the schema metadata key
b"hmf_run_id". A file carrying another run's id (copied from another run, or from another
dataset) is damaged (DamagedFile: "belongs to run X, not this run (Y)") and no page uses it. A
run without an id, or a file without one, was written before identities existed: legacy,
accepted unchecked (metrics.csv, log.txt and the data tables carry none; data.json is tied by
its fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hmf_core.common.errors import RunError
from hmf_core.common.files import DIVERGED, DamagedFile, read_json, write_atomically, write_json
from hmf_core.data.column_types import ColumnType, types_from_json, types_json
from hmf_core.data.columns import with_types
from hmf_core.data.split import Split
from hmf_core.models.hmf import HMF
from hmf_core.models.registry import DEFAULT_FAMILY, build_model

FILES = {
    "settings": "settings.json",
    "meta": "meta.json",
    "data": "data.json",
    "users": "users.csv",
    "items": "items.csv",
    "column_types": "column_types.json",
    "interactions": "interactions.parquet",
    "progress": "progress.json",
    "metrics": "metrics.csv",
    "checkpoint": "best.ckpt",
    "test_metrics": "test_metrics.json",
    "log": "log.txt",
    "maps_log": "maps_log.txt",
    "maps": "maps.json",
    "quality": "quality.json",
    "stability": "stability.json",
    "stability_log": "stability_log.txt",
    "stability_progress": "stability_progress.json",
    "map_pca": "map_pca.parquet",
    "map_umap": "map_umap.parquet",
    "map_names": "map_names.parquet",
    "map_metadata": "map_metadata.parquet",
    "stop": "STOP",
    "sweep": "sweep.json",
}
MAP_METHODS = ("pca", "umap")  # in the order they are written
AGAIN = "train the run again into a new run directory (or delete this one)"
RECOVERY = {  # what to do when a file is damaged, by its name in FILES
    "settings": AGAIN,
    "data": AGAIN,
    "users": AGAIN,
    "items": AGAIN,
    "column_types": "delete it to have the metadata columns' types detected again",
    "interactions": AGAIN,
    "checkpoint": AGAIN,
    "progress": "the run's state is unknown: " + AGAIN,
    "metrics": "the curves cannot be drawn; the checkpoint and the test metrics are not affected",
    "test_metrics": "compute them again: python -m hmf_core evaluate RUN_DIR --compute",
    "maps": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "map_pca": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "map_umap": "compute the maps again: python -m hmf_core maps RUN_DIR (or the Map page)",
    "quality": "compute it again: python -m hmf_core quality RUN_DIR",
    "stability": "measure it again: python -m hmf_core stability RUN_DIR",
    "meta": "give the run its name and note again (Train page, or python -m hmf_core name)",
    "sweep": "the trial's rank is in its sweep's sweep.csv; the run itself is not affected",
}
STAMPED = ("progress", "test_metrics", "maps", "quality", "stability")  # JSON with "run_id"
RUN_KEY = "hmf_run"  # the checkpoint's top-level entry: {"run_id", "data_fingerprint"}
PARQUET_KEY = b"hmf_run_id"  # the map parquet files' schema metadata key
MAX_NAME = 80  # characters of a run's name (one line)
MAX_NOTE = 2000  # characters of its note
SETTINGS_TYPES = {
    "data": str,
    "items": str,
    "users": str,
    "task": str,
    "split": str,
    "preset": str,
    "family": str,
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


def new_run_id() -> str:
    """A run's identity: 16 random hex digits."""
    return uuid.uuid4().hex[:16]


def data_fingerprint(summary: dict) -> str:
    """16 hex digits of SHA-256 over data.json's content (data and split summaries) as it reads
    back from the file: equal for the same data and split, different for other ones."""
    canonical = json.loads(json.dumps(summary, default=str))  # what write_json stores
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_checkpoint(path: str | Path, mmap: bool = False) -> dict:
    """A checkpoint's contents with torch.load(weights_only=True): a pickle payload (anything
    beyond tensors and plain containers) is refused. `mmap`: the tensors stay on disk (cheap:
    for reading the header)."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def model_from(checkpoint: dict) -> tuple[HMF, dict]:
    """The model (eval mode) and hyperparameters of a loaded checkpoint, of the family its
    hyperparameters name (hmf_core.models.registry; "hmf" when they name none)."""
    hparams = checkpoint["hyper_parameters"]
    # No random start drawn only to be overwritten, and the file's tensors taken as they are
    # (assign): 0.28 -> 0.06 s a load at 138,000 users x 200 clusters. strict: every weight
    # comes from the file, of the shape the config says.
    model = build_model(hparams.get("family", DEFAULT_FAMILY), hparams["config"], drawn=False)
    state = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    model.load_state_dict(state, assign=True)
    return model.eval(), dict(hparams)


def load_checkpoint(path: str | Path) -> tuple[HMF, dict]:
    """Rebuild a model from a checkpoint alone; returns (model in eval mode, hyperparameters)."""
    return model_from(read_checkpoint(path))


def run_split(run: RunDir) -> Split:
    """The split a run was trained on, read back from its interactions.parquet and tables."""
    interactions = run.interactions()
    stages = {
        stage: interactions[interactions["stage"] == stage].drop(columns="stage")
        for stage in ("train", "val", "test")
    }
    return Split(
        **{stage: frame.reset_index(drop=True) for stage, frame in stages.items()},
        user_ids=run.users()["id"].to_numpy(),
        item_ids=run.items()["id"].to_numpy(),
        method=str(run.settings().get("split", "")),
        dropped_cold={"val": 0, "test": 0},
    )


class RunDir:
    """A run directory, read and written by the names in `FILES`. `parent`: the run whose MF
    comparison this is (its mf/ folder)."""

    def __init__(self, path: str | Path, parent: RunDir | None = None):
        self.path = Path(path)
        self.parent = parent

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
        for key in ("run_id", "parent", "data_fingerprint", "family"):
            if meta.get(key) is not None and not isinstance(meta[key], str):
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
            **{
                k: meta[k]
                for k in ("run_id", "parent", "data_fingerprint", "family")
                if meta.get(k)
            },
        }

    def create(self, name: str = "", note: str = "", parent: RunDir | None = None) -> str:
        """Write meta.json of a new run: a new run id (and `parent`'s id for an MF comparison),
        the name, the note and when it was created. Returns the id."""
        run_id = new_run_id()
        identity = {"run_id": run_id}
        if parent is not None:  # its parent's id, and the data they share
            theirs = parent._identity_fields()
            identity["parent"] = theirs.get("run_id")
            identity["data_fingerprint"] = theirs.get("data_fingerprint")
        known = {key: value for key, value in identity.items() if value}
        self.update_meta(name=name, note=note, created=time.time(), **known)
        return run_id

    def _identity_fields(self) -> dict:
        """meta.json's fields, {} when it is damaged (its own damage is reported by meta();
        the run's other files are then taken unchecked, as a legacy run's)."""
        try:
            return self.meta()
        except DamagedFile:
            return {}

    def run_id(self) -> str | None:
        """The run's id (None: a legacy run, written before run ids; nothing is checked). For an
        MF comparison, a DamagedFile when it belongs to another run than its parent."""
        meta = self._identity_fields()
        if self.parent is not None:
            parent = self.parent._identity_fields().get("run_id")
            if parent is not None and meta.get("parent", parent) != parent:
                raise self.damaged("meta", _foreign(meta["parent"], parent))
        return meta.get("run_id")

    def identity(self) -> dict:
        """What the run's files carry: {"run_id", "data_fingerprint"} ({} for a legacy run)."""
        meta = self._identity_fields()
        return {k: meta[k] for k in ("run_id", "data_fingerprint") if k in meta}

    def check_owner(self, name: str, owner: object) -> None:
        """DamagedFile when file `name` carries another run's id than this run's; a file or a
        run without one (legacy) passes."""
        if owner is None:
            return
        own = self.run_id()
        if own is not None and owner != own:
            raise self.damaged(name, _foreign(owner, own))

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
        """One of the run's JSON files ({} when absent); DamagedFile when it cannot be used or
        carries another run's id (the "run_id" key of STAMPED files, removed here)."""
        payload = read_json(self.file(name), RECOVERY.get(name, AGAIN))
        if name in STAMPED:
            self.check_owner(name, payload.pop("run_id", None))
        return payload

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
        """Write one of the run's JSON files atomically (settings, progress, maps...); the
        STAMPED ones carry the run's id."""
        if name in STAMPED:
            run_id = self._identity_fields().get("run_id")
            payload = {**payload, **({"run_id": run_id} if run_id else {})}
        write_json(self.file(name), payload)

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write one of the run's parquet files atomically, the run's id in its metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        run_id = self._identity_fields().get("run_id")
        if run_id:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), PARQUET_KEY: run_id.encode()}
            )
        write_atomically(self.file(name), lambda path: pq.write_table(table, path))

    def _check_parquet(self, name: str) -> None:
        """A parquet file's footer is readable and carries no other run's id."""
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_metadata(self.file(name)).metadata or {}
        except Exception as exc:
            raise self.damaged(name, _reason(exc)) from None
        owner = metadata.get(PARQUET_KEY)
        self.check_owner(name, owner.decode(errors="replace") if owner is not None else None)

    def check_checkpoint(self) -> None:
        """best.ckpt (when there is one) is a complete checkpoint that torch.load accepts with
        weights_only=True (no pickle payload) and carries no other run's id or data: its
        header read with the tensors left on disk."""
        path = self.file("checkpoint")
        if not path.exists():
            return
        if not zipfile.is_zipfile(path):
            raise self.damaged("checkpoint", "not a complete checkpoint")
        try:
            checkpoint = read_checkpoint(path, mmap=True)
        except Exception as exc:  # pickle.UnpicklingError for a payload weights_only refuses
            raise self.damaged("checkpoint", _checkpoint_reason(exc)) from None
        self._check_checkpoint_owner(checkpoint)

    def _check_checkpoint_owner(self, checkpoint: dict) -> None:
        stamp = checkpoint.get(RUN_KEY) if isinstance(checkpoint, dict) else None
        if not isinstance(stamp, dict):
            return  # legacy: written before run ids
        self.check_owner("checkpoint", stamp.get("run_id"))
        own = self._identity_fields().get("data_fingerprint")
        theirs = stamp.get("data_fingerprint")
        if own and theirs and own != theirs:
            raise self.damaged(
                "checkpoint", f"trained on other data (fingerprint {theirs}, this run's {own})"
            )

    def data_summary(self) -> dict:
        summary = self.json("data")
        for part in ("data", "split"):
            if not isinstance(summary.get(part, {}), dict):
                raise self.damaged("data", f'"{part}" should be an object')
        own = self._identity_fields().get("data_fingerprint")
        if summary and own and data_fingerprint(summary) != own:
            raise self.damaged("data", f"describes other data than this run's (fingerprint {own})")
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
            "position": (int,),
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
        """One row per validated epoch: epoch (from 1), train_loss, the val metrics, elapsed_s,
        and `diverged`: the names of that row's metrics that were NaN or infinite in
        metrics.csv (Lightning writes "inf" and "nan" for a diverged fit), joined by ", ", ""
        when none. Those values read as NaN here, so no page ever draws or prints an infinity
        (`diverged_rows` finds them)."""
        path = self.file("metrics")
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame()
        try:
            text = pd.read_csv(
                path, encoding="utf-8", dtype=str, keep_default_na=False, na_values=[""]
            )
            if "epoch" not in text.columns:
                raise ValueError("no epoch column")
            if DIVERGED_COLUMN in text.columns:
                raise ValueError(f"a metric called {DIVERGED_COLUMN!r}")
            text = text[text.filter(like="val_").notna().any(axis=1)]  # validated epochs
            text = text.drop(columns=["step"], errors="ignore")
            # the test row (training logs the test metrics last) is not an epoch
            text = text.drop(columns=[c for c in text.columns if c.startswith("test_")])
            text = text[["epoch", *(c for c in text.columns if c != "epoch")]]
            text = text.reset_index(drop=True)
            numbers = text.apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
            words = text.apply(lambda column: column.str.strip().str.lower().isin(NON_FINITE))
            if (numbers.isna() & text.notna() & ~words).any().any():
                raise ValueError("a value that is not a number")
            non_finite = text.notna() & ~np.isfinite(numbers.to_numpy(np.float64))
            if non_finite["epoch"].any():
                raise ValueError("an epoch that is not a finite number")
            numbers = numbers.mask(non_finite).astype({"epoch": int})
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise self.damaged(
                "metrics", reason.splitlines()[0] if reason else "unreadable"
            ) from None
        names = non_finite.columns.to_numpy()
        numbers[DIVERGED_COLUMN] = [", ".join(names[row]) for row in non_finite.to_numpy()]
        return numbers

    def test_metrics(self) -> dict:
        """test_metrics.json: numbers (None for a metric that was NaN or infinite, which
        "diverged" lists: hmf_core.common.files.finite_json)."""
        metrics = self.json("test_metrics")
        for key, value in metrics.items():
            if key == DIVERGED and isinstance(value, list):
                continue
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool)
            ):
                raise self.damaged(
                    "test_metrics", f'"{key}" should be a number, found {value!r:.40}'
                )
        return metrics

    def sweep(self) -> dict:
        """A sweep trial's sweep.json: {"sweep": name, "trial": n, "rank": r or None}; {} for
        a run that is no trial, or whose file cannot be read (the run itself is fine)."""
        try:
            found = self.json("sweep")
        except DamagedFile:
            return {}
        ok = isinstance(found.get("sweep"), str) and isinstance(found.get("trial"), int)
        rank = found.get("rank")
        ok = ok and (rank is None or (isinstance(rank, int) and not isinstance(rank, bool)))
        return {key: found[key] for key in ("sweep", "trial")} | {"rank": rank} if ok else {}

    def comparison(self) -> RunDir | None:
        mf = RunDir(self.path / "mf", parent=self)
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
            checkpoint = read_checkpoint(self.file("checkpoint"))
        except Exception as exc:  # truncated, not a checkpoint, a pickle payload
            raise self.damaged("checkpoint", _checkpoint_reason(exc)) from None
        self._check_checkpoint_owner(checkpoint)
        try:
            model, _ = model_from(checkpoint)
        except Exception as exc:  # another model's weights
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
        if name in ("users", "items"):
            with_types(frame, self.column_types(name[:-1]))
        return frame

    def column_types(self, kind: str) -> dict[str, ColumnType] | None:
        """The types of the user ("user") or item ("item") metadata columns the run was trained
        with (column_types.json), or None (an older run: detected by whoever reads them)."""
        found = self.json("column_types").get(kind)
        if found is None:
            return None
        try:
            return types_from_json(found, kind)
        except ValueError as error:
            raise self.damaged("column_types", str(error)) from None

    def write_column_types(self, types: dict[str, dict[str, ColumnType]]) -> None:
        """column_types.json: {"user" / "item": {column: ColumnType}}, atomically."""
        self.write("column_types", {kind: types_json(found) for kind, found in types.items()})

    def map(self, method: str) -> pd.DataFrame | None:
        """The map written after training ("pca" or "umap"), or None if not written yet."""
        if method not in MAP_METHODS:
            raise ValueError(f"map method must be one of {list(MAP_METHODS)}, got {method!r}")
        path = self.file(f"map_{method}")
        if not path.exists():
            return None
        self._check_parquet(f"map_{method}")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise self.damaged(f"map_{method}", _reason(exc)) from None
        absent = [c for c in ("x", "y", "kind", "level", "index") if c not in frame.columns]
        if absent:
            raise self.damaged(f"map_{method}", f"no column {absent[0]!r}")
        return frame

    def map_labels(self, name: str, version: int) -> pd.DataFrame | None:
        """map_names or map_metadata as the maps job saved them, or None where there is
        nothing to read: not written (yet), written by another version of the code (maps.json's
        `labels_version` is not `version`), unreadable or another run's. The caller computes
        them then: they are a cache of the checkpoint and the tables, never the only copy."""
        if name not in ("map_names", "map_metadata"):
            raise ValueError(f"map labels are map_names or map_metadata, not {name!r}")
        path = self.file(name)
        if not path.exists() or self.map_timings().get("labels_version") != version:
            return None
        try:
            self._check_parquet(name)
            frame = pd.read_parquet(path)
        except Exception:  # DamagedFile included: computed again, nothing is lost
            return None
        return frame if {"kind", "level", "index"} <= set(frame.columns) else None

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
        """quality.json: cluster quality (hmf_core.interpret.quality), or {"error": ...}, or {}
        before; a damaged quality.json reads as {"error": what is wrong and how to recover}."""
        try:
            quality = self.json("quality")
            if quality and "error" not in quality:
                for part in ("sides", "columns"):
                    if not isinstance(quality.get(part, {}), (dict, list)):
                        raise self.damaged("quality", f'"{part}" has the wrong type')
        except DamagedFile as damage:
            return {"error": str(damage)}
        return quality

    def stability(self) -> dict:
        """stability.json: cluster stability across seeds (hmf_core.interpret.stability), or {}
        when not measured; a damaged one reads as {"error": what is wrong and how to recover}."""
        try:
            stability = self.json("stability")
            if stability and not isinstance(stability.get("sides"), dict):
                raise self.damaged("stability", '"sides" is missing or has the wrong type')
        except DamagedFile as damage:
            return {"error": str(damage)}
        return stability

    def damage(self) -> DamagedFile | None:
        """The first damaged file of the run (the MF comparison's included), or None: every
        JSON file and metrics.csv read, the tables' headers and the parquet files' footers
        checked, the checkpoint's header read (weights_only, tensors left on disk), every
        run id compared with the run's own. Cheap enough for every run of a list."""
        try:
            self.settings()
            mf = self.comparison()
            for part in [self] + ([mf] if mf is not None else []):
                part.run_id()  # the MF comparison's: its parent is this run
                part.progress()
                part.test_metrics()
                part.metrics()
                part.check_checkpoint()
            self.data_summary()
            for name in ("maps", "quality", "stability", "column_types"):
                self.json(name)
            tables_written = self.file("data").exists()  # with the tables, before epoch one
            for name in ("users", "items"):
                if tables_written or self.file(name).exists():
                    self._check_header(name)
            for name in ("interactions", "map_pca", "map_umap"):
                if self.file(name).exists() or (name == "interactions" and tables_written):
                    self._check_parquet(name)
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


DIVERGED_COLUMN = "diverged"  # of RunDir.metrics(): the row's metrics that were not finite
NON_FINITE = ("nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity", "-nan", "+nan")


def diverged_rows(metrics: pd.DataFrame, column: str) -> np.ndarray:
    """(rows,) True where `column` of a RunDir.metrics() frame was NaN or infinite in
    metrics.csv: a diverged epoch, drawn and listed as "diverged"."""
    if metrics.empty or DIVERGED_COLUMN not in metrics.columns:
        return np.zeros(len(metrics), dtype=bool)
    return np.array([column in names.split(", ") for names in metrics[DIVERGED_COLUMN]], bool)


def clean_name(text: object) -> str:
    """A run name as stored: one line (any line breaks or tabs become spaces), outer spaces
    removed, at most MAX_NAME characters. Shown literally wherever it appears."""
    return " ".join(str(text or "").split())[:MAX_NAME]


def clean_note(text: object) -> str:
    """A run note as stored: outer blank space removed, at most MAX_NOTE characters."""
    return str(text or "").strip()[:MAX_NOTE]


def _foreign(owner: object, own: str) -> str:
    return f"belongs to run {str(owner)[:40]}, not this run ({own})"


def _checkpoint_reason(exc: BaseException) -> str:
    """Why torch.load refused a checkpoint, in one short line."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
        return "holds a pickle payload that a safe load (weights_only) refuses"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


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
