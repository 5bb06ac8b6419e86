"""Top-K quality over all unseen items (training.full_ranking: NDCG, Recall, Precision @10 and
@20) beside the paper's sampled protocol (HR@10, MRR@10 of a positive among 99 sampled unseen
items), on ML-100K, for HMF, MF and Surprise's SVD on the same split.

Rating task (explicit ratings; each model ranks by predicted rating): relevant = a test item
rated >= 4; sampled HR/MRR rank each such test item among 99 items the user has in no part of
the split (seeded, the same for every model). Ranking task (implicit: ratings >= 4 kept, BPR):
relevant = the test positives; sampled HR/MRR are training's own test metrics. SVD is a rating
model: it appears in the rating task only.

HMF and MF use the settings accuracy.py selected on validation (benchmarks/results/
accuracy.md); SVD its grid's best validation RMSE (benchmarks/peers.py). Every model is trained
on the training rows, stopped early on validation, scored on test with training and validation
items masked. The section goes into accuracy.md between markers.

    python -m benchmarks.full_ranking                       # ML-100K, seeds 0,1,2; ~10 min
    python -m benchmarks.full_ranking --smoke --out /tmp/b  # tiny synthetic data, ~30 s
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import (
    DEFAULT_DATA,
    RESULTS,
    machine_header,
    markdown_table,
    mean_std,
    quiet,
    synthetic_ratings,
)
from benchmarks.peers import best_fitted, svd_scorer
from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import Split, make_split
from hmf_core.runs.recorder import fit_run
from hmf_core.training.batches import SeenPairs, sample_unseen
from hmf_core.training.full_ranking import USERS_KEY, metric_names, split_full_ranking
from hmf_core.training.metrics import hit_ratio_and_mrr, positive_rank
from hmf_core.training.settings import MF_INIT_STD
from hmf_core.training.trainer import TrainSettings

THRESHOLD = 4.0  # relevant: rated >= 4 (rating task); positives (ranking task)
NEGATIVES = 99
SVD = "Surprise SVD (biased MF, SGD)"
# accuracy.md's validation-selected settings (seed 0 of its grid)
MODELS = {
    "rating": {
        "HMF depth 1": {"lr": 1e-2, "weight_decay": 1e-1},
        "MF": {"user_depth": 0, "item_depth": 0, "lr": 1e-3, "weight_decay": 1e-1},
    },
    "ranking": {
        "BPR-HMF depth 1": {"lr": 1e-2, "weight_decay": 1e-4},
        "BPR-MF": {"user_depth": 0, "item_depth": 0, "lr": 1e-3, "weight_decay": 1e-4},
    },
}
SMOKE_CLUSTERS = {"user_clusters": [8], "item_clusters": [8]}
FULL = metric_names()  # test_ndcg@10_full, test_recall@10_full, ...
SAMPLED = ["test_hr10", "test_mrr10"]
MARKERS = ("<!-- full_ranking: benchmarks/full_ranking.py -->", "<!-- /full_ranking -->")


def sampled_metrics(score_all, split: Split, seed: int) -> dict:
    """HR@10 and MRR@10 of each relevant test rating (>= THRESHOLD) among NEGATIVES items the
    user has in no part of the split (drawn with `seed`, so every model gets the same ones)."""
    every = pd.concat([split.train, split.val, split.test], ignore_index=True)
    seen = SeenPairs(*_pairs(every), split.n_items)
    positives = split.test[split.test["rating"] >= THRESHOLD]
    users, items = _pairs(positives)
    generator = torch.Generator().manual_seed(seed + 1)
    negatives = sample_unseen(users, seen, generator, NEGATIVES)  # (E, 99)
    candidates = torch.cat([items[:, None], negatives], dim=1)  # (E, 100), positive first
    with torch.no_grad():
        scores = torch.cat(
            [
                score_all(users[start : start + 512]).gather(1, candidates[start : start + 512])
                for start in range(0, len(users), 512)
            ]
        )  # (E, 100)
    hit, mrr = hit_ratio_and_mrr(positive_rank(scores))
    return {"test_hr10": hit, "test_mrr10": mrr}


def _pairs(frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(
        torch.as_tensor(frame[c].to_numpy(copy=True), dtype=torch.long) for c in ("user", "item")
    )


def settings_for(task: str, model: str, seed: int, args) -> TrainSettings:
    chosen = dict(MODELS[task][model])
    if chosen.get("user_depth") == 0:
        chosen["init_std"] = MF_INIT_STD
    elif args.smoke:
        chosen.update(SMOKE_CLUSTERS)
    return TrainSettings(
        data=args.data,
        task=task,
        positive_threshold=THRESHOLD if task == "ranking" else None,
        split=args.split,
        seed=seed,
        max_epochs=args.max_epochs,
        patience=args.patience,
        projection=False,
        **chosen,
    )


def run_all(splits: dict[str, Split], args, work: Path) -> pd.DataFrame:
    """One row per (task, model, seed): wall time, test RMSE (rating task), sampled HR/MRR and
    the full-ranking metrics."""
    rows = []
    for seed in args.seeds:
        for task, models in MODELS.items():
            split = splits[task]
            for model in models:
                started = time.perf_counter()
                settings = settings_for(task, model, seed, args)
                run_dir = work / f"{task}-{model}-{seed}".replace(" ", "_")
                test = fit_run(settings, split, run_dir, label=model)  # full-ranking included
                if task == "rating":
                    trained = torch.load(run_dir / "best.ckpt", weights_only=True)
                    scorer = _module_scorer(trained, split)
                    test.update(sampled_metrics(scorer, split, seed))
                rows.append(_row(task, model, seed, test, time.perf_counter() - started))
                print(_line(rows[-1]), flush=True)
        started = time.perf_counter()
        split = splits["rating"]
        algorithm, setting, _ = best_fitted(split, SVD, seed, quick=args.smoke)
        score_all = svd_scorer(algorithm, split.n_users, split.n_items)
        test = split_full_ranking(score_all, split, "rating")
        test.update(sampled_metrics(score_all, split, seed))
        test["test_rmse"] = _svd_rmse(score_all, split)
        row = _row("rating", SVD, seed, test, time.perf_counter() - started)
        row["setting"] = ", ".join(f"{k}={v}" for k, v in setting.items())
        rows.append(row)
        print(_line(row), flush=True)
    return pd.DataFrame(rows)


def _module_scorer(checkpoint: dict, split: Split):
    from hmf_core.models.hmf import HMF, HMFConfig

    model = HMF(HMFConfig(**checkpoint["hyper_parameters"]["config"]))
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval().score_all


def _svd_rmse(score_all, split: Split) -> float:
    """SVD's test RMSE with Surprise's clipping to the training rating scale."""
    users, items = _pairs(split.test)
    low, high = float(split.train["rating"].min()), float(split.train["rating"].max())
    predicted = score_all(users).gather(1, items[:, None]).squeeze(1).clamp(low, high)  # (T,)
    truth = torch.as_tensor(split.test["rating"].to_numpy(copy=True), dtype=torch.float64)
    return float((predicted.double() - truth).pow(2).mean().sqrt())


def _row(task: str, model: str, seed: int, test: dict, wall: float) -> dict:
    keep = ["test_rmse", *SAMPLED, *FULL, USERS_KEY]
    return {
        "task": task,
        "model": model,
        "seed": seed,
        **{k: test.get(k) for k in keep},
        "best_epoch": test.get("best_epoch"),
        "wall_s": round(wall, 1),
    }


def _line(row: dict) -> str:
    shown = {k: row[k] for k in ("test_rmse", *SAMPLED, "test_ndcg@10_full") if row.get(k)}
    return f"[{row['task']}] {row['model']} seed={row['seed']} " + " ".join(
        f"{k}={v:.4f}" for k, v in shown.items()
    )


def summary(runs: pd.DataFrame, task: str) -> pd.DataFrame:
    columns = (["test_rmse"] if task == "rating" else []) + SAMPLED + FULL
    rows = []
    for model, group in runs[runs["task"] == task].groupby("model", sort=False):
        row = {"model": model}
        for column in columns:
            row[column.removeprefix("test_")] = mean_std(group[column].astype(float))
        row["users evaluated"] = int(group[USERS_KEY].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def section(runs: pd.DataFrame, splits: dict[str, Split], args, total: float) -> str:
    svd = runs[runs["model"] == SVD]
    extra = [
        f"Data: {args.data}, {args.split} split (rating: {splits['rating'].summary()['train']:,}"
        f" training ratings; ranking: {splits['ranking'].summary()['train']:,} positives)",
        f"Total wall time: {total / 60:.1f} min; at most {args.max_epochs} epochs, patience "
        f"{args.patience}",
    ]
    if args.smoke:
        extra.append("SMOKE run on tiny synthetic data: numbers are not meaningful")
    header = machine_header("Full ranking vs sampled metrics", args.seeds, extra)
    header = header.replace("# Full ranking", "## Full ranking", 1)  # a section of accuracy.md
    lines = [
        header,
        "NDCG / Recall / Precision @K: each test user's list is every item not in its training "
        "or validation rows (training.full_ranking); users without a relevant test item are "
        "skipped; Recall divides by all relevant items, Precision by K. Sampled HR/MRR@10: each "
        "relevant test item among 99 sampled unseen items (the paper's protocol).",
        "",
        "### Rating task: ranked by predicted rating, relevant = test rating >= 4",
        "",
        markdown_table(summary(runs, "rating")),
        f"SVD's setting (best validation RMSE of its grid, seed {args.seeds[0]}): "
        f"{svd['setting'].iloc[0] if not svd.empty else '-'}.",
        "",
        "### Ranking task: BPR on implicit feedback (ratings >= 4), relevant = test positives",
        "",
        markdown_table(summary(runs, "ranking")),
        "Every run is in `full_ranking_runs.csv`.",
        "",
    ]
    return "\n".join(lines)


def write_into(path: Path, text: str) -> None:
    """`text` between MARKERS at the end of accuracy.md (replacing an earlier section), the
    rest of the file kept."""
    start, end = MARKERS
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        old = old[: old.index(start)] + old[old.index(end) + len(end) :]
    path.write_text(old.rstrip("\n") + f"\n\n{start}\n{text}{end}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="rating file (ML-100K u.data)")
    parser.add_argument("--split", default="temporal", choices=["temporal", "random"])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--max-epochs", type=int, default=200, help="per fit, early-stopped")
    parser.add_argument("--patience", type=int, default=5, help="early-stopping patience")
    parser.add_argument("--out", default=str(RESULTS), help="folder of accuracy.md")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny synthetic data, seed 0, 2 epochs, SVD's smallest grid: a test of the script",
    )
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    if args.smoke:
        args.data, args.seeds, args.max_epochs, args.split = (
            "synthetic",
            args.seeds[:1],
            2,
            "random",
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet()
    torch.set_num_threads(1)
    if args.smoke:
        data = synthetic_ratings(120, 300, 6000, seed=0)
    else:
        data = read_ratings(args.data)
    splits = {
        "rating": make_split(data, args.split),
        "ranking": make_split(data.as_implicit(THRESHOLD), args.split),
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hmf-full-ranking-") as work:
        runs = run_all(splits, args, Path(work))
    total = time.perf_counter() - started
    runs.to_csv(out / "full_ranking_runs.csv", index=False)
    write_into(out / "accuracy.md", section(runs, splits, args, total))
    print(f"wrote the full-ranking section of {out / 'accuracy.md'} in {total:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
