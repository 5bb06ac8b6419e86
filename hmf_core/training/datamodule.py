"""A LightningDataModule over a Split: tensors live on the training device."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from hmf_core.data.split import Split
from hmf_core.training.batches import SeenPairs, StepGroups, TensorBatches, sample_unseen
from hmf_core.training.metrics import RANKING_NEGATIVES, TASKS

EVAL_BATCH = 8192
# Training batches per Lightning batch (StepGroups): Lightning / bare loop, ML-1M-size MF, CPU s
# per epoch: 1.49x with 1, 1.18x with 4, 1.11x with 8, 1.08x with 16 (benchmarks/results/speed.md).
STEPS_PER_BATCH = 8


def frame_tensors(frame, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(users, items, ratings) of a split frame as tensors on `device`."""
    return (
        torch.as_tensor(frame["user"].to_numpy(copy=True), dtype=torch.long, device=device),
        torch.as_tensor(frame["item"].to_numpy(copy=True), dtype=torch.long, device=device),
        torch.as_tensor(frame["rating"].to_numpy(copy=True), dtype=torch.float32, device=device),
    )


class HMFDataModule(pl.LightningDataModule):
    """Rating task: batches (users, items, ratings). Ranking task: training batches
    (users, positives, sampled negatives); evaluation batches (users, candidates) with the
    positive in column 0 and `n_negatives` unseen items beside it (drawn once, seeded).
    Training batches come in groups of `steps_per_batch` (StepGroups): one optimizer step each."""

    def __init__(
        self,
        split: Split,
        task: str = "rating",
        batch_size: int = 1024,
        seed: int = 0,
        n_negatives: int = RANKING_NEGATIVES,
        steps_per_batch: int = STEPS_PER_BATCH,
    ):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        self.split = split
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.n_negatives = n_negatives
        self.steps_per_batch = steps_per_batch
        self._device = None

    def _device_now(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _build(self) -> None:
        device = self._device_now()
        if self._device == device:
            return
        self._device = device
        self.train_tensors = frame_tensors(self.split.train, device)
        self.eval_tensors = {
            "val": frame_tensors(self.split.val, device),
            "test": frame_tensors(self.split.test, device),
        }
        if self.task == "ranking":  # the seen sets are for sampling negatives only
            train_users, train_items, _ = self.train_tensors
            self.train_seen = SeenPairs(train_users, train_items, self.split.n_items)
            every = (self.train_tensors, self.eval_tensors["val"], self.eval_tensors["test"])
            all_seen = SeenPairs(
                torch.cat([c[0] for c in every]),
                torch.cat([c[1] for c in every]),
                self.split.n_items,
            )
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed + 1)
            for stage in ("val", "test"):  # same order as before: the same seeded negatives
                self.eval_tensors[stage] = self._candidates(
                    self.eval_tensors[stage], all_seen, generator
                )

    def _candidates(self, columns, seen: SeenPairs, generator) -> tuple[torch.Tensor, ...]:
        users, positives, _ = columns
        negatives = sample_unseen(users, seen, generator, self.n_negatives)  # (E, K)
        return users, torch.cat([positives[:, None], negatives], dim=1)  # (E,), (E, 1+K)

    def train_dataloader(self) -> StepGroups:
        self._build()
        trainer = getattr(self, "trainer", None)
        users, items, ratings = self.train_tensors
        tensors = (users, items, ratings) if self.task == "rating" else (users, items)
        batches = TensorBatches(
            tensors,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            negatives=self.train_seen if self.task == "ranking" else None,  # BPR, eq. (9)
        )
        return StepGroups(batches, self.steps_per_batch)

    def _eval_loader(self, stage: str) -> TensorBatches:
        self._build()
        return TensorBatches(self.eval_tensors[stage], EVAL_BATCH, shuffle=False)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_loader("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_loader("test")
