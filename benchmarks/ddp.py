"""More than one process: epoch time of `python -m hmf_core train` with Lightning's DDP on 2 CPU
processes (`--accelerator cpu --devices 2 --strategy ddp`) against 1 process, on seeded
synthetic ratings the size of ML-1M, for MF and HMF depth 1. Each process uses
`cpu_threads()` intra-op threads (1 on a 2-core machine); 1 process with 2 threads is timed too.

    python -m benchmarks.ddp                 # writes benchmarks/results/ddp.md, ddp.csv
    python -m benchmarks.ddp --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import (
    RESULTS,
    ROOT,
    SIZES,
    Section,
    machine_header,
    synthetic_ratings,
    usable_cores,
    write_report,
)
from hmf_core.runs.rundir import RunDir

LAYOUTS = {  # label: CLI options
    "1 process, 1 thread": ["--devices", "1", "--threads", "1"],
    "1 process, 2 threads": ["--devices", "1", "--threads", "2"],
    "2 processes (DDP), 1 thread each": ["--devices", "2", "--strategy", "ddp", "--threads", "1"],
}
MODELS = {"MF": ["--user-depth", "0", "--item-depth", "0"], "HMF depth 1": []}


def train_once(ratings_csv: Path, run_dir: Path, options: list[str], epochs: int) -> dict:
    """One CLI training run; epoch times from its metrics.csv (training + validation)."""
    command = [
        sys.executable,
        "-m",
        "hmf_core",
        "train",
        "--data",
        str(ratings_csv),
        "--run-dir",
        str(run_dir),
        "--split",
        "random",
        "--max-epochs",
        str(epochs),
        "--patience",
        str(epochs),
        "--no-projection",
        "--accelerator",
        "cpu",
        *options,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    elapsed = RunDir(run_dir).metrics()["elapsed_s"].to_numpy()
    epoch_times = np.diff(elapsed)  # the first epoch also holds process start-up: left out
    return {
        "epoch s (median)": float(np.median(epoch_times)),
        "process wall s": wall,
        "epochs timed": len(epoch_times),
    }


def measure(size: tuple[int, int, int], epochs: int, quick: bool = False) -> pd.DataFrame:
    """Every model under every layout (quick: HMF depth 1, 1 process vs DDP)."""
    models = {"HMF depth 1": MODELS["HMF depth 1"]} if quick else MODELS
    layouts = {k: v for k, v in LAYOUTS.items() if not quick or "2 threads" not in k}
    rows = []
    with tempfile.TemporaryDirectory(prefix="hmf-ddp-") as work:
        ratings_csv = Path(work) / "ratings.csv"
        synthetic_ratings(*size, seed=0).table.to_csv(ratings_csv, index=False)
        for model, model_options in models.items():
            base = None
            for label, options in layouts.items():
                run_dir = Path(work) / f"{model}-{label}".replace(" ", "_")
                timing = train_once(ratings_csv, run_dir, model_options + options, epochs)
                base = base or timing["epoch s (median)"]
                rows.append(
                    {
                        "model": model,
                        "layout": label,
                        **timing,
                        "speed-up vs 1 process, 1 thread": base / timing["epoch s (median)"],
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


TEXT = (
    "`python -m hmf_core train --split random --accelerator cpu` with the layout's options "
    "(`--devices 2 --strategy ddp` for DDP: Lightning starts the second process, shards the "
    "batches by rank and all-reduces the gradients every step). Epoch time = difference of "
    "consecutive `elapsed_s` in the run's metrics.csv (training and validation), median "
    "over epochs 2 and later; process wall s includes start-up, reading the data and the "
    "test. {cores} usable cores, shared with other jobs; load average (1 min) before "
    "measuring: {load:.2f}."
)


def section(quick: bool) -> Section:
    name, size, epochs = (
        ("tiny", SIZES["tiny"], 3) if quick else ("ML-1M size", SIZES["ml-1m-size"], 4)
    )
    load = os.getloadavg()[0]
    table = measure(size, epochs, quick)
    users, items, ratings = size
    return Section(
        f"More than one process: DDP on 2 CPU processes ({name}: {users:,} users, "
        f"{items:,} items, {ratings:,} synthetic ratings)",
        TEXT.format(cores=usable_cores(), load=load),
        table,
        csv="ddp.csv",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny synthetic data, 3 epochs")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    header = machine_header("Training on more than one process (DDP, CPU)", [0])
    path = write_report(Path(args.out), "ddp.md", header, [section(args.quick)])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
