"""Cluster stability across seeds: the pure comparison (hmf_core.interpret.stability) on known
answers, and `python -m hmf_core stability` end to end on planted data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import hmf_cli

from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.interpret.queries import cluster_table
from hmf_core.interpret.stability import (
    UNSTABLE,
    cluster_verdicts,
    jaccard_matrix,
    match_clusters,
    stability,
    stability_summary,
)
from hmf_core.runs.rundir import RunDir

M, K = 600, 6


def _assignment(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, K, M)  # (M,)


def _runs(*assignments: np.ndarray) -> list[dict]:
    return [{"user": [a], "item": []} for a in assignments]


def test_identical_assignments_are_perfectly_stable():
    a = _assignment()
    measured = stability(_runs(a, a.copy(), a.copy()), {"user": [K], "item": []})
    level = measured["sides"]["user"][0]
    assert measured["runs"] == 3 and measured["sides"]["item"] == []
    assert [pair["runs"] for pair in level["pairs"]] == [[0, 1], [0, 2], [1, 2]]
    assert all(pair["ari"] == pytest.approx(1.0) for pair in level["pairs"])
    assert level["mean_ari"] == pytest.approx(1.0)
    assert level["reappearing_share"] == 1.0
    for cluster in level["clusters"]:
        assert cluster["reappears"] == 2 and cluster["mean_jaccard"] == pytest.approx(1.0)
        assert cluster["matched"] == [cluster["cluster"]] * 2
        assert cluster["verdict"] == "reappears in 3 of 3 runs"


def test_relabelled_copy_is_matched_by_hungarian():
    a = _assignment(1)
    permutation = np.array([3, 5, 0, 1, 4, 2])
    b = permutation[a]  # the same partition, clusters renumbered
    partner, overlap = match_clusters(a, b, K, K)
    assert partner.tolist() == permutation.tolist()
    assert overlap == pytest.approx(np.ones(K))
    level = stability(_runs(a, b))["sides"]["user"][0]
    assert level["mean_ari"] == pytest.approx(1.0)
    assert all(c["verdict"] == "reappears in 2 of 2 runs" for c in level["clusters"])


def test_shuffled_memberships_are_unstable():
    a = _assignment(2)
    shuffled = [np.random.default_rng(seed).permutation(a) for seed in (10, 11)]
    level = stability(_runs(a, *shuffled))["sides"]["user"][0]
    assert abs(level["mean_ari"]) < 0.02  # chance level: measured |ARI| ~ 0.002 here
    assert all(c["verdict"] == UNSTABLE and c["reappears"] == 0 for c in level["clusters"])
    assert all(c["mean_jaccard"] < 0.2 for c in level["clusters"])  # ~1/11 by chance
    assert level["reappearing_share"] == 0.0


def test_partly_kept_cluster_and_empty_cluster():
    """One cluster kept whole, the rest scrambled: only it reappears; a cluster nobody has as
    top cluster is "empty", and left out of the share."""
    a = np.repeat(np.arange(4), 50)  # (200,): clusters 0..3, cluster 4 empty
    b = a.copy()
    rest = b >= 1
    b[rest] = np.random.default_rng(0).permutation(b[rest])
    level = stability(_runs(a, b), {"user": [5], "item": []})["sides"]["user"][0]
    verdicts = [c["verdict"] for c in level["clusters"]]
    assert verdicts[0] == "reappears in 2 of 2 runs" and verdicts[4] == "empty"
    assert verdicts[1:4] == [UNSTABLE] * 3
    assert level["reappearing_share"] == pytest.approx(1 / 4)
    assert jaccard_matrix(a, b, 5, 5)[4].tolist() == [0.0] * 5


def test_runs_must_cover_the_same_objects():
    with pytest.raises(ValueError, match="different objects"):
        stability(_runs(_assignment(), _assignment()[:10]))
    with pytest.raises(ValueError, match="at least 2 runs"):
        stability(_runs(_assignment()))


def test_cli_refuses_a_missing_or_unfinished_run(tmp_path):
    missing = hmf_cli("stability", tmp_path / "nothing")
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "not a run directory" in missing.stderr
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "settings.json").write_text(json.dumps({"data": "x"}))
    (unfinished / "progress.json").write_text(json.dumps({"state": "failed", "error": "x"}))
    found = hmf_cli("stability", unfinished)
    assert found.returncode == 2 and "the run is failed, not finished" in found.stderr
    assert not (unfinished / "stability").exists()


def test_stability_end_to_end_on_planted_data(tmp_path):
    """Planted 3x3 groups: three seeds find the same partition (pairwise ARI measured 1.000 on
    both sides; asserted >= 0.95. With 4x4 groups, 160 x 120, 40 epochs, seeds 1 and 2 merged
    groups: ARI 0.66-0.86), stability.json is written with the run's id, the sub-runs carry
    their parent's id, and the cluster table gains the verdicts."""
    planted = planted_ratings(
        n_users=200, n_items=160, user_groups=3, item_groups=3, density=0.4, seed=3
    )
    to_csv(planted, tmp_path / "ratings.csv")
    run_dir = tmp_path / "run"
    trained = hmf_cli(
        "train", "--data", tmp_path / "ratings.csv", "--run-dir", run_dir, "--split", "random",
        "--user-clusters", "3", "--item-clusters", "3", "--dim", "4", "--lr", "0.03",
        "--batch-size", "128", "--weight-decay", "0", "--patience", "100", "--max-epochs", "40",
        "--no-projection", "--preset", "interpretable",  # one level of 3: the planted groups
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    found = hmf_cli("stability", run_dir, "--seeds", "3")
    assert found.returncode == 0, found.stderr[-2000:]
    assert "training seeds" in found.stdout and "written:" in found.stdout
    run = RunDir(run_dir)
    measured = run.stability()
    assert measured["seeds"] == [0, 1, 2] and measured["runs"] == 3
    for side in ("user", "item"):
        (level,) = measured["sides"][side]
        assert level["mean_ari"] >= 0.95, (side, level["pairs"])
        assert level["reappearing_share"] == 1.0
    for part in measured["sub_runs"]:
        sub = RunDir(run_dir / part["path"], parent=run)
        assert sub.run_id() and sub.run_id() != run.run_id()
        assert sub.meta()["parent"] == run.run_id()
        assert sub.progress()["state"] == "finished"
    assert json.loads(run.file("stability").read_text())["run_id"] == run.run_id()
    assert run.damage() is None
    rows = stability_summary(measured)
    assert {(row["side"], row["level"]) for row in rows} == {("user", 1), ("item", 1)}
    verdicts = cluster_verdicts(measured, "user", 1)
    table = cluster_table(run.load_model(), "user", 1, stability=measured)
    assert table["stability"].tolist() == verdicts
    assert "stability" not in cluster_table(run.load_model(), "user", 1).columns
    # measured again: the finished sub-runs are reused, and the CLI says the file is replaced
    again = hmf_cli("stability", run_dir, "--seeds", "3")
    assert again.returncode == 0 and "(replacing the earlier one)" in again.stdout
    assert "training HMF" not in again.stdout


def test_metrics_page_and_cluster_tables_show_the_stored_stability(
    finished_runs, tmp_path, monkeypatch
):
    """Before: the Metrics page says it is not measured and gives the command; after
    measure_stability (2 runs), it shows the ARI per side and level, and the Affinity page's
    cluster table has the stability column."""
    from test_app import app, table, texts, visit

    from hmf_core.runs.stability import measure_stability

    root = tmp_path / "runs"
    shutil.copytree(finished_runs / "tiny", root / "tiny")
    at = app(root, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "metrics")
    assert "Cluster stability across seeds" in texts(at) and "Not measured" in texts(at)
    assert any("hmf_core stability" in code.value for code in at.code)
    measured = measure_stability(root / "tiny", runs=2)
    visit(at, "metrics")
    shown = table(at, "mean pairwise ARI", "clusters reappearing in every run")
    assert set(zip(shown["side"], shown["level"])) == {
        ("user", 1), ("user", 2), ("item", 1), ("item", 2)
    }  # fmt: skip
    user_1 = measured["sides"]["user"][0]
    row = shown[(shown["side"] == "user") & (shown["level"] == 1)].iloc[0]
    assert row["mean pairwise ARI"] == pytest.approx(user_1["pairs"][0]["ari"])
    visit(at, "affinity")
    verdicts = table(at, "inner_product", "stability")["stability"]
    assert set(verdicts) <= {"reappears in 2 of 2 runs", UNSTABLE, "empty"}


def test_metrics_button_measures_stability_in_the_background(finished_runs, tmp_path, monkeypatch):
    """Measure stability on the Metrics page starts the background job (two runs: one more
    seed, two epochs); a second start while it runs is refused, it writes stability.json and its
    progress file says finished, and the page then shows the table. An unfinished run is
    refused with one line."""
    import time

    from test_app import app, table, texts, visit

    from hmf_core.common.errors import RunError
    from hmf_core.runs.manager import job_running, start_stability

    root = tmp_path / "runs"
    shutil.copytree(finished_runs / "tiny", root / "tiny", ignore=shutil.ignore_patterns("map*"))
    shutil.copytree(root / "tiny", root / "failed")
    (root / "failed" / "progress.json").write_text(json.dumps({"state": "failed", "error": "x"}))
    at = app(root, monkeypatch)
    at.query_params["run"] = "failed"
    at.run()
    visit(at, "metrics")
    at.button(key="measure_stability").click().run()
    assert "the run is failed, not finished" in texts(at)
    assert not (root / "failed" / "stability_progress.json").exists()

    at = app(root, monkeypatch)  # a new session on the finished run
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "metrics")
    at.number_input(key="stability_seeds").set_value(2)
    at.button(key="measure_stability").click().run()
    run = RunDir(root / "tiny")
    assert job_running(run, "stability"), (texts(at), list(run.path.iterdir()))
    with pytest.raises(RunError, match="stability still running"):
        start_stability(run, 2)
    deadline = time.time() + 600
    while job_running(run, "stability") and time.time() < deadline:
        time.sleep(1)
    assert not job_running(run, "stability"), "the stability job did not end in 10 minutes"
    progress = json.loads(run.file("stability_progress").read_text())
    assert progress["state"] == "finished", run.file("stability_log").read_text()[-2000:]
    assert progress["fraction"] == 1.0
    measured = run.stability()
    assert measured["runs"] == 2 and measured["seeds"] == [0, 1]
    visit(at, "metrics")
    shown = table(at, "mean pairwise ARI")
    assert len(shown) == 4  # user and item, levels 1 and 2
    assert "Measure stability again" in [button.label for button in at.button]
