"""Training faults, caught where they happen: a diverging model stops the fit, and the best
checkpoint is never non-finite and never half-written (a full disk keeps the previous one)."""

from __future__ import annotations

import errno
import math

import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from hmf_core.common.files import write_atomically


def all_finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class DivergenceGuard(Callback):
    """Stops the fit at the first non-finite training loss, or when a validation metric is
    non-finite or beyond `limit` (for ratings: far outside any rating the data has)."""

    def __init__(self, monitor: str, limit: float | None = None):
        self.monitor = monitor
        self.limit = limit
        self.epoch: int | None = None  # 1-based epoch that diverged

    def _stop(self, trainer) -> None:
        if self.epoch is None:
            self.epoch = trainer.current_epoch + 1
        trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()):
            self._stop(trainer)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        for name, value in trainer.callback_metrics.items():
            value = float(value)
            if not math.isfinite(value):
                self._stop(trainer)
            elif name == self.monitor and self.limit is not None and value > self.limit:
                self._stop(trainer)

    def message(self, cause: str | None = None) -> str:
        """What diverged and why: `cause` when the data explains it (ratings far outside any
        rating scale: hmf_core.data.ratings.far_ratings), else the learning rate."""
        if cause:
            scale = "ratings far outside any rating scale"
            return f"diverged at epoch {self.epoch} on {scale}: {cause}"
        return f"diverged at epoch {self.epoch} (try a lower learning rate)"


class SafeCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that skips a non-finite monitored value, non-finite weights or a model
    `guard` found diverged (so the last finite best stays), and writes through
    files.write_atomically (a temporary file renamed into place): a reader, a crash or a full
    disk never meets half a checkpoint."""

    def __init__(self, *args, guard: DivergenceGuard | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _save_topk_checkpoint(self, trainer, monitor_candidates) -> None:
        if self.guard is not None and self.guard.epoch is not None:
            return  # the model has diverged (even if its numbers are still finite)
        current = monitor_candidates.get(self.monitor) if self.monitor else None
        if current is not None and not bool(torch.isfinite(torch.as_tensor(current)).all()):
            return
        if not all_finite(trainer.lightning_module):
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        if not trainer.is_global_zero:  # other ranks write nothing but join the barrier
            super()._save_checkpoint(trainer, filepath)
            return
        write_atomically(filepath, lambda temporary: self._save_to(trainer, str(temporary)))
        self._last_checkpoint_saved = filepath

    def _save_to(self, trainer, path: str) -> None:
        super()._save_checkpoint(trainer, path)


def disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC / EDQUOT error somewhere in `exc`'s chain, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
