"""HMF vs MF: time to the best validation RMSE through the whole `fit()` path (validation,
best checkpoint, early stopping) at the settings accuracy.py selected. Part of
`python -m benchmarks.speed` (time_to_best.csv and a section of speed.md)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.harness import Section
from hmf_core.data.split import Split
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.rundir import RunDir
from hmf_core.training.trainer import TrainSettings


def selected_settings(out: Path) -> dict[str, dict]:
    """The settings accuracy.py selected (its accuracy_runs.csv), else sensible defaults."""
    chosen = {
        "MF (paper-like: N(0,1) init, lr 1e-3, wd 1e-4)": {
            "user_depth": 0,
            "item_depth": 0,
            "lr": 1e-3,
            "weight_decay": 1e-4,
        },
        "MF (tuned)": {
            "user_depth": 0,
            "item_depth": 0,
            "lr": 1e-2,
            "weight_decay": 1e-1,
            "init_std": 0.1,
        },
        "MF + biases (tuned)": {
            "user_depth": 0,
            "item_depth": 0,
            "lr": 1e-2,
            "weight_decay": 1e-1,
            "init_std": 0.1,
            "use_bias": True,
        },
        "HMF depth 1": {"lr": 1e-3, "weight_decay": 1e-4},
    }
    runs_path = out / "accuracy_runs.csv"
    if runs_path.exists():
        runs = pd.read_csv(runs_path)
        runs = runs[(runs["stage"] == "seeds") & (runs["task"] == "rating") & (runs["seed"] == 0)]
        for label, model in (
            ("MF (tuned)", "MF"),
            ("MF + biases (tuned)", "MF + biases"),
            ("HMF depth 1", "HMF depth 1"),
        ):
            found = runs[runs["model"] == model]
            if found.empty:
                continue
            row = found.iloc[0]
            update = {
                "lr": float(row["lr"]),
                "weight_decay": float(row["weight_decay"]),
                "init_std": float(row["init_std"]),
            }
            # accuracy.py writes the cluster lists as JSON-style lists: "[200]", "[]"
            clusters = json.loads(row["user_clusters"]), json.loads(row["item_clusters"])
            if clusters[0]:
                update["user_clusters"], update["item_clusters"] = clusters[0][:1], clusters[1][:1]
            chosen[label] = {**chosen[label], **update}
    return chosen


def time_to_best(split: Split, data_label: str, out: Path, quick: bool) -> pd.DataFrame:
    """Full `fit()` runs (validation, checkpoint, early stopping): seconds and epochs to the
    best validation RMSE, and seconds per epoch of the whole path."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="hmf-ttb-") as work:
        for number, (label, values) in enumerate(selected_settings(out).items()):
            settings = TrainSettings(
                data=data_label,
                projection=False,
                seed=0,
                max_epochs=3 if quick else 200,
                **values,
            )
            run_dir = Path(work) / f"run{number}"
            started = time.perf_counter()
            test = fit_run(settings, split, run_dir, label=label)
            wall = time.perf_counter() - started
            metrics = RunDir(run_dir).metrics()
            best = metrics.loc[metrics["val_rmse"].idxmin()]
            rows.append(
                {
                    "model": label,
                    "lr": settings.lr,
                    "weight_decay": settings.weight_decay,
                    "best epoch": int(best["epoch"]),
                    "epochs run": int(metrics["epoch"].max()),
                    "time to best s": float(best["elapsed_s"]),
                    "fit() s/epoch": float(metrics["elapsed_s"].iloc[-1] / len(metrics)),
                    "total fit s": wall,
                    "test RMSE": test.get("test_rmse", float("nan")),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    hmf = table[table["model"] == "HMF depth 1"].iloc[0]
    table["HMF / this: time to best"] = float(hmf["time to best s"]) / table["time to best s"]
    table["HMF / this: s per epoch"] = float(hmf["fit() s/epoch"]) / table["fit() s/epoch"]
    return table


TEXT = (
    "Each model is trained by `hmf_core.training.trainer.fit` (validation every epoch, best "
    "checkpoint, early stopping, patience 5) at the setting accuracy.py selected, seed 0. "
    "The paper reports HMF training at 0.04-1.70x of MF's time."
)


def section(split: Split, data_label: str, out: Path, quick: bool) -> Section:
    return Section(
        "HMF vs MF: time to the best validation RMSE (ML-100K, full `fit()` path)",
        TEXT,
        time_to_best(split, data_label, out, quick),
        csv="time_to_best.csv",
    )
