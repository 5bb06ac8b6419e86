"""What Lightning costs: CPU seconds per epoch of the bare torch loop and of our Lightning path
(`HMFModule`, with `hmf_core.training.fast_steps.FastSteps`, + `HMFDataModule` under
`pl.Trainer`) over the same model, batches and optimizer (benchmarks.loops), run alternately in
one process and repeated; ML-100K (its temporal split; a seeded synthetic table of its size
without the file), MF and HMF depth 1. The figure is Lightning / bare. `speed` runs it into
speed.md too.

    python -m benchmarks.overhead                # writes benchmarks/results/overhead.md, .csv
    python -m benchmarks.overhead --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    Section,
    machine_header,
    quiet,
    synthetic_split,
    temporal_split,
    usable_cores,
    write_report,
)
from benchmarks.loops import bare_epochs, lightning_epochs, model_config
from hmf_core.data.split import Split

MODELS = {"MF": 0, "HMF depth 1": 1}  # name: depth
BATCH = 1024


def measure(split: Split, name: str, repeats: int, epochs: int) -> pd.DataFrame:
    """Per model: the two paths alternately (which goes first alternates too), `repeats`
    times, each run `epochs` epochs; CPU s per epoch is the median epoch after a run's first
    (harness.Clock), and the table has the median over repeats and the spread of the
    ratio of the paired runs."""
    paths = {
        "bare": lambda config: bare_epochs(config, split, BATCH, epochs),
        "Lightning": lambda config: lightning_epochs(config, split, BATCH, epochs),
    }
    rows = []
    for model, depth in MODELS.items():
        config = model_config(split.n_users, split.n_items, depth)
        runs = {label: [] for label in paths}
        for repeat in range(repeats):
            order = list(paths) if repeat % 2 == 0 else list(reversed(paths))
            for label in order:
                runs[label].append(paths[label](config))
        if runs["bare"][0]["optimizer"] != runs["Lightning"][0]["optimizer"]:
            raise RuntimeError(
                f"not like-for-like: bare {runs['bare'][0]['optimizer']}, Lightning "
                f"{runs['Lightning'][0]['optimizer']}"
            )
        cpu = {label: np.array([r["cpu_s"] for r in found]) for label, found in runs.items()}
        wall = {label: np.array([r["epoch_s"] for r in found]) for label, found in runs.items()}
        paired = cpu["Lightning"] / cpu["bare"]  # (repeats,)
        rows.append(
            {
                "data": name,
                "model": model,
                "optimizer": runs["bare"][0]["optimizer"],
                "bare CPU s/epoch": float(np.median(cpu["bare"])),
                "Lightning CPU s/epoch": float(np.median(cpu["Lightning"])),
                "Lightning / bare (CPU)": float(np.median(cpu["Lightning"]))
                / float(np.median(cpu["bare"])),
                "paired ratio min": float(paired.min()),
                "paired ratio max": float(paired.max()),
                "Lightning / bare (wall)": float(np.median(wall["Lightning"]))
                / float(np.median(wall["bare"])),
                "repeats x epochs": f"{repeats} x {epochs}",
                "load (1 min)": os.getloadavg()[0],
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


TEXT = (
    "CPU seconds per epoch (this process's CPU time: the steadier figure on a shared machine) "
    "of the bare loop (`benchmarks.loops.bare_epochs`: the same HMF, batches as index slices "
    "of a seeded permutation, the optimizer `HMFModule.configure_optimizers` builds) and of "
    "our Lightning path (`benchmarks.loops.lightning_epochs`: `HMFModule` with FastSteps' "
    "groups of 8 optimizer steps per Lightning batch and manual optimization, "
    "`HMFDataModule`, `pl.Trainer` without validation, checkpoints or logger). The two run "
    "alternately in one process, which one first alternating too; each figure is the median "
    "over the repeats of a run's median epoch after its first; the paired ratio is Lightning / "
    "bare of the two runs of one repeat. {cores} usable cores; load average (1 min) before "
    "measuring: {load:.2f}."
)


def section(split: Split, name: str, quick: bool, level: int = 2) -> Section:
    load = os.getloadavg()[0]
    repeats, epochs = (1, 2) if quick else (5, 5)
    return Section(
        "What Lightning costs: our Lightning path vs the bare loop, interleaved",
        TEXT.format(cores=usable_cores(), load=load),
        measure(split, name, repeats, epochs),
        csv="overhead.csv",
        level=level,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ML-100K u.data")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic data, 1 x 2 epochs")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    quiet()
    if args.quick:
        split, name = synthetic_split(943, 1682, 20_000, seed=0), "synthetic tiny"
    elif Path(args.data).exists():
        split, name = temporal_split(args.data), "ML-100K (temporal split)"
    else:
        split, name = synthetic_split(943, 1682, 100_000, seed=0), "ML-100K size (synthetic)"
    header = machine_header("What Lightning costs over a bare torch loop", [0])
    path = write_report(Path(args.out), "overhead.md", header, [section(split, name, args.quick)])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
