"""Explain page: one prediction in three readable views (by user cluster, by item cluster, top
pairs), each with a "rest" bar, bias bars and the share of the clusters' contributions its bars
carry (computed by hmf_core.explanation)."""

from __future__ import annotations

import html

import plotly.express as px
import streamlit as st

from dashboard import queries
from dashboard.quality_panel import literal

COLOURS = {"cluster": "#3457d5", "rest": "#9aa3b5", "bias": "#19a979"}


def explanation_tabs(key, user: int, item: int, user_level: int, item_level: int) -> None:
    top = st.slider("Bars per view", 3, 25, 8, key="explain_views_top")
    views = queries.explanation_views(key, user, item, user_level, item_level, top)
    for tab, (name, view) in zip(st.tabs([name.capitalize() for name in views]), views.items()):
        with tab:
            st.caption(literal(view.summary))
            bars = view.bars.assign(part=[html.escape(p) for p in view.bars["part"]])  # data
            figure = px.bar(
                bars,
                x="contribution",
                y="part",
                color="kind",
                orientation="h",
                color_discrete_map=COLOURS,
                labels={"part": "", "contribution": "contribution to the prediction"},
            )
            figure.update_layout(
                height=90 + 26 * len(bars),
                yaxis={"autorange": "reversed"},
                margin={"l": 10, "r": 10, "t": 10, "b": 10},
                legend={"orientation": "h", "y": -0.15, "title": None},
            )
            st.plotly_chart(figure, key=f"explain_view_{name}")
