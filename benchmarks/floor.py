"""The least HMF adds to a training step, against MF's whole step (issue 23's ratio target).

At each size, one process, one thread, batch 1,024:
- MF's whole step: the product's model at depth 0 and the optimizer `auto` picks for it
  (benchmarks.loops.make_optimizer), forward, backward and optimizer step;
- HMF depth 1's whole step, the same way (200 / 100 clusters);
- HMF's own arithmetic alone: the softmax of the batch's rows of C_1 and D_1 and their
  products with the cluster vectors, forward and backward, on rows gathered beforehand. No
  gather, no scatter, no optimizer step; the batch's distinct rows only where the model's
  forward takes those (hmf.REPEATS_FROM).

HMF's step does all that MF's does (gather the batch's rows, the dot product and the loss, their
backward, the optimizer on the tables), on rows 10x and 5x wider, and its arithmetic besides.
So HMF's step takes at least MF's plus the arithmetic alone, and HMF / MF is at least
1 + arithmetic / MF with torch's CPU kernels on the machine measured. The batches are uniform
draws of users and items, and with --data also batches of that file's training ratings under
the temporal split, as benchmarks.speed trains on them (real batches repeat popular users and
items: fewer distinct rows where the model takes those).

    python -m benchmarks.floor            # writes benchmarks/results/floor.md (u.data too)
    python -m benchmarks.floor --quick    # tiny sizes, few steps (the test's smoke run)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F

from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    Section,
    machine_header,
    temporal_split,
    write_report,
)
from benchmarks.loops import STEADY_FROM, make_optimizer, model_config, optimizer_label
from hmf_core.models.hmf import HMF, REPEATS_FROM


class Size(NamedTuple):
    """Users and items of a set; pairs: its ratings' (user, item) indices (2, N) to draw the
    batches from, or None for uniform draws."""

    users: int
    items: int
    pairs: torch.Tensor | None = None


SIZES = {  # users, items of the MovieLens sets
    "ML-100K": Size(943, 1_682),
    "ML-1M": Size(6_040, 3_706),
    "ML-20M": Size(138_493, 26_744),
}
QUICK_SIZES = {"tiny": Size(300, 200)}
BATCH = 1_024


def _milliseconds(step, steps: int, rounds: int) -> float:
    """Median over `rounds` of the mean time of `steps` calls of step(), in ms."""
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        means.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(means)


def _batches(size: Size, count: int, seed: int = 0):
    """count batches of BATCH: (count, BATCH) users, items and ratings."""
    generator = torch.Generator().manual_seed(seed)
    if size.pairs is None:
        users = torch.randint(0, size.users, (count, BATCH), generator=generator)
        items = torch.randint(0, size.items, (count, BATCH), generator=generator)
    else:  # ratings of the set, drawn at random as a shuffled epoch would give them
        drawn = torch.randint(0, size.pairs.shape[1], (count, BATCH), generator=generator)
        users, items = size.pairs[0][drawn], size.pairs[1][drawn]
    ratings = torch.randn(count, BATCH, generator=generator)
    return users, items, ratings


def training_pairs(path: Path) -> Size:
    """The (user, item) indices of the training ratings of a rating file under the paper's
    temporal split: the batches benchmarks.speed trains on at ML-100K."""
    split = temporal_split(path)
    pairs = split.train[["user", "item"]].to_numpy().T.copy()
    return Size(split.n_users, split.n_items, torch.as_tensor(pairs, dtype=torch.long))


def whole_step(size: Size, depth: int, steps: int, rounds: int):
    """ms of one training step of MF (depth 0) or HMF, and the optimizer's name."""
    torch.manual_seed(0)
    model = HMF(model_config(size.users, size.items, depth)).train()
    optimizer = make_optimizer("auto", model)
    users, items, ratings = _batches(size, 64)
    position = [0]

    def step():
        b = position[0] % len(users)
        position[0] += 1
        optimizer.zero_grad(set_to_none=False)
        F.mse_loss(model(users[b], items[b]), ratings[b]).backward()
        optimizer.step()

    for _ in range(STEADY_FROM):  # past LazyAdamW's dense warm-up, caches warm
        step()
    return _milliseconds(step, steps, rounds), optimizer_label(optimizer)


def arithmetic_floor(size: Size, steps: int, rounds: int) -> float:
    """ms of HMF depth 1's softmax and products, forward and backward, on gathered rows: the
    batch's distinct rows where the product's forward takes them (hmf.REPEATS_FROM)."""
    torch.manual_seed(0)
    model = HMF(model_config(size.users, size.items, 1))
    users, items, ratings = _batches(size, 1)
    sides = [
        _gathered(side, index) for side, index in ((model.users, users[0]), (model.items, items[0]))
    ]
    leaves = [leaf for side in sides for leaf in side[:2]]

    def step():
        for leaf in leaves:
            leaf.grad = None
        user_vectors, item_vectors = (_vectors(*side) for side in sides)  # (B, d) each
        F.mse_loss((user_vectors * item_vectors).sum(-1), ratings[0]).backward()

    for _ in range(20):
        step()
    return _milliseconds(step, steps, rounds)


def _gathered(side, index: torch.Tensor):
    """(rows of C_1 to work on, cluster vectors, each batch entry's row among them or None),
    as HierarchicalEmbedding.forward chooses them, copied out as leaves."""
    table = side.connections[0].detach()
    if REPEATS_FROM * len(index) < len(table):
        rows, inverse = index, None  # every entry its own row: nothing repeated
    else:
        rows, inverse = torch.unique(index, return_inverse=True)
    logits = table[rows].clone().requires_grad_()  # (U, m1)
    return logits, side.root.detach().clone().requires_grad_(), inverse  # (m1, d), (B,)


def _vectors(logits, clusters, inverse) -> torch.Tensor:
    """HierarchicalEmbedding.forward's arithmetic on rows gathered already: (B, d)."""
    vectors = torch.softmax(logits, dim=-1) @ clusters  # (U, d)
    return vectors if inverse is None else vectors[inverse]


def measure(sizes: dict, steps: int, rounds: int) -> pd.DataFrame:
    rows = []
    for name, size in sizes.items():
        mf, mf_optimizer = whole_step(size, 0, steps, rounds)
        hmf, hmf_optimizer = whole_step(size, 1, steps, rounds)
        floor = arithmetic_floor(size, steps, rounds)
        rows.append(
            {
                "size": name,
                "batches": "uniform" if size.pairs is None else "the file's ratings",
                "users": size.users,
                "items": size.items,
                "MF step ms": mf,
                "MF optimizer": mf_optimizer,
                "HMF depth 1 step ms": hmf,
                "HMF optimizer": hmf_optimizer,
                "HMF arithmetic alone ms": floor,
                "HMF - MF ms": hmf - mf,
                "HMF / MF": hmf / mf,
                "arithmetic alone / MF": floor / mf,
                "HMF / MF at least (1 + arithmetic / MF)": 1 + floor / mf,
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a rating file: one more row, of batches of its training ratings under the "
        f"temporal split (default: {DEFAULT_DATA} where it exists, none with --quick)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes, steps, rounds = (QUICK_SIZES, 20, 1) if args.quick else (SIZES, 300, 3)
    data = args.data or (None if args.quick or not DEFAULT_DATA.exists() else DEFAULT_DATA)
    if data is not None:
        sizes = {**sizes, f"{data.parent.name}/{data.name}, temporal split": training_pairs(data)}
    table = measure(sizes, steps, rounds)
    header = machine_header(
        "HMF's arithmetic floor against MF's step (issue 23)",
        extra=[
            f"1 intra-op thread, batch {BATCH:,}, random batches, clusters 200 / 100, d = 20; "
            f"each figure the median of {rounds} rounds of {steps} steps, after "
            f"{STEADY_FROM} untimed steps"
        ],
    )
    text = (
        "MF and HMF depth 1 step: forward, backward and the optimizer `auto` picks, on the "
        "product's model. Arithmetic alone: HMF's softmax of the batch's rows of C_1 and D_1 "
        "and their products with the cluster vectors, forward and backward, on rows gathered "
        "beforehand (no gather, no scatter, no optimizer step; the batch's distinct rows where "
        "the model's forward takes those: ML-100K). HMF's step does all that MF's does, on "
        "rows 10x and 5x wider, and the arithmetic besides: so it takes at least MF's step "
        "plus the arithmetic alone (compare `HMF - MF ms` with `HMF arithmetic alone ms`), and "
        "HMF / MF is at least `1 + arithmetic / MF` with torch's CPU kernels on this machine. "
        "Batches: uniform draws of users and items, or training ratings of the file under the "
        "temporal split, drawn at random as benchmarks.speed trains on them (real batches "
        "repeat popular users and items: fewer distinct rows where those are taken)."
    )
    section = Section("Step times", text, table, csv="floor.csv")
    print(write_report(args.out, "floor.md", header, [section]))


if __name__ == "__main__":
    main()
