"""Map page: users, items and the clusters of every level in HMF's one latent space (UMAP, or
PCA at once while UMAP is computed). Click or lasso points to select them for the other pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, queries, state

KINDS = ("user", "item", "user cluster", "item cluster")
SYMBOLS = {"user": "circle", "item": "circle", "user cluster": "diamond", "item cluster": "square"}
KIND_COLOURS = {
    "user": "#3457d5",
    "item": "#e8743b",
    "user cluster": "#0b1f73",
    "item cluster": "#9c3b00",
}
COLOUR_CHOICES = {
    "kind": "Kind",
    "level": "Level",
    "top_cluster": "Top cluster (level 1)",
    "genre": "Genre",
    "gender": "Gender",
    "occupation": "Occupation",
}
MAX_LEGEND = 24


def map_page() -> None:
    st.title("Map")
    explored = state.require_model()
    frame, method = state.run_map(explored)
    _map_note(explored, method)

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
    visible = frame[
        frame["kind"].isin(shown or [])
        & ((frame["level"] == 0) | frame["level"].isin(chosen or []))
    ]
    matches = _matches(frame, query)

    left, right = st.columns([3, 2], gap="medium")
    with left:
        figure = _figure(visible, frame, colour, matches)
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
            _search_results(matches)
    with right:
        _selection_panel(explored)


def _map_note(explored: state.Explored, method: str) -> None:
    status = explored.status
    if method == "umap":
        timings = state.read_map_timings(explored.run)
        if timings:
            st.caption(
                f"UMAP of the best checkpoint (computed in {timings.get('umap_s', '?')} s"
                " after training)."
            )
        return
    settings = explored.run.settings()
    if status.active and settings.get("projection", True):
        st.info(
            "Showing PCA (instant) while UMAP is computed in the background after "
            f"training ({status.phase} now). The map switches to UMAP by itself.",
            icon=":material/hourglass_top:",
        )
        _wait_for_umap(explored)
        return
    running = state.map_job_running(explored.run)
    failure = state.read_map_timings(explored.run).get("error")  # recorded by compute_maps
    if running:
        message = "UMAP is being computed for this run in the background."
    elif failure:
        message = f"Computing the UMAP map failed: {failure}"
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
        state.start_map_job(explored.run)
        st.rerun()


def _wait_for_umap(explored: state.Explored) -> None:
    @st.fragment(run_every=3.0)
    def check() -> None:
        if (explored.run.path / "map_umap.parquet").exists():
            st.rerun()

    check()


def _matches(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    if not query.strip():
        return frame.iloc[:0]
    found = frame["label"].astype(str).str.contains(query.strip(), case=False, regex=False)
    return frame[found]


def _hover(rows: pd.DataFrame) -> list[str]:
    extra = [c for c in ("genre", "gender", "occupation") if c in rows.columns]
    texts = []
    for row in rows.itertuples(index=False):
        text = f"<b>{row.label}</b><br>{row.kind}"
        if row.level > 0:
            text += f", level {row.level}, size {row.size:.1f}"
        elif row.top_cluster >= 0:
            text += f", top cluster {row.top_cluster}"
        for column in extra:
            value = getattr(row, column)
            if isinstance(value, str) and value:
                text += f"<br>{column}: {value}"
        texts.append(text)
    return texts


def _custom(rows: pd.DataFrame) -> np.ndarray:
    """Per point: kind, level, index (which object or cluster it is) and size."""
    return np.stack(
        [
            rows["kind"].to_numpy(object),
            rows["level"].to_numpy(),
            rows["index"].to_numpy(),
            rows["size"].to_numpy(),
        ],
        axis=1,
    )


def _figure(
    visible: pd.DataFrame, frame: pd.DataFrame, colour: str, matches: pd.DataFrame
) -> go.Figure:
    figure = go.Figure()
    palette = charts.colour_map(frame[colour]) if colour != "kind" else {}
    for kind in KINDS:
        rows = visible[visible["kind"] == kind]
        if rows.empty:
            continue
        is_cluster = kind.endswith("cluster")
        if colour == "kind":
            colours = KIND_COLOURS[kind]
        else:
            colours = rows[colour].map(palette).fillna("#b8bfcc").tolist()
        if is_cluster:  # marker area grows with the cluster's size, relative to its kind
            relative = np.sqrt(rows["size"].clip(lower=0) / max(rows["size"].max(), 1e-9))
            sizes = 6 + 10 * relative
        else:
            sizes = 5
        trace = go.Scatter if is_cluster else go.Scattergl  # clusters stay SVG: easy to click
        figure.add_trace(
            trace(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name=kind,
                marker={
                    "color": colours,
                    "size": sizes,
                    "symbol": SYMBOLS[kind],
                    "opacity": 0.95 if is_cluster else 0.6,
                    "line": {"width": 1 if is_cluster else 0, "color": "white"},
                },
                hovertext=_hover(rows),
                hoverinfo="text",
                customdata=_custom(rows),
                showlegend=colour == "kind" or len(palette) > MAX_LEGEND,
            )
        )
    if colour != "kind" and len(palette) <= MAX_LEGEND:
        for value, hex_colour in palette.items():  # legend entries for the colour values
            figure.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=str(value),
                    marker={"color": hex_colour, "size": 8},
                    legendgroup="colours",
                    hoverinfo="skip",
                )
            )
    selected = state.selected_points()
    if not matches.empty:
        shown = matches.head(200)
        figure.add_trace(
            go.Scatter(
                x=shown["x"],
                y=shown["y"],
                mode="markers",
                name="search matches",
                marker={
                    "symbol": "star",
                    "size": 15,
                    "color": "#ffd400",
                    "line": {"width": 1.5, "color": "#1d2433"},
                },
                hovertext=_hover(shown),
                hoverinfo="text",
                customdata=_custom(shown),
            )
        )
    if selected:
        keys = pd.DataFrame(selected)[["kind", "level", "index"]]
        rows = frame.merge(keys, on=["kind", "level", "index"]).head(500)
        figure.add_trace(
            go.Scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name="selected",
                marker={
                    "symbol": "circle-open",
                    "size": 16,
                    "color": "#e0115f",
                    "line": {"width": 2.5},
                },
                hovertext=_hover(rows),
                hoverinfo="text",
                customdata=_custom(rows),
            )
        )
    figure.update_layout(
        height=640,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        dragmode="pan",
        legend={"orientation": "h", "y": -0.05, "itemsizing": "constant"},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        plot_bgcolor="#fbfcfe",
        hovermode="closest",
        uirevision="map",
    )
    return figure


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


def _search_results(matches: pd.DataFrame) -> None:
    if matches.empty:
        st.caption("No name matches.")
        return
    options = list(matches.head(100).itertuples(index=False))
    choice = st.selectbox(
        f"{len(matches):,} matches (starred on the map)",
        options,
        format_func=lambda row: f"{row.label} · {row.kind}",
        key="map_search_choice",
    )
    if st.button("Select it", key="map_search_select"):
        state.select(
            [{"kind": choice.kind, "level": int(choice.level), "index": int(choice.index)}]
        )
        st.rerun()


def _selection_panel(explored: state.Explored) -> None:
    points = state.selected_points()
    if not points:
        st.subheader("Selection")
        st.caption(
            "Nothing selected. Click a cluster (diamond = user cluster, square = item "
            "cluster) to see its members, or a user / item to see its clusters; or lasso "
            "a region. The selection also opens in Cluster affinity, Membership and "
            "Explain."
        )
        return
    header, clear = st.columns([4, 1], vertical_alignment="center")
    if clear.button("Clear", key="clear_selection"):
        state.clear_selection()
        st.rerun()
    if len(points) > 1:
        _several(explored, points, header)
    elif points[0]["kind"].endswith("cluster"):
        _one_cluster(explored, points[0], header)
    else:
        _one_object(explored, points[0], header)


def _one_cluster(explored: state.Explored, point: dict, header) -> None:
    side = point["kind"].split()[0]
    level, cluster = point["level"], point["index"]
    sizes = queries.cluster_sizes(explored.key, side, level)
    header.subheader(f"{point['kind'].capitalize()} {cluster} (level {level})")
    st.caption(
        f"Size {sizes[cluster]:.1f} (sum of its members' probabilities). Members, most "
        "probable first:"
    )
    members = queries.cluster_members(explored.key, side, level, cluster, top=25)
    columns = [
        c
        for c in ("label", "genres", "gender", "age", "occupation", "probability")
        if c in members.columns
    ]
    st.dataframe(
        members[columns],
        hide_index=True,
        key="map_members",
        height=420,
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability", format="%.3f", min_value=0.0, max_value=1.0
            )
        },
    )
    st.page_link(
        "views/membership.py", label="All members and the hierarchy", icon=":material/account_tree:"
    )
    st.page_link(
        "views/affinity.py", label="What this cluster likes (affinity)", icon=":material/grid_on:"
    )


def _one_object(explored: state.Explored, point: dict, header) -> None:
    side = point["kind"]
    meta = explored.users if side == "user" else explored.items
    label = meta.loc[meta["index"] == point["index"], "label"]
    header.subheader(label.iloc[0] if len(label) else f"{side} {point['index']}")
    membership = queries.object_membership(explored.key, side, point["index"])
    if membership.empty:
        st.caption(f"The {side} side has depth 0 (plain MF): no clusters.")
    else:
        top = (
            membership.sort_values("probability", ascending=False)
            .groupby("level")
            .head(5)
            .sort_values(["level", "probability"], ascending=[True, False])
        )
        st.caption("Its most probable clusters per level:")
        st.dataframe(
            top,
            hide_index=True,
            key="map_membership",
            column_config={
                "probability": st.column_config.ProgressColumn(
                    "probability", format="%.3f", min_value=0.0, max_value=1.0
                )
            },
        )
    if side == "user":
        st.page_link(
            "views/explain.py", label="Recommendations for this user", icon=":material/lightbulb:"
        )
    st.page_link(
        "views/membership.py", label="Membership at every level", icon=":material/account_tree:"
    )


def _several(explored: state.Explored, points: list[dict], header) -> None:
    header.subheader(f"{len(points):,} points selected")
    frame, _ = state.run_map(explored)
    rows = frame.merge(
        pd.DataFrame(points)[["kind", "level", "index"]], on=["kind", "level", "index"]
    )
    order = {kind: position for position, kind in enumerate(reversed(KINDS))}
    rows = rows.sort_values(
        ["kind", "size"], key=lambda column: column.map(order) if column.name == "kind" else -column
    )
    counts = rows["kind"].value_counts()
    st.caption(
        ", ".join(f"{count:,} {kind}s" for kind, count in counts.items())
        + ". Clusters first, largest first; the first cluster of each side opens in "
        "Cluster affinity and Membership."
    )
    columns = [
        c
        for c in ("kind", "label", "level", "size", "top_cluster", "genre", "gender", "occupation")
        if c in rows.columns
    ]
    st.dataframe(
        rows[columns],
        hide_index=True,
        key="map_selected",
        height=420,
        column_config={"size": st.column_config.NumberColumn(format="%.1f")},
    )
    st.download_button(
        "Download the selection (CSV)",
        rows.to_csv(index=False).encode(),
        file_name=f"{explored.run.name}-map-selection.csv",
        mime="text/csv",
        key="map_selection_download",
        icon=":material/download:",
    )


map_page()
