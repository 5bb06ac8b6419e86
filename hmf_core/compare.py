"""Several runs side by side, as experiment trackers show them: one row of settings, test metrics
and cluster quality per run, and all their validation curves in one long table."""

from __future__ import annotations

import pandas as pd

from hmf_core.quality import find_record
from hmf_core.rundir import RunDir

SETTINGS = (
    "preset",
    "task",
    "split",
    "seed",
    "user_depth",
    "item_depth",
    "user_clusters",
    "item_clusters",
    "dim",
    "lr",
    "logit_lr",
    "warm_start",
    "use_bias",
    "entropy_weight",
)


def _quality_headline(quality: dict) -> dict:
    """Level-1 mean top membership per side, and the item side's genre AMI against MF k-means."""
    row = {}
    if not isinstance(quality, dict):
        return row
    records = [r for key in ("sharpness", "agreement") for r in quality.get(key) or []]
    if not all(isinstance(r, dict) and "side" in r for r in records):
        return row  # damaged: the table shows no quality for this run
    for side in ("user", "item"):
        sharp = find_record(quality.get("sharpness") or [], side=side, level=1)
        if sharp:
            row[f"{side}_mean_max"] = sharp.get("mean_max")
    for method in ("model", "mf_kmeans"):
        genres = dict(side="item", level=1, column="genres", method=method)
        agreement = find_record(quality.get("agreement") or [], **genres)
        if agreement:
            row[f"genre_ami_{method}"] = agreement.get("ami")
    return row


def compare_table(runs: list[RunDir]) -> pd.DataFrame:
    """One row per run: name, the settings that tell runs apart, test metrics, best epoch,
    cluster quality headline (level 1), and the MF comparison's test metrics where there is
    one. Runs that cannot be read still get a row with their name."""
    rows = []
    for run in runs:
        settings = run.settings() if isinstance(run.settings(), dict) else {}
        row = {"run": run.name}
        for name in SETTINGS:
            value = settings.get(name)
            row[name] = ",".join(map(str, value)) if isinstance(value, list) else value
        test = run.test_metrics() if isinstance(run.test_metrics(), dict) else {}
        row.update({k: v for k, v in test.items() if k.startswith("test_")})
        row["best_epoch"] = test.get("best_epoch")
        quality = run.quality()
        row.update(_quality_headline(quality if isinstance(quality, dict) else {}))
        mf = run.comparison()
        if mf is not None:
            mf_test = mf.test_metrics() if isinstance(mf.test_metrics(), dict) else {}
            row.update({f"mf_{k}": v for k, v in mf_test.items() if k.startswith("test_")})
        rows.append(row)
    return pd.DataFrame(rows)


def compare_curves(runs: list[RunDir]) -> pd.DataFrame:
    """Long table for one chart: run, epoch, metric, value (every column of metrics.csv but
    epoch and elapsed time)."""
    frames = []
    for run in runs:
        metrics = run.metrics()
        if metrics.empty:
            continue
        long = metrics.melt(id_vars=["epoch"], var_name="metric", value_name="value")
        long = long[long["metric"] != "elapsed_s"].dropna(subset=["value"])
        frames.append(long.assign(run=run.name))
    if not frames:
        return pd.DataFrame(columns=["run", "epoch", "metric", "value"])
    return pd.concat(frames, ignore_index=True)[["run", "epoch", "metric", "value"]]
