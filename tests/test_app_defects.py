"""Defects a user reported (issue 21 item 6), each pinned under AppTest: the Metrics page names
the run by its name; ..."""

from __future__ import annotations

import re
import shutil

from test_app import BAD_FILES, app, shown, texts, upload, visit

from hmf_core.runs.rundir import RunDir


def test_metrics_is_titled_with_the_runs_name_not_its_directory(
    finished_runs, tmp_path, monkeypatch
):
    run_dir = tmp_path / "runs" / "20261204-101500-a1b2"
    shutil.copytree(finished_runs / "tiny", run_dir)
    RunDir(run_dir).update_meta(name="Genres, 8 user clusters")
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "metrics")
    assert "Run **Genres, 8 user clusters** (directory 20261204-101500-a1b2)" in texts(at)


def test_removing_a_bad_uploaded_file_clears_its_error(tmp_path, monkeypatch):
    content, message = BAD_FILES["bad.csv"]
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("bad.csv", content))
    assert [shown(e.value) for e in at.error] == [message]
    at.file_uploader(key="upload_ratings").clear().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not [i for i in at.info if "Nothing changed" in i.value]
    at.file_uploader(key="upload_ratings").upload("bad.csv", content).run()  # again: read again
    assert [shown(e.value) for e in at.error] == [message]


def test_explain_bars_keep_their_width_with_200_character_names():
    """Long cluster names squeezed the 'By item cluster' bars to ~30% of the width and pushed
    the legend over the axis: the axis labels are cut (the hover keeps the whole name) and the
    legend sits above the bars."""
    import html

    import pandas as pd

    from dashboard.explain_views import LABEL_CHARACTERS, bars_figure

    names = [f"{genre} " + "very long <i>name</i> " * 10 for genre in ("Drama", "Comedy", "War")]
    bars = pd.DataFrame(
        {
            "part": [n[:200] for n in names] + ["rest", "bias"],
            "contribution": [0.9, -0.4, 0.2, 0.1, 3.5],
            "kind": ["cluster", "cluster", "cluster", "rest", "bias"],
        }
    )
    assert min(len(part) for part in bars["part"][:3]) == 200
    figure = bars_figure(bars)
    axis = figure.layout.yaxis
    assert all(len(html.unescape(text)) <= LABEL_CHARACTERS for text in axis.ticktext)
    assert axis.ticktext[0].startswith("Drama very long &lt;i&gt;") and "…" in axis.ticktext[0]
    assert list(axis.tickvals) == list(axis.categoryarray)  # each bar keeps its own label
    hovered = [y for trace in figure.data for y in trace.y]
    assert any(len(y) > 200 and y.startswith("Drama") for y in hovered)  # full name, escaped
    assert figure.layout.legend.y >= 1 and figure.layout.legend.yanchor == "bottom"


def test_select_it_on_a_search_hit_opens_the_items_cluster_elsewhere(finished_runs, monkeypatch):
    """A search hit picked with "Select it" steers Affinity and Membership to the hit's top
    cluster, as a click on it on the map does (the search kept no top cluster: they opened
    on their defaults)."""
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "map")
    at.text_input(key="map_search").set_value("Toy Story (1995)").run()
    at.button(key="map_search_select").click().run()
    (point,) = at.session_state["selected_points"]
    assert point["kind"] == "item" and point["top_cluster"] >= 0
    cluster = point["top_cluster"]
    visit(at, "affinity")
    assert f"against item cluster {cluster}**" in texts(at)
    visit(at, "membership")
    version = at.session_state["selection_version"]
    assert at.segmented_control(key=f"members_side_{version}").value == "item"
    assert f"Item cluster {cluster}" in texts(at)


def icicle(at) -> dict:
    """The Membership page's icicle trace, as sent to the browser."""
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (trace,) = [t for chart in charts for t in chart["data"] if t["type"] == "icicle"]
    return trace


def test_the_icicles_root_label_is_dark_and_every_box_says_its_size(finished_runs, monkeypatch):
    """Streamlit's theme wrote the root's label white on its light grey (unreadable), and a leaf
    zoomed into was an empty box: the root's label is dark, the others white on the colours, every
    box says its size, and a level-1 cluster holds its most probable members (shown when it is
    zoomed into)."""
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "membership")
    trace = icicle(at)
    colours = dict(zip(trace["ids"], trace["textfont"]["color"]))
    (root,) = [node for node, parent in zip(trace["ids"], trace["parents"]) if not parent]
    assert colours.pop(root) == "#262730" and trace["root"]["color"] == "#f3f5fa"
    assert len(colours) > 2 and set(colours.values()) == {"white"}
    assert trace["texttemplate"] == "%{label}<br>%{customdata[0]}"
    details = dict(zip(trace["ids"], (row[0] for row in trace["customdata"])))
    members = [node for node in trace["ids"] if ":member:" in node]
    assert members and all(details[node].startswith("probability ") for node in members)
    leaves = {node.split(":member:")[0] for node in members}  # each level-1 cluster drawn
    assert leaves == {node for node in trace["ids"] if re.fullmatch(r"L1:\d+", node)}
    assert all(details[node].startswith("size ") for node in leaves)


def test_explains_prediction_is_shown_on_the_rating_scale_with_the_clipping_stated():
    """A model score of 5.45 on a 0.5-5 scale read "5.450": the metric shows 5.000 and says
    the model's score, which the explanation's parts add up to."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from dashboard.explain_views import prediction_metric

        prediction_metric(st.columns(3)[0], 5.4512, (0.5, 5.0))
        prediction_metric(st.columns(3)[0], 3.4123, (0.5, 5.0))

    at = AppTest.from_function(script, default_timeout=60).run()
    assert [m.value for m in at.metric] == ["5.000", "3.412"]
    (caption,) = [c.value for c in at.caption]
    assert caption.startswith("5.00 (model 5.45, clipped to the 0.5-5 scale)")
    assert "add up to the model's score 5.451" in caption
