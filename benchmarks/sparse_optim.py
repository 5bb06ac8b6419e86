"""Issue 11: row-sparse gradients + LazyAdamW (training/optim.py) against dense fused AdamW.

    python -m benchmarks.sparse_optim accuracy   # ML-100K, paper protocol, 5 seeds, both optimizers
    python -m benchmarks.sparse_optim speed      # epoch time, Lightning vs a bare loop, 3 sizes
    python -m benchmarks.sparse_optim report     # rewrite the .md from the two CSVs

Each part appends its rows to a CSV in benchmarks/results/ (so a long run can be resumed) and
rewrites benchmarks/results/sparse_optim.md from whatever CSVs exist.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    SIZES,
    machine_header,
    markdown_table,
    quiet,
    synthetic_split,
)
from benchmarks.loops import STEADY_FROM, bare_epochs, lightning_epochs
from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import Split, make_split
from hmf_core.models.hmf import HMFConfig, halving_levels
from hmf_core.runs.recorder import fit_run
from hmf_core.training.lightning_module import LAZY_FROM_ELEMENTS
from hmf_core.training.settings import MF_INIT_STD
from hmf_core.training.trainer import TrainSettings

ACCURACY_CSV = "sparse_optim_accuracy.csv"
SPEED_CSV = "sparse_optim_speed.csv"
REPORT = "sparse_optim.md"
LR, WEIGHT_DECAY, BATCH = 1e-3, 1e-4, 1024
ACCURACY_MODELS = {  # label: TrainSettings fields (the rest: the paper protocol's defaults)
    "MF": {"user_depth": 0, "item_depth": 0, "init_std": MF_INIT_STD},
    "HMF depth 1": {"user_depth": 1, "item_depth": 1},
    "HMF depth 2": {"user_depth": 2, "item_depth": 2},
}
THRESHOLD = 0.003  # issue 11: mean |test RMSE lazy - dense| over the seeds


def append_row(path: Path, row: dict) -> None:
    frame = pd.DataFrame([row])
    frame.to_csv(path, mode="a", header=not path.exists(), index=False)


# ---------------------------------------------------------------------------------------------
# Accuracy: ML-100K, the paper protocol, lazy vs dense
# ---------------------------------------------------------------------------------------------


def accuracy(args) -> None:
    out = Path(args.out) / ACCURACY_CSV
    done = set()
    if out.exists():
        old = pd.read_csv(out)
        done = set(zip(old["model"], old["seed"], old["optimizer"], strict=True))
    split = make_split(read_ratings(args.data), "temporal")
    with tempfile.TemporaryDirectory(prefix="hmf-sparse-acc-") as work:
        for seed in args.seeds:
            for model, fields in ACCURACY_MODELS.items():
                for optimizer in ("dense", "lazy"):
                    if (model, seed, optimizer) in done:
                        continue
                    settings = TrainSettings(
                        data=str(args.data),
                        split="temporal",
                        seed=seed,
                        lr=LR,
                        weight_decay=WEIGHT_DECAY,
                        batch_size=BATCH,
                        patience=5,
                        projection=False,
                        threads=1,
                        optimizer=optimizer,
                        **fields,
                    )
                    run_dir = Path(work) / f"{model}-{seed}-{optimizer}".replace(" ", "_")
                    started, cpu = time.perf_counter(), time.process_time()
                    test = fit_run(settings, split, run_dir, label=model)
                    row = {
                        "model": model,
                        "seed": seed,
                        "optimizer": optimizer,
                        "test_rmse": test["test_rmse"],
                        "best_epoch": test["best_epoch"],
                        "epochs_run": test["epochs_run"],
                        "wall_s": time.perf_counter() - started,
                        "cpu_s": time.process_time() - cpu,
                    }
                    append_row(out, row)
                    print(row, flush=True)


def accuracy_tables(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    wide = runs.pivot_table(
        index=["model", "seed"], columns="optimizer", values=["test_rmse", "epochs_run", "cpu_s"]
    )
    per_seed = pd.DataFrame(
        {
            "dense test RMSE": wide[("test_rmse", "dense")],
            "lazy test RMSE": wide[("test_rmse", "lazy")],
            "abs(lazy - dense)": (wide[("test_rmse", "lazy")] - wide[("test_rmse", "dense")]).abs(),
            "dense epochs": wide[("epochs_run", "dense")].astype("Int64"),
            "lazy epochs": wide[("epochs_run", "lazy")].astype("Int64"),
            "dense CPU s/epoch": wide[("cpu_s", "dense")] / wide[("epochs_run", "dense")],
            "lazy CPU s/epoch": wide[("cpu_s", "lazy")] / wide[("epochs_run", "lazy")],
        }
    ).reset_index()
    rows = []
    for model, part in per_seed.groupby("model", sort=False):
        part = part.dropna()
        rows.append(
            {
                "model": model,
                "seeds": len(part),
                "dense mean RMSE": part["dense test RMSE"].mean(),
                "lazy mean RMSE": part["lazy test RMSE"].mean(),
                "mean abs(lazy - dense)": part["abs(lazy - dense)"].mean(),
                "max abs(lazy - dense)": part["abs(lazy - dense)"].max(),
                f"passes (<= {THRESHOLD})": bool(part["abs(lazy - dense)"].mean() <= THRESHOLD),
            }
        )
    return per_seed, pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Speed: Lightning path vs a bare torch loop, dense vs lazy
# ---------------------------------------------------------------------------------------------


def timed_paths(
    config: HMFConfig, split: Split, kind: str, epochs: int, steps: int | None, batch: int = BATCH
):
    """The bare loop and the Lightning path of benchmarks.loops (the same loops speed.py
    times), 1 thread, this optimizer; step-limited runs read the steady steps only."""
    plan = {"epochs": epochs, "threads": 1, "max_steps": steps, "optimizer": kind}
    bare = bare_epochs(config, split, batch, steady_from=STEADY_FROM, **plan)
    ours = lightning_epochs(config, split, batch, steady_from=STEADY_FROM, **plan)
    if bare["optimizer"] != ours["optimizer"]:
        raise RuntimeError(f"bare {bare['optimizer']} != Lightning {ours['optimizer']}")
    return bare, ours


def speed(args) -> None:
    out = Path(args.out) / SPEED_CSV
    torch.set_num_threads(1)
    run = time.strftime("%H:%M UTC", time.gmtime())
    plans = []
    if args.quick:  # smoke run: batch 64, so that 2 epochs pass LazyAdamW's 100 warm-up steps
        plans.append(("synthetic tiny", lambda: synthetic_split(*SIZES["tiny"]), 2, None))
    elif Path(args.data).exists():
        plans.append(("ML-100K", lambda: make_split(read_ratings(args.data), "temporal"), 4, None))
    if not args.quick:
        plans.append(("ML-1M size", lambda: synthetic_split(*SIZES["ml-1m-size"]), 2, None))
        plans.append(("ML-20M size", lambda: synthetic_split(*SIZES["ml-20m-size"]), 1, args.steps))
    for name, make, epochs, steps in plans:
        if args.only and name not in args.only:
            continue
        split = make()
        for model, depth in (("MF", 0), ("HMF depth 1", 1)):
            config = HMFConfig(
                n_users=split.n_users,
                n_items=split.n_items,
                user_clusters=halving_levels(200, depth),
                item_clusters=halving_levels(100, depth),
            )
            for kind in ("dense", "lazy"):
                load = os.getloadavg()[0]
                batch = 64 if args.quick else BATCH
                bare, ours = timed_paths(config, split, kind, epochs, steps, batch)
                row = {
                    "run": run,
                    "data": name,
                    "model": model,
                    "optimizer": kind,
                    "bare epoch s": bare["epoch_s"],
                    "Lightning epoch s": ours["epoch_s"],
                    "Lightning / bare": ours["epoch_s"] / bare["epoch_s"],
                    "bare CPU s": bare["cpu_s"],
                    "Lightning CPU s": ours["cpu_s"],
                    "Lightning / bare (CPU)": ours["cpu_s"] / bare["cpu_s"],
                    "bare step ms": bare["step_ms"],
                    "Lightning step ms": ours["step_ms"],
                    "Lightning - bare step CPU ms": ours["step_cpu_ms"] - bare["step_cpu_ms"],
                    "bare faults/step": bare["faults_per_step"],
                    "Lightning faults/step": ours["faults_per_step"],
                    "bare warm-up step CPU ms (steps 2-100)": bare["warmup_step_cpu_ms"],
                    "bare epoch-end catch-up CPU s": bare["catch_up_cpu_s"],
                    "load (1 min)": load,
                    "note": f"extrapolated: median of steps {STEADY_FROM}-{steps} x steps/epoch"
                    if steps
                    else f"median of {epochs - 1} epochs after the first",
                }
                append_row(out, row)
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
                gc.collect()
        del split
        gc.collect()


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def report(args) -> None:
    out = Path(args.out)
    parts = [
        machine_header(
            "Row-sparse gradients and LazyAdamW (issue 11)",
            extra=[
                "1 intra-op thread; batch 1024; AdamW lr 1e-3, weight decay 1e-4, betas "
                "(0.9, 0.999), eps 1e-8; dense = fused torch AdamW on dense gradients; lazy = "
                "hmf_core.training.optim.LazyAdamW (sparse C_1 / MF-table gradients, skipped steps "
                "applied exactly when a row is next read, every row caught up at each epoch end)",
                "The machine is shared (2 cores, other jobs running): CPU seconds and ratios "
                "from the same run are the figures to read; the 1-minute load is in each row",
            ],
        )
    ]
    speed_path = out / SPEED_CSV
    if speed_path.exists():
        table = pd.read_csv(speed_path)
        parts.append("\n## Epoch time: Lightning path vs bare loop, dense vs lazy\n")
        parts.append(
            "MF and HMF depth 1 (200 user / 100 item clusters). Lightning = `HMFModule` + "
            "`HMFDataModule` under `pl.Trainer` without validation or checkpoints; bare = a "
            "hand-written loop over the same model, batches and optimizer. Epoch: the median "
            "epoch after the first (ML-100K, ML-1M size), or at ML-20M size the median steady "
            "step (steps 111-170 of one epoch cut at 170, after LazyAdamW's 100 warm-up steps) "
            "times the 19,532 steps of an epoch (extrapolated): the first epoch adds 100 x "
            "(warm-up step - steady step) and every epoch the epoch-end catch-up, both in the "
            "table. CPU s: process time, the figure to read on this shared machine (wall "
            "seconds include waiting for the cores). Faults: minor page faults per steady step "
            "(median). `run`: the start of the benchmark run (UTC); several runs are listed "
            "where the machine's load made them differ.\n\n"
        )
        parts.append(markdown_table(table))
        lines = [
            "\n### HMF depth 1 / MF, Lightning CPU s per epoch\n",
            "| run | data | HMF optimizer | MF optimizer | HMF CPU s | MF CPU s | HMF / MF |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for (run, data), part in table.groupby(["run", "data"], sort=False):
            cpu = {(m, o): c for m, o, c in zip(part["model"], part["optimizer"],
                                                 part["Lightning CPU s"], strict=True)}  # fmt: skip
            for hmf_kind, mf_kind in (("dense", "dense"), ("lazy", "lazy"), ("lazy", "dense")):
                hmf, mf = cpu.get(("HMF depth 1", hmf_kind)), cpu.get(("MF", mf_kind))
                if hmf is not None and mf is not None:
                    lines.append(
                        f"| {run} | {data} | {hmf_kind} | {mf_kind} | {hmf:.3g} | {mf:.3g} | "
                        f"{hmf / mf:.2f} |"
                    )
        parts.append("\n".join(lines) + "\n")
        parts.append(targets(table))
        parts.append(SPEED_NOTES)
    accuracy_path = out / ACCURACY_CSV
    if accuracy_path.exists():
        per_seed, overall = accuracy_tables(pd.read_csv(accuracy_path))
        parts.append("\n## Accuracy: ML-100K test RMSE, lazy vs dense\n")
        parts.append(
            "The paper protocol: global temporal split, d 20, batch 1024, AdamW lr 1e-3, "
            "weight decay 1e-4, patience 5 on validation RMSE, test RMSE of the best "
            "checkpoint; HMF 200 user / 100 item clusters (depth 2: halved per level), init "
            f"N(0, 1); MF init N(0, {MF_INIT_STD}). `train.training.fit`, seeds as listed. "
            f"Requirement (issue 11): mean |lazy - dense| <= {THRESHOLD} per model. The script "
            "appends rows and skips those already done, so dense and lazy rows can come from "
            "separate runs (here: dense 05:42-06:07 UTC; lazy rerun 06:11-06:35 UTC with the "
            "final LazyAdamW before merging main; a first lazy run with an earlier LazyAdamW gave "
            "the same RMSEs to 1.2e-7). CPU s/epoch: whole fit() (validation included) on the "
            "shared machine.\n\n"
        )
        parts.append(markdown_table(overall))
        parts.append("\nPer seed:\n\n")
        parts.append(markdown_table(per_seed))
    (out / REPORT).write_text("\n".join(parts))
    print(f"wrote {out / REPORT}")


SPEED_NOTES = """
Notes on the runs of 2026-11-24 (machine shared with four other sessions, load 2.3-3.1):
a lazy step is bound by reading and writing the batch's random rows of the big tables (memory
latency, measured: a cold gather of 1,000 rows of 200 floats 0.34 ms, a cold scatter 0.8 ms),
so it moves with other processes' memory traffic: the same code gave 144-196 CPU s for an
ML-20M-size HMF depth-1 epoch across runs. MF lazy through Lightning was 1.45-1.54x its bare
loop in two runs and 1.03-1.05x in two others, with no page faults in any: not explained. The
dense HMF step at ML-20M size still faults once per 4 KiB page of its 106 MiB gradient
(27,050 faults a step) whenever that buffer lands in fresh pages (speed.md).
"""


def auto_choice(data: str, model: str) -> str:
    """What --optimizer auto picks (LAZY_FROM_ELEMENTS on the largest row table)."""
    users, items, _ = SIZES["ml-20m-size"] if data == "ML-20M size" else SIZES["ml-1m-size"]
    if data == "ML-100K":
        users, items = 943, 1682
    width = (200, 100) if model != "MF" else (20, 20)
    return "lazy" if max(users * width[0], items * width[1]) >= LAZY_FROM_ELEMENTS else "dense"


def targets(table: pd.DataFrame) -> str:
    """Issue 11's speed targets, per run, for the optimizer --optimizer auto picks."""
    lines = [
        "\n### Against issue 11's targets (CPU s; the optimizer `--optimizer auto` picks)\n",
        "| run | data | model | auto picks | Lightning CPU s/epoch | Lightning / bare (CPU) "
        "| <= 1.2 (from ML-1M size up) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.to_dict("records"):
        if row["optimizer"] != auto_choice(row["data"], row["model"]):
            continue
        ratio = row["Lightning / bare (CPU)"]
        check = "–" if row["data"] == "ML-100K" else str(bool(ratio <= 1.2))
        lines.append(
            f"| {row['run']} | {row['data']} | {row['model']} | {row['optimizer']} | "
            f"{row['Lightning CPU s']:.2f} | {ratio:.2f} | {check} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["accuracy", "speed", "report"])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ML-100K u.data")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--steps", type=int, default=170, help="steps timed at ML-20M size (one epoch, cut)"
    )
    parser.add_argument("--only", nargs="*", help="speed: only these data sizes")
    parser.add_argument("--quick", action="store_true", help="speed: tiny synthetic data only")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    quiet()
    if args.part == "accuracy":
        accuracy(args)
    elif args.part == "speed":
        speed(args)
    report(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
