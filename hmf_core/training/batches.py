"""Training data as tensors on the device; batches are index slices, never per-sample Python."""

from __future__ import annotations

import torch


class SeenPairs:
    """A sorted set of (user, item) keys, for vectorised 'has the user seen this item?'."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_items: int):
        self.n_items = n_items
        self.keys = torch.unique(users * n_items + items)  # sorted (P,)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.n_items + items  # (B,)
        position = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        return self.keys[position] == keys  # (B,) bool


def sample_unseen(
    users: torch.Tensor,
    seen: SeenPairs,
    generator: torch.Generator | None,
    n_per_user: int = 1,
    max_rounds: int = 20,
) -> torch.Tensor:
    """Items drawn uniformly among those each user has not seen: (B,) -> (B, n_per_user).

    Collisions are redrawn up to `max_rounds` times (a user who has seen nearly every item
    may keep a seen one after that)."""
    device = users.device
    users = users[:, None].expand(-1, n_per_user)  # (B, K)
    items = torch.randint(seen.n_items, users.shape, generator=generator, device=device)
    for _ in range(max_rounds):
        clash = seen.contains(users, items)  # (B, K)
        if not clash.any():
            break
        redraw = torch.randint(
            seen.n_items, (int(clash.sum()),), generator=generator, device=device
        )
        items[clash] = redraw
    return items  # (B, K)


class TensorBatches:
    """An iterable of batches over tensors already on the device.

    Each epoch draws a fresh permutation (seeded), takes this rank's share of it for
    multi-process training, and yields tuples of index-sliced tensors. With `negatives`, every
    batch also carries one unseen item per row for BPR (eq. 9)."""

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        negatives: SeenPairs | None = None,
    ):
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rank, self.world_size = rank, world_size
        self.negatives = negatives
        device = tensors[0].device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def _rows(self) -> int:
        return len(range(self.rank, len(self.tensors[0]), self.world_size))

    def __len__(self) -> int:
        return -(-self._rows() // self.batch_size)

    def __iter__(self):
        n = len(self.tensors[0])
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=device)
        else:
            order = torch.arange(n, device=device)
        order = order[self.rank :: self.world_size]
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]  # (B,)
            batch = tuple(tensor.index_select(0, index) for tensor in self.tensors)
            if self.negatives is not None:
                negative = sample_unseen(batch[0], self.negatives, self.generator)[:, 0]  # (B,)
                batch = (*batch, negative)
            yield batch
