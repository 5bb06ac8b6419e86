"""Progress of the long steps before training (reading a rating file, splitting it).

A step reports to a callback `report(fraction, text)`: the fraction done, from 0 to 1, never
decreasing and 1.0 at the end, and what it is doing, in words ("parsed 120 of 488 MB"). The
step knows nothing of who listens: the Data page draws it as a progress bar, the training
worker writes it into the run's progress.json (`RunSteps`), the CLI ignores it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

Report = Callable[[float, str], None]
QUALITY_STEP = "computing cluster quality"  # the step after training (hmf_core.interpret.quality)


def silent(fraction: float, text: str) -> None:
    """The report of a caller that does not listen."""


def span(report: Report | None, start: float, end: float) -> Report:
    """A report for a part of a step: its fractions 0..1 are mapped onto start..end of
    `report`'s (a reading is the first part of a run's preparation, the split the second)."""
    if report is None:
        return silent
    return lambda fraction, text: report(start + (end - start) * fraction, text)


def monotone(report: Report | None) -> Report:
    """`report` with every fraction clipped into 0..1 and never below an earlier one."""
    if report is None:
        return silent
    highest = [0.0]

    def forward(fraction: float, text: str) -> None:
        highest[0] = max(highest[0], min(1.0, max(0.0, float(fraction))))
        report(highest[0], text)

    return forward


class RunSteps:
    """A report that writes the preparation step into a run's progress.json as `step` (its
    words) and `step_fraction`, at most every `interval` seconds except a step's first and
    last report; the Train page shows them while the run prepares its data or, after training,
    computes cluster quality. Fields other than these two are left as they are."""

    def __init__(self, run_dir: str | Path, interval: float = 0.5):
        from hmf_core.runs.rundir import RunDir  # rundir reads pandas: only when a run reports

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


def step_of(progress: dict) -> tuple[float | None, str] | None:
    """(fraction or None when the step has none, words) of the step a run's progress.json
    names, or None: what the Train page shows while a run prepares its data or computes
    cluster quality."""
    text, fraction = progress.get("step"), progress.get("step_fraction")
    if not isinstance(text, str) or not text:
        return None
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
        return None, text
    return min(1.0, max(0.0, float(fraction))), text
