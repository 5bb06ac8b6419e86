"""How fast the public API and the CLI recommend for 1,000 users of an ML-1M-size run
(issue 22's target: under 5 s through the API).

Builds the run by training 1 epoch (hmf_core.train, from a DataFrame) on ML-1M
(../shared/data/ml-1m/ratings_no_timestamps.dat: 6,040 users x 3,706 items; a seeded synthetic
file of that shape when it is absent), then times, each in its own fresh subprocess:
open_run, run.recommend_many(1,000 users, k=10) (best of --repeats), and
`python -m hmf_core recommend RUN --users-file FILE --format csv` end to end.

    python -m benchmarks.recommend                 # the real one: run it alone on the machine
    python -m benchmarks.recommend --smoke --out /tmp/bench   # tiny data, seconds (a test)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import RESULTS, ROOT, Section, machine_header, markdown_table, write_report
from hmf_dev import repo_env

ML1M = ROOT.parent / "shared" / "data" / "ml-1m" / "ratings_no_timestamps.dat"
SHAPE = (6040, 3706, 1_000_209)  # ML-1M: users, items, ratings
SMOKE_SHAPE = (120, 80, 2_400)

CHILD = r"""
import json, sys, time
started = time.perf_counter()
import hmf_core
run = hmf_core.open_run({run!r})
opened = time.perf_counter() - started
users = [line.strip() for line in open({users!r}) if line.strip()]
times = []
for _ in range({repeats}):
    tick = time.perf_counter()
    top = run.recommend_many(users, k=10)
    times.append(time.perf_counter() - tick)
print(json.dumps(dict(open_s=opened, recommend_s=min(times), rows=len(top),
                      users=int(top["user"].nunique()))))
"""


def ratings_frame(smoke: bool, seed: int) -> tuple[pd.DataFrame, str]:
    """The rating table to train on, and what it is."""
    if not smoke and ML1M.exists():
        frame = pd.read_csv(ML1M, sep="::", engine="python", names=["user", "item", "rating"])
        return frame, f"ML-1M ({ML1M.name})"
    n_users, n_items, n_ratings = SMOKE_SHAPE if smoke else SHAPE
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, size=n_ratings, replace=False)
    frame = pd.DataFrame(
        {
            "user": keys // n_items + 1,
            "item": keys % n_items + 1,
            "rating": rng.integers(1, 6, size=n_ratings).astype(float),
        }
    )
    return frame, f"synthetic {n_users:,} x {n_items:,}, {n_ratings:,} ratings (seed {seed})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, seconds")
    parser.add_argument("--users", type=int, default=1000, help="users to recommend for")
    parser.add_argument("--repeats", type=int, default=3, help="timings of the API call (best)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and training")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of recommend.md")
    args = parser.parse_args(argv)

    import hmf_core

    frame, source = ratings_frame(args.smoke, args.seed)
    env = repo_env(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        started = time.perf_counter()
        run = hmf_core.train(
            frame,
            run_dir=scratch / "run",
            max_epochs=1,
            split="random",
            projection=False,
            user_clusters=[10 if args.smoke else 200],
            item_clusters=[5 if args.smoke else 100],
            seed=args.seed,
        )
        train_s = time.perf_counter() - started
        users = run.users().index.to_numpy()[: args.users]
        users_file = scratch / "users.txt"
        users_file.write_text("".join(f"{user}\n" for user in users))
        code = CHILD.format(run=str(run.path), users=str(users_file), repeats=args.repeats)
        child = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        api = json.loads(child.stdout.strip().splitlines()[-1])
        command = [sys.executable, "-m", "hmf_core", "recommend", str(run.path)]
        command += ["--users-file", str(users_file), "--format", "csv"]
        tick = time.perf_counter()
        shown = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        cli_s = time.perf_counter() - tick
        if shown.returncode != 0:
            raise SystemExit(f"the recommend command failed: {shown.stderr.strip()}")
        cli_rows = len(shown.stdout.strip().splitlines()) - 1
        shape = f"{len(run.users()):,} users x {len(run.items()):,} items"

    table = pd.DataFrame(
        [
            {
                "path": "API: run.recommend_many(users, k=10)",
                "users": api["users"],
                "rows": api["rows"],
                "seconds": api["recommend_s"],
                "per user ms": 1000 * api["recommend_s"] / max(1, api["users"]),
            },
            {
                "path": "CLI: recommend --users-file (whole process)",
                "users": len(users),
                "rows": cli_rows,
                "seconds": cli_s,
                "per user ms": 1000 * cli_s / max(1, len(users)),
            },
        ]
    )
    header = machine_header(
        "Recommending for many users (issue 22)",
        seeds=[args.seed],
        extra=[
            f"Data: {source}; the run: {shape}, trained 1 epoch in {train_s:.1f} s",
            f"open_run (fresh process, imports included): {api['open_s']:.2f} s",
            f"API time: best of {args.repeats} calls, in the same fresh process",
        ],
    )
    section = Section(
        title="Top 10 for each user",
        text="Scores of every item for each user in one matrix product per 4,096 users, "
        "the items each user rated set to -inf, then top-k (hmf_core.api.Run.recommend_many). "
        "The CLI row is the whole `python -m hmf_core recommend` process: Python start, "
        "imports, opening the run, the recommendations and writing the CSV.",
        table=table,
        csv=None,
    )
    path = write_report(args.out, "recommend.md", header, [section])
    print(markdown_table(table))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
