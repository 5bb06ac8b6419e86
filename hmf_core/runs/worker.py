"""`python -m hmf_core.runs.worker RUN_DIR [--slots N --ticket PATH]`: the process that
hmf_core.runs.manager.start_run launches. With --slots it first waits in the runs folder's queue
(hmf_core.runs.limits) for one of N training slots, holding the ticket's lock it inherited, and says
its place in progress.json ("queued", position); stopped while it waits, it ends as "stopped"
without training. Only light modules are imported while it waits (torch comes after)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hmf_core.common.files import read_json, write_json
from hmf_core.runs.limits import wait_for_slot

# hmf_core.runs.rundir.FILES names these (not imported here: it imports torch)
PROGRESS, STOP = "progress.json", "STOP"


def wait_in_line(run_dir: Path, slots: int, ticket: Path) -> int | None:
    """Wait for a training slot; returns its descriptor (held while the process lives), or None
    when the run was stopped while queued (progress.json then says so)."""
    progress_file = run_dir / PROGRESS

    def update(**changes) -> None:
        progress = read_json(progress_file, "")
        if any(progress.get(key) != value for key, value in changes.items()):
            write_json(progress_file, {**progress, **changes})

    def report(position: int) -> None:
        update(state="queued", pid=os.getpid(), position=position)

    slot = wait_for_slot(run_dir.parent, slots, ticket, (run_dir / STOP).exists, report)
    if slot is None:
        update(state="stopped", pid=os.getpid(), position=None, error="stopped while queued")
        return None
    update(position=None)  # its turn: "preparing data" from here
    return slot


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmf_core.runs.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--slots", type=int, default=0, help="trainings at once (0: no limit)")
    parser.add_argument("--ticket", type=Path, help="this run's place in the queue")
    args = parser.parse_args(argv)
    if args.slots and args.ticket is not None:
        slot = wait_in_line(args.run_dir, args.slots, args.ticket)
        if slot is None:
            return 0
    from hmf_core.runs.manager import run_worker  # torch and Lightning: only once it may train

    return run_worker(args.run_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
