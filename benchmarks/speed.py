"""Training speed and memory: our Lightning path (HMFModule + HMFDataModule) against a bare
hand-written torch loop over the same model, batches and optimizer (benchmarks.loops), for MF
and HMF depth 1-3 on ML-100K and on seeded synthetic data the size of ML-1M and ML-20M; the
GPU at those sizes in fp32 and bf16-mixed (skipped, and said so, without CUDA). The full run
also runs the other speed studies and puts them in the same report: overhead (Lightning vs
the bare loop, interleaved), time_to_best, memory, ddp, and threads (its own threads.md).

    python -m benchmarks.speed                 # writes benchmarks/results/speed.md, threads.md
    python -m benchmarks.speed --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks import ddp, memory, overhead, threads, time_to_best
from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    SIZES,
    Section,
    gib,
    gpu_name,
    machine_header,
    quiet,
    synthetic_split,
    temporal_split,
    write_report,
)
from benchmarks.loops import (
    LR,
    MODELS,
    PAPER_CLUSTERS,
    STEADY_FROM,
    WEIGHT_DECAY,
    bare_epochs,
    lightning_epochs,
    model_config,
)
from hmf_core.training.memory import parameter_count, training_memory_bytes
from hmf_core.training.trainer import cpu_threads


def datasets(args) -> list[tuple[str, callable, dict]]:
    """(name, split factory, timing plan) per dataset."""
    if args.quick:
        return [
            (
                "synthetic tiny (943 x 1,682, 20k)",
                lambda: synthetic_split(943, 1682, 20_000, seed=0),
                {"epochs": 2},
            )
        ]
    plans = []
    if Path(args.data).exists():
        plans.append(("ML-100K (temporal split)", lambda: temporal_split(args.data), {"epochs": 4}))
    for size, label, plan in (
        ("ml-1m-size", "ML-1M size (synthetic)", {"epochs": 2, "max_steps": args.steps_1m}),
        (
            "ml-20m-size",
            "ML-20M size (synthetic)",
            # one epoch cut at --steps-20m; the steps after LazyAdamW's dense warm-up
            {"epochs": 1, "max_steps": args.steps_20m, "steady_from": STEADY_FROM},
        ),
    ):
        plans.append((label, lambda size=size: synthetic_split(*SIZES[size]), plan))
    return plans


def speed_table(args, device: str) -> pd.DataFrame:
    rows = []
    for name, make, plan in datasets(args):
        started = time.perf_counter()
        split = make()
        print(
            f"{name}: {len(split.train):,} ratings, data ready in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
        models = {"MF": 0, "HMF depth 1": 1} if args.quick else MODELS
        for model, depth in models.items():
            config = model_config(split.n_users, split.n_items, depth)
            estimate = training_memory_bytes(
                config, batch_size=args.batch_size, n_ratings=len(split.train)
            )
            if gib(estimate["total"]) > args.memory_limit_gib:
                rows.append(
                    {
                        "data": name,
                        "model": model,
                        "note": "skipped: estimate "
                        f"{gib(estimate['total']):.1f} GiB > {args.memory_limit_gib}",
                    }
                )
                continue
            bare = bare_epochs(config, split, args.batch_size, device=device, **plan)
            ours = lightning_epochs(config, split, args.batch_size, device=device, **plan)
            if bare["optimizer"] != ours["optimizer"]:
                raise RuntimeError(
                    f"not like-for-like: the bare loop steps {bare['optimizer']}, HMFModule "
                    f"{ours['optimizer']}; make loops.make_optimizer match configure_optimizers"
                )
            row = {
                "data": name,
                "model": model,
                "optimizer": bare["optimizer"],
                "parameters": parameter_count(config),
                "bare epoch s": bare["epoch_s"],
                "Lightning epoch s": ours["epoch_s"],
                "Lightning / bare": ours["epoch_s"] / bare["epoch_s"],
                "bare CPU s": bare["cpu_s"],
                "Lightning CPU s": ours["cpu_s"],
                "Lightning / bare (CPU)": ours["cpu_s"] / bare["cpu_s"],
                "bare step ms": bare["step_ms"],
                "Lightning step ms": ours["step_ms"],
                "bare faults/step": bare["faults_per_step"],
                "Lightning faults/step": ours["faults_per_step"],
                "ratings/s (Lightning)": ours["ratings_per_s"],
                "bare warm-up step CPU ms": bare["warmup_step_cpu_ms"],
                "bare epoch-end catch-up CPU s": bare["catch_up_cpu_s"],
                "peak MiB (bare, measured)": bare["peak_bytes"] / 2**20,
                "estimate MiB (excl. data)": (estimate["total"] - estimate["data"]) / 2**20,
                "load (1 min)": os.getloadavg()[0],
                "note": note(bare, plan),
            }
            rows.append(row)
            print(
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                flush=True,
            )
        del split
        gc.collect()
    table = pd.DataFrame(rows)
    for name in table["data"].unique():  # HMF / MF per-epoch ratio within each dataset
        mf = table[(table["data"] == name) & (table["model"] == "MF")]
        if not mf.empty and "Lightning epoch s" in table:
            mask = table["data"] == name
            for column, ratio in (
                ("Lightning epoch s", "HMF / MF epoch"),
                ("Lightning CPU s", "HMF / MF epoch (CPU)"),
            ):
                table.loc[mask, ratio] = table.loc[mask, column] / float(mf[column].iloc[0])
    return table


def note(bare: dict, plan: dict) -> str:
    if not bare["extrapolated"]:
        return f"median of {max(1, plan['epochs'] - 1)} epoch(s) after warm-up"
    steady_from = plan.get("steady_from", 2)
    return (
        f"extrapolated: median of steps {steady_from}-{bare['steps_timed']} of "
        f"{plan['epochs']} epoch(s) x steps/epoch"
    )


GPU_TITLE = "GPU: ML-1M and ML-20M size, fp32 and bf16-mixed"


def gpu_section(args) -> Section:
    """The Lightning path on CUDA in fp32 and bf16-mixed (and the bare loop in fp32), or a
    section that says it was skipped and why."""
    if not torch.cuda.is_available():
        return Section(
            GPU_TITLE,
            "Skipped: no CUDA device on this machine (`torch.cuda.is_available()` is False). "
            "`python -m benchmarks.speed` fills this section on a machine with an NVIDIA GPU; "
            "`--device cuda` also runs the main table there.",
        )
    if args.quick:
        plans = [("synthetic tiny", SIZES["tiny"], {"epochs": 2})]
    else:
        plans = [
            ("ML-1M size (synthetic)", SIZES["ml-1m-size"], {"epochs": 3}),
            ("ML-20M size (synthetic)", SIZES["ml-20m-size"], {"epochs": 2, "max_steps": 500}),
        ]
    rows = []
    for name, size, plan in plans:
        split = synthetic_split(*size)
        for model, depth in (("MF", 0), ("HMF depth 1", 1), ("HMF depth 2", 2)):
            config = model_config(split.n_users, split.n_items, depth)
            bare = bare_epochs(config, split, args.batch_size, device="cuda", **plan)
            row = {"data": name, "model": model, "bare fp32 epoch s": bare["epoch_s"]}
            for precision in ("32-true", "bf16-mixed"):
                ours = lightning_epochs(
                    config, split, args.batch_size, device="cuda", precision=precision, **plan
                )
                row[f"Lightning {precision} epoch s"] = ours["epoch_s"]
                row[f"Lightning {precision} step ms"] = ours["step_ms"]
            row["peak MiB (bare, CUDA allocator)"] = bare["peak_bytes"] / 2**20
            row["note"] = "extrapolated from 500 steps" if bare["extrapolated"] else "full epochs"
            rows.append(row)
            print(row, flush=True)
        del split
        gc.collect()
    return Section(
        GPU_TITLE,
        f"{gpu_name()}; batch {args.batch_size}; the same two paths as the main table. "
        "bf16-mixed: Lightning's `precision='bf16-mixed'` (autocast; weights and AdamW in "
        "fp32).",
        pd.DataFrame(rows),
        csv="speed_gpu.csv",
    )


SPEED_TEXT = (
    "Same HMF, same batches (index slices of a seeded permutation per epoch), same "
    "optimizer (`--optimizer auto`, as `HMFModule.configure_optimizers` picks it: fused AdamW "
    "below 2M elements in C_1 / the MF table of a side, training.optim.LazyAdamW from there, "
    "i.e. at ML-20M size; the script stops if the two paths differ; LazyAdamW is caught up at "
    "each epoch end in both); "
    "Lightning = `HMFModule` + `HMFDataModule` under `pl.Trainer` without validation or "
    "checkpoints, epoch timed by a callback from one epoch start to the next. Target for "
    "Lightning / bare: at most 1.2. HMF / MF epoch uses the Lightning columns (wall and CPU "
    "seconds). CPU s: this process's CPU time, the figure to read on a shared machine. At "
    "ML-20M size the epoch is the median steady step (after LazyAdamW's 100 dense warm-up "
    "steps, whose median is listed) times the steps of an epoch; an epoch also pays the "
    "epoch-end catch-up (listed) and the first one the warm-up. Peak memory: "
    "rise of the process's peak RSS (VmHWM, reset through /proc/self/clear_refs) during "
    "the bare loop, above the data tensors; RSS also holds memory glibc keeps after a free "
    "(at ML-20M size up to one more 153 MiB permutation, after the synthetic data's "
    "build), so it can exceed the estimate of live tensors."
)

FAULTS_TEXT = (
    "Faults/step: minor page faults per steady step (median). A step whose dense C_1 "
    "gradient lands in fresh pages faults once per 4 KiB page (ML-20M size, HMF: 138,493 "
    "x 200 float32 = 106 MiB, about 27,000 faults); one that reuses freed memory barely "
    "faults. Which of the two a run gets changes from run to run, even within one process "
    "(glibc and the kernel decide, not the training code), and at ML-20M size it alone "
    "doubles the step time: read Lightning / bare there beside the two faults columns."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ML-100K u.data")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic data, 2 epochs")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--steps-1m",
        type=int,
        default=120,
        help="steps per epoch timed on the ML-1M-size data (extrapolated)",
    )
    parser.add_argument(
        "--steps-20m",
        type=int,
        default=400,
        help="steps of one epoch run on the ML-20M-size data; those from step "
        f"{STEADY_FROM} on are timed (extrapolated)",
    )
    parser.add_argument("--memory-limit-gib", type=float, default=20.0)
    parser.add_argument("--device", default="cpu", help="device of the main table (cpu, cuda)")
    parser.add_argument("--skip-threads", action="store_true", help="leave threads.md alone")
    parser.add_argument("--skip-ddp", action="store_true", help="no 2-process DDP section")
    args = parser.parse_args(argv)
    out = Path(args.out)
    quiet()
    started = time.perf_counter()

    speed = speed_table(args, args.device)
    speed = speed[[c for c in speed.columns if c != "note"] + ["note"]]
    sections = [
        Section(
            "Epoch time: our Lightning path vs a bare torch loop",
            SPEED_TEXT,
            speed,
            csv="speed.csv",
            after=FAULTS_TEXT,
        )
    ]
    if args.quick or not Path(args.data).exists():
        ttb_split, ttb_label = synthetic_split(943, 1682, 20_000, seed=0), "synthetic"
    else:
        ttb_split, ttb_label = temporal_split(args.data), args.data
    sections.append(
        overhead.section(
            ttb_split,
            "ML-100K (temporal split)" if ttb_label != "synthetic" else "synthetic tiny",
            args.quick,
            level=3,
        )
    )
    sections.append(time_to_best.section(ttb_split, ttb_label, out, args.quick))
    sections.append(
        memory.section(
            {"ML-100K": (943, 1682, 100_000), **{k: v for k, v in SIZES.items() if k != "tiny"}}
        )
    )
    if not args.skip_ddp:
        sections.append(ddp.section(args.quick))
    sections.append(gpu_section(args))
    if not args.skip_threads:
        threads.run(out, args.quick, args.data)
    total = time.perf_counter() - started
    device_label = (
        gpu_name()
        if args.device.startswith("cuda")
        else f"CPU, {cpu_threads()} intra-op thread(s) (cpu_threads())"
    )
    header = machine_header(
        "Speed and memory of training",
        [0],
        [
            f"Device: {device_label}; batch {args.batch_size}; optimizer auto, lr {LR}, "
            f"weight decay {WEIGHT_DECAY}; float32; clusters {PAPER_CLUSTERS} halving per level",
            f"Total wall time: {total / 60:.1f} min"
            + ("; QUICK smoke run: numbers are not meaningful" if args.quick else ""),
            f"GPU: {gpu_name()}"
            if torch.cuda.is_available()
            else "No NVIDIA GPU on this machine: the GPU section below is skipped",
        ],
    )
    path = write_report(out, "speed.md", header, sections, footer="Threads: see `threads.md`.")
    print(f"wrote {path} in {total:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
