"""Claiming a run directory: a new one is made atomically under a unique name, and a run holds
a lock (flock on run.lock, its pid inside) while it writes: two runs never share a directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hmf_core.errors import RunError

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
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise RunError(
                f"{self.path.parent}: in use by a live run (pid {holder}); "
                "choose another --run-dir or stop that run"
            ) from None
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
