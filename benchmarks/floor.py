"""The least HMF adds to a training step, against MF's whole step (issue 23's ratio target).

At each size, one process, one thread, batch 1,024, random batches:
- MF's whole step: the product's model at depth 0 and the optimizer `auto` picks for it
  (benchmarks.loops.make_optimizer), forward, backward and optimizer step;
- HMF depth 1's whole step, the same way (200 / 100 clusters);
- HMF's own arithmetic alone: the softmax of the batch's rows of C_1 and D_1 and their
  products with the cluster vectors, forward and backward, on rows gathered beforehand. No
  gather, no scatter, no optimizer step; the batch's distinct rows only where the model's
  forward takes those (hmf.REPEATS_FROM). Any HMF step on these batches costs at least this
  with torch's CPU kernels. The batches are uniform: real ones repeat popular items, so where
  the model takes distinct rows (ML-100K) a real batch has fewer, and a lower floor.

    python -m benchmarks.floor            # writes benchmarks/results/floor.md
    python -m benchmarks.floor --quick    # tiny sizes, few steps (the test's smoke run)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from benchmarks.harness import RESULTS, Section, machine_header, write_report
from benchmarks.loops import STEADY_FROM, make_optimizer, model_config, optimizer_label
from hmf_core.models.hmf import HMF, REPEATS_FROM

SIZES = {  # users, items of the MovieLens sets
    "ML-100K": (943, 1_682),
    "ML-1M": (6_040, 3_706),
    "ML-20M": (138_493, 26_744),
}
QUICK_SIZES = {"tiny": (300, 200)}
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


def _batches(n_users: int, n_items: int, count: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    users = torch.randint(0, n_users, (count, BATCH), generator=generator)
    items = torch.randint(0, n_items, (count, BATCH), generator=generator)
    ratings = torch.randn(count, BATCH, generator=generator)
    return users, items, ratings


def whole_step(n_users: int, n_items: int, depth: int, steps: int, rounds: int):
    """ms of one training step of MF (depth 0) or HMF, and the optimizer's name."""
    torch.manual_seed(0)
    model = HMF(model_config(n_users, n_items, depth)).train()
    optimizer = make_optimizer("auto", model)
    users, items, ratings = _batches(n_users, n_items, 64)
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


def arithmetic_floor(n_users: int, n_items: int, steps: int, rounds: int) -> float:
    """ms of HMF depth 1's softmax and products, forward and backward, on gathered rows: the
    batch's distinct rows where the product's forward takes them (hmf.REPEATS_FROM)."""
    torch.manual_seed(0)
    model = HMF(model_config(n_users, n_items, 1))
    users, items, ratings = _batches(n_users, n_items, 1)
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
    for name, (n_users, n_items) in sizes.items():
        mf, mf_optimizer = whole_step(n_users, n_items, 0, steps, rounds)
        hmf, hmf_optimizer = whole_step(n_users, n_items, 1, steps, rounds)
        floor = arithmetic_floor(n_users, n_items, steps, rounds)
        rows.append(
            {
                "size": name,
                "users": n_users,
                "items": n_items,
                "MF step ms": mf,
                "MF optimizer": mf_optimizer,
                "HMF depth 1 step ms": hmf,
                "HMF optimizer": hmf_optimizer,
                "HMF arithmetic alone ms": floor,
                "HMF / MF": hmf / mf,
                "arithmetic alone / MF": floor / mf,
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes, steps, rounds = (QUICK_SIZES, 20, 1) if args.quick else (SIZES, 300, 3)
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
        "the model's forward takes those: ML-100K). On these uniform batches HMF / MF cannot "
        "fall below `arithmetic alone / MF` with torch's CPU kernels on this machine; real "
        "batches repeat popular items, which lowers the floor where distinct rows are taken."
    )
    section = Section("Step times", text, table, csv="floor.csv")
    print(write_report(args.out, "floor.md", header, [section]))


if __name__ == "__main__":
    main()
