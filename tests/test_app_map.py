"""The Map page under AppTest (issue 9 point 5): the side of a selection respected by the other
pages, the same cluster names as the Affinity page, the comparable layout and its reason, the
search's zoom and a selected cluster's members."""

from __future__ import annotations

import base64
import json
import re
import zlib

import numpy as np
from test_app import app, chart_data, map_spec, named_pieces, texts, visit

from dashboard import live_chart, loads, map_data, prepare, queries
from dashboard.text import hover
from hmf_core.runs.rundir import RunDir


def select(at, points: list[dict], version: int) -> None:
    at.session_state["selected_points"] = points
    at.session_state["selected_in_run"] = "tiny"
    at.session_state["selection_version"] = version


def test_a_lasso_over_users_opens_the_user_side_on_every_page(finished_runs, monkeypatch):
    """Regression (issue 9): a lasso over users opened Cluster affinity on the item side. The
    map lists a selection's clusters first, the largest first (dashboard/views/map.py
    _on_select), and the pages took the first cluster of either side: one item cluster caught
    at the edge of the users, larger than the user clusters, won."""
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    lasso = [
        {"kind": "item cluster", "level": 1, "index": 2},
        {"kind": "user cluster", "level": 1, "index": 1},
        *({"kind": "user", "level": 0, "index": i} for i in range(10)),
    ]
    select(at, lasso, 7)
    visit(at, "affinity")
    assert at.segmented_control(key="affinity_side_7").value == "user"
    assert "against user cluster 1" in texts(at)
    visit(at, "membership")
    assert at.segmented_control(key="members_side_7").value == "user"
    assert at.segmented_control(key="object_side_7").value == "user"
    visit(at, "map")
    assert "12 points selected" in texts(at)
    assert "open on the side most of these points are on" in texts(at)

    # And the other way round: a lasso over items with one user cluster in it and no item
    # cluster: the item cluster most of those items have as their top cluster opens.
    lasso = [
        {"kind": "user cluster", "level": 1, "index": 1},
        *(
            {"kind": "item", "level": 0, "index": i, "top_cluster": top}
            for i, top in enumerate([4, 6, 4, 4, 0])
        ),
    ]
    select(at, lasso, 8)
    visit(at, "affinity")
    assert at.segmented_control(key="affinity_side_8").value == "item"
    assert "against item cluster 4" in texts(at)
    visit(at, "membership")
    assert at.segmented_control(key="object_side_8").value == "item"


def test_a_redraw_of_the_map_sends_only_the_pieces_its_browser_lacks(finished_runs, monkeypatch):
    """Issue 23: the map's figure went whole to the browser at every click (3.3 MB at ML-20M
    size for a highlighted cluster). Its first view sends every piece (charts.figure_parts);
    a highlighted cluster, then a colour change, send only pieces the browser has not got
    and name the others, which the figure put together (map_spec) has in place."""
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    visit(at, "map")
    first = chart_data(at)
    assert first["pieces"] and named_pieces(first) == set(first["pieces"])
    held = named_pieces(first)
    for change in (
        lambda: select(at, [{"kind": "user cluster", "level": 1, "index": 0}], 9),
        lambda: at.selectbox(key="map_colour").set_value("level"),
    ):
        change()
        at.run()
        data = chart_data(at)
        named, sent = named_pieces(data), set(data["pieces"])
        assert sent == named - held  # what the browser lacks, nothing it has
        assert named & held  # the points' positions, hovers, ... kept
        whole = map_spec(at)  # put together (from pieces sent again: it empties HELD)
        assert len(json.dumps(data)) < 0.5 * len(whole)
        assert json.loads(whole)["data"]  # a figure
        held = named
    assert "Highlighted on the map:" in texts(at)


def test_map_hovers_name_clusters_as_the_affinity_page_does(finished_runs):
    key = loads.model_key(RunDir(finished_runs / "tiny"))
    names = map_data.names(key)
    for side, level in (("user", 1), ("user", 2), ("item", 1), ("item", 2)):
        rows = names[(names["kind"] == f"{side} cluster") & (names["level"] == level)]
        assert dict(zip(rows["index"], rows["name"])) == queries.cluster_names(key, side, level)
    frame, _ = map_data.drawn(RunDir(finished_runs / "tiny"), key, "model")
    clusters = frame[frame["kind"] == "user cluster"]
    for row in clusters.itertuples():
        assert row.hover.startswith(f"<b>{hover(row.name)}</b>")
    items = frame[frame["kind"] == "item"]
    top = items.iloc[0]
    assert f"top cluster: item cluster {top['top_cluster']} (probability" in top["hover"]


def test_the_comparable_layout_states_why_and_a_cluster_lights_up_its_members(
    finished_runs, monkeypatch
):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "map")
    at.selectbox(key="map_layout").set_value("shared").run()
    assert not at.exception
    shown = texts(at)
    assert "Users and items comparable." in shown and "two clouds" in shown
    assert "the two means have cosine" in shown
    select(at, [{"kind": "item cluster", "level": 1, "index": 0}], 9)
    at.run()
    shown = texts(at)
    assert "Highlighted on the map:" in shown and "items of item cluster 0 (level 1)" in shown
    spec = json.loads(map_spec(at))
    members = [trace for trace in spec["data"] if trace.get("name") == "members"]
    expected = map_data.highlight(at_key(finished_runs), "item", 1, 0)
    assert len(members) == 1 and len(numbers(members[0]["x"])) == len(expected) > 0

    at.selectbox(key="map_layout").set_value("model").run()
    query = "item cluster 3 (L1)"
    at.text_input(key="map_search").input(query).run()
    picker = at.selectbox(key=f"map_search_choice_{zlib.crc32(query.encode())}")
    assert picker.label == "1 match: the map zooms to and rings"
    spec = json.loads(map_spec(at))
    ring = [shape for shape in spec["layout"]["shapes"] if shape["type"] == "circle"][-1]
    frame, _ = map_data.drawn(RunDir(finished_runs / "tiny"), at_key(finished_runs), "model")
    hit = frame[(frame["kind"] == "item cluster") & (frame["index"] == 3) & (frame["level"] == 1)]
    centre = ((ring["x0"] + ring["x1"]) / 2, (ring["y0"] + ring["y1"]) / 2)
    np.testing.assert_allclose(centre, hit[["x", "y"]].to_numpy()[0])
    assert spec["layout"]["xaxis"]["range"][0] < centre[0] < spec["layout"]["xaxis"]["range"][1]
    assert ring["layer"] == "above"


def test_a_map_visit_prepares_what_a_first_cluster_click_reads(finished_runs, monkeypatch):
    """The first cluster click of a session at ML-20M size spent 0.5 s computing the embedding
    table its neighbours are found in and the side's top clusters. The Map page now starts a
    background thread that computes them (prepare.map_clicks): once it is done, a click
    reads them, and would fail if it had to compute either (both made to raise here)."""
    import hmf_core

    monkeypatch.setattr(prepare, "_JOBS", {})
    for cached in (queries.embedding_table, queries.top_clusters_of, queries.nearest):
        cached.clear()  # what an earlier test computed does not count
    map_data.highlight.clear()
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "map")
    key = at_key(finished_runs)
    (job,) = [job for job in prepare._JOBS if job[:2] == ("map-clicks", key)]
    assert 1 in job[2]  # the levels shown: level 1 at least
    thread = prepare._JOBS[job]
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert prepare.map_clicks(key, list(job[2])) is thread  # once per run and levels

    def computed(*args, **kwargs):
        raise AssertionError("computed at the click: not prepared")

    monkeypatch.setattr(hmf_core, "embedding_table", computed)
    monkeypatch.setattr(hmf_core, "top_clusters_of", computed)
    select(at, [{"kind": "user cluster", "level": 1, "index": 0}], 11)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert re.search(r"Highlighted on the map: \d+ users of user cluster 0 ", texts(at))
    (nearest,) = [frame.value for frame in at.dataframe if "cosine" in frame.value.columns]
    assert len(nearest) == 10 and nearest["cosine"].is_monotonic_decreasing


def test_another_page_prepares_the_first_views_of_map_and_explain(finished_runs, monkeypatch):
    """A first Map visit at ML-20M size spent 0.5-0.6 s making its drawn frame (names,
    metadata, verdicts, hover texts), a first Explain visit 0.13 s reading the interactions.
    Every page, once drawn, starts a background thread that makes them for the run picked
    (prepare.run_pages): a Map and an Explain visit after it read them, and would fail had they
    to make the hover texts or read a table of the run (both made to raise here)."""
    import hmf_core

    monkeypatch.setattr(prepare, "_JOBS", {})
    map_data._drawn.clear()  # what an earlier test computed does not count
    loads.run_table.clear()
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    visit(at, "train")
    key = at_key(finished_runs)
    (job,) = [job for job in prepare._JOBS if job[:2] == ("run-pages", key)]
    thread = prepare._JOBS[job]
    thread.join(timeout=60)
    assert not thread.is_alive()
    run = RunDir(finished_runs / "tiny")
    assert prepare.run_pages(run) is thread  # once per checkpoint, map and stability file
    assert prepare.run_pages(None) is None
    assert prepare.run_pages(RunDir(finished_runs / "no such run")) is None

    def computed(*args, **kwargs):
        raise AssertionError("made at the visit: not prepared")

    monkeypatch.setattr(map_data, "first_hovers", computed)
    monkeypatch.setattr(hmf_core.RunDir, "table", computed)
    visit(at, "map")
    assert numbers(json.loads(map_spec(at))["data"][0]["x"]).size > 0
    visit(at, "explain")
    assert "Top 10 items this user did not rate in training" in texts(at)


def test_the_map_page_asks_for_plotly_before_it_computes_the_map(finished_runs, monkeypatch):
    """The browser loads plotly.js (4.6 MB, about 1 s to fetch and run in a fresh tab here)
    while the server computes the map: an element that draws nothing asks for it, first in
    the page's run, in the sidebar, where an empty element takes no room."""
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    visit(at, "map")
    (preload,) = [
        e
        for e in at.sidebar.get("bidi_component")
        if e.proto.component_name == "hmf_plotly_preload"
    ]
    assert json.loads(preload.proto.json) == {"plotly": live_chart.PLOTLY_URL}
    assert map_spec(at)  # the chart itself, in the page


def at_key(finished_runs):
    return loads.model_key(RunDir(finished_runs / "tiny"))


def numbers(array) -> np.ndarray:
    """A plotly JSON array: a list, or plotly.py's typed-array form {dtype, bdata}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def test_a_first_visit_reads_the_names_the_maps_job_saved(finished_runs, tmp_path, monkeypatch):
    """The maps job saves map_names and map_metadata (hmf_core.runs.maps); the Map reads them
    instead of computing them, unless they were saved by another version of the code."""
    import shutil

    import hmf_core

    copy = tmp_path / "tiny"
    shutil.copytree(finished_runs / "tiny", copy)
    run = RunDir(copy)
    assert run.map_timings()["labels_version"] == hmf_core.LABELS_VERSION
    saved = run.map_labels("map_names", hmf_core.LABELS_VERSION)
    marked = saved.assign(name=saved["name"].where(saved["level"] == 0, "<i>saved name</i>"))
    run.write_table("map_names", marked)
    key = loads.model_key(run)
    names = map_data.names(key)
    assert set(names.loc[names["level"] > 0, "name"]) == {"<i>saved name</i>"}
    frame, _ = map_data.drawn(run, key, "model")
    cluster = frame[frame["kind"] == "user cluster"].iloc[0]
    assert cluster["hover"].startswith("<b>&lt;i&gt;saved name&lt;/i&gt;</b>")  # still escaped

    clusters = len(queries.cluster_sizes(key, "user", 1))
    assert queries.cluster_names(key, "user", 1) == {  # the Affinity page's names too
        cluster: "<i>saved name</i>" for cluster in range(clusters)
    }
    tree = queries.hierarchy_tree(key, "user", 12)  # the Membership page's icicle
    assert tree.loc[tree["level"] >= 1, "name"].str.contains("<i>saved name</i>").all()
    monkeypatch.setattr(loads, "LABELS_VERSION", hmf_core.LABELS_VERSION + 1)
    loads._map_labels.clear()
    queries.cluster_names.clear()
    computed = map_data.names(key)  # saved by an older version: computed again
    assert "<i>saved name</i>" not in set(computed["name"])
    first = computed[(computed["kind"] == "user cluster") & (computed["level"] == 1)]
    assert dict(zip(first["index"], first["name"])) == queries.cluster_names(key, "user", 1)


def test_the_map_s_method_and_metadata_columns_follow_its_files(finished_runs, tmp_path):
    """loads.run_map_method and map_data.metadata_columns, which a Map rerun asks for without
    copying the map or the metadata table out of the cache: the method of run_map's own map
    (UMAP while its file is there, then the saved PCA map), and the metadata table's columns,
    a rewritten table's new ones."""
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(finished_runs / "tiny", copy)
    run = RunDir(copy)
    key = loads.model_key(run)
    assert run.file("map_umap").exists() and run.file("map_pca").exists()
    assert loads.run_map_method(run) == loads.run_map(run, key)[1] == "umap"
    run.file("map_umap").unlink()
    assert loads.run_map_method(run) == loads.run_map(run, key)[1] == "pca"
    assert map_data.drawn(run, key, "model")[1] == "pca"

    table = map_data.metadata(key)
    columns = [c for c in table.columns if c not in ("kind", "level", "index")]
    assert columns and map_data.metadata_columns(key) == columns
    run.write_table("map_metadata", table.assign(decade="1990s"))
    assert map_data.metadata_columns(key) == [*columns, "decade"]
