"""Changes measured and NOT adopted in hmf_core (or no longer), kept so their figures can be
reproduced: Lightning's automatic optimization in HMFModule (replaced by manual optimization
on 2026-11-24), and sparse updates of C_1 through torch's SparseAdam.
`benchmarks.speed` runs both and puts their sections in speed.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from benchmarks.harness import Clock, Section
from benchmarks.loops import LR, PAPER_CLUSTERS, adamw, bare_epochs, lightning_epochs, model_config
from hmf_core.data.split import Split
from hmf_core.models.hmf import HMF
from hmf_core.training.lightning_module import HMFModule


class AutomaticOptimization(HMFModule):
    """No longer adopted in hmf_core; measured only. HMFModule as it was before 2026-11-24:
    Lightning's automatic optimization (the loss returned, Lightning's closure and per-step
    optimizer hooks around the same optimizer step)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.automatic_optimization = True

    def training_step(self, group, batch_idx):
        (batch,) = group  # groups of one batch (steps_per_batch=1): one step per batch
        return self.training_loss(batch)


def overhead_variants(split: Split, name: str, quick: bool) -> pd.DataFrame:
    """CPU seconds per epoch of the bare loop, of our Lightning path (manual optimization),
    and of Lightning's automatic optimization (no longer adopted), interleaved and repeated
    (median): where Lightning's extra time goes, and what manual optimization saves."""
    runs = {
        "bare loop (fused AdamW)": lambda c, e: bare_epochs(c, split, 1024, e),
        "Lightning: HMFModule, manual optimization (adopted, fused AdamW)": (
            lambda c, e: lightning_epochs(c, split, 1024, e)
        ),
        "Lightning, automatic optimization as before 2026-11-24 (NOT adopted)": (
            lambda c, e: lightning_epochs(
                c, split, 1024, e, module_class=AutomaticOptimization, steps_per_batch=1
            )
        ),
    }
    repeats, epochs = (1, 2) if quick else (3, 6)
    rows = []
    for model, depth in ({"MF": 0} if quick else {"MF": 0, "HMF depth 1": 1}).items():
        config = model_config(split.n_users, split.n_items, depth)
        cpu = {label: [] for label in runs}
        for _ in range(repeats):
            for label, run in runs.items():
                cpu[label].append(run(config, epochs)["cpu_s"])
        base = float(np.median(cpu["bare loop (fused AdamW)"]))
        for label, values in cpu.items():
            rows.append(
                {
                    "data": name,
                    "model": model,
                    "path": label,
                    "CPU s/epoch (median)": float(np.median(values)),
                    "/ bare loop": float(np.median(values)) / base,
                }
            )
        print(rows[-len(runs) :], flush=True)
    return pd.DataFrame(rows)


def _sparse_rows(side, index: torch.Tensor) -> torch.Tensor:
    """U^(0) rows as HierarchicalEmbedding.forward, but C_1's rows looked up with a sparse
    gradient (F.embedding(sparse=True)), so the optimizer touches only the batch's rows."""
    if side.depth == 0:
        return F.embedding(index, side.root, sparse=True)  # (B, d)
    logits = F.embedding(index, side.connections[0], sparse=True)  # (B, m_1)
    return torch.softmax(logits / side.temperature, dim=-1) @ side.cluster_embeddings(1)


def sparse_update_steps(sizes: dict[str, tuple[int, int, int]], steps: int) -> pd.DataFrame:
    """Step time of hmf_core's dense fused AdamW and of a sparse update that is NOT adopted
    (SparseAdam on C_1 / the MF embeddings, fused AdamW on the rest) on random batches: the
    cost of a dense step grows with M x m_1, the sparse one with B x m_1."""
    rows = []
    for name, (users, items, _) in sizes.items():
        for model, depth in (("MF", 0), ("HMF depth 1", 1)):
            generator = torch.Generator().manual_seed(0)
            batches = [
                (
                    torch.randint(users, (1024,), generator=generator),
                    torch.randint(items, (1024,), generator=generator),
                    1 + 4 * torch.rand(1024, generator=generator),
                )
                for _ in range(steps)
            ]
            config = model_config(users, items, depth, PAPER_CLUSTERS)
            row = {"data": name, "model": model}
            dense, sparse = "dense fused AdamW (adopted)", "sparse C_1 + SparseAdam (NOT adopted)"
            for label in (dense, sparse):
                torch.manual_seed(0)
                hmf = HMF(config)
                if label == sparse:
                    first = [
                        hmf.users.connections[0] if depth else hmf.users.root,
                        hmf.items.connections[0] if depth else hmf.items.root,
                    ]
                    rest = [q for q in hmf.parameters() if all(q is not f for f in first)]
                    optimizers = [torch.optim.SparseAdam(first, lr=LR)]  # no weight decay
                    if rest:
                        optimizers.append(adamw(rest))

                    def predict(u, i, hmf=hmf):
                        return (_sparse_rows(hmf.users, u) * _sparse_rows(hmf.items, i)).sum(-1)
                else:
                    optimizers, predict = [adamw(hmf.parameters())], hmf
                clock = Clock(torch.device("cpu"))
                for batch_idx, (u, i, r) in enumerate(batches):
                    clock.start_step()
                    loss = F.mse_loss(predict(u, i), r)
                    for optimizer in optimizers:
                        optimizer.zero_grad()
                    loss.backward()
                    for optimizer in optimizers:
                        optimizer.step()
                    clock.end_step(batch_idx)
                timing = clock.summary(1024 * steps, 1024, limited=True)
                row[f"{label} ms/step"] = timing["step_ms"]
                row[f"{label} faults/step"] = timing["faults_per_step"]
            row["speed-up of sparse"] = row[f"{dense} ms/step"] / row[f"{sparse} ms/step"]
            rows.append(row)
            print(row, flush=True)
    return pd.DataFrame(rows)


MANUAL_OPTIMIZATION_TEXT = (
    "CPU seconds per epoch (process time: robust to other processes on the cores), "
    "paths interleaved and repeated, median. All three step the same fused AdamW. "
    "`HMFModule` uses manual optimization since 2026-11-24 (zero_grad, manual_backward and "
    "step through Lightning's optimizer wrapper in training_step), which skips the automatic "
    "loop's closure and per-step hooks; Lightning's automatic optimization, as before, is a "
    "private subclass in `benchmarks/rejected.py` (`AutomaticOptimization`). The Trainer's "
    "`gradient_clip_val` and `accumulate_grad_batches` do not apply under manual "
    "optimization (Lightning refuses them); hmf_core sets neither."
)

SPARSE_ADAM_TEXT = (
    "Random batches of 1024 on models of the given size, 1 thread, median step after the "
    "first. hmf_core back-propagates into a dense gradient of all of C_1 (M x m_1; the MF "
    "embeddings at depth 0) and its fused AdamW updates every row each step. The "
    "measured alternative looks C_1's rows up with `F.embedding(..., sparse=True)` and "
    "steps them with `torch.optim.SparseAdam` (fused AdamW for the small rest). It is "
    "NOT adopted: SparseAdam has no weight decay and is 'lazy' (rows not in the batch keep "
    "stale moments and are not decayed), so it is not the paper's AdamW, and the accuracy "
    "it reaches has not been checked. Faults/step as in the first table: the dense step "
    "at ML-20M size is about twice as slow when its gradient lands in fresh pages."
)


def sections(
    split: Split, split_name: str, sizes: dict[str, tuple[int, int, int]], quick: bool
) -> list[Section]:
    """Both rejected studies as report sections (tables also go to their CSV files)."""
    return [
        Section(
            "Where Lightning's extra time goes: manual optimization (adopted) vs automatic",
            MANUAL_OPTIMIZATION_TEXT,
            overhead_variants(split, split_name, quick),
            csv="speed_variants.csv",
            level=3,
        ),
        Section(
            "Per-step cost at scale: sparse C_1 updates (NOT adopted)",
            SPARSE_ADAM_TEXT,
            sparse_update_steps(sizes, steps=3 if quick else 6),
            csv="sparse_steps.csv",
            level=3,
        ),
    ]
