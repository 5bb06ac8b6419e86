"""Plotly figures shared by several pages. They draw what they are given and compute nothing."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

METRIC_NAMES = {
    "train_loss": "Train loss",
    "val_rmse": "Validation RMSE (lower is better)",
    "val_hr10": "Validation HR@10 (higher is better)",
    "val_mrr10": "Validation MRR@10 (higher is better)",
    "test_rmse": "Test RMSE",
    "test_hr10": "Test HR@10",
    "test_mrr10": "Test MRR@10",
}
LOG_TICKS = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
MODEL_COLOURS = {"HMF": "#3457d5", "MF": "#e8743b"}
QUALITATIVE = [
    "#3457d5",
    "#e8743b",
    "#19a979",
    "#ed4a7b",
    "#945ecf",
    "#13a4b4",
    "#525df4",
    "#bf399e",
    "#6c8893",
    "#ee6868",
    "#2f6497",
    "#a0b321",
    "#d4a017",
    "#7b4173",
    "#17becf",
    "#8c564b",
    "#1f9e89",
    "#c7522a",
    "#5d69b1",
    "#e58606",
    "#52bca3",
    "#99c945",
    "#cc61b0",
    "#24796c",
]


def curve(
    frames: dict[str, pd.DataFrame], column: str, *, log_y: bool = False, height: int = 300
) -> go.Figure:
    """One line per model (HMF, MF) of `column` against epoch, with a marker per epoch."""
    figure = go.Figure()
    for name, frame in frames.items():
        if frame is None or frame.empty or column not in frame.columns:
            continue
        rows = frame.dropna(subset=[column])
        figure.add_trace(
            go.Scatter(
                x=rows["epoch"],
                y=rows[column],
                mode="lines+markers",
                name=name,
                line={"color": MODEL_COLOURS.get(name)},
                marker={"size": 6},
                hovertemplate=f"{name} epoch %{{x}}: %{{y:.4f}}<extra></extra>",
            )
        )
    figure.update_layout(
        title=METRIC_NAMES.get(column, column),
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.18, "yanchor": "top"},
        xaxis={"title": {"text": "epoch", "standoff": 4}},
    )
    if log_y:
        figure.update_yaxes(type="log", tickvals=LOG_TICKS, ticktext=[f"{v:g}" for v in LOG_TICKS])
    return figure


def colour_map(values: pd.Series) -> dict:
    """A colour per distinct value, cycling through a qualitative palette."""
    distinct = sorted(values.dropna().unique(), key=str)
    return {value: QUALITATIVE[i % len(QUALITATIVE)] for i, value in enumerate(distinct)}
