"""The map's figure: users, items and clusters in their latent space, drawn with plotly.

graph_objects rather than plotly express: the clusters must be SVG markers (clickable one by
one) beside thousands of objects in WebGL, and plotly express sets one render mode per figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from dashboard.text import hover
from hmf_core.projection import points_of

KINDS = ("user", "item", "user cluster", "item cluster")
SYMBOLS = {"user": "circle", "item": "circle", "user cluster": "diamond", "item cluster": "square"}
KIND_COLOURS = {
    "user": "#3457d5",
    "item": "#e8743b",
    "user cluster": "#0b1f73",
    "item cluster": "#9c3b00",
}
MAX_LEGEND = 24


def _hover(rows: pd.DataFrame) -> list[str]:
    extra = [c for c in ("genre", "gender", "occupation") if c in rows.columns]
    texts = []
    for row in rows.itertuples(index=False):
        text = f"<b>{hover(row.label)}</b><br>{row.kind}"
        if row.level > 0:
            text += f", level {row.level}, size {row.size:.1f}"
        elif row.top_cluster >= 0:
            text += f", top cluster {row.top_cluster}"
        for column in extra:
            value = getattr(row, column)
            if isinstance(value, str) and value:
                text += f"<br>{column}: {hover(value)}"
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


def _overlay(rows: pd.DataFrame, name: str, marker: dict) -> go.Scatter:
    """Markers drawn over the map's points (search matches, the selection), clickable alike."""
    return go.Scatter(
        x=rows["x"],
        y=rows["y"],
        mode="markers",
        name=name,
        marker=marker,
        hovertext=_hover(rows),
        hoverinfo="text",
        customdata=_custom(rows),
    )


def figure(
    visible: pd.DataFrame,
    frame: pd.DataFrame,
    colour: str,
    matches: pd.DataFrame,
    selected: list[dict],
) -> go.Figure:
    """The map: a trace per kind (clusters as SVG, easy to click; objects as WebGL), coloured
    by `colour`, with the search `matches` starred and the `selected` points ringed. Every
    marker carries (kind, level, index, size) as customdata, which the page's selection reads."""
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
                    name=hover(value),  # legend text is HTML too
                    marker={"color": hex_colour, "size": 8},
                    legendgroup="colours",
                    hoverinfo="skip",
                )
            )
    if not matches.empty:
        star = {"symbol": "star", "size": 15, "color": "#ffd400"}
        star["line"] = {"width": 1.5, "color": "#1d2433"}
        figure.add_trace(_overlay(matches.head(200), "search matches", star))
    if selected:
        ring = {"symbol": "circle-open", "size": 16, "color": "#e0115f", "line": {"width": 2.5}}
        figure.add_trace(_overlay(points_of(frame, selected).head(500), "selected", ring))
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
