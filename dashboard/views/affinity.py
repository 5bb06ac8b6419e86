"""Cluster affinity page (paper Table 4): for one user cluster every item cluster sorted by
inner product, or for one item cluster every user cluster; and the whole matrix as a heatmap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, state, widgets
from dashboard.quality_panel import trust_notes
from dashboard.text import hover, literal
from hmf_core import by_side, other_side, parse_point_kind, readable_level

DIRECTIONS = {"user": "User cluster → item clusters", "item": "Item cluster → user clusters"}


def affinity_page() -> None:
    st.title("Cluster affinity")
    st.caption(
        "Paper Table 4. The inner product ⟨U_s, V_t⟩ of a user cluster s and an item "
        "cluster t is how much that group of users likes that group of items: every "
        "prediction is a membership-weighted sum of these (eq. 11)."
    )
    explored = state.require_model()
    user_levels, item_levels = explored.levels("user"), explored.levels("item")
    if not user_levels or not item_levels:
        missing = "user" if not user_levels else "item"
        st.warning(
            f"This run has depth 0 on the {missing} side (plain MF there), so there are "
            f"no {missing} clusters to compare. Train with {missing} depth ≥ 1."
        )
        return

    picked = state.selected(("user cluster", "item cluster"))
    first_side = parse_point_kind(picked["kind"])[0] if picked else "user"
    version = state.selection_version()
    controls = st.columns([3, 1, 1])
    side = controls[0].segmented_control(
        "Start from",
        list(DIRECTIONS),
        format_func=DIRECTIONS.get,
        default=first_side,
        required=True,
        key=f"affinity_side_{version}",
    )
    word = queries.grouping_word(explored.key)
    defaults = _default_levels(explored, picked)
    sizes = queries.level_sizes(explored.key)
    user_level, item_level = (
        widgets.level_picker(
            cell,
            f"{name.capitalize()} {word}",
            sizes[name],
            f"affinity_{name}_level_{version}",
            defaults[name],
            word,
        )
        for cell, name in zip(controls[1:], ("user", "item"))
    )
    refusal = queries.unpairable(explored.key, user_level, item_level)
    if refusal:  # e.g. two views of MFDMC: every inner product 0, nothing to show
        st.warning(refusal, icon=":material/block:")
        return
    level = by_side(side, user_level, item_level)
    cluster = widgets.cluster_picker(
        st,
        f"{side.capitalize()} cluster ({word} {level})",
        side,
        level,
        queries.cluster_sizes(explored.key, side, level),
        picked,
        key=f"affinity_cluster_{side}_{level}_{version}",
        help="Size = the sum of its members' membership probabilities. Selecting a cluster on "
        "the Map opens it here.",
        names=queries.cluster_names(explored.key, side, level),
        stability=queries.cluster_stability(explored.key, side, level),
    )
    trust_notes(
        explored.run.quality(), {"user": user_level, "item": item_level}, explored.run.stability()
    )
    table_view(explored, side, cluster, user_level, item_level)
    st.divider()
    heatmap_view(explored, user_level, item_level, side, cluster)


def _default_levels(explored: state.Explored, picked: dict | None) -> dict[str, int]:
    """The levels the pickers open on: the selected cluster's on its side, the readable one
    (hmf_core.readable_level) on the other, or the selected cluster's level there too when the
    readable one cannot be compared with it (a view); the readable ones without a selection."""
    sizes = queries.level_sizes(explored.key)
    levels = {name: readable_level(sizes[name]) for name in ("user", "item")}
    if picked and parse_point_kind(picked["kind"])[1]:
        side = parse_point_kind(picked["kind"])[0]
        levels[side] = int(picked["level"])
        other = other_side(side)
        pair = by_side(side, (levels[side], levels[other]), (levels[other], levels[side]))
        if picked["level"] <= len(explored.levels(other)) and queries.unpairable(
            explored.key, *pair
        ):
            levels[other] = int(picked["level"])
    return levels


def table_view(
    explored: state.Explored, side: str, cluster: int, user_level: int, item_level: int
) -> None:
    other = other_side(side)
    options = st.columns([1, 1, 2])
    shown = options[0].slider("Names per cluster", 1, 15, by_side(side, 3, 9), key="affinity_names")
    frame = _other_clusters(explored, options[1], side, cluster, user_level, item_level, shown)
    text = options[2].text_input(
        "Filter by name",
        key="affinity_filter",
        placeholder="keep rows whose nearest or top members match",
    )
    minimum = (
        options[1].number_input("Minimum size", 0.0, value=0.0, step=0.5, key="affinity_min_size")
        if side == "user"
        else 0.0
    )
    other_level = by_side(other, user_level, item_level)
    stability = queries.cluster_stability(explored.key, other, other_level)
    if widgets.stable_filter(st, stability, "affinity_stable"):
        stable = stability.loc[stability["stable"], "cluster"]
        frame = frame[frame[f"{other}_cluster"].isin(stable)]
    if stability is not None:
        runs = stability.set_index("cluster")["runs"]
        frame = frame.assign(runs=frame[f"{other}_cluster"].map(runs).astype("Int64"))
    else:
        st.caption(literal(queries.stability_note(explored.key)))
    rows = _filtered(frame, minimum, text)
    st.markdown(
        f"**Every {other} cluster against {side} cluster {cluster}**, highest inner "
        f"product first ({len(rows):,} of {len(frame):,} shown). Click a column header "
        "to sort."
    )
    _affinity_table(rows, other)
    widgets.csv_download(
        "Download CSV",
        rows,
        f"{explored.run.name}-{side}-cluster-{cluster}-affinity.csv",
        "affinity_download",
    )


def _other_clusters(
    explored: state.Explored,
    slot,
    side: str,
    cluster: int,
    user_level: int,
    item_level: int,
    shown: int,
):
    """Every cluster of the other side against `cluster`, `shown` names each; the "Show users
    as" / "Show items as" picker (in `slot`) chooses how the other side's members are shown:
    their labels or one of their metadata columns, whatever the data calls it."""
    other = other_side(side)
    attributes = queries.metadata_shown(explored.key, other)  # the other side's own columns
    attribute = slot.selectbox(
        f"Show {other}s as",
        [None, *attributes],
        key="affinity_attribute" if other == "user" else "affinity_item_attribute",
        format_func=lambda a: "their labels" if a is None else a,
        help=f"The {other}s nearest each cluster and its top members by one of the {other}s' "
        "metadata columns instead of their labels, as the paper's Table 4 (c)/(d) does.",
    )
    if side == "user":
        return queries.item_clusters_for_user_cluster(
            explored.key, cluster, user_level, item_level, shown, attribute
        )
    return queries.user_clusters_for_item_cluster(
        explored.key, cluster, user_level, item_level, shown, attribute
    )


def _filtered(frame, minimum: float, text: str):
    """The rows of at least `minimum` size whose name, nearest or top members hold `text`
    (any case), ranked 1, 2, ... in their order."""
    rows = frame[frame["size"] >= minimum]
    if text.strip():
        needle = text.strip()
        found = (
            rows["nearest"].str.contains(needle, case=False, regex=False)
            | rows["top_members"].str.contains(needle, case=False, regex=False)
            | rows["name"].str.contains(needle, case=False, regex=False)
        )
        rows = rows[found]
    return rows.assign(rank=range(1, len(rows) + 1))


def _affinity_table(rows, other: str) -> None:
    """The other side's clusters, ranked, with their names, inner product, size and members."""
    column = f"{other}_cluster"
    st.dataframe(
        rows[
            ["rank", column, "name", "inner_product", "size", "nearest", "top_members"]
            + [c for c in ("runs", "stability") if c in rows.columns]  # stability.json measured
        ],
        hide_index=True,
        key="affinity_table",
        height=420,
        column_config={
            "rank": st.column_config.NumberColumn("rank", width="small"),
            column: st.column_config.NumberColumn(column.replace("_", " "), width="small"),
            "name": st.column_config.TextColumn(
                "name",
                width="large",
                help="Metadata values over-represented among its members beyond chance and "
                "at least 20% of them: their share (weighted by membership) and their base "
                "rate among everyone; then its most typical members",
            ),
            "inner_product": st.column_config.NumberColumn("inner product", format="%.3f"),
            "size": st.column_config.NumberColumn("size", format="%.1f"),
            "nearest": st.column_config.TextColumn(
                "nearest in latent space",
                width="large",
                help=f"The {other}s whose embeddings lie nearest this cluster's embedding",
            ),
            "top_members": st.column_config.TextColumn(
                "top members",
                width="large",
                help="Its members with the highest membership probability",
            ),
            "runs": st.column_config.NumberColumn(
                "found in runs",
                help="In how many runs of the stability measurement this cluster is found "
                "(itself included); click to sort",
            ),
        },
    )


@st.cache_data(max_entries=16, show_spinner=False)
def _pair_names(key, user_level: int, item_level: int, rows: list, columns: list) -> np.ndarray:
    """Who meets whom in each heatmap cell, by name (text from files: escaped for plotly)."""
    user_names = queries.cluster_names(key, "user", user_level)
    item_names = queries.cluster_names(key, "item", item_level)
    pairs = [
        [f"{hover(user_names.get(r, ''))}<br>× {hover(item_names.get(c, ''))}" for c in columns]
        for r in rows
    ]
    return np.array(pairs, dtype=object)  # plotly checks an array at once, a list cell by cell


def heatmap_view(
    explored: state.Explored, user_level: int, item_level: int, side: str, cluster: int
) -> None:
    matrix, rows, columns = queries.affinity(explored.key, user_level, item_level)
    ordered = matrix.loc[rows, columns]
    word = queries.grouping_word(explored.key)
    levels = (
        f"{word}s {user_level} and {item_level}"
        if user_level != item_level or word == "level"
        else f"{word} {user_level}"
    )
    st.markdown(
        f"**All {len(rows)} user clusters × {len(columns)} item clusters** ({levels}); rows "
        "and columns ordered so similar ones sit together and blocks show."
    )
    limit = float(abs(ordered.to_numpy()).max()) or 1.0
    figure = go.Figure(  # plain graph objects: plotly express took ~0.2 s on each rerun
        go.Heatmap(
            z=ordered.to_numpy(),
            x=[f"i{c}" for c in columns],
            y=[f"u{r}" for r in rows],
            colorscale="RdBu_r",
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": "⟨U, V⟩"}},
            customdata=_pair_names(explored.key, user_level, item_level, rows, columns),
            hovertemplate="user cluster %{y} × item cluster %{x}<br>%{customdata}<br>"
            "inner product %{z:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", title_text="user cluster")
    figure.update_xaxes(title_text="item cluster")
    marker = by_side(side, f"u{cluster}", f"i{cluster}")
    if side == "user":
        figure.add_hline(y=marker, line={"color": "#1d2433", "width": 1.5})
    else:
        figure.add_vline(x=marker, line={"color": "#1d2433", "width": 1.5})
    figure.update_layout(
        height=min(900, max(420, 4 * len(rows))),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    figure.update_xaxes(type="category", showticklabels=len(columns) <= 60)
    figure.update_yaxes(type="category", showticklabels=len(rows) <= 60)
    st.plotly_chart(figure, key="affinity_heatmap")
    widgets.csv_download(
        "Download the matrix (CSV)",
        matrix,
        f"{explored.run.name}-affinity-matrix.csv",
        "affinity_matrix_download",
        index=True,
    )


affinity_page()
