"""Do the accuracy benchmark's figures still come out the same? Reruns the seed-0 rows of
benchmarks/results/accuracy_runs.csv (every model at its selected setting: MF, biased MF, HMF
depth 1-4, HMF with biases, BPR-MF, BPR-HMF) and prints each stored test figure beside the new
one. Training is seeded and runs on one thread, so a refactor that changes no behaviour gives
the same numbers up to float noise; a change in what is trained shows as a difference.

    python -m benchmarks.same_figures                       # ML-100K, about 2 minutes alone
    python -m benchmarks.same_figures --seed 1 --out /tmp/same.md
"""

from __future__ import annotations

import argparse
import ast
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.accuracy import settings_for
from benchmarks.harness import DEFAULT_DATA, RESULTS, machine_header, markdown_table, quiet
from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import make_split
from hmf_core.runs.recorder import fit_run

TOLERANCE = 1e-4  # |stored - new| below this counts as the same figure


def _setting(row: pd.Series) -> tuple[dict, dict]:
    """(fixed, grid point) of a stored row, as benchmarks.accuracy builds its settings."""
    users, items = ast.literal_eval(row["user_clusters"]), ast.literal_eval(row["item_clusters"])
    fixed = {"user_depth": len(users), "item_depth": len(items), "use_bias": bool(row["use_bias"])}
    point = {"lr": float(row["lr"]), "weight_decay": float(row["weight_decay"])}
    point["init_std"] = float(row["init_std"])
    if users:
        point["clusters"] = (users[0], items[0])
    return fixed, point


def rerun(stored: pd.DataFrame, data_path: str, seed: int) -> pd.DataFrame:
    data = read_ratings(data_path)
    splits = {
        "rating": make_split(data, "temporal"),
        "ranking": make_split(data.as_implicit(4.0), "temporal"),
    }
    rows = stored[(stored["stage"] == "seeds") & (stored["seed"] == seed)]
    out = []
    with tempfile.TemporaryDirectory(prefix="hmf-same-") as work:
        for number, (_, row) in enumerate(rows.iterrows()):
            fixed, point = _setting(row)
            settings = settings_for(data_path, row["task"], fixed, point, seed, 200, 5)
            started = time.perf_counter()
            test = fit_run(settings, splits[row["task"]], Path(work) / f"run{number}", label="same")
            metric = "test_rmse" if row["task"] == "rating" else "test_hr10"
            new, old = float(test[metric]), float(row[metric])
            out.append(
                {
                    "model": row["model"],
                    "metric": metric,
                    "stored": round(old, 6),
                    "now": round(new, 6),
                    "difference": f"{new - old:+.2e}",
                    "same": abs(new - old) < TOLERANCE,
                    "fit s": round(time.perf_counter() - started, 1),
                }
            )
            print(out[-1], flush=True)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stored", type=Path, default=RESULTS / "accuracy_runs.csv")
    parser.add_argument("--out", type=Path, default=RESULTS / "same_figures.md")
    parser.add_argument("--label", default="", help="what this run checks (e.g. a commit)")
    args = parser.parse_args(argv)
    quiet()
    torch.set_num_threads(1)
    table = rerun(pd.read_csv(args.stored), args.data, args.seed)
    extra = [
        f"Stored figures: {args.stored.name} (seed {args.seed}, stage 'seeds'); {args.label}",
        f"Same = |stored - now| < {TOLERANCE:g}: {int(table['same'].sum())} of {len(table)}",
    ]
    lines = [
        machine_header("The accuracy benchmark's figures, rerun", [args.seed], extra),
        markdown_table(table),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}: {int(table['same'].sum())} of {len(table)} the same")
    return 0 if table["same"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
