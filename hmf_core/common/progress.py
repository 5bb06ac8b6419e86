"""Progress of the long steps before training (reading a rating file, splitting it).

A step reports to a callback `report(fraction, text)`: the fraction done, from 0 to 1, never
decreasing and 1.0 at the end, and what it is doing, in words ("parsed 120 of 488 MB"). The
step knows nothing of who listens: the Data page draws it as a progress bar, the training
worker writes it into the run's progress.json (hmf_core.runs.steps.RunSteps), the CLI ignores
it.
"""

from __future__ import annotations

from collections.abc import Callable

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
