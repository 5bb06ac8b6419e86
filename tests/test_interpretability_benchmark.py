"""benchmarks/interpretability.py --quick: every part runs and the report says what it found."""

from __future__ import annotations

import pandas as pd
from conftest import shared_file

from benchmarks import interpretability


def test_quick_study_writes_the_report_and_the_peers(tmp_path):
    shared_file("ml-100k/u.data")
    (tmp_path / "accuracy.md").write_text("# Accuracy\n\nkept text\n")
    assert interpretability.main(["--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "interpretability.csv")
    temporal = runs[runs["split"] == "temporal"].set_index("recipe")
    paper, recipe = temporal.loc["paper"], temporal.loc["interpretable (spectral start)"]
    # Even after 3 epochs the recipe's memberships are crisp and carry genre; the paper's are not.
    assert recipe["item_mean_max"] > 0.5 > paper["item_mean_max"]
    assert recipe["genres_ami_model"] > max(0.02, paper["genres_ami_model"] + 0.02)
    assert {"Surprise BaselineOnly", "Surprise SVD (biased MF, SGD)", "plain MF"} <= set(
        temporal.index
    )
    assert set(runs["split"]) == {"temporal", "random", "planted"}
    planted = runs[runs["split"] == "planted"]
    assert planted["item2_ari_model"].notna().all()
    report = (tmp_path / "interpretability.md").read_text()
    assert "## Planted two-level hierarchy" in report and "genre AMI k-means MF" in report
    accuracy = (tmp_path / "accuracy.md").read_text()
    assert "kept text" in accuracy and "Surprise SVD" in accuracy
