"""Explain page: one prediction in three readable views (by user cluster, by item cluster, top
pairs), each with a "rest" bar, bias bars and the share of the clusters' contributions its bars
carry (computed by hmf_core.interpret.explanation)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries
from dashboard.quality_panel import literal
from dashboard.text import hover

COLOURS = {"cluster": "#3457d5", "rest": "#9aa3b5", "own": "#e8743b", "bias": "#19a979"}


def explanation_tabs(key, user: int, item: int, user_level: int, item_level: int) -> None:
    top = st.slider("Bars per view", 3, 25, 8, key="explain_views_top")
    views = queries.explanation_views(key, user, item, user_level, item_level, top)
    for tab, (name, view) in zip(st.tabs([name.capitalize() for name in views]), views.items()):
        with tab:
            st.caption(literal(view.summary))
            st.plotly_chart(_bars_figure(view.bars), key=f"explain_view_{name}")


def _bars_figure(bars) -> go.Figure:
    """One view's bars, largest first, one trace per kind (cluster, rest, own, bias) for the legend.
    Plain graph objects: plotly express took ~0.1 s a chart on each rerun."""
    parts = [hover(part) for part in bars["part"]]  # text from files: escaped
    figure = go.Figure(
        [
            go.Bar(
                x=bars["contribution"][bars["kind"] == kind].to_numpy(),
                y=[p for p, k in zip(parts, bars["kind"]) if k == kind],
                name=kind,
                orientation="h",
                marker_color=colour,
                hovertemplate="%{y}<br>%{x:.4f}<extra></extra>",
            )
            for kind, colour in COLOURS.items()
            if (bars["kind"] == kind).any()
        ]
    )
    figure.update_layout(
        height=90 + 26 * len(bars),
        yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": parts},
        xaxis_title="contribution to the prediction",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.15, "title": None},
    )
    return figure
