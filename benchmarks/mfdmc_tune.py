"""Tuning MFDMC's "interpretable" setting on validation: each trial is a set of overrides of
the starting point (biases on, init_std 0.1, logit_lr 1e-2), fitted on ML-100K (random split
unless the trial names another), seed 0. Every trial is appended to
benchmarks/results/mfdmc_tuning.csv (settings, val RMSE, test RMSE, per-view genre AMI beside
k-means on plain MF, mean max membership, time); test RMSE is recorded, never used to choose.

    python -m benchmarks.mfdmc_tune --trial '{"view_entropy_weight": 0.1}' --trial '{}'
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch

from benchmarks.harness import RESULTS, quiet
from benchmarks.mfdmc_core import fit, load, measure, plain_mf_settings
from hmf_core.training.settings import with_preset

START = {"family": "mfdmc", "use_bias": True, "init_std": 0.1, "logit_lr": 1e-2}
OUT = RESULTS / "mfdmc_tuning.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial", action="append", default=[], help="JSON overrides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    quiet()
    torch.set_num_threads(1)
    mfs = {}
    for text in args.trial:
        overrides = json.loads(text)
        split_name = overrides.pop("split", "random")
        if split_name not in mfs:
            split, _, _ = load("ml-100k", split_name, args.seed)
            mfs[split_name] = fit(plain_mf_settings(split_name, args.seed), split)[1]
        settings = with_preset(
            "interpretable",
            **{**START, "split": split_name, "seed": args.seed, "projection": False, **overrides},
        )
        row = measure("MFDMC", settings, "ml-100k", mf=mfs[split_name])[0]
        row = {
            "trial": json.dumps(overrides, sort_keys=True),
            "when": time.strftime("%H:%M"),
            **row,
        }
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        frame = pd.DataFrame([row])
        try:
            frame = pd.concat([pd.read_csv(args.out), frame], ignore_index=True)
        except FileNotFoundError:
            pass
        frame.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
