"""A GPU run ready to go (issue 23 item 4): the GPU tests, then Lightning epochs of MF, HMF
depth 1 and 2 and MFDMC at ML-1M and ML-20M sizes (benchmarks.harness's seeded synthetic data)
on the GPU beside the CPU, written to benchmarks/results/gpu.md. `benchmarks/gpu.sh` installs
the CUDA build of torch first and then runs this.

    bash benchmarks/gpu.sh                                  # on a machine with an NVIDIA GPU
    python -m benchmarks.gpu --dry-run --out /tmp/gpu.md    # no GPU: the same steps, tiny, CPU

`--dry-run` runs every step on the CPU at a tiny size (the "GPU" pass too, on the CPU), so the
script stays tested on machines without a device; its report says so where a GPU figure would be.
"""

from __future__ import annotations

import argparse
import gc
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import (
    RESULTS,
    ROOT,
    SIZES,
    Section,
    gpu_name,
    machine_header,
    quiet,
    synthetic_split,
    write_report,
)
from benchmarks.loops import (
    LR,
    PAPER_CLUSTERS,
    STEADY_FROM,
    WEIGHT_DECAY,
    lightning_epochs,
    model_config,
)
from hmf_core.models.mfdmc import MFDMCConfig
from hmf_core.training.trainer import cpu_threads

MODELS = {"MF": ("hmf", 0), "HMF depth 1": ("hmf", 1), "HMF depth 2": ("hmf", 2)}
MODELS["MFDMC"] = ("mfdmc", None)  # its defaults: 4 views of 10 centres per side, concat
# the tests that need a CUDA device (each skips without one); run before the timings
GPU_TESTS = ["tests/test_gpu_script.py::test_cuda_training_and_gpu_timings"]
LABELS = {"tiny": "synthetic tiny", "ml-1m-size": "ML-1M size", "ml-20m-size": "ML-20M size"}
NO_GPU = (
    "No GPU figure: DRY RUN on a machine without a CUDA device. The 'GPU' columns ran on the "
    "CPU at a tiny size to test the script; they are not GPU figures. No task so far has been "
    "lent an NVIDIA device; `bash benchmarks/gpu.sh` on one overwrites this file with real ones."
)


def plan(size: str, device: str) -> dict:
    """Epochs and steps timed for one size on one device (lightning_epochs' keywords). The
    ML-20M-size epochs are extrapolated from the steady steps after LazyAdamW's warm-up."""
    if size == "tiny":
        return {"epochs": 2}
    if size == "ml-1m-size":  # the GPU runs whole epochs; the CPU 120 steps of each
        return {"epochs": 2} if device == "cuda" else {"epochs": 2, "max_steps": 120}
    steps = 600 if device == "cuda" else 300
    return {"epochs": 1, "max_steps": steps, "steady_from": STEADY_FROM}


def model_of(name: str, n_users: int, n_items: int):
    """(family, config) of one row's model."""
    family, depth = MODELS[name]
    if family == "mfdmc":
        return family, MFDMCConfig(n_users=n_users, n_items=n_items)
    return family, model_config(n_users, n_items, depth)


def time_size(size: str, devices: dict[str, str], batch_size: int) -> list[dict]:
    """One row per model: the Lightning epoch on each device role ('CPU', 'GPU')."""
    started = time.perf_counter()
    split = synthetic_split(*SIZES[size])
    print(f"{size}: {len(split.train):,} ratings in {time.perf_counter() - started:.1f}s")
    rows = []
    for name in MODELS:
        family, config = model_of(name, split.n_users, split.n_items)
        row = {"data": LABELS[size], "model": name}
        for role, device in devices.items():
            result = lightning_epochs(
                config, split, batch_size, device=device, family=family, **plan(size, device)
            )
            row[f"{role} epoch s"] = result["epoch_s"]
            steps = math.ceil(result["rows"] / batch_size)  # of a whole epoch
            row[f"{role} step ms"] = 1000 * result["epoch_s"] / steps
            row["optimizer"] = result["optimizer"]
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    del split
    gc.collect()
    return rows


def ratios(rows: list[dict]) -> pd.DataFrame:
    """The timings with CPU / GPU per row and model / MF per size and device."""
    table = pd.DataFrame(rows)
    table["CPU / GPU"] = table["CPU epoch s"] / table["GPU epoch s"]
    for role in ("CPU", "GPU"):
        mf = table[table["model"] == "MF"].set_index("data")[f"{role} epoch s"]
        table[f"model / MF ({role})"] = table[f"{role} epoch s"] / table["data"].map(mf)
    columns = ["data", "model", "optimizer", "CPU epoch s", "GPU epoch s", "CPU / GPU"]
    columns += ["model / MF (CPU)", "model / MF (GPU)", "CPU step ms", "GPU step ms"]
    return table[columns]


def targets(table: pd.DataFrame, dry_run: bool) -> pd.DataFrame:
    """Issue 23's GPU targets, against the ML-20M-size HMF depth 1 row."""
    row = table[(table["data"] == LABELS["ml-20m-size"]) & (table["model"] == "HMF depth 1")]
    epoch = float(row["GPU epoch s"].iloc[0]) if len(row) and not dry_run else None
    ratio = float(row["model / MF (GPU)"].iloc[0]) if len(row) and not dry_run else None
    missing = "not measured (dry run)" if dry_run else "not measured (size not run)"
    return pd.DataFrame(
        [
            {
                "target": "ML-20M size, HMF depth 1 GPU epoch <= 10 s",
                "measured": missing if epoch is None else f"{epoch:.2f} s",
                "met": "–" if epoch is None else ("yes" if epoch <= 10 else "no"),
            },
            {
                "target": "ML-20M size, HMF depth 1 / MF on the GPU <= 1.5",
                "measured": missing if ratio is None else f"{ratio:.2f}",
                "met": "–" if ratio is None else ("yes" if ratio <= 1.5 else "no"),
            },
        ]
    )


def run_gpu_tests() -> str:
    """GPU_TESTS under pytest; its summary line (e.g. '1 passed in 12.3s')."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *GPU_TESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else f"pytest printed nothing (rc {result.returncode})"
    if result.returncode not in (0, 5):
        print(result.stdout[-3000:], result.stderr[-2000:], file=sys.stderr)
    return summary


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU only, tiny size, for tests")
    parser.add_argument("--out", default=str(RESULTS / "gpu.md"), help="the report's path")
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated of " + ", ".join(SIZES) + " (default: ML-1M and ML-20M sizes; "
        "tiny with --dry-run)",
    )
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--skip-tests", action="store_true", help="do not run GPU_TESTS first")
    args = parser.parse_args(argv)
    default = "tiny" if args.dry_run else "ml-1m-size,ml-20m-size"
    args.sizes = [s.strip() for s in (args.sizes or default).split(",") if s.strip()]
    unknown = [s for s in args.sizes if s not in SIZES]
    if unknown:
        parser.error(f"--sizes: {', '.join(unknown)} unknown; choose from {', '.join(SIZES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print(
            f"no CUDA device here (torch {torch.__version__}, CUDA build: "
            f"{torch.version.cuda or 'no'}): run `bash benchmarks/gpu.sh` on a machine with an "
            "NVIDIA GPU, or add --dry-run to test the script on the CPU",
            file=sys.stderr,
        )
        return 2
    quiet()
    started = time.perf_counter()
    tests = "skipped (--skip-tests)" if args.skip_tests else run_gpu_tests()
    devices = {"CPU": "cpu", "GPU": "cpu" if args.dry_run else "cuda"}
    rows = [row for size in args.sizes for row in time_size(size, devices, args.batch_size)]
    table = ratios(rows)
    total = time.perf_counter() - started
    text = (
        "Lightning epochs (HMFModule + HMFDataModule under pl.Trainer, benchmarks.loops."
        f"lightning_epochs), batch {args.batch_size}, optimizer auto (LazyAdamW from 2M "
        f"elements in C_1, so at ML-20M size), lr {LR}, weight decay {WEIGHT_DECAY}, float32; "
        f"HMF clusters {PAPER_CLUSTERS} halving per level; MFDMC with its defaults (4 views of "
        "10 centres a side). Tiny and ML-1M size on the GPU: the median of whole epochs after "
        "the first; ML-1M size on the CPU: the median step of the first 120 of each of 2 "
        "epochs times the steps of an epoch; ML-20M size: one epoch cut at 300 (CPU) or 600 "
        f"(GPU) steps, the median step from step {STEADY_FROM} on (after LazyAdamW's 100 dense "
        "warm-up steps) times the steps of an epoch. step ms: epoch / steps of an epoch. "
        "model / MF: the epoch over MF's at the same size on the same device."
    )
    sections = [
        Section(
            "Epochs on the GPU beside the CPU",
            (NO_GPU + "\n\n" if args.dry_run else "") + text,
            table,
            csv=None,
        ),
        Section(
            "Issue 23's GPU targets", NO_GPU if args.dry_run else "", targets(table, args.dry_run)
        ),
    ]
    header = machine_header(
        "GPU run: MF, HMF and MFDMC epochs on the GPU beside the CPU",
        [0],
        [
            "GPU: " + (gpu_name() or "none") if not args.dry_run else "GPU: " + NO_GPU,
            f"CPU: {cpu_threads()} intra-op thread(s) (cpu_threads()); torch CUDA build: "
            f"{torch.version.cuda or 'no'}",
            f"GPU tests ({', '.join(GPU_TESTS)}): {tests}",
            f"Total wall time: {total / 60:.1f} min",
        ],
    )
    out = Path(args.out)
    path = write_report(out.parent, out.name, header, sections)
    print(f"wrote {path} in {total:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
