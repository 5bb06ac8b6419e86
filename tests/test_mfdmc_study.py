"""benchmarks/mfdmc_study.py --quick: the parts run, the csv holds per-view cluster figures and
the report states the targets, one table per split and the ablations."""

from __future__ import annotations

import pandas as pd
from conftest import shared_file

from benchmarks import mfdmc_study


def test_quick_study_writes_the_runs_and_the_report(tmp_path):
    shared_file("ml-100k/u.data")
    shared_file("ml-1m/ratings_no_timestamps.dat")
    assert mfdmc_study.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "mfdmc_runs.csv")
    assert set(runs["part"]) == {"ml100k-random", "ablations"}
    tuned = runs[runs["model"] == mfdmc_study.TUNED_NAME].iloc[0]
    views = mfdmc_study.TUNED["views"]
    for view in range(1, views + 1):  # one AMI, its k-means reference and sharpness per view
        assert pd.notna(tuned[f"genre_ami_{view}"]) and pd.notna(tuned[f"genre_ami_mf_{view}"])
        assert 1 / tuned[f"item_k_{view}"] <= tuned[f"item_mean_max_{view}"] <= 1
    assert tuned["active_item"].count("/") == views - 1
    assert {"plain MF", "Surprise SVD (biased MF, SGD)", "Surprise BaselineOnly"} <= set(
        runs["model"]
    )
    report = (tmp_path / "mfdmc.md").read_text()
    assert "## Summary: the issue's targets" in report and "random split test RMSE" in report
    assert "## ml-100k, random split" in report and "## MFDMC ablations" in report
    assert "MFDMC ablation: no spread loss" in report
    # a second part run into the same folder keeps the first part's rows
    assert mfdmc_study.main(["--quick", "--parts", "ablations", "--out", str(tmp_path)]) == 0
    again = pd.read_csv(tmp_path / "mfdmc_runs.csv")
    assert (again["part"] == "ml100k-random").sum() == (runs["part"] == "ml100k-random").sum()
