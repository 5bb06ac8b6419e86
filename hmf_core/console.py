"""The command line's progress: a bar on a terminal, plain lines when the output is piped.

`StepProgress` is a `common.progress.Report` (reading, splitting, cluster quality, maps): on a
terminal one tqdm bar per step (the words before the first ':' name the step), redrawn in
place; piped (a log file, CI), a line when a step starts, at most one every `every` seconds
while it runs, and one when it ends. `EpochProgress` is the Lightning callback for training: a
bar over each epoch's batches on a terminal, and one line per epoch either way (the numbers
metrics.csv has). Output goes to stdout; tqdm is a dependency of Lightning.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from pytorch_lightning.callbacks import Callback
from tqdm import tqdm

# tqdm's own layout; {postfix} (what the step does now) comes with its leading ", "
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:24}| [{elapsed}<{remaining}{postfix}]"
EPOCH_FORMAT = "{desc}: {n_fmt}/{total_fmt} batches |{bar:24}| [{elapsed}<{remaining}{postfix}]"


def width() -> int:
    """The terminal's columns, 80 where it says 0 (a new pseudo-terminal): tqdm would take
    that as no room at all and draw nothing."""
    return shutil.get_terminal_size((80, 24)).columns


def height() -> int:
    """The terminal's lines, 24 where it says 0 (tqdm hides bars below its last line)."""
    return shutil.get_terminal_size((80, 24)).lines


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class StepProgress:
    """`report(fraction, text)` drawn on `stream` (stdout by default): see the module."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0):
        self.stream = stream or sys.stdout
        self.terminal = is_terminal(self.stream)
        self.every = every
        self.step: str | None = None
        self.bar: tqdm | None = None
        self.last_line = 0.0

    def __call__(self, fraction: float, text: str) -> None:
        step, _, detail = text.partition(":")
        if step != self.step:
            self.close()
            self.step = step
            if self.terminal:
                self.bar = tqdm(
                    total=100,
                    desc=step,
                    file=self.stream,
                    bar_format=BAR_FORMAT,
                    leave=True,
                    ncols=width(),
                    nrows=height(),
                )
            else:
                self._line(fraction, text)
        if self.bar is not None:
            self.bar.n = round(100 * min(1.0, max(0.0, fraction)), 1)
            self.bar.set_postfix_str(detail.strip(), refresh=False)
            self.bar.refresh()
        elif time.monotonic() - self.last_line >= self.every or fraction >= 1.0:
            self._line(fraction, text)
        if fraction >= 1.0:
            self.close()

    def _line(self, fraction: float, text: str) -> None:
        self.last_line = time.monotonic()
        print(f"[{fraction:4.0%}] {text}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the current step's bar (the next report starts a new one)."""
        if self.bar is not None:
            self.bar.close()
        self.bar, self.step = None, None


class EpochProgress(Callback):
    """Training on the console (rank 0 only): what is trained where, a bar over each epoch's
    batches on a terminal, and a line per epoch with its metrics."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.terminal = is_terminal(self.stream)
        self.bar: tqdm | None = None
        self.last_loss = 0.0

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def on_fit_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        from hmf_core.interpret.queries import level_counts

        model = pl_module.model
        plain = not any(level_counts(model).values())
        kind = "MF" if plain else {"hmf": "HMF"}.get(model.family, model.family)
        self._print(
            f"training {kind} on {trainer.strategy.root_device} -> {trainer.default_root_dir}"
        )

    def on_train_epoch_start(self, trainer, pl_module):
        if not (self.terminal and trainer.is_global_zero):
            return
        total = trainer.num_training_batches
        self.bar = tqdm(
            total=total if isinstance(total, int) else None,
            desc=f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}",
            file=self.stream,
            bar_format=EPOCH_FORMAT,
            leave=False,
            ncols=width(),
            nrows=height(),
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.monotonic()
        count = getattr(pl_module, "_loss_count", 0)  # HMFModule's running sum of the epoch
        if count and now - self.last_loss >= 0.5:  # reading it waits for the device: seldom
            self.last_loss = now
            mean = float(pl_module._loss_sum) / count
            self.bar.set_postfix_str(f"train loss so far {mean:.4f}", refresh=False)

    def on_train_epoch_end(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = ", ".join(f"{k}={float(v):.4f}" for k, v in metrics.items() if k != "epoch")
        self._print(f"epoch {trainer.current_epoch + 1}: {shown}")
        self.close()

    def on_fit_end(self, trainer, pl_module):
        self.close()

    def on_exception(self, trainer, pl_module, exception):
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
