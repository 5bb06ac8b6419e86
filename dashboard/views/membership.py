"""Membership page (paper Table 5): a cluster's members by probability; one user's or item's
probability over the clusters of every level; the hierarchy across levels as a sankey."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, state, widgets
from dashboard.fragments import page_fragment
from dashboard.quality_panel import trust_notes
from dashboard.text import hover, literal
from hmf_core import drawn_tree, links_under, parse_point_kind

ICICLE_MEMBERS = 5  # the members drawn under each level-1 cluster of the icicle
ROOT_COLOUR, ROOT_TEXT = "#f3f5fa", "#262730"  # the icicle's root box: light grey, dark label
PROBABILITY = st.column_config.ProgressColumn(
    "probability", format="%.4f", min_value=0.0, max_value=1.0
)


def membership_page() -> None:
    st.title("Membership")
    explored = state.require_model()
    members_tab, object_tab, tree_tab = st.tabs(
        ["Members of a cluster", "Clusters of a user or item", "Hierarchy"]
    )
    with members_tab:
        cluster_members(explored)
    with object_tab:
        object_clusters(explored)
    with tree_tab:
        hierarchy(explored)


def _sides(explored: state.Explored) -> list[str]:
    return [side for side in ("user", "item") if explored.levels(side)]


@page_fragment  # its widgets rerun this tab only, not the other two
def cluster_members(explored: state.Explored) -> None:
    word = queries.grouping_word(explored.key)
    how = (
        "the product of the softmax memberships down the levels"
        if word == "level"
        else f"the softmax over its {word}'s centres"
    )
    st.caption(
        "Paper Table 5: every member of a cluster with the probability that it belongs "
        f"there ({how})."
    )
    sides = _sides(explored)
    if not sides:
        st.warning("This run is plain MF (depth 0 on both sides): it has no clusters.")
        return
    picked = state.selected(("user cluster", "item cluster"))
    version = state.selection_version()
    picked_side = parse_point_kind(picked["kind"])[0] if picked else None
    first = picked_side if picked_side in sides else sides[0]
    controls = st.columns([2, 1, 3])
    side = controls[0].segmented_control(
        "Side",
        sides,
        default=first,
        required=True,
        key=f"members_side_{version}",
        format_func=lambda s: f"{s} clusters",
    )
    level = widgets.level_picker(
        controls[1],
        word.capitalize(),
        queries.level_sizes(explored.key)[side],
        f"members_level_{side}_{version}",
        picked["level"] if picked and parse_point_kind(picked["kind"]) == (side, True) else None,
        word,
    )
    sizes = queries.cluster_sizes(explored.key, side, level)
    stability = queries.cluster_stability(explored.key, side, level)
    cluster = _pick_cluster(explored, controls[2], side, level, picked, stability)
    trust_notes(explored.run.quality(), {side: level}, explored.run.stability())
    if cluster is None:
        st.info(f"No {side} cluster of this {word} reappears in every run: turn the filter off.")
        return
    if stability is None:
        st.caption(literal(queries.stability_note(explored.key)))
    members = queries.cluster_members(explored.key, side, level, cluster)
    threshold = st.slider(
        "Hide members below probability",
        0.0,
        0.5,
        0.01,
        0.005,
        key="members_threshold",
        format="%.3f",
    )
    shown = members[members["probability"] >= threshold]
    metadata = ["id", "label", *queries.metadata_shown(explored.key, side)]
    columns = ["probability", "index"] + [c for c in metadata if c in shown.columns]
    verdict = "" if stability is None else f", {literal(stability['verdict'].iloc[cluster])}"
    st.markdown(
        f"**{side.capitalize()} cluster {cluster}** ({word} {level}, size "
        f"{sizes[cluster]:.1f}{verdict}): {len(shown):,} of {len(members):,} {side}s with "
        f"probability ≥ {threshold:.3f}, most probable first."
    )
    st.dataframe(
        shown[columns],
        hide_index=True,
        key="members_table",
        height=460,
        column_config={"probability": PROBABILITY},
    )
    widgets.csv_download(
        "Download all members (CSV)",
        members,
        f"{explored.run.name}-{side}-cluster-{cluster}-L{level}.csv",
        "members_download",
    )


def _pick_cluster(explored, cell, side: str, level: int, picked, stability) -> int | None:
    """The cluster picker, each option with its stability (`stability`:
    queries.cluster_stability) and, once measured, the "Only stable clusters" filter beneath
    the controls; None when the filter leaves no cluster."""
    only_stable = widgets.stable_filter(st, stability, f"members_stable_{side}_{level}")
    return widgets.cluster_picker(
        cell,
        "Cluster",
        side,
        level,
        queries.cluster_sizes(explored.key, side, level),
        picked,
        f"members_cluster_{side}_{level}_{state.selection_version()}_{only_stable}",
        names=queries.cluster_names(explored.key, side, level),
        stability=stability,
        only_stable=only_stable,
    )


@page_fragment  # its widgets rerun this tab only, not the other two
def object_clusters(explored: state.Explored) -> None:
    picked = state.selected(("user", "item"))
    version = state.selection_version()
    sides = ["user", "item"]
    side = st.segmented_control(
        "Side",
        sides,
        default=picked["kind"] if picked else "user",
        required=True,
        key=f"object_side_{version}",
        format_func={"user": "a user", "item": "an item"}.get,
    )
    meta = explored.table(side)
    labels = queries.labels(explored.key, side)
    on_side = bool(picked) and parse_point_kind(picked["kind"]) == (side, False)
    default = picked["index"] if on_side else next(iter(labels))
    index = widgets.object_picker(
        f"Which {side}",
        labels,
        int(default),
        key=f"object_pick_{side}_{version}",
        noun=side,
        help="Type to search by name.",
    )
    membership = queries.object_membership(explored.key, side, int(index))
    if membership.empty:
        st.info(f"The {side} side has depth 0 (plain MF): no clusters.")
        return
    details = meta[meta["index"] == index].drop(columns=["index"]).iloc[0].dropna()
    st.caption(literal(" · ".join(f"{k}: {v}" for k, v in details.items())))
    word = queries.grouping_word(explored.key)
    top = st.slider(f"Clusters shown per {word}", 3, 30, 10, key="object_top")
    for level, rows in membership.groupby("level"):
        best = rows.nlargest(top, "probability")
        figure = go.Figure(  # plain graph objects: plotly express is slow on every rerun
            go.Bar(
                x=best["probability"].to_numpy(),
                y=[f"cluster {c}" for c in best["cluster"]],
                orientation="h",
                hovertemplate="%{y}<br>probability %{x:.4f}<extra></extra>",
            )
        )
        figure.update_layout(
            title=f"{word.capitalize()} {level}: {len(rows)} clusters; the top {len(best)} hold "
            f"{best['probability'].sum():.0%} of the membership",
            height=90 + 24 * len(best),
            xaxis={"range": [0, 1], "title": "probability"},
            yaxis={"autorange": "reversed", "title": None},
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
        )
        st.plotly_chart(figure, key=f"object_bars_{level}")
    widgets.csv_download(
        "Download (CSV)",
        membership,
        f"{explored.run.name}-{side}-{index}-membership.csv",
        "object_download",
    )


@page_fragment  # its widgets rerun this tab only, not the other two
def hierarchy(explored: state.Explored) -> None:
    sides = [side for side in ("user", "item") if len(explored.levels(side)) > 0]
    if not sides:
        st.info("Both sides are plain MF (depth 0): there are no clusters to draw.")
        return
    word = queries.grouping_word(explored.key)
    if word != "level":
        st.info(
            f"This run's {word}s are parallel groupings of the same users and items, none "
            f"nested in another: there is no hierarchy to draw. Each {word}'s clusters and "
            "members are on the other two tabs.",
            icon=":material/account_tree:",
        )
        return
    controls = st.columns([1, 2])
    side = controls[0].segmented_control(
        "Side",
        sides,
        default=sides[0],
        required=True,
        key="tree_side",
        format_func=lambda s: f"{s} clusters",
    )
    top = controls[1].slider(
        "Clusters shown under each parent",
        3,
        30,
        12,
        key="tree_top",
        help="The rest of a "
        "parent's weight is one 'smaller clusters' box, so the chart stays readable.",
    )
    _icicle(explored, side, top)
    if len(explored.levels(side)) < 2:
        return
    _flows(explored, side)


def _icicle(explored: state.Explored, side: str, top: int) -> None:
    """The largest clusters of every level as an icicle, `top` under each parent, and under
    each level-1 cluster its ICICLE_MEMBERS most probable members."""
    tree, shown = drawn_tree(queries.hierarchy_tree(explored.key, side, top, ICICLE_MEMBERS))
    member = tree["level"] == -1
    detail = np.where(
        member,
        [f"probability {size:.2f}" for size in tree["size"]],
        [f"size {size:.1f}" for size in tree["size"]],
    )
    figure = px.icicle(
        tree.assign(name=[hover(name) for name in tree["name"]], detail=detail),  # names: data
        ids="id",
        names="name",
        parents="parent",
        values="value",
        branchvalues="remainder",
        custom_data=["detail"],
    )
    # Streamlit's theme writes every icicle label white: the root's too, unreadable on its
    # light grey. The labels are coloured here (in the order of the figure's ids). A box says
    # its size (a member its probability) and a cluster zoomed into shows its typical members.
    ids = list(figure.data[0].ids)
    root = tree.loc[tree["level"] == 0, "id"].iloc[0]
    figure.update_traces(
        hovertemplate="%{label}<br>%{customdata[0]}<extra></extra>",
        texttemplate="%{label}<br>%{customdata[0]}",
        textfont={"color": [ROOT_TEXT if node == root else "white" for node in ids]},
        maxdepth=3,
        root_color=ROOT_COLOUR,
    )
    figure.update_layout(height=560, margin={"l": 4, "r": 4, "t": 4, "b": 4})
    st.caption(
        f"The largest clusters by size (the sum of their members' probabilities), holding "
        f"{shown:.0%} of the {side}s' weight; each is named by what is over-represented among "
        "its members beyond chance (share and base rate) and its most typical members. Click a "
        f"box to zoom into it (a {queries.grouping_word(explored.key)} 1 cluster: its "
        f"{ICICLE_MEMBERS} most probable members), the top bar to zoom out."
    )
    st.plotly_chart(figure, key="tree_icicle")


def _flows(explored: state.Explored, side: str) -> None:
    """The sankey of the links (above the threshold picked) under the top-level parents
    picked."""
    levels = explored.levels(side)
    top_sizes = queries.cluster_sizes(explored.key, side, levels[-1])
    largest = [int(c) for c in np.argsort(-np.asarray(top_sizes), kind="stable")[:3]]
    chosen = st.multiselect(
        f"Flows into these level-{levels[-1]} clusters",
        list(range(len(top_sizes))),
        default=largest,
        key=f"tree_parents_{side}",
        format_func=lambda c: f"c{c} ({top_sizes[c]:.0f})",
        help="The sankey draws only the clusters under the parents picked here.",
    )
    minimum = st.slider("Hide links below probability", 0.0, 0.5, 0.05, 0.01, key="tree_threshold")
    links = links_under(queries.hierarchy_links(explored.key, side, minimum), chosen, levels[-1])
    if links.empty:
        st.info("No link passes the threshold under these parents: lower it or pick others.")
        return
    sizes = {level: queries.cluster_sizes(explored.key, side, level) for level in levels}
    st.caption(
        f"Each level-l cluster flows into its parents at level l+1 with its connection "
        f"probability; band width = cluster size × probability ({len(links):,} links)."
    )
    st.plotly_chart(_sankey(links, levels, sizes), key="tree_sankey")


def _sankey(links, levels: list[int], sizes: dict) -> go.Figure:
    """Nodes: the clusters a link touches, labelled by level, number and size; a band per link,
    as wide as the child's size times its connection probability."""
    used = set(zip(links["level"], links["child"])) | set(zip(links["level"] + 1, links["parent"]))
    nodes = [
        node for node in ((lv, c) for lv in levels for c in range(len(sizes[lv]))) if node in used
    ]
    position = {node: i for i, node in enumerate(nodes)}
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [
                    f"L{level} c{cluster} ({sizes[level][cluster]:.0f})" for level, cluster in nodes
                ],
                "pad": 4,
                "thickness": 12,
            },
            link={
                "source": [position[(row.level, row.child)] for row in links.itertuples()],
                "target": [position[(row.level + 1, row.parent)] for row in links.itertuples()],
                "value": links["child_size"].tolist(),
                "customdata": links["probability"].tolist(),
                "hovertemplate": "%{source.label} → %{target.label}<br>probability "
                "%{customdata:.3f}<extra></extra>",
            },
        )
    )
    figure.update_layout(
        height=max(400, min(1400, 14 * len(nodes))),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return figure


membership_page()
