"""Quickstart: train HMF from a pandas DataFrame, recommend, explain, export.

    python examples/quickstart.py [--users 60] [--epochs 5] [--out FOLDER]

Trains on the first users of the bundled MovieLens demo (assets/ml-latest-small) in a temporary
folder (or --out), prints one user's top 10 with titles, explains one prediction cluster by
cluster, and exports the embeddings for TensorBoard Projector. Runs in well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import hmf_core  # noqa: E402

DEMO = REPO / "assets" / "ml-latest-small"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60, help="demo users to train on")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs")
    parser.add_argument("--out", help="keep the run and the export in this folder")
    args = parser.parse_args(argv)

    ratings = pd.read_csv(DEMO / "ratings.csv")  # userId, movieId, rating, timestamp
    movies = pd.read_csv(DEMO / "movies.csv")  # movieId, title, genres
    ratings = ratings[ratings["userId"] <= args.users]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.out or scratch)
        run = hmf_core.train(
            ratings,
            items=movies,
            run_dir=folder / "run",
            max_epochs=args.epochs,
            user_clusters=[6],
            item_clusters=[12],
            lr=1e-2,
            split="random",
            projection=False,  # no 2-D maps: the app draws those
        )
        print(f"trained: {run}")

        user = int(ratings["userId"].iloc[0])
        top = run.recommend(user, k=10)
        print(f"\ntop 10 for user {user} ({run.score_meaning}):")
        print(top[["rank", "item", "label", "score"]].to_string(index=False))

        item = top["item"].iloc[0]
        terms = run.explain(user, item)
        print(f"\nwhy {top['label'].iloc[0]!r}: predicted {run.predict(user, item):.3f}")
        print(terms.head(5).to_string(index=False))
        print(f"the {len(terms)} terms add up to {terms['contribution'].sum():.3f}")

        clusters = run.cluster_table("item", level=1)
        print(f"\nitem clusters: {len(clusters)}; the first: {clusters['name'].iloc[0]}")

        files = run.export(folder / "projector", format="projector")
        print("\nexported for https://projector.tensorflow.org:")
        for path in files:
            print(f"  {path.name}: {sum(1 for _ in open(path))} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
