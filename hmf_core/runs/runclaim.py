"""Claiming a run directory: a new one is made atomically under a unique name, and a run holds
a lock (flock on run.lock, its pid inside) while it writes: two runs never share a directory.
A run is immutable once started: a directory that holds one is never trained into again
(`claim_run_dir` refuses, or with overwrite moves the old run aside whole)."""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hmf_core.common.errors import RunError

LOCK = "run.lock"


def create_run_dir(root: str | Path, name: str) -> Path:
    """`root/name`, or `root/name~2`, `~3`... : the first that mkdir creates. mkdir is atomic,
    so two callers racing for one name get two directories (no exists-then-mkdir gap)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for suffix in range(1, 10_000):
        path = root / (name if suffix == 1 else f"{name}~{suffix}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"{root}: no free run name like {name!r}")


class RunLock:
    """`with RunLock(run_dir):` holds `run_dir/run.lock`: an exclusive flock (the kernel drops it
    when the holder dies, so no stale lock survives a killed run) with the holder's pid inside.
    A directory already locked by a live run is a RunError. The file stays; the lock goes."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self.descriptor: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        _lock_or_refuse(descriptor, self.path.parent)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        self.descriptor = descriptor

    def release(self) -> None:
        if self.descriptor is not None:
            os.ftruncate(self.descriptor, 0)
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
            os.close(self.descriptor)
            self.descriptor = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


# What makes a directory a run's: any of these names in it (rundir.FILES, the lock, the MF
# comparison and the stability sub-runs, Lightning's hparams.yaml).
RUN_ENTRIES = frozenset(
    {
        "settings.json", "meta.json", "data.json", "users.csv", "items.csv",
        "interactions.parquet", "progress.json", "metrics.csv", "best.ckpt",
        "test_metrics.json", "log.txt", "maps_log.txt", "maps.json", "quality.json",
        "stability.json", "stability", "stability_log.txt", "stability_progress.json",
        "map_pca.parquet", "map_umap.parquet", "map_names.parquet", "map_metadata.parquet",
        "STOP", "mf", "hparams.yaml", "sweep.json", LOCK,
        "column_types.json",
    }
)  # fmt: skip


def holds_run(path: str | Path) -> bool:
    """Whether `path` is a directory holding any file of a run (finished, failed, stopped...)."""
    try:
        return any(entry.name in RUN_ENTRIES for entry in os.scandir(path))
    except OSError:
        return False


@dataclass
class Claim:
    """A run directory claimed for a new training: `lock` held on it; `made` the directories
    this claim created (innermost first; [] when it reused an empty one); `aside` where the
    run it replaces waits until `commit` deletes it (`abandon` puts it back)."""

    path: Path
    lock: RunLock
    made: list[Path] = field(default_factory=list)
    aside: Path | None = None

    def commit(self) -> None:
        """The new run has started: the run it replaced is deleted."""
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def abandon(self) -> None:
        """The new run was refused before it trained: remove what this claim created (the
        directory's contents when it reused an empty one) and put a replaced run back."""
        self.lock.release()
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
            for folder in self.made[1:]:  # parents made for it, while empty
                try:
                    folder.rmdir()
                except OSError:
                    break
        else:
            for entry in list(self.path.iterdir()) if self.path.is_dir() else []:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        if self.aside is not None:
            if self.made:
                os.rename(self.aside, self.path)
            self.aside = None


def claim_run_dir(path: str | Path, overwrite: bool = False) -> Claim:
    """Claim `path` for a new training, its lock held. A missing directory is made (parents
    too); an empty one is used. One that holds a run is refused with the remedy, unless
    `overwrite`: then the old run (not while its process holds its lock) is renamed aside
    whole, atomically, and a fresh directory made in its place, so no old file survives and a
    crash never leaves the two mixed; `Claim.commit` deletes it once the new run has started.
    A directory holding files that are not a run's is never used nor overwritten."""
    path = Path(path)
    made = _mkdirs(path)
    if made:
        return Claim(path, _locked(path), made)
    if not path.is_dir():
        raise RunError(f"{path}: exists and is not a directory; choose another --run-dir")
    if not holds_run(path):
        others = sorted(entry.name for entry in os.scandir(path))
        if others:
            raise RunError(
                f"{path}: holds files that are not a run's ({others[0]}...); "
                "choose another --run-dir"
            )
        return Claim(path, _locked(path))
    old = _hold_unchanged(path / LOCK)  # a RunError naming the pid when a live run holds it
    try:
        _refuse_live(path)
        if not overwrite:
            raise RunError(
                f"{path}: holds a run already ({_state(path)}); runs are never trained into "
                "again: add --overwrite to replace it, or choose another --run-dir"
            )
        aside = path.with_name(f".{path.name}.replaced-{uuid.uuid4().hex[:8]}")
        os.rename(path, aside)  # atomic: the whole old run leaves `path` at once
    finally:
        if old is not None:
            os.close(old)  # drops the flock
    try:
        path.mkdir()
    except FileExistsError:
        raise RunError(
            f"{path}: another process made it while its old run was moved aside to {aside}"
        ) from None
    return Claim(path, _locked(path), [path], aside)


def claim_new_run_dir(root: str | Path, name: str) -> Claim:
    """A new run directory under `root` (create_run_dir: atomic, unique), claimed."""
    parents = _missing(Path(root))
    path = create_run_dir(root, name)
    return Claim(path, _locked(path), [path, *parents])


def _missing(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, innermost first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    return missing


def _mkdirs(path: Path) -> list[Path]:
    """Make `path` and its missing parents; the ones made, innermost first ([]: it existed)."""
    missing = _missing(path)
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            if folder == path:  # made by another process meanwhile: not ours
                return []
    return missing


def _hold_unchanged(lock: Path) -> int | None:
    """Hold an existing run.lock without writing to it (a refused claim leaves the old run's
    files as they were): the descriptor holding its flock, None when there is no lock file."""
    try:
        descriptor = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    _lock_or_refuse(descriptor, lock.parent)
    return descriptor


def _lock_or_refuse(descriptor: int, run_dir: Path) -> None:
    """Take the flock of an open run.lock, or close it and raise a RunError naming the live run
    that holds it (its pid, as written in the file)."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise RunError(
            f"{run_dir}: in use by a live run (pid {holder}); "
            "choose another --run-dir or stop that run"
        ) from None


def _locked(path: Path) -> RunLock:
    lock = RunLock(path)
    lock.acquire()
    return lock


def _refuse_live(path: Path) -> None:
    """A RunError when the run's progress says its process still works (runs older than
    run.lock, or a process that does not hold it)."""
    from hmf_core.common.files import DamagedFile
    from hmf_core.runs.rundir import RunDir

    run = RunDir(path)
    try:
        progress = run.json("progress")
    except DamagedFile:
        return
    if progress.get("state") in ("queued", "running") and run.process_alive():
        raise RunError(
            f"{path}: in use by a live run (pid {progress.get('pid', 'unknown')}); "
            "choose another --run-dir or stop that run"
        )


def _state(path: Path) -> str:
    from hmf_core.common.files import DamagedFile
    from hmf_core.runs.rundir import RunDir

    try:
        return RunDir(path).json("progress").get("state") or "not started"
    except DamagedFile:
        return "damaged"
