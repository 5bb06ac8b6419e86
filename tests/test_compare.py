"""hmf_core.runs.compare: runs side by side, from run directories written by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hmf_core.runs.compare import compare_curves, compare_table
from hmf_core.runs.rundir import RunDir


def write_run(folder, name, rmse, quality=None):
    run = folder / name
    run.mkdir()
    settings = {"preset": "paper", "task": "rating", "user_clusters": [200], "seed": 1}
    (run / "settings.json").write_text(json.dumps(settings))
    (run / "test_metrics.json").write_text(json.dumps({"test_rmse": rmse, "best_epoch": 3}))
    if quality is not None:
        (run / "quality.json").write_text(json.dumps(quality))
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8], "val_rmse": [1.1, 1.0]}).to_csv(
        run / "metrics.csv", index=False
    )
    return RunDir(run)


def test_one_row_per_run_with_settings_metrics_and_quality(tmp_path):
    quality = {
        "sharpness": [{"side": "item", "level": 1, "mean_max": 0.7}],
        "agreement": [
            {"side": "item", "level": 1, "column": "genres", "method": m, "ami": a}
            for m, a in (("model", 0.1), ("mf_kmeans", 0.03), ("random", 0.0))
        ],
    }
    runs = [write_run(tmp_path, "a", 1.05, quality), write_run(tmp_path, "b", 1.07)]
    table = compare_table(runs).set_index("run")
    assert table.loc["a", "test_rmse"] == 1.05 and table.loc["b", "test_rmse"] == 1.07
    assert table.loc["a", "user_clusters"] == "200" and table.loc["a", "preset"] == "paper"
    assert table.loc["a", "item_mean_max"] == 0.7
    assert (table.loc["a", "genre_ami_model"], table.loc["a", "genre_ami_mf_kmeans"]) == (
        0.1,
        0.03,
    )
    assert pd.isna(table.loc["b", "item_mean_max"])


def test_curves_are_one_long_table(tmp_path):
    runs = [write_run(tmp_path, "a", 1.0), write_run(tmp_path, "b", 1.0)]
    curves = compare_curves(runs)
    assert list(curves.columns) == ["run", "name", "epoch", "metric", "value", "diverged"]
    assert not curves["diverged"].any()
    assert len(curves) == 2 * 2 * 2  # runs x epochs x (train_loss, val_rmse)
    assert curves.query("run == 'b' and metric == 'val_rmse' and epoch == 2")[
        "value"
    ].item() == pytest.approx(1.0)
    assert compare_curves([]).empty
