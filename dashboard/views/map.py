"""Map page: users, items and the clusters of every level in HMF's one latent space (UMAP, or
PCA at once while UMAP is computed). Click or lasso points to select them for the other pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import map_data, map_figure, map_panels, prepare, queries, state
from dashboard.live_chart import live_chart, preload_chart, selection
from dashboard.map_figure import KINDS
from dashboard.text import literal
from hmf_core import (
    column_title,
    find_points,
    job_running,
    joined_on_points,
    map_points,
    parse_point_kind,
    points_in_region,
    points_of,
    readable_level,
    start_maps,
    trust_line,
)

# Why the comparable view moves the points (hmf_core.shared_map computes it).
SHARED_REASON = (
    "In the model's space users and items form two clouds. The model scores a pair by the "
    "inner product u·v, and writing u = μ_U + ū, v = μ_V + v̄ (μ: the mean user, the mean "
    "item) gives u·v = ū·v̄ + ū·μ_V + μ_U·v̄ + μ_U·μ_V: each side's mean only adds an offset "
    "per user, per item, or for all, yet it moves the whole side away from the other. This "
    "view removes each side's mean and each point's length (ū/|ū|, v̄/|v̄|), so one cloud "
    "remains and a user lies towards the items whose own part of the score, ū·v̄, is large "
    "for their lengths (cosine). Clusters are moved by their side's mean likewise."
)

COLOUR_CHOICES = {  # then the run's own metadata columns (map_data.metadata_columns)
    "kind": "Kind",
    "level": "Level",
    "top_cluster": "Top cluster (level 1)",
    "cluster_stability": "Cluster stability",  # once measured (map_data.stability)
}


def map_page() -> None:
    st.title("Map")
    explored = state.require_model()
    with st.sidebar:  # plotly.js loads in the browser while the map is computed here
        preload_chart("map_chart_preload")
    controls = st.columns([2, 3, 2, 3])
    layout = controls[2].selectbox(
        "Layout",
        list(map_data.LAYOUTS),
        format_func=map_data.LAYOUTS.get,
        key="map_layout",
        persist_state="session",
        help="Model space: the model's own latent space. Users and items comparable: each "
        "side's mean and each point's length removed, so both sides share one cloud.",
    )
    word = queries.grouping_word(explored.key)
    colour_slot = controls[0].container()  # Colour by first, the view it reads under it
    top_level = _top_view(controls[0], word, queries.level_counts(explored.key))
    frame, method = map_data.drawn(explored.run, explored.key, layout, top_level)
    if layout == "shared":
        _shared_note(explored)
    else:
        _map_note(explored, method)
    depths = queries.level_counts(explored.key)
    first_levels = {side: min(1, count) for side, count in depths.items()}
    st.caption(literal(trust_line(explored.run.quality(), first_levels, explored.run.stability())))

    columns = map_data.metadata_columns(explored.key)
    colour, shown, query = _view_controls(controls, colour_slot, frame, word, top_level, columns)
    chosen = _level_picker(frame, word, queries.level_sizes(explored.key))
    visible = map_points(frame, shown or [], chosen or [])
    focus = map_panels.search_results(find_points(frame, query), query) if query.strip() else None

    drawn = map_data.drawn_rows(
        explored.run, explored.key, layout, top_level, shown or [], chosen or [], focus
    )
    if len(drawn) != len(visible):  # a map written between the two reads: this one's own
        drawn = map_figure.drawn_rows(visible, focus)
    st.session_state["map_sampled"] = not drawn.all()
    _select_region(visible)
    _remember_cluster_spots(visible)
    points = state.selected_points()
    highlight, highlight_note = _highlight(explored, frame, visible, points)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        figure = map_figure.figure(
            visible,
            colour,
            cluster_names=map_data.cluster_names(frame, top_level),
            focus=focus,
            selected=points_of(frame, points).head(500) if points else None,
            highlight=highlight,
            drawn=drawn,
            colour_title=None
            if word == "level" or colour != "top_cluster"
            else f"top cluster ({word} {top_level})",
            words=(word, columns),
            view=f"{explored.run.name}-{explored.key[1]}-{layout}",  # zoom kept till it changes
        )
        _chart(figure, visible, drawn, method)
    with right:
        map_panels.selection_panel(explored, highlight_note)  # beside: the chart never moves
    prepare.map_clicks(explored.key, chosen or [])


def _top_view(cell, word: str, depths: dict[str, int]) -> int:
    """The grouping whose top cluster colours the map: 1 for levels (HMF's level 1); for
    views, a picker of the view (more than one)."""
    views = min(depths.values())
    if word == "level" or views <= 1:
        st.session_state["map_top_level"] = 1
        return 1
    picked = cell.selectbox(
        f"Top cluster of {word}",
        list(range(1, views + 1)),
        format_func=lambda view: f"{word} {view}",
        key="map_colour_view",
        help=f"Colour by 'Top cluster' colours each user and item by its most probable "
        f"centre in this {word}, and shows this {word}'s centres in colour.",
    )
    st.session_state["map_top_level"] = picked
    return int(picked)


def _colour_label(choice: str, word: str, top_level: int) -> str:
    """A Colour by choice in the run's words: "Level" or "View", the top cluster's grouping."""
    if choice not in COLOUR_CHOICES:
        return column_title(choice)  # a metadata column, by its own name
    if word == "level":
        return COLOUR_CHOICES[choice]
    return {"level": word.capitalize(), "top_cluster": f"Top cluster ({word} {top_level})"}.get(
        choice, COLOUR_CHOICES[choice]
    )


def _view_controls(
    controls: list, colour_slot, frame: pd.DataFrame, word: str, top_level: int, columns: list
) -> tuple[str, list, str]:
    """(colour, kinds shown, search text): the Colour by, Show and Find by name controls;
    `columns`: the run's metadata columns, offered after the model's own choices."""
    colour_options = [c for c in [*COLOUR_CHOICES, *columns] if c in frame.columns]
    colour = colour_slot.selectbox(
        "Colour by",
        colour_options,
        format_func=lambda choice: _colour_label(choice, word, top_level),
        key="map_colour",
        persist_state="session",
    )
    present = [kind for kind in KINDS if (frame["kind"] == kind).any()]
    shown = controls[1].pills(
        "Show",
        present,
        default=present,
        selection_mode="multi",
        key="map_kinds",
        persist_state="session",
    )
    query = controls[3].text_input(
        "Find by name", key="map_search", placeholder="a name, a user, 'item cluster 12'…"
    )
    return colour, shown, query


def _level_picker(frame: pd.DataFrame, word: str, sizes: dict[str, list[int]]) -> list[int]:
    """The cluster levels (or views: `word`) shown: a picker when there is more than one,
    opening on each side's readable level (hmf_core.readable_level; every view for views)."""
    levels = sorted(int(level) for level in frame["level"].unique() if level > 0)
    if len(levels) <= 1:
        return levels
    readable = {readable_level(found) for found in sizes.values() if found}
    default = [level for level in levels if level in readable] if word == "level" else levels
    return st.pills(
        f"Cluster {word}s",
        levels,
        default=default or levels,
        selection_mode="multi",
        key="map_levels",
        format_func=lambda level: f"{word} {level}",
    )


def _chart(figure, visible: pd.DataFrame, drawn: np.ndarray, method: str) -> None:
    """The map, selectable by click, box and lasso, and how to use it; on a sampled map
    (`drawn`: the rows drawn with hovers), what is drawn and what a box or lasso takes."""
    live_chart(
        figure,
        key="map_chart",
        on_select=_on_select,
        config={"scrollZoom": True, "displaylogo": False, "responsive": True},
    )
    objects = (visible["level"] == 0).to_numpy()
    if drawn.all():
        st.caption(
            f"{len(visible):,} points ({method.upper()}). Hover for names; click a point,"
            " or pick box / lasso select in the chart's toolbar to select several; "
            "double-click empty space to clear. Scroll to zoom."
        )
        return
    st.caption(
        f"{len(visible):,} points ({method.upper()}): every cluster, and "
        f"{int((drawn & objects).sum()):,} of the {int(objects.sum()):,} users and items (a "
        "sample in proportion to their top clusters, the same at every redraw) drawn one by "
        "one with their names on hover; the grey shading shows where all of them lie. Click a "
        "drawn point, or box / lasso select in the chart's toolbar: a box or lasso selects "
        "every user and item inside it, drawn or not. Find by name finds any of them. "
        "Double-click empty space to clear. Scroll to zoom."
    )


def _select_region(visible: pd.DataFrame) -> None:
    """After a box or lasso on a sampled map (_on_select keeps its region): the selection
    becomes the clusters it caught and every user and item of `visible` inside it."""
    region = st.session_state.pop("map_region", None)
    if not region:
        return
    objects = points_in_region(visible[visible["level"] == 0], region["box"], region["lasso"])
    caught = [_picked(row, region["top_level"]) for row in objects.to_dict("records")]
    clusters = [p for p in state.selected_points() if parse_point_kind(p["kind"])[1]]
    state.select(clusters + caught)


def _picked(point: dict, top_level: int) -> dict:
    """A point as the selection keeps it: kind, level, index and top cluster (plain ints),
    and the grouping of that top cluster when it is not grouping 1."""
    kept = {"kind": point["kind"]}
    kept |= {key: int(point[key]) for key in ("level", "index", "top_cluster")}
    return kept | ({"top_level": top_level} if top_level != 1 else {})


def _highlight(
    explored: state.Explored, frame: pd.DataFrame, visible: pd.DataFrame, points: list[dict]
) -> tuple[pd.DataFrame | None, str]:
    """One selected cluster: its members on the map (rows with x, y and probability) and the
    sentence that says how many are highlighted."""
    if len(points) != 1 or not parse_point_kind(points[0]["kind"])[1]:
        return None, ""
    point = points[0]
    side = parse_point_kind(point["kind"])[0]
    members = map_data.highlight(explored.key, side, int(point["level"]), int(point["index"]))
    drawn = joined_on_points(members, visible)
    word = queries.grouping_word(explored.key)
    name = f"{point['kind']} {point['index']} ({word} {point['level']})"
    if members.empty:
        return drawn, f"No {side} has {name} as its most probable cluster: nothing highlighted."
    if drawn.empty:
        return None, f"Show the {side}s to see the members of {name} highlighted."
    tops = int(drawn["top"].sum())
    share = 2.0 / len(queries.cluster_sizes(explored.key, side, int(point["level"])))
    return drawn, (
        f"Highlighted on the map: {len(drawn):,} {side}s of {name}, larger and more opaque "
        f"the more probable: {tops:,} have it as their most probable cluster, "
        f"{len(drawn) - tops:,} more have a probability of at least {share:.2f} (twice "
        f"uniform) for it; the highest is {drawn['probability'].max():.2f}.{_capped(drawn)} "
        "Every other point is dimmed."
    )


def _capped(members: pd.DataFrame) -> str:
    """What a highlight leaves out when a cluster has more members than a figure draws."""
    drawn = len(map_figure.strongest(members))
    if drawn == len(members):
        return ""
    return f" The {drawn:,} most probable are drawn."


def _shared_note(explored: state.Explored) -> None:
    offsets = map_data.shared(explored.key)[1]
    st.info(
        f"**Users and items comparable.** {literal(SHARED_REASON)} In this run the mean user has "
        f"length {offsets['user_mean_norm']:.2f} (users average "
        f"{offsets['user_norm']:.2f}), the mean item {offsets['item_mean_norm']:.2f} (items "
        f"average {offsets['item_norm']:.2f}), and the two means have cosine "
        f"{offsets['means_cosine']:+.2f}. Projected with PCA (computed when asked for: under "
        "a second at 100,000 ratings).",
        icon=":material/join:",
    )


def _map_note(explored: state.Explored, method: str) -> None:
    status = explored.status
    if method == "umap":
        timings = explored.run.map_timings()
        if "error" in timings:  # maps.json damaged (the map itself was read)
            st.warning(literal(timings["error"]))
        elif timings:
            fitted, rows = timings.get("umap_fitted_rows"), timings.get("umap_rows")
            sample = (
                f" UMAP was fitted on a sample of {fitted:,} of the {rows:,} points (every "
                "cluster, users and items in proportion to their top cluster); the others are "
                "placed from their 10 nearest fitted points."
                if isinstance(fitted, int) and isinstance(rows, int) and 0 < fitted < rows
                else ""
            )
            st.caption(
                f"UMAP of the best checkpoint (computed in {timings.get('umap_s', '?')} s"
                f" after training).{sample}"
            )
        return
    settings = explored.run.settings()
    if status.active and settings.get("projection", True):
        st.info(
            "Showing PCA (instant) while UMAP is computed in the background after "
            f"training ({literal(status.phase)} now). The map switches to UMAP by itself.",
            icon=":material/hourglass_top:",
        )
        _wait_for_umap(explored)
        return
    running = job_running(explored.run, "maps")
    failure = explored.run.map_timings().get("error")  # recorded by compute_maps
    if running:
        message = "UMAP is being computed for this run in the background."
    elif failure:
        message = f"Computing the UMAP map failed: {literal(failure)}"
    else:
        message = "This run has no UMAP map (it was not asked for, or training ended before it)."
    st.info(f"Showing PCA. {message}", icon=":material/info:")
    if running:
        _wait_for_umap(explored)
    elif st.button(
        "Compute the UMAP map",
        key="compute_umap",
        help="Runs in a separate process; seconds to a minute on a CPU.",
    ):
        start_maps(explored.run)
        st.rerun()


def _wait_for_umap(explored: state.Explored) -> None:
    @st.fragment(run_every=3.0)
    def check() -> None:
        if "umap" in explored.run.maps_ready():
            st.rerun()

    check()


def _remember_cluster_spots(visible: pd.DataFrame) -> None:
    """The cluster markers drawn and what counts as their spot (state.SAME_SPOT of the map's
    extent), for a click's selection (_on_select, state.click_choice)."""
    clusters = visible[visible["kind"].str.endswith(" cluster")]
    extent = max(float(np.ptp(visible["x"])), float(np.ptp(visible["y"]))) if len(visible) else 0
    st.session_state["map_cluster_spots"] = (
        clusters[["kind", "level", "index", "size", "top_cluster", "x", "y"]].to_dict("records"),
        state.SAME_SPOT * extent,
    )


def _on_select() -> None:
    """Chart selection -> the session's selection (kept until the next chart event). A user's
    or item's point keeps its top level-1 cluster, from which the other pages open a cluster
    when a lasso caught objects of a side but none of its clusters (state.selected). A click
    (no box, no lasso) on a cluster's marker selects the cluster, not an object under it
    (state.click_choice)."""
    region = selection("map_chart")
    found = {}
    for point in region["points"]:
        custom = point.get("customdata")
        if not custom or len(custom) < 5:
            continue  # a legend entry
        picked = map_figure.point_of(custom)
        picked.update(x=point.get("x"), y=point.get("y"))
        found[picked["kind"], picked["level"], picked["index"]] = picked
    chosen = list(found.values())
    if chosen and not region["box"] and not region["lasso"]:
        spots, tolerance = st.session_state.get("map_cluster_spots", ([], 0.0))
        if all(point["x"] is not None for point in chosen):
            chosen = state.click_choice(chosen, spots, tolerance)
    # Clusters first, the largest first.
    ordered = sorted(
        chosen, key=lambda point: (not parse_point_kind(point["kind"])[1], -point["size"])
    )
    top_level = st.session_state.get("map_top_level", 1)  # the grouping of top_cluster
    if st.session_state.get("map_sampled") and (region["box"] or region["lasso"]):
        st.session_state["map_region"] = {  # every point inside, drawn or not: _select_region
            "box": region["box"],
            "lasso": region["lasso"],
            "top_level": top_level,
        }
    state.select([_picked(point, top_level) for point in ordered])


map_page()
