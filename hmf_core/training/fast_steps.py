"""FastSteps: the speed machinery of HMF's Lightning training, kept out of HMFModule.

HMFModule (lightning_module.py) says what HMF trains: `_shared_step(batch, stage)` gives the
loss of a training batch (eq. 5 or 9) and updates the metrics of a validation or test batch;
configure_optimizers picks fused AdamW or LazyAdamW. This mixin says how fast Lightning runs
it, with four things that change no number:

1. Groups of batches (StepGroups below; HMFDataModule yields them): Lightning sees one batch
   per group of `steps_per_batch` training batches and `training_step` takes one optimizer
   step per batch of the group, so Lightning's fixed cost per batch (its loop, hooks and
   callbacks: 0.3 ms, about 40% of an ML-1M-size MF step) is paid once per group. Lightning /
   bare loop, ML-1M-size MF, CPU s per epoch: 1.49x with 1, 1.18x with 4, 1.11x with 8, 1.08x
   with 16 (benchmarks/results/speed.md). Trainer(max_steps=...) still stops inside a group.
2. Manual optimization: the same zero_grad / backward / step through Lightning's optimizer
   wrapper (steps counted, precision plugin, DDP), without the automatic loop's closure and
   its per-step hooks: ML-1M-size MF, Lightning / bare loop 1.41 -> 1.31 in CPU s. The
   Trainer's gradient_clip_val and accumulate_grad_batches do not apply then (Lightning
   refuses them); hmf_core sets neither.
3. `_current_fx_name` set without nn.Module.__setattr__ (see __setattr__ below).
4. LazyAdamW's catch-up: the lazy optimizer leaves rows outside recent batches behind; every
   row is brought up to date before anything reads the weights: validation (and the
   checkpoint saved after it), the end of an epoch (before ModelCheckpoint and EarlyStopping,
   which Lightning calls after the module's on_train_epoch_end), any state_dict() (so every
   checkpoint, weights-only ones included), and the end of training. Rows a batch reads are
   brought up to date inside the model's forward (HierarchicalEmbedding.before_lookup, see
   there why it stays there).

Why a mixin and not a Callback or a custom loop: a Callback cannot change what training_step
receives nor how many optimizer steps one Lightning batch makes, and each callback is called
on three of Lightning's hooks every optimizer step (on_before_backward, on_after_backward,
on_before_optimizer_step) even where it does nothing: the fixed cost per step that 1-3 take
away. Lightning 2's loops are private classes that change between releases. The mixin uses
public hooks only (training_step, manual optimization, on_*_epoch_* hooks) and torch's
state_dict pre-hook, plus two private attribute names (`_current_fx_name`, `_trainer`). A
module mixes it in first, `class HMFModule(FastSteps, pl.LightningModule)`, defines
`_shared_step(batch, "train") -> loss`, and calls `super().on_train_epoch_end()` if it defines
on_train_epoch_end.
"""

from __future__ import annotations

from itertools import islice

import torch

from hmf_core.training.optim import LazyAdamW

# Training batches per Lightning batch (StepGroups): Lightning / bare loop, ML-1M-size MF, CPU s
# per epoch: 1.49x with 1, 1.18x with 4, 1.11x with 8, 1.08x with 16 (benchmarks/results/speed.md).
STEPS_PER_BATCH = 8


class StepGroups:
    """Training batches in groups of `size` consecutive ones: Lightning sees one batch, and
    FastSteps.training_step takes one optimizer step per batch of the group. The batches and
    their order are those of `batches`."""

    def __init__(self, batches, size: int):
        if size < 1:
            raise ValueError(f"a group holds at least one batch, not {size}")
        self.batches = batches
        self.size = size

    @property
    def steps(self) -> int:
        """Optimizer steps (batches) of an epoch."""
        return len(self.batches)

    def __len__(self) -> int:
        return -(-len(self.batches) // self.size)

    def __iter__(self):
        batches = iter(self.batches)
        while group := tuple(islice(batches, self.size)):
            yield group  # (batch, ...): each a tuple of tensors


def catch_up_lazy(trainer) -> None:
    """Every LazyAdamW of `trainer` (if any) applies the steps its rows skipped."""
    for optimizer in trainer.optimizers if trainer is not None else ():
        if isinstance(optimizer, LazyAdamW):
            optimizer.catch_up()


def _catch_up_before_state_dict(module, prefix, keep_vars) -> None:
    # nn.Module state_dict pre-hook (a module-level function, so the module still pickles):
    # Lightning calls no callback hook for weights-only checkpoints, but every checkpoint, and
    # any other reader of the weights, goes through state_dict()
    catch_up_lazy(module._trainer)


class FastSteps:
    """Mixed into a LightningModule (first among its bases): groups of optimizer steps per
    training_step, manual optimization, a cheap `_current_fx_name`, LazyAdamW caught up
    before every read of the weights (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False  # 2. in the module docstring
        self.register_state_dict_pre_hook(_catch_up_before_state_dict)

    def __setattr__(self, name: str, value) -> None:
        # Lightning sets _current_fx_name (a str) around every hook call, 44 times a training
        # step; nn.Module.__setattr__ checks parameters, modules and buffers each time, 13% of
        # an ML-100K MF step through Lightning (cProfile). It is never any of those: set it
        # directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def training_step(self, group, batch_idx):
        """One optimizer step per batch of the group (StepGroups), each on the loss of
        `self._shared_step(batch, "train")`."""
        optimizer = self.optimizers()
        limit = self.trainer.max_steps  # counts optimizer steps; -1: none
        losses = []
        for batch in group:
            if losses and 0 <= limit <= self.trainer.global_step:
                break  # Trainer(max_steps=...) stops inside a group
            loss = self._shared_step(batch, "train")
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            losses.append(loss.detach())
        # on_train_batch_end's outputs["loss"] (faults.DivergenceGuard reads it): a non-finite
        # loss of any batch leaves the mean non-finite
        return torch.stack(losses).mean()

    def on_validation_epoch_start(self) -> None:
        catch_up_lazy(self._trainer)

    def on_train_epoch_end(self) -> None:
        catch_up_lazy(self._trainer)

    def on_train_end(self) -> None:
        catch_up_lazy(self._trainer)
