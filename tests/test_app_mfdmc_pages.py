"""The Map, Affinity, Membership and Explain pages on an MFDMC run under AppTest (issue 20): a
grouping is a "view" there, never a "level"; a user view against a different item view is
refused in words (their inner products are all 0); a prediction is explained as a sum over
views that adds up to it. HMF's pages are tests/test_app.py's."""

from __future__ import annotations

import re

import pytest
from conftest import DEMO_MOVIES, hmf_cli, small_demo
from test_app import app, table, texts, visit

from hmf_core.interpret.queries import predict
from hmf_core.runs.rundir import RunDir

pytestmark = pytest.mark.usefixtures("data_in_tmp")
VIEWS = 2


@pytest.fixture(scope="module")
def mfdmc_runs(tmp_path_factory):
    """A runs folder with one finished tiny MFDMC run, "views" (2 views, maps computed)."""
    root = tmp_path_factory.mktemp("mfdmc-runs")
    ratings, people = small_demo(root / "data")
    flags = ["--data", ratings, "--items", DEMO_MOVIES, "--users", people, "--family", "mfdmc"]
    flags += ["--views", VIEWS, "--user-centres", 4, "--item-centres", 5, "--dim", 8]
    flags += ["--split", "random", "--max-epochs", 2, "--run-dir", root / "views"]
    done = hmf_cli("train", *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def opened(mfdmc_runs, monkeypatch, page: str):
    at = app(mfdmc_runs, monkeypatch)
    at.query_params["run"] = "views"
    at.run()
    return visit(at, page)


def no_level(at) -> None:
    """No text, widget label or option of the page calls a grouping a level."""
    labels = [
        w.label for kind in ("selectbox", "slider", "segmented_control") for w in getattr(at, kind)
    ]
    options = [str(o) for w in at.selectbox for o in w.options]
    words = "\n".join([texts(at), *labels, *options])
    # The trust notes (interpret.trust, the "quality" part of issue 20) are left out here.
    words = re.sub(r"(User|Item) clusters, level \d+:", "", words)
    assert not re.search(r"\blevels?\b", words, re.IGNORECASE), re.findall(
        r".{0,60}\blevels?\b.{0,60}", words, re.IGNORECASE
    )


def test_the_map_shows_every_views_centres_and_colours_by_a_views_top_centre(
    mfdmc_runs, monkeypatch
):
    at = opened(mfdmc_runs, monkeypatch, "map")
    views = at.selectbox(key="map_colour_view")
    assert views.label == "Top cluster of view" and views.options == ["view 1", "view 2"]
    colour = at.selectbox(key="map_colour")
    assert "Top cluster (view 1)" in colour.options and "View" in colour.options
    shown = [p for p in at.button_group if p.label == "Cluster views"]
    assert shown and shown[0].options == ["view 1", "view 2"]
    colour.set_value("top_cluster").run()
    views.set_value(2).run()
    assert not at.exception
    assert at.session_state["map_top_level"] == 2
    assert "Top cluster (view 2)" in at.selectbox(key="map_colour").options
    no_level(at)


def test_affinity_compares_a_view_with_the_same_view_and_refuses_two_views(mfdmc_runs, monkeypatch):
    at = opened(mfdmc_runs, monkeypatch, "affinity")
    user_view, item_view = (
        at.selectbox(key="affinity_user_level_0"),
        at.selectbox(key="affinity_item_level_0"),
    )
    assert (user_view.label, item_view.label) == ("User view", "Item view")
    assert "(view 1)" in texts(at) and len(table(at, "inner_product")) == 5
    no_level(at)
    item_view.set_value(2).run()
    refused = [w.value for w in at.warning]
    assert refused == [
        "Views 1 and 2 use different slices of the latent space: their clusters' inner "
        "products are all 0. Pick the same view on both sides."
    ]
    assert not any("inner_product" in d.value.columns for d in at.dataframe)  # no zero table
    assert not at.get("plotly_chart")
    at.selectbox(key="affinity_user_level_0").set_value(2).run()
    assert not any("different slices" in w.value for w in at.warning)
    assert "(view 2)" in texts(at) and len(table(at, "inner_product")) == 5
    assert "All 4 user clusters × 5 item clusters** (view 2)" in texts(at)


def test_membership_is_per_view_and_has_no_hierarchy(mfdmc_runs, monkeypatch):
    at = opened(mfdmc_runs, monkeypatch, "membership")
    view = at.selectbox(key="members_level_user_0")
    assert view.label == "View" and view.options == ["1", "2"]
    view.set_value(2).run()
    assert "(view 2, size" in texts(at)
    assert at.slider(key="object_top").label == "Clusters shown per view"
    assert any("parallel groupings" in i.value and "no hierarchy" in i.value for i in at.info)
    no_level(at)


def test_explain_sums_the_views_to_the_prediction(mfdmc_runs, monkeypatch):
    at = opened(mfdmc_runs, monkeypatch, "explain")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sum of the parts"] == metrics["Prediction"]
    parts = table(at, "view", "user_cluster", "item_cluster", "contribution")
    assert set(parts["view"]) >= {"1", "2", "global bias"}
    pairs = parts[parts["view"].isin(["1", "2"])]
    assert len(pairs) == VIEWS * 4 * 5  # each view's own centres, never across views
    user = int(at.selectbox(key="explain_user_0").value)
    item = int(at.selectbox(key=f"explain_item_0_{user}").value)
    model = RunDir(mfdmc_runs / "views").load_model()
    assert parts["contribution"].sum() == pytest.approx(predict(model, user, item), abs=1e-4)
    assert f"{parts['contribution'].sum():.3f}" == metrics["Prediction"]
    assert "sum over the 2 views" in texts(at)
    no_level(at)


def test_a_selected_view_2_cluster_opens_view_2_on_both_sides_of_affinity(mfdmc_runs, monkeypatch):
    """A user cluster of view 2 selected on the map: the Map's panel names its view, Cluster
    affinity opens on user view 2 against item view 2 (view 1 could not be compared), and a
    lasso over users coloured by view 2's top centre opens their view-2 cluster."""
    at = opened(mfdmc_runs, monkeypatch, "map")
    select = {"selected_in_run": "views", "selection_version": 5}
    for key, value in select.items():
        at.session_state[key] = value
    at.session_state["selected_points"] = [{"kind": "user cluster", "level": 2, "index": 1}]
    visit(at, "map")
    assert "User cluster 1 (view 2)" in texts(at)
    visit(at, "affinity")
    assert at.selectbox(key="affinity_user_level_5").value == 2
    assert at.selectbox(key="affinity_item_level_5").value == 2
    assert "against user cluster 1" in texts(at) and not any(
        "different slices" in w.value for w in at.warning
    )
    lasso = [
        {"kind": "user", "level": 0, "index": i, "top_cluster": top, "top_level": 2}
        for i, top in enumerate([3, 3, 0])
    ]
    at.session_state["selected_points"] = lasso
    at.session_state["selection_version"] = 6
    visit(at, "affinity")
    assert at.selectbox(key="affinity_user_level_6").value == 2
    assert at.selectbox(key="affinity_item_level_6").value == 2
    assert "against user cluster 3" in texts(at)
