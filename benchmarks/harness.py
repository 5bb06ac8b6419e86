"""The harness every benchmark study shares: where results go and the machine header they
start with, quiet Lightning, timing (wall, CPU, page faults per step and epoch), peak memory,
seeded synthetic data the size of MovieLens, markdown tables and report writing.
(The memory estimate itself is `hmf_core.training.memory`.)

A study is a module with a `main(argv)`, run from the repository root as
`python -m benchmarks.<study>`; it builds `Section`s and hands them to `write_report`.
"""

from __future__ import annotations

import ctypes
import datetime
import logging
import math
import os
import platform
import resource
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hmf_core.data.ratings import RatingData, read_ratings
from hmf_core.data.split import Split, make_split

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
RESULTS = ROOT / "benchmarks" / "results"


# ---------------------------------------------------------------------------------------------
# Where and how a result was measured
# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def total_memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_header(
    title: str, seeds: list[int] | None = None, extra: list[str] | None = None
) -> str:
    """The lines every results file starts with: what ran where, when, with which versions."""
    import pytorch_lightning as pl
    import torch

    memory = total_memory_gib()
    gpu = gpu_name()
    lines = [
        f"# {title}",
        "",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {cpu_model()}, {usable_cores()} usable cores"
        + (f", {memory:.0f} GiB RAM" if memory else "")
        + f", GPU: {gpu or 'none (CPU only)'}",
        f"- Versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"pytorch-lightning {pl.__version__}, pandas {pd.__version__}, numpy {np.__version__}",
        f"- Command: `{command_line()}`",
    ]
    if seeds is not None:
        lines.append(f"- Seeds: {', '.join(str(s) for s in seeds)}")
    lines += [f"- {line}" for line in extra or []]
    return "\n".join(lines) + "\n"


def command_line() -> str:
    """How this process was started: `python -m benchmarks.speed --quick` (or the script path)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        program = ["-m", spec.name.removesuffix(".__main__")]
    else:
        script = Path(sys.argv[0])
        try:
            script = script.resolve().relative_to(ROOT)
        except ValueError:
            pass
        program = [str(script)]
    return " ".join(["python", *program, *(shlex.quote(a) for a in sys.argv[1:])])


def quiet() -> None:
    """Lightning's per-Trainer info lines and tips would drown the progress lines."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def fmt(value, digits: int = 4) -> str:
    """A table cell: numbers rounded, missing values as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        cells = [fmt(v, digits).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def mean_std(values) -> str:
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(values) == 0:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


# ---------------------------------------------------------------------------------------------
# Synthetic data the size of MovieLens
# ---------------------------------------------------------------------------------------------

SIZES = {  # name: (users, items, ratings)
    "tiny": (300, 200, 6_000),
    "ml-1m-size": (6_040, 3_706, 1_000_209),
    "ml-20m-size": (138_493, 26_744, 20_000_263),
}


def synthetic_ratings(
    n_users: int, n_items: int, n_ratings: int, seed: int = 0, dim: int = 8
) -> RatingData:
    """Seeded ratings 1..5 from a low-rank model with popularity skew (Zipf-like item and user
    activity), unique (user, item) pairs, increasing timestamps. Built in chunks so the 20M
    case stays within a few GiB."""
    rng = np.random.default_rng(seed)
    user_weight = 1.0 / np.arange(1, n_users + 1) ** 0.5
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.8
    user_weight, item_weight = user_weight / user_weight.sum(), item_weight / item_weight.sum()
    n_pairs = n_users * n_items
    if n_ratings > 0.5 * n_pairs:
        raise ValueError(f"{n_ratings} ratings would fill over half of {n_users} x {n_items}")
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n_ratings:
        need = int((n_ratings - len(keys)) * 1.3) + 1000
        users = rng.choice(n_users, size=need, p=user_weight)
        items = rng.choice(n_items, size=need, p=item_weight)
        keys = np.unique(np.concatenate([keys, users.astype(np.int64) * n_items + items]))
    keys = rng.permutation(keys)[:n_ratings]
    users, items = keys // n_items, keys % n_items
    user_factors = rng.normal(0, 1, (n_users, dim)).astype(np.float32) / dim**0.25
    item_factors = rng.normal(0, 1, (n_items, dim)).astype(np.float32) / dim**0.25
    scores = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, 2_000_000):
        chunk = slice(start, start + 2_000_000)
        scores[chunk] = np.einsum(
            "bd,bd->b", user_factors[users[chunk]], item_factors[items[chunk]]
        )
    scores += rng.normal(0, 0.5, n_ratings).astype(np.float32)
    ratings = np.clip(np.round(3.5 + scores), 1, 5).astype(np.float32)
    table = pd.DataFrame(
        {
            "user": users,
            "item": items,
            "rating": ratings,
            "timestamp": np.arange(n_ratings, dtype=np.int64),
        }
    )
    return RatingData(
        table=table,
        user_ids=np.arange(n_users),
        item_ids=np.arange(n_items),
        source=f"synthetic({n_users}x{n_items}, {n_ratings} ratings, seed={seed})",
        implicit=False,
        has_timestamp=True,
    )


def temporal_split(path: str | Path) -> Split:
    """A real rating file (ML-100K's u.data by default) under the paper's temporal split."""
    return make_split(read_ratings(path), "temporal")


def synthetic_split(n_users: int, n_items: int, n_ratings: int, seed: int = 0) -> Split:
    """Every synthetic rating in training (speed only); a 1% slice as validation/test."""
    data = synthetic_ratings(n_users, n_items, n_ratings, seed)
    table = data.table
    holdout = table.iloc[: max(1, n_ratings // 100)].reset_index(drop=True)
    return Split(
        train=table,
        val=holdout,
        test=holdout,
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        method="synthetic",
        dropped_cold={"val": 0, "test": 0},
    )


# ---------------------------------------------------------------------------------------------
# Memory and time
# ---------------------------------------------------------------------------------------------


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def current_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so a clock reading covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> int:
    """Start a fresh peak-memory window; returns the baseline (bytes in use now)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:  # give freed heap back first, so reused memory does not hide the next peak
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:  # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return current_rss_bytes()


def peak_memory(device: torch.device) -> int:
    """Peak bytes since `reset_peak_memory`: CUDA's allocator peak, or the peak RSS (VmHWM)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Clock:
    """Wall time, CPU time of this process and minor page faults, per epoch and per step.
    Steps count from each epoch's second batch on (the first pays one-off costs). Minor page
    faults show when a step gets fresh memory from the kernel instead of reusing freed memory:
    at ML-20M size that alone doubles the step time (see speed.md)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.epochs: list[tuple[float, float]] = []  # (wall s, CPU s)
        self.step_records: list[tuple[float, float, int]] = []  # (wall s, CPU s, faults)
        self.steps = 0
        self._epoch_start = self._step_start = None

    def _now(self) -> tuple[float, float, int]:
        sync(self.device)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return time.perf_counter(), time.process_time(), faults

    def start_epoch(self) -> None:
        self._epoch_start = self._now()
        self.steps = 0

    def end_epoch(self) -> None:
        if self._epoch_start is not None:
            now = self._now()
            self.epochs.append((now[0] - self._epoch_start[0], now[1] - self._epoch_start[1]))
            self._epoch_start = None

    def start_step(self) -> None:
        self._step_start = self._now()

    def end_step(self, batch_idx: int, steps: int = 1) -> None:
        """`steps` > 1: the batch was a group of that many optimizer steps (StepGroups),
        recorded as that many steps of equal share."""
        self.steps += steps
        if batch_idx >= 1:
            now = self._now()
            share = tuple((b - a) / steps for a, b in zip(self._step_start, now))
            self.step_records.extend([share] * steps)

    def summary(self, rows: int, batch_size: int, limited: bool) -> dict:
        """Whole epochs: the median epoch after the first (warm-up), in wall-clock and in CPU
        time of this process (robust when other processes share the cores). Step-limited
        runs: the median steady step times the steps of a full epoch."""
        step_s, step_cpu_s, step_faults = np.median(
            np.array(self.step_records or [(math.nan,) * 3]), axis=0
        )
        if limited:
            epoch_s, cpu_s = (float(t) * math.ceil(rows / batch_size) for t in (step_s, step_cpu_s))
        else:
            epoch_s, cpu_s = np.median(np.array(self.epochs[1:] or self.epochs), axis=0)
        return {
            "epoch_s": float(epoch_s),
            "cpu_s": float(cpu_s),
            "step_ms": 1000 * float(step_s),
            "faults_per_step": float(step_faults),
            "ratings_per_s": rows / float(epoch_s),
            "extrapolated": limited,
            "steps_timed": self.steps,
        }


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


@dataclass
class Section:
    """One part of a report: a heading, the prose saying how it was measured, its table, and
    the CSV file (in the report's folder) the table is also written to, if any."""

    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    csv: str | None = None
    level: int = 2
    digits: int = 4
    after: str = ""  # prose that reads best below the table

    def markdown(self) -> str:
        parts = [f"{'#' * self.level} {self.title}", ""]
        if self.text:
            parts += [self.text, ""]
        if self.table is not None:
            parts.append(markdown_table(self.table, self.digits))
        if self.after:
            parts += [self.after, ""]
        return "\n".join(parts)


def write_report(out: Path, name: str, header: str, sections: list[Section], footer: str = ""):
    """Write `out/name` (the header, every section, the footer) and each section's CSV."""
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join([header, *(section.markdown() for section in sections), footer])
    (out / name).write_text(text.rstrip("\n") + "\n")
    for section in sections:
        if section.csv and section.table is not None:
            section.table.to_csv(out / section.csv, index=False)
    return out / name
