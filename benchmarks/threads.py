"""CPU intra-op threads: epoch time of a bare training loop with 1 vs all cores, on an idle
machine and with a busy-loop competitor on one core (as when the dashboard or UMAP runs
beside training), for the batch size we train with and a small one.

    python -m benchmarks.threads            # writes benchmarks/results/threads.md
    python -m benchmarks.threads --quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    machine_header,
    markdown_table,
    synthetic_split,
    temporal_split,
    usable_cores,
)
from benchmarks.loops import bare_epochs
from hmf_core.models.hmf import HMFConfig
from hmf_core.training.trainer import cpu_threads

BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


class Competitor:
    """A child process spinning on one core for at most `seconds` (killed on exit anyway)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", BUSY_LOOP.format(seconds=self.seconds)]
        )
        time.sleep(0.3)  # let it start spinning
        return self

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        return False


def measure(
    split,
    epochs: int,
    batch_sizes: tuple[int, ...],
    thread_counts: tuple[int, ...],
    quick: bool = False,
) -> pd.DataFrame:
    models = {
        "MF": HMFConfig(split.n_users, split.n_items, user_clusters=(), item_clusters=()),
        "HMF 200/100": HMFConfig(split.n_users, split.n_items),
    }
    if quick:
        models.pop("HMF 200/100")
    rows = []
    for load in ("idle", "1 busy core"):
        for model, config in models.items():
            for batch_size in batch_sizes:
                times = {}
                for threads in thread_counts:
                    budget = 30 + 10 * epochs  # bounded: the competitor ends by itself
                    if load == "idle":
                        times[threads] = bare_epochs(config, split, batch_size, epochs, threads)
                    else:
                        with Competitor(budget):
                            times[threads] = bare_epochs(config, split, batch_size, epochs, threads)
                row = {"load": load, "model": model, "batch": batch_size}
                for threads in thread_counts:
                    row[f"{threads} thread{'s' if threads > 1 else ''} epoch s"] = times[threads][
                        "epoch_s"
                    ]
                low, high = thread_counts[0], thread_counts[-1]
                row[f"{high} vs {low} threads"] = times[high]["epoch_s"] / times[low]["epoch_s"]
                rows.append(row)
                print(row, flush=True)
    return pd.DataFrame(rows)


def run(out: Path, quick: bool, data: str = str(DEFAULT_DATA)) -> pd.DataFrame:
    if quick or not Path(data).exists():
        split, source = synthetic_split(943, 1682, 5_000, seed=0), "synthetic 943x1682, 5k"
    else:
        split, source = temporal_split(data), f"{data} (temporal split, 64,000 training ratings)"
    cores = usable_cores()
    thread_counts = (1, cores) if cores > 1 else (1,)
    epochs = 2 if quick else 4
    batch_sizes = (1024,) if quick else (1024, 128)
    before = os.getloadavg()[0]
    table = measure(split, epochs, batch_sizes, thread_counts, quick)
    lines = [
        machine_header(
            "CPU threads: 1 vs all cores, idle and with a competitor",
            [0],
            [
                f"Data: {source}; bare training loop (benchmarks.loops), AdamW, "
                f"median of {epochs - 1} "
                "epochs after one warm-up epoch",
                f"Load average (1 min) before measuring: {before:.2f} (the machine is shared: "
                "'idle' means no competitor of ours)",
                "Competitor: a Python busy loop (one core), bounded in time, killed after use",
                f"`cpu_threads()` picks {cpu_threads()} thread(s) here (half the usable cores, "
                "at most 8)",
            ],
        ),
        markdown_table(table),
        "Ratios above 1 mean the extra threads slow training down.",
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "threads.md").write_text("\n".join(lines))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    run(Path(args.out), args.quick, args.data)
    torch.set_num_threads(cpu_threads())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
