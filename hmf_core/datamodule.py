"""A LightningDataModule over a Split: tensors live on the training device."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from hmf_core.batches import SeenPairs, TensorBatches, sample_unseen
from hmf_core.split import Split

EVAL_BATCH = 8192


def _columns(frame, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(frame["user"].to_numpy(copy=True), dtype=torch.long, device=device),
        torch.as_tensor(frame["item"].to_numpy(copy=True), dtype=torch.long, device=device),
        torch.as_tensor(frame["rating"].to_numpy(copy=True), dtype=torch.float32, device=device),
    )


class HMFDataModule(pl.LightningDataModule):
    """Rating task: batches (users, items, ratings). Ranking task: training batches
    (users, positives, sampled negatives); evaluation batches (users, candidates) with the
    positive in column 0 and `n_negatives` unseen items beside it (drawn once, seeded)."""

    def __init__(
        self,
        split: Split,
        task: str = "rating",
        batch_size: int = 1024,
        seed: int = 0,
        n_negatives: int = 99,
    ):
        super().__init__()
        if task not in ("rating", "ranking"):
            raise ValueError(f"task must be 'rating' or 'ranking', not {task!r}")
        self.split = split
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.n_negatives = n_negatives
        self._device = None

    def _device_now(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _build(self) -> None:
        device = self._device_now()
        if self._device == device:
            return
        self._device = device
        self.train_tensors = _columns(self.split.train, device)
        if self.task == "ranking":  # the seen sets are for sampling negatives only
            train_users, train_items, _ = self.train_tensors
            self.train_seen = SeenPairs(train_users, train_items, self.split.n_items)
            frames = (self.split.train, self.split.val, self.split.test)
            every = [_columns(f, device) for f in frames]
            all_seen = SeenPairs(
                torch.cat([c[0] for c in every]),
                torch.cat([c[1] for c in every]),
                self.split.n_items,
            )
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed + 1)
            self.eval_tensors = {
                stage: self._candidates(_columns(frame, device), all_seen, generator)
                for stage, frame in (("val", self.split.val), ("test", self.split.test))
            }
        else:
            self.eval_tensors = {
                "val": _columns(self.split.val, device),
                "test": _columns(self.split.test, device),
            }

    def _candidates(self, columns, seen: SeenPairs, generator) -> tuple[torch.Tensor, ...]:
        users, positives, _ = columns
        negatives = sample_unseen(users, seen, generator, self.n_negatives)  # (E, K)
        return users, torch.cat([positives[:, None], negatives], dim=1)  # (E,), (E, 1+K)

    def train_dataloader(self) -> TensorBatches:
        self._build()
        trainer = getattr(self, "trainer", None)
        users, items, ratings = self.train_tensors
        tensors = (users, items, ratings) if self.task == "rating" else (users, items)
        return TensorBatches(
            tensors,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            negatives=self.train_seen if self.task == "ranking" else None,  # BPR, eq. (9)
        )

    def _eval_loader(self, stage: str) -> TensorBatches:
        self._build()
        return TensorBatches(self.eval_tensors[stage], EVAL_BATCH, shuffle=False)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_loader("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_loader("test")
