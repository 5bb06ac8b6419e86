"""Explain page: one prediction in three readable views (by user cluster, by item cluster, top
pairs), each with a "rest" bar, bias bars and the share of the clusters' contributions its bars
carry (computed by hmf_core.interpret.explanation)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries
from dashboard.quality_panel import literal
from dashboard.text import hover
from hmf_core import on_scale, shown_prediction
from hmf_core import rating_scale as data_scale

COLOURS = {"cluster": "#3457d5", "rest": "#9aa3b5", "own": "#e8743b", "bias": "#19a979"}


def explanation_tabs(key, user: int, item: int, user_level: int, item_level: int) -> None:
    top = st.slider("Bars per view", 3, 25, 8, key="explain_views_top")
    views = queries.explanation_views(key, user, item, user_level, item_level, top)
    for tab, (name, view) in zip(st.tabs([name.capitalize() for name in views]), views.items()):
        with tab:
            st.caption(literal(view.summary))
            st.plotly_chart(bars_figure(view.bars), key=f"explain_view_{name}")


LABEL_CHARACTERS = 40  # a bar's label on the axis; its full text is in the hover


def short_label(text: str, limit: int = LABEL_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bars_figure(bars) -> go.Figure:
    """One view's bars, largest first, one trace per kind (cluster, rest, own, bias) for the legend.
    Plain graph objects: plotly express took ~0.1 s a chart on each rerun. The axis shows each
    part's name cut to LABEL_CHARACTERS (200-character names squeezed the bars to a third of
    the width), the hover its full name; the legend sits above the bars, off the axis."""
    raw = [str(part) for part in bars["part"]]
    parts = [hover(part) for part in raw]  # text from files: escaped; unique category keys
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
        ],
        layout={  # whole, not by update_layout: its "a_b" paths took 0.01 s a chart
            "height": 120 + 26 * len(bars),
            "yaxis": {
                "autorange": "reversed",
                "categoryorder": "array",
                "categoryarray": parts,
                "tickmode": "array",
                "tickvals": parts,
                "ticktext": [hover(short_label(part)) for part in raw],
                "automargin": True,
            },
            "xaxis": {"title": {"text": "contribution to the prediction"}},
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
            "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "title": None},
        },
    )
    return figure


def rating_scale(explored) -> tuple[float, float] | None:
    """The data's rating range on a rating run (predictions are shown clipped to it)."""
    if explored.run.settings().get("task", "rating") != "rating":
        return None
    return data_scale(explored.run.data_summary())


def prediction_metric(cell, predicted: float, scale) -> None:
    """The prediction as shown to a user (clipped to the rating scale, as Surprise does), and
    the clipping stated: the explanation's parts add up to the model's unclipped score."""
    cell.metric("Prediction", f"{on_scale(predicted, scale):.3f}")
    if on_scale(predicted, scale) != predicted:
        cell.caption(
            f"{shown_prediction(predicted, scale)}; the parts below add up to the "
            f"model's score {predicted:.3f}."
        )
