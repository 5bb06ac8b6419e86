"""A run's preparation and after-training steps in its progress.json (`RunSteps`): what the
Train page shows while a run reads and splits its data or computes cluster quality."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hmf_core.runs.rundir import RunDir


class RunSteps:
    """A report that writes the preparation step into a run's progress.json as `step` (its
    words) and `step_fraction`, at most every `interval` seconds except a step's first and
    last report; the Train page shows them while the run prepares its data or, after training,
    computes cluster quality. Fields other than these two are left as they are."""

    def __init__(self, run_dir: str | Path, interval: float = 0.5):
        self.run = RunDir(run_dir)
        self.interval = interval
        self.last_write = 0.0
        self.last_text = None

    def __call__(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        first = text.split(":")[0] != (self.last_text or "").split(":")[0]
        if not (first or fraction >= 1.0 or now - self.last_write >= self.interval):
            return
        self.last_write, self.last_text = now, text
        self.update(step=text, step_fraction=round(float(fraction), 4))

    def update(self, **fields) -> None:
        """Set (or, with None, remove) fields of progress.json, keeping the others."""
        from hmf_core.common.files import DamagedFile

        try:
            progress = self.run.json("progress")  # {} when absent
        except DamagedFile:  # replaced: this process owns the run now
            progress = {}
        progress.setdefault("pid", os.getpid())
        progress.setdefault("state", "queued")
        for key, value in fields.items():
            if value is None:
                progress.pop(key, None)
            else:
                progress[key] = value
        self.run.write("progress", progress)

    def done(self) -> None:
        """The step is over: progress.json no longer names it."""
        self.update(step=None, step_fraction=None)
