"""What a shared app limits in the runs folder: trainings at once (a queue of slots) and the disk
its runs use.

The queue lives in the runs folder, not in the app, so it survives an app restart:

- `take_ticket` (in the process that starts a run) creates `.queue/<time>-<n>` already locked
  (flock) and hands the open descriptor to the run's worker, which inherits the lock. The order
  of the names is the order the runs were started; a ticket nobody holds any longer (its worker
  died) is stale and removed by whoever meets it.
- `wait_for_slot` (in the worker) waits until its ticket is first in line, then takes one of
  `slots` locks `.slots/slot-K.lock` (flock, held until the worker ends: the kernel drops it
  when the process dies, however it dies) and gives up its ticket. It reports its position
  meanwhile and leaves the queue when the run is asked to stop.

Light on purpose (no torch): a queued worker waits with this module alone imported.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hmf_core.common.errors import RunError

QUEUE = ".queue"  # tickets of the runs waiting for a slot, under the runs folder
SLOTS = ".slots"  # slot-K.lock, one per training allowed at once
_sequence = itertools.count()  # breaks ties between two tickets taken in one nanosecond


@dataclass(frozen=True)
class RunLimits:
    """Limits on starting a run (`hmf_core.runs.manager.start_run`); the defaults limit nothing."""

    trainings: int = 0  # trainings at once under the runs folder; 0: no limit, no queue
    disk_bytes: int | None = None  # a new run is refused while the runs folder uses more
    disk_setting: str = ""  # what sets disk_bytes, named in the refusal


def take_ticket(root: str | Path) -> tuple[Path, int]:
    """A new place at the end of the queue of `root`: (ticket path, open descriptor holding its
    lock). The file is locked before it appears under its name, so it is never seen unheld."""
    folder = Path(root) / QUEUE
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):06d}"
    hidden = folder / f".{name}.new"
    descriptor = os.open(hidden, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.rename(hidden, folder / name)  # same file, still locked
    return folder / name, descriptor


def _held(path: Path) -> bool:
    """Whether a live process holds the flock of `path` (a lock dies with its process)."""
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # also drops the lock taken just above, if it was
    return False


def _live(ticket: Path) -> bool:
    """Whether a waiting worker holds `ticket`; a ticket nobody holds is removed (its names are
    never reused, so nobody can take it up again)."""
    if _held(ticket):
        return True
    ticket.unlink(missing_ok=True)
    return False


def queue_position(ticket: Path) -> int:
    """1 + the number of live tickets ahead of `ticket` (1: next to start)."""
    try:
        names = [name for name in os.listdir(ticket.parent) if not name.startswith(".")]
    except FileNotFoundError:
        return 1
    return 1 + sum(1 for name in names if name < ticket.name and _live(ticket.parent / name))


def try_slot(root: str | Path, slots: int) -> int | None:
    """The descriptor of a free slot lock of `root`, now held by this process; None when all
    `slots` are taken."""
    folder = Path(root) / SLOTS
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(slots):
        descriptor = os.open(folder / f"slot-{number}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)  # who holds it, for a reader
        return descriptor
    return None


def trainings_running(root: str | Path, slots: int) -> int:
    """How many of the first `slots` slots of `root` are held now."""
    folder = Path(root) / SLOTS
    return sum(_held(folder / f"slot-{number}.lock") for number in range(slots))


def wait_for_slot(
    root: str | Path,
    slots: int,
    ticket: Path,
    stopped: Callable[[], bool],
    report: Callable[[int], None],
    every: float = 0.5,
) -> int | None:
    """Wait in line (ticket order) for one of `slots` slots of `root`; returns the descriptor of
    the slot now held (keep it open while training), or None when `stopped()` came first. Either
    way the ticket is given up. `report(position)` is called on every pass while it waits."""
    try:
        while not stopped():
            position = queue_position(ticket)
            if position == 1:
                slot = try_slot(root, slots)
                if slot is not None:
                    return slot
            report(position)
            time.sleep(every)
        return None
    finally:
        ticket.unlink(missing_ok=True)


# --- disk ------------------------------------------------------------------------------------


def folder_bytes(folder: str | Path) -> int:
    """Bytes the files under `folder` take on disk (allocated blocks; 0 when it is absent)."""
    total = 0
    pending = [Path(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            info = entry.stat(follow_symlinks=False)
                            total += getattr(info, "st_blocks", 0) * 512 or info.st_size
                    except OSError:
                        continue  # removed meanwhile
        except OSError:
            continue
    return total


def size_text(size: float) -> str:
    """Bytes as people read them: "812.4 MB", "21.30 GB" (decimal units, as disks are sold)."""
    if size >= 1e9:
        return f"{size / 1e9:,.2f} GB"
    return f"{size / 1e6:,.1f} MB"


def check_disk(root: str | Path, limit_bytes: int | None, setting: str = "") -> int:
    """The bytes the runs folder `root` uses; a RunError with the figures when they exceed
    `limit_bytes` (None: no limit). `setting` names what sets the limit, for the message."""
    used = folder_bytes(root)
    if limit_bytes is not None and used > limit_bytes:
        raise RunError(
            f"no new training: the runs folder {root} uses {size_text(used)}, above the limit of "
            f"{size_text(limit_bytes)}{f' ({setting})' if setting else ''}; whoever runs the app "
            "can delete runs no longer needed there, or raise the limit"
        )
    return used
