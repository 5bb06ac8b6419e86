"""A map too large to draw one by one (issue 23 point 2): which rows get a hover
(hmf_core.hover_rows), where all of them lie (hmf_core.density), what a box or lasso takes
(hmf_core.points_in_region), and the figure at ML-20M size under 5 MB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio

from dashboard import charts, map_figure
from dashboard.map_data import first_hovers
from hmf_core import density, hover_rows, points_in_region
from hmf_core.interpret.naming import top_members

ML20M = {"user": (138_493, 200), "item": (26_744, 100)}  # objects, level-1 clusters


def planted_map(sizes: dict = ML20M, seed: int = 0) -> pd.DataFrame:
    """A map's frame with the shape of a run's: per side, objects (level 0) around their top
    cluster's spot, and the clusters (level 1); skewed cluster sizes; hover texts as long as
    a titled item's with its genres."""
    rng = np.random.default_rng(seed)
    frames = []
    for side, (objects, clusters) in sizes.items():
        spots = rng.normal(0, 10, (clusters, 2))
        top = np.minimum((clusters * rng.random(objects) ** 2).astype(int), clusters - 1)
        xy = spots[top] + rng.normal(0, 1, (objects, 2))
        frames.append(
            pd.DataFrame(
                {
                    "kind": side,
                    "level": 0,
                    "index": np.arange(objects),
                    "label": [f"{side} {i}" for i in range(objects)],
                    "size": 1.0,
                    "top_cluster": top,
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                }
            )
        )
        frames.append(
            pd.DataFrame(
                {
                    "kind": f"{side} cluster",
                    "level": 1,
                    "index": np.arange(clusters),
                    "label": [f"{side} cluster {c}" for c in range(clusters)],
                    "size": np.bincount(top, minlength=clusters).astype(float),
                    "top_cluster": np.arange(clusters),
                    "x": spots[:, 0],
                    "y": spots[:, 1],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    name = "Drama 41% (base 18%) · Romance 22% (base 9%) — Movie 1 (1951), Movie 2 (1952)"
    return frame.assign(name=name, hover=map_figure.hover_texts(frame.assign(name=name)))


def test_a_large_map_hovers_every_cluster_and_each_top_cluster_in_proportion():
    frame = planted_map({"user": (30_000, 40), "item": (6_000, 20)})
    chosen = hover_rows(frame, 3_000)
    assert chosen[frame["level"] > 0].all()  # every cluster
    objects = frame[(frame["level"] == 0).to_numpy()]
    picked = objects[chosen[objects.index]]
    assert 2_900 <= len(picked) + 60 <= 3_000 + 2 * 60 * 10  # the budget, strata minimums
    # Each (kind, top cluster) in proportion to its size (at least 10 rows where it has them).
    share = picked.groupby(["kind", "top_cluster"]).size() / objects.groupby(
        ["kind", "top_cluster"]
    ).size().reindex(picked.groupby(["kind", "top_cluster"]).size().index)
    big = objects.groupby(["kind", "top_cluster"]).size() >= 500
    assert share[big[big].index].between(0.06, 0.12).all()  # about 2,940 / 36,000
    assert set(picked.groupby(["kind", "top_cluster"]).size().index) == set(
        objects.groupby(["kind", "top_cluster"]).size().index
    )
    # The same rows at every draw; a kept row (a search hit) always among them.
    assert (hover_rows(frame, 3_000) == chosen).all()
    missing = np.flatnonzero(~chosen)[0]
    keep = np.zeros(len(frame), dtype=bool)
    keep[missing] = True
    assert hover_rows(frame, 3_000, keep)[missing]
    # A small map: every row.
    assert hover_rows(frame.head(500), 3_000).all()


def test_a_box_or_a_lasso_takes_every_point_inside_it():
    frame = pd.DataFrame(
        {"x": [0.0, 1.0, 2.0, 3.0, 1.0, 5.0, 0.6], "y": [0.0, 1.0, 2.0, 0.5, 2.9, 5.0, 0.1]}
    )
    box = [{"xref": "x", "yref": "y", "x": [2.5, 0.5], "y": [0.0, 2.5]}]  # any corner order
    assert list(points_in_region(frame, box, []).index) == [1, 2, 6]
    triangle = [{"x": [0.5, 4.0, 0.5], "y": [0.2, 0.2, 3.7]}]  # x > 0.5, y > 0.2, x + y < 4.2
    assert list(points_in_region(frame, [], triangle).index) == [1, 2, 3, 4]
    assert list(points_in_region(frame, box, triangle).index) == [1, 2, 3, 4, 6]
    # What the chart may send that is no region: nothing, not an error.
    junk = [{"x": [], "y": []}, {"x": ["a", "b"], "y": [1, 2]}, "box", {"x": [1, 2]}]
    assert points_in_region(frame, junk, junk).empty


def test_the_density_layer_counts_every_point_in_square_cells():
    rng = np.random.default_rng(1)
    blobs = np.concatenate([rng.normal(0, 0.3, (4_000, 2)), rng.normal(8, 0.3, (1_000, 2))])
    frame = pd.DataFrame({"x": blobs[:, 0], "y": blobs[:, 1] / 2})  # wider than tall
    cells = density(frame, cells=40)
    assert cells["count"].sum() == 5_000
    assert len(cells["x"]) == 40 and cells["count"].shape == (len(cells["y"]), 40)
    assert np.allclose(np.diff(cells["x"]), np.diff(cells["y"]).mean())  # square cells
    near = lambda axis, value: np.abs(cells[axis] - value) < 1.0  # noqa: E731
    assert cells["count"][np.ix_(near("y", 0), near("x", 0))].sum() > 3_900
    assert cells["count"][np.ix_(near("y", 4), near("x", 8))].sum() > 950
    assert density(frame.iloc[:0])["count"].size == 0


def test_the_density_cells_are_numpys_histogram2d_cells_points_on_edges_included():
    """density finds each point's cell by division (numpy searched the edges: 20 ms of every
    redraw at ML-20M size); a point on an edge goes where np.histogram2d puts it."""
    rng = np.random.default_rng(2)
    for trial in range(60):
        points = rng.normal(0, rng.uniform(0.1, 50), (int(rng.integers(1, 3_000)), 2))
        if trial % 2:
            points = points.round(1)  # many points exactly on edges
        cells = int(rng.integers(3, 200))
        found = density(pd.DataFrame({"x": points[:, 0], "y": points[:, 1]}), cells=cells)
        extent = np.ptp(points, axis=0)
        side = max(extent.max(), 1e-9) / cells
        low = points.min(0)
        counts = np.maximum(np.ceil(extent / side).astype(int), 1)
        edges = [low[a] + side * np.arange(counts[a] + 1) for a in (0, 1)]
        edges[0][-1] = max(edges[0][-1], points[:, 0].max())
        edges[1][-1] = max(edges[1][-1], points[:, 1].max())
        expected, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=edges)
        assert np.array_equal(found["count"], expected.T), trial


def test_the_map_at_ml20m_size_is_a_few_mb_with_every_cluster_and_a_stated_sample():
    frame = planted_map()
    assert len(frame) == 138_493 + 26_744 + 300
    figure = map_figure.figure(frame, "top_cluster", cluster_names={})
    size = len(charts.figure_json(figure))  # what the map chart sends (live_chart)
    assert size < 5_000_000, size  # every point with its hover: 37.6 MB (maps.md)
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert len(traces["user cluster"]["x"]) == 200 and len(traces["item cluster"]["x"]) == 100
    drawn = len(traces["user"]["x"]) + len(traces["item"]["x"])
    limit = map_figure.hover_limit(frame)
    assert 1_000 <= drawn <= limit + 600  # the sample (strata minimums may add a few)
    assert len(traces["user"]["hovertext"]) == len(traces["user"]["x"])
    assert traces["density"]["type"] == "heatmap" and traces["density"]["hoverinfo"] == "skip"
    z = np.asarray(traces["density"]["z"])
    assert np.nansum(np.expm1(z)) == np.float32(138_493 + 26_744)  # every user and item
    # A search hit outside the sample is drawn (with its hover) all the same.
    hit = frame[(frame["kind"] == "user") & ~map_figure.drawn_rows(frame)].iloc[0]
    zoomed = map_figure.figure(frame, "kind", focus=hit)
    users = next(trace for trace in zoomed["data"] if trace["name"] == "user")
    assert hit["label"] in " ".join(users["hovertext"])
    # A small map: every point, no density layer.
    small = planted_map({"user": (900, 20), "item": (1_600, 20)})
    names = [trace["name"] for trace in map_figure.figure(small, "kind")["data"]]
    assert "density" not in names
    user = next(t for t in map_figure.figure(small, "kind")["data"] if t["name"] == "user")
    assert len(user["x"]) == 900


def test_a_large_maps_hovers_are_made_for_the_rows_drawn_and_read_as_before():
    """The dashboard makes the hover texts a first draw shows (map_data.first_hovers: every
    cluster and the drawn sample; all 164,794 rows of an ML-20M-size map took 0.53 s) and the
    figure the others it draws (here a search hit outside the sample). Each drawn point's text
    is the one made for every row, and the sample's size barely moves."""
    full = planted_map()
    first = first_hovers(full.drop(columns="hover"), "level", [])
    made = pd.notna(first)
    assert made[full["level"].to_numpy() > 0].all()  # every cluster
    assert 1_000 < made.sum() < len(full) / 10
    assert (first[made] == full["hover"].to_numpy()[made]).all()
    lazy = full.assign(hover=first)
    assert abs(map_figure.hover_limit(lazy) / map_figure.hover_limit(full) - 1) < 0.05
    hit = full[(full["kind"] == "item") & ~made].iloc[0]
    expected = dict(zip(zip(full["kind"], full["level"], full["index"]), full["hover"]))
    figure = map_figure.figure(lazy, "top_cluster", cluster_names={}, focus=hit)
    drawn = 0
    for trace in figure["data"]:
        if "customdata" not in trace or "hovertext" not in trace:
            continue  # the density layer, legend entries, selection rings
        for custom, text in zip(trace["customdata"], trace["hovertext"], strict=True):
            point = map_figure.point_of(list(custom))
            assert text == expected[point["kind"], point["level"], point["index"]]
            drawn += 1
    assert drawn > 1_000
    item = next(t for t in figure["data"] if t["name"] == "item")
    assert hit["label"] in " ".join(item["hovertext"])


def test_a_huge_clusters_members_are_drawn_most_probable_first():
    members = pd.DataFrame(
        {
            "x": np.zeros(40_000),
            "y": np.zeros(40_000),
            "probability": np.linspace(1, 0.01, 40_000)[::-1],
            "hover": "x" * 100,
        }
    )
    drawn = map_figure.strongest(members)
    assert len(drawn) == map_figure.hover_limit(members) < 40_000
    assert drawn["probability"].min() >= members["probability"].nlargest(len(drawn)).min()


def test_top_members_block_by_block_is_a_stable_sort_of_each_column():
    rng = np.random.default_rng(2)
    probabilities = np.round(rng.dirichlet(np.ones(37), size=3_000), 2)  # ties, 3 blocks
    expected = np.argsort(-probabilities, axis=0, kind="stable")[:5]
    assert (top_members(probabilities, 5) == expected).all()


def _sampled_map() -> pd.DataFrame:
    """A map with more points than a figure draws with hovers (a density layer beneath), and a
    metadata column on the items with more values than get a colour, some rows without one."""
    frame = planted_map({"user": (9_000, 30), "item": (4_000, 20)}, seed=1)
    genres = np.array([f"genre {g}" for g in range(25)], dtype=object)[frame["index"] % 25]
    genres[(frame["kind"] != "item").to_numpy() | (frame["index"] % 7 == 0).to_numpy()] = None
    return frame.assign(genre=pd.Series(genres, dtype="string"))


def test_the_figure_is_a_valid_plotly_figure_and_sent_as_plotly_sends_it():
    """map_figure builds plain dicts: graph_objects validated and deep-copied every array at
    each redraw (0.08-0.13 s of a figure at ML-20M size). plotly's Figure takes each one (it
    raises on a property it does not know or a bad value) and writes the JSON
    charts.figure_json sends: numbers as typed arrays, plotly's template."""
    import json

    import plotly.graph_objects as go

    frame = _sampled_map()
    members = frame[(frame["kind"] == "user") & (frame["top_cluster"] == 2)]
    members = members.assign(probability=np.linspace(0.2, 1.0, len(members)))
    hit = frame[(frame["kind"] == "item") & ~map_figure.drawn_rows(frame)].iloc[0]
    figures = [
        map_figure.figure(frame, "top_cluster", cluster_names={"user cluster 1": "<b>x</b>"}),
        map_figure.figure(frame, "genre", highlight=members, selected=frame.head(30)),
        map_figure.figure(frame, "kind", focus=hit, selected=frame.head(3), view="v"),
        map_figure.figure(frame.head(500), "top_cluster", highlight=members.head(9)),
    ]
    for figure in figures:
        sent = json.loads(charts.figure_json(figure))
        assert sent == json.loads(pio.to_json(go.Figure(figure))), figure["layout"]
        user = next(trace for trace in sent["data"] if trace["name"] == "user")
        assert set(user["x"]) == {"dtype", "bdata"} and user["x"]["dtype"] == "f4"
        assert "template" in sent["layout"]
    assert "density" in [trace["name"] for trace in figures[0]["data"]]
    assert "density" not in [trace["name"] for trace in figures[3]["data"]]


def test_a_figure_in_parts_is_the_figure_and_a_highlight_keeps_the_points_pieces():
    """charts.figure_parts (what live_chart sends): the figure with each piece's JSON put back
    in place of its name is figure_json's text exactly; pieces are named by their content,
    so a highlight of the same map (its points dimmed, a cluster's members drawn on top)
    names the pieces of the points' positions, hovers and custom data again."""

    frame = _sampled_map()
    members = frame[(frame["kind"] == "user") & (frame["top_cluster"] == 2)]
    members = members.assign(probability=np.linspace(0.2, 1.0, len(members)))
    plain = map_figure.figure(frame, "top_cluster")
    lit = map_figure.figure(frame, "top_cluster", highlight=members, selected=members.head(1))
    parts = {}
    for name, figure in (("plain", plain), ("lit", lit)):
        skeleton, pieces, names = charts.figure_parts(figure)
        assert set(pieces) == names  # none kept: every piece sent
        text = skeleton
        for piece, value in pieces.items():
            assert f'{{"piece":"{piece}"}}' in skeleton
            text = text.replace(f'{{"piece":"{piece}"}}', value)
        assert text == charts.figure_json(figure)
        assert len(skeleton) < 0.05 * len(text)  # the figure's bulk is in its pieces
        parts[name] = pieces
    user = next(trace for trace in plain["data"] if trace["name"] == "user")
    kept = set(parts["plain"]) & set(parts["lit"])
    for value in (user["x"], user["y"], user["customdata"], user["hovertext"]):
        assert charts.figure_parts({"value": value})[2] <= kept
    new = sum(len(parts["lit"][piece]) for piece in set(parts["lit"]) - kept)
    assert 0 < new < 0.5 * sum(len(value) for value in parts["lit"].values())
    # Kept pieces are named and not sent; the others are, as before.
    skeleton, sent, names = charts.figure_parts(lit, frozenset(parts["plain"]))
    assert names == set(parts["lit"]) and sent == {p: parts["lit"][p] for p in names - kept}


def test_the_maps_plotly_js_is_the_packages_version_and_draws_every_trace_of_the_map():
    """The map's plotly.js (dashboard/plotly_js, rebuilt by its build.sh after a plotly
    upgrade): the version the plotly package writes figures for, and every trace type a map
    figure holds (density layer, points, clusters, members, rings) registered in it."""
    import re

    import plotly.offline

    folder = Path(map_figure.__file__).with_name("plotly_js")
    bundle = (folder / "plotly-map.min.js").read_text(encoding="utf-8")
    assert set(re.findall(r'\.version="(\d+\.\d+\.\d+)"', bundle)) == {
        plotly.offline.get_plotlyjs_version()
    }
    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', bundle))
    frame = _sampled_map()
    members = frame[(frame["kind"] == "user") & (frame["top_cluster"] == 2)]
    members = members.assign(probability=np.linspace(0.2, 1.0, len(members)))
    figure = map_figure.figure(frame, "genre", highlight=members, selected=frame.head(3))
    drawn = {trace.get("type", "scatter") for trace in figure["data"]}
    assert {"heatmap", "scattergl", "scatter"} <= drawn  # the figure above has each kind
    assert drawn <= registered
    assert (folder / "LICENSE").read_text().startswith("MIT License")


def _drawn_colours(trace: dict) -> list[str]:
    """Each point's colour as plotly.js draws it: its code's step of the stepped scale."""
    marker = trace["marker"]
    if isinstance(marker["color"], str):
        return [marker["color"]] * len(trace["x"])
    return [marker["colorscale"][2 * int(code)][1] for code in marker["color"]]


def test_each_point_has_its_values_colour_and_the_rest_are_other():
    """Coloured by the top cluster (user cluster 3 and item cluster 3 are two values) and by a
    metadata column with 25 values and empty rows: every drawn point has the colour palette()
    gave its value, or the "other" grey when its value has none (folded, or no value)."""
    frame = _sampled_map()
    for colour in ("top_cluster", "genre"):
        values = map_figure.colour_values(frame, colour)
        colours, _legend, folded = map_figure.palette(values)
        assert len(colours) == map_figure.MAX_COLOURS and folded > 0
        if colour == "top_cluster":
            assert {"user cluster 3", "item cluster 3"} <= set(colours)
        figure = map_figure.figure(frame, colour, drawn=map_figure.drawn_rows(frame))
        value_of = dict(zip(zip(frame["kind"], frame["level"], frame["index"]), values))
        checked = 0
        for trace in figure["data"]:
            if trace["name"] not in map_figure.KINDS:
                continue
            for custom, drawn in zip(trace["customdata"], _drawn_colours(trace), strict=True):
                point = map_figure.point_of(list(custom))
                value = value_of[point["kind"], point["level"], point["index"]]
                known = pd.notna(value) and value in colours
                assert drawn == (colours[value] if known else map_figure.OTHER_COLOUR), point
                checked += 1
        assert checked > 1_000
