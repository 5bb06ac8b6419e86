"""The map page's side panels: what is selected (one cluster, one user or item, several
points) and the search results."""

from __future__ import annotations

import zlib

import pandas as pd
import streamlit as st

from dashboard import map_data, queries, state, widgets
from dashboard.map_figure import KINDS
from dashboard.text import literal
from hmf_core import MEASURES, parse_point_kind, points_of


def search_results(matches: pd.DataFrame, query: str) -> pd.Series | None:
    """The search's matches: a picker (the first match by default) and a button that selects
    it. Returns the match to zoom to and ring on the map, or None."""
    if matches.empty:
        st.caption("No name matches.")
        return None
    options = list(range(min(len(matches), 100)))
    rows = matches.head(100)
    picker, button = st.columns([4, 1], vertical_alignment="bottom")
    position = picker.selectbox(
        f"{len(matches):,} {'match' if len(matches) == 1 else 'matches'}: the map zooms to "
        "and rings",
        options,
        format_func=lambda i: f"{rows['label'].iloc[i]} · {rows['kind'].iloc[i]}",
        key=f"map_search_choice_{zlib.crc32(query.encode())}",  # a new query: its first hit
    )
    choice = rows.iloc[position]
    if button.button("Select it", key="map_search_select"):
        point = {
            "kind": choice["kind"],
            "level": int(choice["level"]),
            "index": int(choice["index"]),
        }
        if (
            "top_cluster" in choice
        ):  # as a click records it: Affinity / Membership open that cluster
            point["top_cluster"] = int(choice["top_cluster"])
            top_level = st.session_state.get("map_top_level", 1)  # the grouping of top_cluster
            point |= {"top_level": top_level} if top_level != 1 else {}
        state.select([point])
        st.rerun()
    return choice


def selection_panel(explored: state.Explored, highlight_note: str = "") -> None:
    """What is selected; `highlight_note` says what the map highlights for one cluster."""
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
    elif parse_point_kind(points[0]["kind"])[1]:
        _one_cluster(explored, points[0], header, highlight_note)
    else:
        _one_object(explored, points[0], header)


def _one_cluster(explored: state.Explored, point: dict, header, highlight_note: str) -> None:
    side = parse_point_kind(point["kind"])[0]
    level, cluster = point["level"], point["index"]
    sizes = queries.cluster_sizes(explored.key, side, level)
    word = queries.grouping_word(explored.key)
    header.subheader(f"{point['kind'].capitalize()} {cluster} ({word} {level})")
    name = map_data.names(explored.key)
    name = name.loc[
        (name["kind"] == point["kind"]) & (name["level"] == level) & (name["index"] == cluster),
        "name",
    ]
    if len(name) and isinstance(name.iloc[0], str):
        st.markdown(f"**{literal(name.iloc[0])}**")
    if highlight_note:
        st.caption(highlight_note)
    _stability_line(explored, side, level, cluster)
    st.caption(
        f"Size {sizes[cluster]:.1f} (sum of its members' probabilities). Members, most "
        "probable first:"
    )
    members = queries.cluster_members(explored.key, side, level, cluster, top=25)
    widgets.table_of(
        members,
        ("label", *queries.metadata_shown(explored.key, side), "probability"),
        key="map_members",
        height=420,
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability", format="%.3f", min_value=0.0, max_value=1.0
            )
        },
    )
    st.page_link(
        "views/membership.py",
        label="All members and the hierarchy" if word == "level" else "All members",
        icon=":material/account_tree:",
    )
    st.page_link(
        "views/affinity.py", label="What this cluster likes (affinity)", icon=":material/grid_on:"
    )
    _neighbours(explored, point)


def _stability_line(explored: state.Explored, side: str, level: int, cluster: int) -> None:
    """The selected cluster's stability across seeds (queries.cluster_stability), or how to
    measure it."""
    table = queries.cluster_stability(explored.key, side, level)
    if table is None or not 0 <= cluster < len(table):
        st.caption(literal(queries.stability_note(explored.key)))
        return
    row = table.iloc[cluster]
    icon = ":material/verified:" if row["stable"] else ":material/help:"
    st.markdown(
        f"{icon} **Stability: {literal(row['verdict'])}** (mean member overlap with its match "
        f"in the other runs: Jaccard {row['match_jaccard']:.2f})"
    )


def _one_object(explored: state.Explored, point: dict, header) -> None:
    side = parse_point_kind(point["kind"])[0]
    meta = explored.table(side)
    label = meta.loc[meta["index"] == point["index"], "label"]
    header.subheader(literal(label.iloc[0]) if len(label) else f"{side} {point['index']}")
    membership = queries.object_membership(explored.key, side, point["index"])
    word = queries.grouping_word(explored.key)
    if membership.empty:
        st.caption(f"The {side} side has depth 0 (plain MF): no clusters.")
    else:
        top = (
            membership.sort_values("probability", ascending=False)
            .groupby("level")
            .head(5)
            .sort_values(["level", "probability"], ascending=[True, False])
        )
        st.caption(f"Its most probable clusters per {word}:")
        st.dataframe(
            top,
            hide_index=True,
            key="map_membership",
            column_config={
                "level": st.column_config.NumberColumn(word),
                "probability": st.column_config.ProgressColumn(
                    "probability", format="%.3f", min_value=0.0, max_value=1.0
                ),
            },
        )
    if side == "user":
        st.page_link(
            "views/explain.py", label="Recommendations for this user", icon=":material/lightbulb:"
        )
    st.page_link(
        "views/membership.py",
        label="Membership at every level" if word == "level" else f"Membership in every {word}",
        icon=":material/account_tree:",
    )
    _neighbours(explored, point)


def _neighbours(explored: state.Explored, point: dict) -> None:
    """The points nearest the selected one in the shared space, as the Embedding Projector
    lists them: cosine (direction only) or inner product (what the model scores)."""
    measure = st.segmented_control(
        "Nearest points by",
        list(MEASURES),
        default="cosine",
        required=True,
        key="map_neighbour_measure",
        help="Cosine: same direction, whatever the length (popularity, leniency). Inner "
        "product: what the model scores; a user's inner product with an item is its rating.",
    )
    found = queries.nearest(
        explored.key, point["kind"], int(point["level"]), int(point["index"]), measure, 10
    )
    widgets.table_of(found, (measure, "kind", "level", "label"), key="map_neighbours")
    if not parse_point_kind(point["kind"])[1]:
        _ties(explored, point)


def _ties(explored: state.Explored, point: dict) -> None:
    """Within a crisp cluster the nearest points tie at cosine 1: say so, and what differs."""
    ties, line = queries.vector_ties(explored.key, point["kind"], int(point["index"]))
    if not line:
        return
    st.caption(literal(line))
    columns = ("label", "bias", "top_cluster", "second_cluster", "second_probability")
    with st.expander(f"The {len(ties):,} {point['kind']}s that share one vector"):
        widgets.table_of(ties, columns, key="map_vector_ties")


def _several(explored: state.Explored, points: list[dict], header) -> None:
    header.subheader(f"{len(points):,} points selected")
    layout = st.session_state.get("map_layout", "model")
    frame, _ = map_data.drawn(explored.run, explored.key, layout)
    rows = points_of(frame, points)
    order = {kind: position for position, kind in enumerate(reversed(KINDS))}
    rows = rows.sort_values(
        ["kind", "size"], key=lambda column: column.map(order) if column.name == "kind" else -column
    )
    counts = rows["kind"].value_counts()
    st.caption(
        ", ".join(f"{count:,} {kind}{'s' if count != 1 else ''}" for kind, count in counts.items())
        + ". Clusters first, largest first. Cluster affinity, Membership and Explain open "
        "on the side most of these points are on."
    )
    widgets.table_of(
        rows,
        ("kind", "label", "name", "level", "size", "top_cluster")
        + tuple(map_data.metadata_columns(explored.key)),
        key="map_selected",
        height=420,
        column_config={"size": st.column_config.NumberColumn(format="%.1f")},
    )
    widgets.csv_download(
        "Download the selection (CSV)",
        rows,
        f"{explored.run.name}-map-selection.csv",
        "map_selection_download",
    )
