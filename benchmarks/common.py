"""Shared by the benchmark scripts: the machine header, markdown tables, seeded synthetic data
the size of MovieLens, and memory readings. (The memory estimate is `hmf_core.memory`.)"""

from __future__ import annotations

import datetime
import math
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a fresh checkout
    sys.path.insert(0, str(ROOT))

from hmf_core.ratings import RatingData  # noqa: E402
from hmf_core.split import Split  # noqa: E402

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
    import torch

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
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *(shlex.quote(a) for a in sys.argv[1:])])


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
