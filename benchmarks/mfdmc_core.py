"""One fitted run of the MFDMC study, measured: test and validation RMSE, the time to the best
epoch, and cluster quality per view (MFDMC) or level (HMF, two-stage): genre AMI of the argmax
item clusters beside k-means with the same k on plain MF's item vectors, and the mean max
membership. Shared by benchmarks/mfdmc_study.py and benchmarks/mfdmc_tune.py.
"""

from __future__ import annotations

import tempfile
import time
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import ROOT
from hmf_core.data.metadata import align, read_metadata
from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import make_split
from hmf_core.interpret.quality import find_record, model_quality
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import MF_INIT_STD, with_preset

DATA = ROOT.parent / "shared" / "data"
DATASETS = {  # name -> (ratings, items, users)
    "ml-100k": ("ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.user"),
    "ml-1m": ("ml-1m/ratings_no_timestamps.dat", "ml-1m/movies.dat", "ml-1m/users.dat"),
}
MAX_VIEWS = 4  # per-view columns kept in the rows


@lru_cache(maxsize=4)
def _ratings(dataset: str):
    if dataset == "ml-1m":  # no header, '::' between fields, no timestamps
        return read_ratings(DATA / DATASETS[dataset][0], positions="user,item,rating", sep="::")
    return read_ratings(DATA / DATASETS[dataset][0])


@lru_cache(maxsize=8)
def load(dataset: str, split_name: str, seed: int):
    """(split, users metadata, items metadata), the metadata in the split's model order."""
    ratings, item_file, user_file = DATASETS[dataset]
    split = make_split(_ratings(dataset), split_name, seed)
    items = align(read_metadata(DATA / item_file, kind="item"), split.item_ids, "item")
    users = align(read_metadata(DATA / user_file, kind="user"), split.user_ids, "user")
    return split, users, items


def plain_mf_settings(split_name: str, seed: int, bias: bool = False, **limits):
    """The paper's MF (depth 0, no biases, N(0, 0.1) start), or with biases."""
    return with_preset(
        "paper",
        user_depth=0,
        item_depth=0,
        init_std=MF_INIT_STD,
        use_bias=bias,
        split=split_name,
        seed=seed,
        projection=False,
        **limits,
    )


def fit(settings, split) -> tuple[dict, torch.nn.Module, pd.DataFrame, float]:
    """(test metrics + val_rmse, the best model, metrics.csv, wall seconds of the fit)."""
    with tempfile.TemporaryDirectory(prefix="hmf-mfdmc-") as directory:
        started = time.perf_counter()
        metrics = fit_run(settings, split, Path(directory), label="study")
        seconds = time.perf_counter() - started
        run = RunDir(directory)
        history = run.metrics()
        metrics["val_rmse"] = float(history["val_rmse"].min())
        return metrics, run.load_model(), history, seconds


def _to_best(history: pd.DataFrame) -> float | None:
    """Seconds of training up to the end of the best epoch (the lowest validation RMSE in
    metrics.csv, with its elapsed_s)."""
    rows = history[history["val_rmse"].notna()] if "val_rmse" in history else history.iloc[:0]
    if "elapsed_s" not in history or rows.empty:
        return None
    best = rows.loc[rows["val_rmse"].idxmin()]
    return float(best["elapsed_s"])


def cluster_figures(quality: dict, levels: int) -> dict:
    """Per view / level l: genre AMI (model and k-means on MF), mean max membership of users
    and items, item clusters; and the best view's AMI and its ratio to k-means on MF."""
    row = {}
    best = None
    for level in range(1, min(levels, MAX_VIEWS) + 1):
        ami = find_record(
            quality["agreement"], side="item", level=level, column="genres", method="model"
        ).get("ami")
        mf = find_record(
            quality["agreement"], side="item", level=level, column="genres", method="mf_kmeans"
        ).get("ami")
        row[f"genre_ami_{level}"], row[f"genre_ami_mf_{level}"] = ami, mf
        for side in ("user", "item"):
            sharp = find_record(quality["sharpness"], side=side, level=level)
            row[f"{side}_mean_max_{level}"] = sharp.get("mean_max")
        row[f"item_k_{level}"] = find_record(quality["sharpness"], side="item", level=level).get(
            "clusters"
        )
        if ami is not None and (best is None or ami > best[0]):
            best = (ami, mf)
    if best is not None:
        row["genre_ami_best"] = best[0]
        row["genre_ami_mf_best"] = best[1]
        row["ami_ratio_best"] = best[0] / best[1] if best[1] and best[1] > 0 else None
    return row


def measure(model_name: str, settings, dataset: str, mf=None, quality: bool = True) -> tuple:
    """Fit `settings` on its split of `dataset`: (one row of the study, the fitted model)."""
    split, users, items = load(dataset, settings.split, settings.seed)
    metrics, model, history, seconds = fit(settings, split)
    best = metrics.get("best_epoch")
    row = {
        "dataset": dataset,
        "split": settings.split,
        "seed": settings.seed,
        "model": model_name,
        "test_rmse": metrics["test_rmse"],
        "val_rmse": metrics["val_rmse"],
        "best_epoch": best,
        "epochs_run": metrics.get("epochs_run"),
        "fit_s": round(seconds, 1),
        "to_best_s": _to_best(history),
    }
    levels = len(model.groupings("item")) if hasattr(model, "groupings") else 0
    if quality and levels:
        found = model_quality(model, settings.seed, mf=mf, users=users, items=items)
        row.update(cluster_figures(found, levels))
    active = getattr(model, "active_centres", None)
    if active is not None:
        counts = active()
        row["active_user"] = "/".join(map(str, counts["user"]))
        row["active_item"] = "/".join(map(str, counts["item"]))
    return row, model
