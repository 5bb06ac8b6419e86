"""Map page: users, items and the clusters of every level in HMF's one latent space (UMAP, or
PCA at once while UMAP is computed). Click or lasso points to select them for the other pages."""

from __future__ import annotations

import streamlit as st

from dashboard import loads, map_figure, map_panels, state
from dashboard.map_figure import KINDS
from dashboard.text import literal
from hmf_core.projection import find_points, map_points
from hmf_core.runs import job_running, start_maps
from hmf_core.trust import trust_line

COLOUR_CHOICES = {
    "kind": "Kind",
    "level": "Level",
    "top_cluster": "Top cluster (level 1)",
    "genre": "Genre",
    "gender": "Gender",
    "occupation": "Occupation",
}


def map_page() -> None:
    st.title("Map")
    explored = state.require_model()
    frame, method = loads.run_map(explored.run, explored.key)
    _map_note(explored, method)
    config = explored.model.config
    first_levels = {"user": min(1, config.user_depth), "item": min(1, config.item_depth)}
    st.caption(literal(trust_line(explored.run.quality(), first_levels)))

    controls = st.columns([2, 3, 3])
    colour_options = [c for c in COLOUR_CHOICES if c in frame.columns]
    colour = controls[0].selectbox(
        "Colour by",
        colour_options,
        format_func=COLOUR_CHOICES.get,
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
    query = controls[2].text_input(
        "Find by name", key="map_search", placeholder="a title, a user, 'item cluster 12'…"
    )
    levels = sorted(int(level) for level in frame["level"].unique() if level > 0)
    if len(levels) > 1:
        chosen = st.pills(
            "Cluster levels",
            levels,
            default=levels,
            selection_mode="multi",
            key="map_levels",
            format_func=lambda level: f"level {level}",
        )
    else:
        chosen = levels
    visible = map_points(frame, shown or [], chosen or [])
    matches = find_points(frame, query)

    left, right = st.columns([3, 2], gap="medium")
    with left:
        figure = map_figure.figure(visible, frame, colour, matches, state.selected_points())
        st.plotly_chart(
            figure,
            key="map_chart",
            on_select=_on_select,
            selection_mode=("points", "box", "lasso"),
            config={"scrollZoom": True, "displaylogo": False},
        )
        st.caption(
            f"{len(visible):,} points ({method.upper()}). Hover for names; click a point,"
            " or pick box / lasso select in the chart's toolbar to select several; "
            "double-click empty space to clear. Scroll to zoom."
        )
        if query:
            map_panels.search_results(matches)
    with right:
        map_panels.selection_panel(explored)


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


def _on_select() -> None:
    """Chart selection -> the session's selection (kept until the next chart event)."""
    event = st.session_state.get("map_chart")
    found = {}
    for point in event.selection.points if event else []:
        custom = point.get("customdata")
        if not custom or len(custom) < 4:
            continue  # a legend entry
        found[(str(custom[0]), int(custom[1]), int(custom[2]))] = float(custom[3])
    # Clusters first, the largest first: the first one of a side is what other pages open.
    ordered = sorted(found, key=lambda key: (not key[0].endswith("cluster"), -found[key]))
    state.select([{"kind": kind, "level": level, "index": index} for kind, level, index in ordered])


map_page()
