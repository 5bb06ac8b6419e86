"""Cluster quality, trust, stability and Compare runs on MFDMC's views (issue 20): quality per
view on a real tiny MFDMC run (every metadata column, which metadata each view captures best),
stability across seeds whose pruning kept different numbers of clusters, and cluster agreement
between an HMF run and an MFDMC run on the same data."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MOVIES, small_demo
from sklearn.metrics import adjusted_rand_score

from hmf_core.data.columns import categorical_columns
from hmf_core.interpret.quality import METHODS, RATIO_FLOOR, best_captured
from hmf_core.interpret.stability import cross_agreement, stability, stability_summary
from hmf_core.interpret.trust import cluster_trust
from hmf_core.runs.compare import cluster_agreement, compare_table
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.stability import measure_stability
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import TrainSettings

VIEWS = 2


@pytest.fixture(scope="module")
def two_families(tmp_path_factory):
    """An MFDMC run (2 views, pruning from the second epoch, MF comparison) and an HMF run
    (user depth 2) on the same slice of the demo data, with user and item metadata."""
    root = tmp_path_factory.mktemp("two-families")
    ratings, people = small_demo(root / "data", users=60)
    common = dict(
        data=str(ratings), items=str(DEMO_MOVIES), users=str(people), split="random", lr=1e-2
    )
    mfdmc = TrainSettings(
        **common,
        family="mfdmc",
        dim=8,
        views=VIEWS,
        user_centres=5,
        item_centres=6,
        max_epochs=3,
        prune_from=1,
        prune_threshold=0.9,
        compare_mf=True,
        projection=False,
    )
    hmf = TrainSettings(
        **common, user_depth=2, user_clusters=[6], item_clusters=[6], max_epochs=2, projection=False
    )
    train_run(mfdmc, root / "mfdmc")
    train_run(hmf, root / "hmf")
    return RunDir(root / "mfdmc"), RunDir(root / "hmf")


def test_quality_is_measured_per_view_against_every_metadata_column(two_families):
    run, _ = two_families
    quality, model = run.quality(), run.load_model()
    assert quality["grouping"] == "view" and quality["movement"] == []
    for side, metadata in (("user", run.users()), ("item", run.items())):
        columns = list(categorical_columns(metadata))
        assert columns and quality["columns"][side] == columns  # every metadata column
        groupings = model.groupings(side)
        assert len(groupings) == VIEWS
        for view, grouping in enumerate(groupings, start=1):
            sharp = [r for r in quality["sharpness"] if (r["side"], r["level"]) == (side, view)]
            assert [r["clusters"] for r in sharp] == [grouping.n_clusters]  # active centres
            for column in columns:
                methods = {
                    r["method"]
                    for r in quality["agreement"]
                    if (r["side"], r["level"], r["column"]) == (side, view, column)
                }
                assert methods == set(METHODS)  # the model, k-means on it and on MF, random
    assert "gender" in quality["columns"]["user"] and "genres" in quality["columns"]["item"]
    kept = [g.n_clusters for side in ("user", "item") for g in model.groupings(side)]
    assert min(kept) < max(model.config.user_centres, model.config.item_centres)  # pruned
    trust = cluster_trust(quality, "user", 2)
    assert "User clusters, view 2:" in trust.text and "level" not in trust.text


def test_best_captured_names_each_views_strongest_column(two_families):
    run, _ = two_families
    quality = run.quality()
    best = best_captured(quality)
    assert len(best) == 2 * VIEWS
    for row in best.itertuples():
        scores = {
            r["column"]: r["ami"]
            for r in quality["agreement"]
            if (r["side"], r["level"], r["method"]) == (row.side, row.level, "model")
        }
        assert row.best_column == max(scores, key=scores.get)
        assert row.ami_model == pytest.approx(scores[row.best_column])
        mf = [
            r["ami"]
            for r in quality["agreement"]
            if (r["side"], r["level"], r["column"], r["method"])
            == (row.side, row.level, row.best_column, "mf_kmeans")
        ]
        assert row.ami_mf_kmeans == pytest.approx(mf[0])
        if mf[0] >= RATIO_FLOOR:
            assert row.ami_model_over_mf == pytest.approx(row.ami_model / mf[0])


def test_best_captured_tells_views_with_different_roles_apart():
    def record(level, column, method, ami):
        return {"side": "user", "level": level, "column": column, "method": method, "ami": ami}

    quality = {
        "agreement": [
            record(1, "age", "model", 0.20),
            record(1, "age", "mf_kmeans", 0.10),
            record(1, "gender", "model", 0.05),
            record(1, "gender", "mf_kmeans", 0.04),
            record(2, "age", "model", 0.01),
            record(2, "age", "mf_kmeans", 0.10),
            record(2, "gender", "model", 0.30),
            record(2, "gender", "mf_kmeans", 0.002),  # below RATIO_FLOOR: no ratio
        ]
    }
    best = best_captured(quality).set_index("level")
    assert best.loc[1, "best_column"] == "age" and best.loc[2, "best_column"] == "gender"
    assert best.loc[1, "ami_model_over_mf"] == pytest.approx(2.0)
    assert pd.isna(best.loc[2, "ami_model_over_mf"])
    assert (best.loc[1, "runner_up"], best.loc[1, "runner_up_ami"]) == ("gender", 0.05)
    assert best_captured({"agreement": []}).empty


def test_stability_compares_seeds_that_kept_different_numbers_of_clusters():
    rng = np.random.default_rng(0)
    five = rng.integers(0, 5, 400)  # (400,): the reference keeps 5 clusters
    three = np.array([0, 0, 1, 1, 2])[five]  # another seed pruned to 3: pairs merged
    swapped = [{"user": [five, three], "item": []}, {"user": [three, five], "item": []}]
    counts = [{"user": [5, 3], "item": []}, {"user": [3, 5], "item": []}]
    measured = stability(swapped, counts, parallel=True)
    view1, view2 = measured["sides"]["user"]
    assert view1["cluster_counts"] == [5, 3] and view2["cluster_counts"] == [3, 5]
    assert view1["mean_ari"] == pytest.approx(adjusted_rand_score(five, three))
    partners = [c["matched"][0] for c in view1["clusters"]]
    assert sorted(p for p in partners if p >= 0) == [0, 1, 2] and partners.count(-1) == 2
    # the views swapped places in the other seed: the best partner finds them
    assert view1["best_partners"] == [{"level": 2, "ari": pytest.approx(1.0)}]
    rows = stability_summary(measured)
    assert rows[0]["clusters_per_run"] == "5/3" and rows[0]["best_partner_ari"] == 1.0
    with pytest.raises(ValueError, match="user level 1: run 1 uses cluster 2 of 2 clusters"):
        stability(swapped, [{"user": [5, 3]}, {"user": [2, 5]}])


def test_stability_of_an_mfdmc_run_retrains_it_with_another_seed(two_families, tmp_path):
    run, _ = two_families
    copy = RunDir(shutil.copytree(run.path, tmp_path / "mfdmc"))
    measured = measure_stability(copy.path, runs=2)
    seeded = RunDir(copy.path / "stability" / "seed-1").load_model()
    assert measured["grouping"] == "view"
    for side in ("user", "item"):
        views = measured["sides"][side]
        assert [v["level"] for v in views] == list(range(1, VIEWS + 1))
        for view, own, theirs in zip(
            views, run.load_model().groupings(side), seeded.groupings(side)
        ):
            assert view["cluster_counts"] == [own.n_clusters, theirs.n_clusters]
            assert -1 <= view["mean_ari"] <= 1 and len(view["best_partners"]) == 1


def test_cross_agreement_pairs_level_one_with_every_view():
    a = np.random.default_rng(1).integers(0, 4, 200)  # (200,)
    relabelled = np.array([3, 1, 0, 2])[a]
    other = np.random.default_rng(2).integers(0, 3, 200)
    levels = {"user": [a, np.zeros(200, np.int64)], "item": []}
    views = {"user": [other, relabelled], "item": [a]}
    rows = cross_agreement(levels, views, ("level", "view"))
    assert [r.get("pairing") for r in rows[:3]] == [
        "level 1 vs view 1",
        "level 1 vs view 2",
        "level 2",
    ]
    assert rows[1]["ari"] == pytest.approx(1.0) and abs(rows[0]["ari"]) < 0.05
    assert "no counterpart" in rows[2]["note"] and "level 2 of the first run" in rows[2]["note"]
    assert rows[3] == {"side": "item", "note": "the first run has no item clusters"}
    backwards = cross_agreement(views, levels, ("view", "level"))
    assert backwards[1] == {"side": "user", "level": 2, "pairing": "view 2 vs level 1", "ari": 1.0}


def test_compare_runs_across_families(two_families):
    mfdmc, hmf = two_families
    table = cluster_agreement([hmf, mfdmc])
    users = table[table["side"] == "user"]
    compared = users[users["ari"].notna()]
    assert compared["pairing"].tolist() == [f"level 1 vs view {v}" for v in range(1, VIEWS + 1)]
    (deeper,) = users[users["ari"].isna()]["note"].tolist()
    assert deeper.startswith("no counterpart: level 2 of the first run")
    items = table[table["side"] == "item"]
    assert items["pairing"].tolist() == [f"level 1 vs view {v}" for v in range(1, VIEWS + 1)]
    settings = compare_table([hmf, mfdmc]).set_index("run")
    assert settings.loc["mfdmc", "family"] == "mfdmc" and settings.loc["hmf", "family"] == "hmf"
    assert settings.loc["mfdmc", "views"] == VIEWS and settings.loc["mfdmc", "prune_from"] == 1
    assert pd.isna(settings.loc["hmf", "views"]) and pd.isna(settings.loc["mfdmc", "user_depth"])
    assert "views" not in compare_table([hmf]).columns  # no MFDMC run: no MFDMC knobs


def test_metrics_page_shows_the_views(two_families, tmp_path, monkeypatch):
    from test_app import app, table, texts, visit

    mfdmc, _ = two_families
    shutil.copytree(mfdmc.path, tmp_path / "runs" / "mfdmc")
    at = app(tmp_path / "runs", monkeypatch)
    at.query_params["run"] = "mfdmc"
    at.run()
    visit(at, "metrics")
    shown = texts(at)
    assert "Which metadata each view captures best" in shown
    assert "User clusters, view 2:" in shown and "Item clusters, view 2:" in shown
    best = table(at, "best_column", "view")
    assert len(best) == 2 * VIEWS
    assert "view" in table(at, "mean_max").columns


def test_trust_judges_a_views_stability_by_its_best_agreeing_view():
    rng = np.random.default_rng(3)
    one, two = rng.integers(0, 4, 300), rng.integers(0, 4, 300)  # (300,) each
    measured = stability([{"user": [one, two]}, {"user": [two, one]}], parallel=True)
    sharp = {"clusters": 4, "mean_max": 0.9, "share_max_above_half": 1.0, "clusters_used": 4}
    quality = {
        "grouping": "view",
        "sharpness": [{"side": "user", "level": 1, **sharp}],
        "columns": {"user": []},
    }
    assert measured["sides"]["user"][0]["mean_ari"] < 0.05  # the seeds numbered them apart
    trust = cluster_trust(quality, "user", 1, measured)
    assert "stable across seeds (mean ARI with the best-agreeing view of each other seed 1.00" in (
        trust.text
    )
    assert not trust.unstable and trust.failing == ["no metadata to check"]
