"""Explain page: a user's top recommended unseen items, and one (user, item) prediction split
into cluster-pair contributions (paper eq. 11)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, state, widgets
from dashboard.explain_views import explanation_tabs, prediction_metric, rating_scale
from dashboard.fragments import page_fragment
from dashboard.quality_panel import trust_notes
from dashboard.text import literal
from hmf_core import on_scale


def explain_page() -> None:
    st.title("Explain")
    explored = state.require_model()
    key = explored.key
    users = queries.labels(key, "user")  # {model index: label}, in model order
    picked_user = state.selected(("user",))
    version = state.selection_version()

    user = widgets.object_picker(
        "User",
        users,
        picked_user["index"] if picked_user else next(iter(users)),
        key=f"explain_user_{version}",
        noun="user",
        help="Type to search. Selecting a user on the Map opens it here.",
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        top = st.slider("Recommendations", 5, 50, 10, key="explain_k")
        scale = rating_scale(explored)
        picks = queries.recommend(key, user, top)
        picks = picks.assign(rating=on_scale(picks["score"].to_numpy(), scale))
        st.markdown(
            f"**Top {len(picks)} items this user did not rate in training**, by "
            "predicted score. *held out* = the user did rate it in validation or test."
            + (
                f" *predicted* = the model's score clipped to the data's {scale[0]:g}-"
                f"{scale[1]:g} scale."
                if scale
                else ""
            )
        )
        metadata = queries.metadata_shown(key, "item")  # the items' own columns
        shown = ("rank", "label", "rating" if scale else "", "score", "held_out", *metadata)
        st.dataframe(
            picks,
            column_order=[c for c in shown if c in picks],
            hide_index=True,
            key="explain_recommendations",
            column_config={
                "rating": st.column_config.NumberColumn("predicted", format="%.2f"),
                "score": st.column_config.NumberColumn(
                    "model score" if scale else "score", format="%.3f"
                ),
                "held_out": st.column_config.TextColumn("held out"),
            },
        )
    with right:
        history = queries.history(key, user)
        st.markdown(f"**What the user rated** ({len(history):,} ratings; best first)")
        st.dataframe(
            history[["label", "rating", "stage", *queries.metadata_shown(key, "item")]],
            hide_index=True,
            height=360,
            key="explain_history",
        )

    st.divider()
    st.subheader("Why this score? One prediction, cluster pair by cluster pair")
    top_pick = int(picks["index"].iloc[0]) if len(picks) else None
    why_this_score(explored, user, top_pick, history, version)


@page_fragment
def why_this_score(explored, user: int, top_pick: int | None, history, version: int) -> None:
    """The item picker and one prediction's explanation: a fragment, so that picking another
    item, level or bar count reruns this part only, not the user's tables above."""
    key = explored.key
    items = queries.labels(key, "item")
    picked_item = state.selected(("item",))
    default_item = (
        picked_item["index"]
        if picked_item
        else top_pick
        if top_pick is not None
        else next(iter(items))
    )
    item = widgets.object_picker(
        "Item",
        items,
        default_item,
        key=f"explain_item_{version}_{user}",
        noun="item",
        help="Defaults to the top recommendation.",
    )
    if queries.explains_by_view(key):  # the run's groupings are views: a sum over views
        by_view(explored, user, item, history)
        return
    sizes = queries.level_sizes(key)
    levels = st.columns(2)
    user_level = widgets.level_picker(levels[0], "User level", sizes["user"], "explain_user_level")
    item_level = widgets.level_picker(levels[1], "Item level", sizes["item"], "explain_item_level")
    trust_notes(
        explored.run.quality(), {"user": user_level, "item": item_level}, explored.run.stability()
    )
    pairs = queries.explain_pair_stability(key, user, item, user_level, item_level)
    predicted = queries.prediction(key, user, item)
    rated = history.loc[history["item"] == item, ["rating", "stage"]]
    cells = st.columns(3)
    prediction_metric(cells[0], predicted, rating_scale(explored))
    cells[1].metric(
        "Sum of the contributions",
        f"{pairs['contribution'].sum():.3f}",
        help="Equals the model's score (before any clipping to the rating scale): eq. (11) is "
        "exact, not an approximation.",
    )
    cells[2].metric(
        "Actual rating",
        f"{rated['rating'].iloc[0]:g} ({rated['stage'].iloc[0]})" if len(rated) else "not rated",
    )
    explanation_tabs(key, user, item, user_level, item_level)
    st.caption("Every cluster pair, largest first:")
    shown = st.slider("Pairs in the chart", 5, 40, 15, key="explain_top")
    _contribution_chart(pairs.head(shown), user_level, item_level)
    st.caption(
        f"Contribution = P(user in s) × P(item in t) × ⟨U_s, V_t⟩, largest |value| "
        f"first; {len(pairs):,} pairs in all."
    )
    _stability_caption(explored, pairs)
    st.dataframe(
        pairs.astype({"user_cluster": str, "item_cluster": str}),  # ids and "bias": one type
        hide_index=True,
        key="explain_pairs",
        height=360,
        column_config=_pair_columns(),
    )
    widgets.csv_download(
        "Download the pairs (CSV)",
        pairs,
        f"{explored.run.name}-explain-u{user}-i{item}.csv",
        "explain_download",
    )


def _pair_columns() -> dict:
    """The column headings of a table of cluster-pair contributions (levels or views), with
    each cluster's stability once measured (hmf_core.pair_stability)."""
    found_in = "In how many runs of the stability measurement the {} cluster is found (itself "
    return {
        "user_probability": st.column_config.NumberColumn("P(user in s)", format="%.4f"),
        "item_probability": st.column_config.NumberColumn("P(item in t)", format="%.4f"),
        "inner_product": st.column_config.NumberColumn("⟨U_s, V_t⟩", format="%.3f"),
        "contribution": st.column_config.NumberColumn(format="%.4f"),
        **{
            f"{side}_runs": st.column_config.NumberColumn(
                f"{side} cluster runs", help=found_in.format(side) + "included); click to sort"
            )
            for side in ("user", "item")
        },
        "user_stability": st.column_config.TextColumn("user cluster stability"),
        "item_stability": st.column_config.TextColumn("item cluster stability"),
    }


def _stability_caption(explored, pairs) -> None:
    """Under a cluster-pair table: what its stability columns say, or how to measure them."""
    if "user_runs" in pairs.columns:
        st.caption(
            "Stability: in how many runs with other seeds each cluster reappears (the same "
            "members, matched across runs); sort by the runs columns."
        )
    else:
        st.caption(literal(queries.stability_note(explored.key)))


def by_view(explored, user: int, item: int, history) -> None:
    """One prediction as a sum over views (interpret.explanation.explain_by_view): each view's
    total, its cluster pairs, and the biases, adding up to the prediction."""
    parts, totals = queries.explain_by_view(explored.key, user, item)
    predicted = queries.prediction(explored.key, user, item)
    rated = history.loc[history["item"] == item, ["rating", "stage"]]
    cells = st.columns(3)
    prediction_metric(cells[0], predicted, rating_scale(explored))
    cells[1].metric(
        "Sum of the parts",
        f"{totals['contribution'].sum():.3f}",
        help="Equals the model's score (before any clipping to the rating scale): the views' "
        "terms and the biases add up to it exactly.",
    )
    cells[2].metric(
        "Actual rating",
        f"{rated['rating'].iloc[0]:g} ({rated['stage'].iloc[0]})" if len(rated) else "not rated",
    )
    views = int((totals["kind"] == "view").sum())
    st.caption(
        f"The prediction is a sum over the {views} views: view v scores the pair with its own "
        "centres, Σ P(user in s) × P(item in t) × ⟨U_s, V_t⟩ over view v's user centres s and "
        "item centres t (a view's centres meet only the same view's), plus the biases."
    )
    values = totals["contribution"].to_numpy()
    figure = go.Figure(
        go.Bar(
            x=values,
            y=totals["part"].tolist(),
            orientation="h",
            marker={"color": ["#3457d5" if v >= 0 else "#e8743b" for v in values]},
            hovertemplate="%{y}<br>contribution %{x:.4f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=80 + 28 * len(totals),
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="contribution to the prediction",
    )
    st.plotly_chart(figure, key="explain_view_chart")
    st.caption(f"Every cluster pair of every view, largest first ({len(parts):,} rows):")
    _stability_caption(explored, parts)
    st.dataframe(
        parts.astype({"view": str}),  # view numbers, "across views" and the biases: one type
        hide_index=True,
        key="explain_view_pairs",
        height=360,
        column_config=_pair_columns(),
    )
    widgets.csv_download(
        "Download the parts (CSV)",
        parts,
        f"{explored.run.name}-explain-u{user}-i{item}.csv",
        "explain_download",
    )


def _contribution_chart(pairs, user_level: int, item_level: int) -> None:
    names = [
        f"user c{u} × item c{i}" if u != "bias" else "biases"
        for u, i in zip(pairs["user_cluster"], pairs["item_cluster"])
    ]
    if user_level == 0 or item_level == 0:
        names = [
            name.replace("user c", "user #" if user_level == 0 else "user c").replace(
                "item c", "item #" if item_level == 0 else "item c"
            )
            for name in names
        ]
    values = pairs["contribution"].to_numpy()
    figure = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": ["#3457d5" if v >= 0 else "#e8743b" for v in values]},
            customdata=pairs[["user_probability", "item_probability", "inner_product"]].to_numpy(),
            hovertemplate="%{y}<br>contribution %{x:.4f}<br>P(user) %{customdata[0]:.3f}, "
            "P(item) %{customdata[1]:.3f}, ⟨U,V⟩ %{customdata[2]:.3f}<extra></extra>",
        ),
        layout={  # whole, as explain_views.bars_figure does
            "height": 80 + 24 * len(names),
            "yaxis": {"autorange": "reversed"},
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "xaxis": {"title": {"text": "contribution to the prediction"}},
        },
    )
    st.plotly_chart(figure, key="explain_chart")


explain_page()
