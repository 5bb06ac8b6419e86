"""The memory the dashboard can show before training: `training.memory`'s estimate for MF and
HMF depth 1-3 at ML-100K, ML-1M and ML-20M size (a section of speed.md; the measured peaks are
in speed.py's main table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.harness import Section
from benchmarks.loops import MODELS, model_config
from hmf_core.training.memory import parameter_count, training_memory_bytes


def memory_table(split_sizes: dict[str, tuple[int, int, int]]) -> pd.DataFrame:
    rows = []
    for name, (users, items, n) in split_sizes.items():
        for clusters in ((200, 100), (1000, 500)):
            for model, depth in MODELS.items():
                if depth == 0 and clusters != (200, 100):
                    continue
                config = model_config(users, items, depth, clusters)
                parts = training_memory_bytes(config, n_ratings=n)
                rows.append(
                    {
                        "data": name,
                        "model": model if depth == 0 else f"{model} {clusters}",
                        "parameters": parameter_count(config),
                        "parameters MiB": parts["parameters"] / 2**20,
                        "+ grads + AdamW MiB": (
                            parts["gradients"]
                            + parts["optimizer_state"]
                            + parts["optimizer_workspace"]
                        )
                        / 2**20,
                        "activations MiB": parts["activations"] / 2**20,
                        "data + permutation MiB": (parts["data"] + parts["permutation"]) / 2**20,
                        "total MiB": parts["total"] / 2**20,
                    }
                )
    return pd.DataFrame(rows)


MEMORY_FORMULA = """\
```
P = sum over sides (users M, items N) of [ m_0*m_1 + m_1*m_2 + ... + m_{p-1}*m_p + m_p*d ]
    (+ 1 + M + N with biases)                              m_0 = M (or N); depth 0: M*d
bytes = 4 * [ P (weights) + P (gradients, dense) + 2P (AdamW exp_avg, exp_avg_sq)
              + max_l m_{l-1}*m_l (AdamW's denominator for the largest tensor)
              + 3*B*(m_1 + d) per side + 3 * sum_{l>=2} m_{l-1}*m_l per side (activations) ]
        + 20 * ratings (int64 user, int64 item, float32 rating tensors)
        + 8 * ratings (the epoch's int64 permutation)
```
"""


def section(sizes: dict[str, tuple[int, int, int]]) -> Section:
    return Section(
        "Memory the dashboard can show before training",
        "`hmf_core.training.memory.training_memory_bytes(config, optimizer='adamw')`, float32:\n\n"
        + MEMORY_FORMULA,
        memory_table(sizes),
        digits=1,
    )


# --- the estimate against a measured peak (python -m benchmarks.memory) ---------------------

CHILD = r"""
import json, sys, time
import torch
import torch.nn.functional as F
from benchmarks.harness import SIZES, peak_memory, reset_peak_memory, synthetic_split
from benchmarks.loops import LR, WEIGHT_DECAY, model_config
from hmf_core.training.datamodule import frame_tensors
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.memory import training_memory_bytes

torch.set_num_threads(1)
split = synthetic_split(*SIZES[{size!r}])
config = model_config(split.n_users, split.n_items, {depth!r})
users, items, ratings = frame_tensors(split.train, torch.device("cpu"))
del split
baseline = reset_peak_memory(torch.device("cpu"))
torch.manual_seed(0)
module = HMFModule(config.to_dict(), lr=LR, weight_decay=WEIGHT_DECAY, optimizer={kind!r})
optimizer = module.configure_optimizers()  # what training steps: LazyAdamW or fused AdamW
order = torch.randperm(len(users))
started = time.perf_counter()
for step in range({steps!r}):
    index = order[step * {batch!r} : (step + 1) * {batch!r}]  # (B,)
    loss = F.mse_loss(module.model(users[index], items[index]), ratings[index])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
if hasattr(optimizer, "catch_up"):
    optimizer.catch_up()  # every row up to date, as before each validation
estimate = training_memory_bytes(
    config, "adamw" if {kind!r} == "dense" else "lazy", {batch!r}, len(users)
)
print(json.dumps({{
    "peak": peak_memory(torch.device("cpu")) - baseline,
    "estimate": estimate["total"] - estimate["data"],
    "optimizer": type(optimizer).__name__,
    "seconds": time.perf_counter() - started,
}}))
"""

MEASURED = (  # (size, model, depth, optimizer)
    ("ml-1m-size", "MF", 0, "dense"),
    ("ml-1m-size", "MF", 0, "lazy"),
    ("ml-1m-size", "HMF depth 1", 1, "dense"),
    ("ml-1m-size", "HMF depth 1", 1, "lazy"),
    ("ml-20m-size", "MF", 0, "lazy"),
    ("ml-20m-size", "HMF depth 1", 1, "dense"),
    ("ml-20m-size", "HMF depth 1", 1, "lazy"),
)


def measured_table(steps: int, batch: int, sizes=MEASURED) -> pd.DataFrame:
    """Each (size, model, optimizer) in a fresh process: `steps` training steps (past the lazy
    optimizer's 100 warm-up steps) and a full catch-up, peak RSS (VmHWM) above the data
    tensors, against `training_memory_bytes` without the data (the permutation counted)."""
    import json
    import subprocess
    import sys

    from benchmarks.harness import ROOT
    from hmf_dev import repo_env

    rows = []
    for size, model, depth, kind in sizes:
        code = CHILD.format(size=size, depth=depth, kind=kind, steps=steps, batch=batch)
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=repo_env(ROOT),
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(size, model, kind, result, flush=True)
        rows.append(
            {
                "data": size,
                "model": f"{model} (200/100)" if depth else model,
                "optimizer": f"{kind} ({result['optimizer']})",
                "estimate MiB (excl. data)": result["estimate"] / 2**20,
                "measured peak MiB": result["peak"] / 2**20,
                "measured / estimate": result["peak"] / result["estimate"],
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from benchmarks.harness import RESULTS, Section, machine_header, write_report

    parser = argparse.ArgumentParser(
        description="hmf_core.training.memory's estimate against a peak"
    )
    parser.add_argument("--steps", type=int, default=150, help="past the 100 warm-up steps")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="ML-1M size only")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    sizes = [row for row in MEASURED if not args.quick or row[0] == "ml-1m-size"]
    table = measured_table(args.steps, args.batch_size, sizes)
    text = (
        "Each row trains a fresh process for "
        f"{args.steps} steps of {args.batch_size} ratings (the lazy optimizer's first 100 "
        "steps are its warm-up, when it steps the whole table through a dense gradient "
        "buffer), then brings every row up to date (`catch_up`, as before each validation). "
        "Peak = VmHWM above the RSS once the data tensors exist; the estimate is "
        "`training.memory.training_memory_bytes(config, 'adamw' or 'lazy')` without the data "
        "(the epoch's permutation counted). RSS also holds what glibc keeps after a free, and "
        "torch's own CPU allocations, so measured above 1x is expected; the estimate is what "
        "the Train page and `TrainSettings.validate` compare with the available memory."
    )
    write_report(
        Path(args.out),
        "memory.md",
        machine_header("Memory: the estimate against the measured peak"),
        [Section("Estimated against measured, dense and lazy AdamW", text, table, digits=2)],
    )


if __name__ == "__main__":
    main()
