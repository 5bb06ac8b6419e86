"""hmf_core.runs.compare: runs side by side, from run directories written by hand, and the
cluster agreement between trained runs (the conftest's finished runs)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hmf_core.interpret.stability import pair_agreement
from hmf_core.runs.compare import cluster_agreement, compare_curves, compare_table
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
    assert (table.loc["a", "genres_ami_model"], table.loc["a", "genres_ami_mf_kmeans"]) == (
        0.1,
        0.03,
    )
    assert "genres_ami_random" not in table.columns
    assert pd.isna(table.loc["b", "item_mean_max"])


def test_agreement_columns_are_the_runs_own_metadata_columns(tmp_path):
    records = [
        {"side": "item", "level": 1, "column": "category", "method": "model", "ami": 0.13},
        {"side": "item", "level": 2, "column": "category", "method": "model", "ami": 0.5},
        {"side": "user", "level": 1, "column": "region", "method": "mf_kmeans", "ami": 0.02},
        {"side": "user", "level": 1, "column": "kind", "method": "model", "ami": 0.3},
        {"side": "item", "level": 1, "column": "kind", "method": "model", "ami": 0.4},
    ]
    run = write_run(tmp_path, "a", 1.0, {"sharpness": [], "agreement": records})
    row = compare_table([run]).set_index("run").loc["a"]
    assert row["category_ami_model"] == 0.13  # level 1's, not level 2's
    assert row["region_ami_mf_kmeans"] == 0.02
    assert (row["user_kind_ami_model"], row["item_kind_ami_model"]) == (0.3, 0.4)
    assert not any("genre" in column for column in row.index)


def test_curves_are_one_long_table(tmp_path):
    runs = [write_run(tmp_path, "a", 1.0), write_run(tmp_path, "b", 1.0)]
    curves = compare_curves(runs)
    assert list(curves.columns) == ["run", "name", "data", "epoch", "metric", "value", "diverged"]
    assert not curves["diverged"].any()
    assert len(curves) == 2 * 2 * 2  # runs x epochs x (train_loss, val_rmse)
    assert curves.query("run == 'b' and metric == 'val_rmse' and epoch == 2")[
        "value"
    ].item() == pytest.approx(1.0)
    assert compare_curves([]).empty


def test_pair_agreement_is_one_for_a_relabelled_copy_and_says_what_cannot_be_compared():
    a = np.random.default_rng(0).integers(0, 5, 300)  # (300,)
    relabelled = np.array([2, 0, 4, 1, 3])[a]
    other = np.random.default_rng(1).integers(0, 5, 300)
    rows = pair_agreement({"user": [a, a], "item": []}, {"user": [relabelled], "item": [a]})
    assert rows[0] == {"side": "user", "level": 1, "ari": pytest.approx(1.0)}
    assert rows[1] == {"side": "user", "level": 2, "note": "the second run has no user level 2"}
    assert rows[2] == {"side": "item", "level": 1, "note": "the first run has no item level 1"}
    (chance,) = pair_agreement({"user": [a]}, {"user": [other]})
    assert abs(chance["ari"]) < 0.05  # independent draws: chance level
    (fewer,) = pair_agreement({"user": [a]}, {"user": [a[:200]]})
    assert fewer["note"] == "different object counts (300 vs 200 users)"


def test_cluster_agreement_between_trained_runs(finished_runs, tmp_path):
    """The same model twice: ARI 1 on every side and level; the same data with a user left
    out, or another data file: a note instead of an ARI."""
    root = tmp_path / "runs"
    for name in ("tiny", "tiny-no-maps"):
        shutil.copytree(finished_runs / name, root / name, ignore=shutil.ignore_patterns("map*"))
    shutil.copytree(root / "tiny", root / "other-data")
    settings = json.loads((root / "tiny" / "settings.json").read_text())
    (root / "other-data" / "settings.json").write_text(
        json.dumps({**settings, "data": str(tmp_path / "elsewhere.csv")})
    )
    shutil.copytree(root / "tiny", root / "fewer-users")
    users = pd.read_csv(root / "tiny" / "users.csv")
    users.iloc[1:].to_csv(root / "fewer-users" / "users.csv", index=False)
    names = ["tiny", "tiny-no-maps", "other-data", "fewer-users"]
    table = cluster_agreement([RunDir(root / name) for name in names])
    same = table[(table["first"] == "tiny") & (table["second"] == "tiny-no-maps")]
    assert set(zip(same["side"], same["level"])) == {
        ("user", 1), ("user", 2), ("item", 1), ("item", 2)
    }  # fmt: skip
    assert same["ari"].tolist() == pytest.approx([1.0] * 4)
    other = table[(table["first"] == "tiny") & (table["second"] == "other-data")]
    assert other["note"].tolist() == ["different data: ratings.csv vs elsewhere.csv"]
    fewer = table[(table["first"] == "tiny") & (table["second"] == "fewer-users")]
    (note,) = fewer["note"].tolist()
    assert note == f"different objects on the same data ({len(users)} vs {len(users) - 1} users)"


def test_compare_page_shows_the_cluster_agreement(finished_runs, tmp_path, monkeypatch):
    from test_app import app, table, texts, visit

    root = tmp_path / "runs"
    for name in ("tiny", "tiny-no-maps"):
        shutil.copytree(finished_runs / name, root / name, ignore=shutil.ignore_patterns("map*"))
    at = app(root, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "compare")
    assert "Cluster agreement between runs" in texts(at)
    shown = table(at, "ari", "note")
    assert len(shown) == 4 and shown["ari"].tolist() == pytest.approx([1.0] * 4)
    at.multiselect(key="compare_runs").set_value(["tiny"]).run()
    assert "Pick two or more runs" in texts(at)
