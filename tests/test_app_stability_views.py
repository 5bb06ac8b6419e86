"""Every cluster carries its stability on every view (issue 17 item 1): the per-cluster table
read from a stored stability (known answers on hand-made stability.json dicts), and, under
AppTest, the verdicts written by the real `python -m hmf_core stability` on Membership (picker
and heading, "Only stable clusters"), Explain (the cluster-pair tables, levels and views),
Affinity (filter) and the Map (selected cluster's panel, hovers); a run without stability.json
says how to measure it."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import DEMO_MOVIES, hmf_cli, small_demo
from test_app import app, table, texts, visit
from test_app_mfdmc_pages import no_level

from dashboard import loads, map_data
from hmf_core.interpret.stability_tables import cluster_stability, pair_stability
from hmf_core.runs.rundir import RunDir

pytestmark = pytest.mark.usefixtures("data_in_tmp")


def _cluster(number: int, members: int, reappears: int, jaccard: float, verdict: str) -> dict:
    return {"cluster": number, "members": members, "reappears": reappears,
            "mean_jaccard": jaccard, "matched": [number] * 2, "verdict": verdict}  # fmt: skip


STORED = {  # three runs; user level 1 (3 clusters), item level 1 (2) and item level 2 (2)
    "runs": 3,
    "sides": {
        "user": [
            {
                "level": 1,
                "clusters": [
                    _cluster(0, 40, 2, 0.9, "reappears in 3 of 3 runs"),
                    _cluster(1, 25, 0, 0.2, "unstable"),
                    _cluster(2, 0, 0, 0.0, "empty"),
                ],
            }
        ],
        "item": [
            {
                "level": 1,
                "clusters": [
                    _cluster(0, 30, 1, 0.6, "reappears in 2 of 3 runs"),
                    _cluster(1, 30, 2, 0.8, "reappears in 3 of 3 runs"),
                ],
            },
            {
                "level": 2,
                "clusters": [
                    _cluster(0, 50, 0, 0.1, "unstable"),
                    _cluster(1, 10, 2, 0.7, "reappears in 3 of 3 runs"),
                ],
            },
        ],
    },
}


def test_cluster_stability_reads_every_cluster_of_a_side_and_level():
    users = cluster_stability(STORED, "user", 1)
    assert users["cluster"].tolist() == [0, 1, 2]
    assert users["runs"].tolist() == [3, 1, 0]  # itself included; an empty cluster: 0
    assert users["of_runs"].tolist() == [3, 3, 3]
    assert users["match_jaccard"].tolist() == [0.9, 0.2, 0.0]
    assert users["verdict"].tolist() == ["reappears in 3 of 3 runs", "unstable", "empty"]
    assert users["stable"].tolist() == [True, False, False]
    items = cluster_stability(STORED, "item", 2)
    assert items["runs"].tolist() == [1, 3] and items["stable"].tolist() == [False, True]
    assert cluster_stability(STORED, "user", 2) is None  # no such level stored
    for nothing in (None, {}, {"error": "stability.json: bad JSON"}):
        assert cluster_stability(nothing, "user", 1) is None


def test_pair_stability_gives_each_pair_its_clusters_runs_and_verdicts():
    pairs = pd.DataFrame(
        {
            "user_cluster": pd.Series([1, 0, 2, "bias"], dtype=object),
            "item_cluster": pd.Series([0, 1, 1, "bias"], dtype=object),
            "contribution": [0.3, -0.2, 0.1, 3.5],
        }
    )
    found = pair_stability(pairs, STORED, 1, 2)  # user level 1, item level 2
    assert found["user_runs"].tolist() == [1, 3, 0, pd.NA]
    assert found["user_stability"].tolist() == [
        "unstable", "reappears in 3 of 3 runs", "empty", None
    ]  # fmt: skip
    assert found["item_runs"].tolist() == [1, 3, 3, pd.NA]
    assert found["contribution"].tolist() == pairs["contribution"].tolist()
    assert pair_stability(pairs, None, 1, 1) is pairs
    by_view = pd.DataFrame(  # views: each row's grouping is its "view" on both sides
        {
            "view": pd.Series([1, 2, 1, "global bias"], dtype=object),
            "user_cluster": pd.array([0, 0, 1, pd.NA], dtype="Int64"),
            "item_cluster": pd.array([1, 1, 0, pd.NA], dtype="Int64"),
        }
    )
    found = pair_stability(by_view, STORED, None, None)
    assert found["item_stability"].tolist() == [
        "reappears in 3 of 3 runs", "reappears in 3 of 3 runs", "reappears in 2 of 3 runs", None
    ]  # fmt: skip
    assert found["user_runs"].tolist() == [3, pd.NA, 1, pd.NA]  # no user view 2 stored


# --- the pages, on a tiny HMF run measured by the CLI -------------------------------------------


@pytest.fixture(scope="module")
def measured_runs(finished_runs, tmp_path_factory):
    """Copies of the tiny depth-2 run: "tiny" with a stability.json written by
    `python -m hmf_core stability tiny --seeds 3`, "plain" without one, "damaged" with a
    stability.json cut short."""
    root = tmp_path_factory.mktemp("stability-views")
    shutil.copytree(finished_runs / "tiny", root / "tiny")
    shutil.copytree(finished_runs / "tiny", root / "plain")
    shutil.copytree(finished_runs / "tiny", root / "damaged")
    (root / "damaged" / "stability.json").write_text('{"sides": ')  # cut short
    done = hmf_cli("stability", root / "tiny", "--seeds", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def opened(root, monkeypatch, page: str, run: str = "tiny"):
    at = app(root, monkeypatch)
    at.query_params["run"] = run
    at.run()
    return visit(at, page)


def verdicts(root, side: str, level: int, run: str = "tiny") -> pd.DataFrame:
    return cluster_stability(RunDir(root / run).stability(), side, level)


def test_the_tiny_run_has_stable_and_unstable_clusters(measured_runs):
    """The fixture the page tests rely on: the CLI measured both kinds of user clusters at
    level 2 (two epochs on 40 users: level 1 is all unstable, measured; level 2's largest
    cluster reappears in all three runs)."""
    users = verdicts(measured_runs, "user", 2)
    assert users["stable"].any() and not users["stable"].all(), users
    assert set(verdicts(measured_runs, "user", 1)["verdict"]) <= {"unstable", "empty"} | {
        f"reappears in {k} of 3 runs" for k in (2, 3)
    }


def test_membership_lists_each_clusters_stability_and_filters_the_unstable(
    measured_runs, monkeypatch
):
    users = verdicts(measured_runs, "user", 2)
    at = opened(measured_runs, monkeypatch, "membership")
    at.selectbox(key="members_level_user_0").set_value(2).run()
    picker = next(box for box in at.selectbox if box.label == "Cluster")
    assert len(picker.options) == len(users)
    for option, verdict in zip(picker.options, users["verdict"]):
        assert option.endswith(f" · {verdict}"), (option, verdict)
    cluster = int(picker.value)
    shown = texts(at)
    assert f"User cluster {cluster}** (level 2, size " in shown
    assert f", {users['verdict'].iloc[cluster]}): " in shown
    assert "Stability across seeds not measured" not in shown
    at.toggle(key="members_stable_user_2").set_value(True).run()
    picker = next(box for box in at.selectbox if box.label == "Cluster")
    stable = users.loc[users["stable"], "cluster"].tolist()
    assert [int(option.split()[2]) for option in picker.options] == stable
    assert all(option.endswith(" · reappears in 3 of 3 runs") for option in picker.options)


def test_affinity_filter_keeps_only_the_stable_clusters(measured_runs, monkeypatch):
    users = verdicts(measured_runs, "user", 2)
    at = opened(measured_runs, monkeypatch, "affinity")
    at.segmented_control(key="affinity_side_0").set_value("item").run()
    at.selectbox(key="affinity_user_level_0").set_value(2).run()
    rows = table(at, "inner_product", "runs", "stability")
    assert sorted(rows["user_cluster"]) == users["cluster"].tolist()
    expected = users.set_index("cluster")
    assert rows["runs"].tolist() == expected.loc[rows["user_cluster"], "runs"].tolist()
    assert "unstable" in set(rows["stability"])
    at.toggle(key="affinity_stable").set_value(True).run()
    rows = table(at, "inner_product", "runs", "stability")
    assert sorted(rows["user_cluster"]) == users.loc[users["stable"], "cluster"].tolist()
    assert set(rows["stability"]) == {"reappears in 3 of 3 runs"}


def test_explain_pairs_carry_both_clusters_stability(measured_runs, monkeypatch):
    at = opened(measured_runs, monkeypatch, "explain")
    at.selectbox(key="explain_user_level").set_value(2).run()
    at.selectbox(key="explain_item_level").set_value(2).run()
    pairs = table(at, "contribution", "user_runs", "user_stability", "item_stability")
    clusters = pairs[pairs["user_cluster"] != "bias"]
    for side in ("user", "item"):
        stored = verdicts(measured_runs, side, 2)
        numbers = clusters[f"{side}_cluster"].astype(int)
        assert clusters[f"{side}_stability"].tolist() == stored["verdict"][numbers].tolist()
        assert clusters[f"{side}_runs"].tolist() == stored["runs"][numbers].tolist()
    assert "Stability: in how many runs" in texts(at)


def select_cluster(at, side: str, level: int, cluster: int) -> None:
    at.session_state["selected_points"] = [
        {"kind": f"{side} cluster", "level": level, "index": cluster}
    ]
    at.session_state["selected_in_run"] = at.session_state["run"]
    at.session_state["selection_version"] = 5
    at.run()


def test_map_panel_and_hovers_state_the_clusters_stability(measured_runs, monkeypatch):
    users = verdicts(measured_runs, "user", 2)
    at = opened(measured_runs, monkeypatch, "map")
    for cluster in (0, 1):
        select_cluster(at, "user", 2, cluster)
        assert f"Stability: {users['verdict'].iloc[cluster]}** (mean member overlap" in texts(at)
    run = RunDir(measured_runs / "tiny")
    frame, _ = map_data.drawn(run, loads.model_key(run), "model")
    clusters = frame[(frame["kind"] == "user cluster") & (frame["level"] == 2)]
    for row in clusters.itertuples():
        assert f"<br>stability: {users['verdict'].iloc[row.index]}" in row.hover
    colours = next(box for box in at.selectbox if box.label == "Colour by")
    assert "Cluster stability" in colours.options


def test_pages_without_stability_say_how_to_measure_it(measured_runs, monkeypatch):
    command = f"python -m hmf_core stability {measured_runs / 'plain'}"
    how = f"Stability across seeds not measured: run `{command}`"
    for page in ("membership", "explain", "affinity"):
        at = opened(measured_runs, monkeypatch, page, run="plain")
        assert how in texts(at), page
        assert not [t for t in at.toggle if t.label == "Only stable clusters"], page
    at = opened(measured_runs, monkeypatch, "map", run="plain")
    select_cluster(at, "item", 1, 0)
    assert how in texts(at)
    assert (
        "Cluster stability" not in next(b for b in at.selectbox if b.label == "Colour by").options
    )


def test_a_damaged_stability_file_is_named_not_a_traceback(measured_runs, monkeypatch):
    for page in ("membership", "explain"):
        at = opened(measured_runs, monkeypatch, page, run="damaged")
        assert "Stability unreadable (" in texts(at) and "stability.json" in texts(at), page


# --- MFDMC: stability per view ------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured_views(tmp_path_factory):
    """A tiny finished MFDMC run (2 views, as tests/test_app_mfdmc_pages.py's) whose
    stability.json `python -m hmf_core stability views --seeds 2` wrote."""
    root = tmp_path_factory.mktemp("stability-views-mfdmc")
    ratings, people = small_demo(root / "data")
    flags = ["--data", ratings, "--items", DEMO_MOVIES, "--users", people, "--family", "mfdmc"]
    flags += ["--views", 2, "--user-centres", 4, "--item-centres", 5, "--dim", 8]
    flags += ["--split", "random", "--max-epochs", 2, "--run-dir", root / "views"]
    done = hmf_cli("train", *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    done = hmf_cli("stability", root / "views", "--seeds", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_mfdmc_pages_show_each_views_stability(measured_views, monkeypatch):
    """Membership's picker and heading, Explain's per-view pair table and the Map's panel read
    the stability of the cluster's own view, in the word "view"."""
    stored = RunDir(measured_views / "views").stability()
    assert stored["grouping"] == "view"
    at = opened(measured_views, monkeypatch, "membership", run="views")
    at.selectbox(key="members_level_user_0").set_value(2).run()
    users = verdicts(measured_views, "user", 2, run="views")
    picker = next(box for box in at.selectbox if box.label == "Cluster")
    assert [option.rsplit(" · ", 1)[1] for option in picker.options] == users["verdict"].tolist()
    cluster = int(picker.value)
    assert f"User cluster {cluster}** (view 2, size " in texts(at)
    assert f", {users['verdict'].iloc[cluster]}): " in texts(at)
    no_level(at)

    at = opened(measured_views, monkeypatch, "explain", run="views")
    parts = table(at, "view", "contribution", "user_stability", "item_runs")
    clusters = parts[parts["view"].isin(["1", "2"])]
    assert len(clusters) > 0
    for side in ("user", "item"):
        for view, rows in clusters.groupby("view"):
            stored_view = verdicts(measured_views, side, int(view), run="views")
            numbers = rows[f"{side}_cluster"].astype(int)
            assert rows[f"{side}_stability"].tolist() == stored_view["verdict"][numbers].tolist()
    assert parts.loc[~parts["view"].isin(["1", "2"]), "user_stability"].isna().all()  # biases

    at = opened(measured_views, monkeypatch, "map", run="views")
    items = verdicts(measured_views, "item", 1, run="views")
    select_cluster(at, "item", 1, 0)
    shown = texts(at)
    assert f"Stability: {items['verdict'].iloc[0]}** (mean member overlap" in shown
