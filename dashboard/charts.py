"""What several pages' charts share: metric names, colours, the curves' ECharts option, a
plotly figure's JSON. They draw what they are given and compute nothing."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import plotly.io as pio
from _plotly_utils.utils import (
    convert_to_base64,
    is_homogeneous_array,
    is_skipped_key,
    to_typed_array_spec,
)

from hmf_core import METRIC_LABELS, TASKS, diverged_rows, lower_is_better, metric_names

METRIC_NAMES = {  # train_loss, val_rmse, ..., test_mrr10: hmf_core's task -> metric map
    "train_loss": "Train loss",
    **{
        name: f"Validation {METRIC_LABELS[name.removeprefix('val_')]} "
        f"({'lower' if lower_is_better(name) else 'higher'} is better)"
        for task in TASKS
        for name in metric_names(task, "val")
    },
    **{
        name: f"Test {METRIC_LABELS[name.removeprefix('test_')]}"
        for task in TASKS
        for name in metric_names(task, "test")
    },
}
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


def curve_option(
    frames: dict[str, pd.DataFrame], column: str, *, log_y: bool = False
) -> tuple[dict, str]:
    """The curve of `column` against epoch, one line with a marker per epoch per model (HMF,
    MF), as an ECharts option for `st.echarts_chart`, and its accessible name ("Train loss:
    HMF 3 epochs, MF 0 epochs"). An epoch whose value was NaN or infinite (a diverged fit:
    hmf_core.runs.rundir.diverged_rows) is a red "diverged" marker at the top of the plot, never a
    point at infinity. A keyed echarts chart keeps its identity when its data change
    (Streamlit updates it in place), where a plotly chart is mounted anew: live curves use this.
    ECharts draws every string as plain text."""
    series, counts, diverged = [], [], {}
    for name, frame in frames.items():
        rows = []
        if frame is not None and not frame.empty and column in frame.columns:
            kept = frame.dropna(subset=[column])
            rows = [[int(e), float(v)] for e, v in zip(kept["epoch"], kept[column])]
            diverged[name] = [int(e) for e in frame["epoch"][diverged_rows(frame, column)]]
        shown = f"{name} {len(rows)} epochs"
        if diverged.get(name):
            shown += f", diverged at epoch {', '.join(map(str, diverged[name]))}"
        counts.append(shown)
        series.append(
            {
                "type": "line",
                "name": name,
                "data": rows,
                "showSymbol": True,
                "symbolSize": 6,
                "color": MODEL_COLOURS.get(name),
            }
        )
    title = METRIC_NAMES.get(column, column)
    bounds = _log_bounds(series) if log_y else {}
    top = max((y for line in series for _, y in line["data"]), default=1.0)
    if log_y:
        top = bounds.get("max", top if top > 0 else 1.0)
    series += [
        {
            "type": "scatter",
            "name": f"{name} diverged",
            "data": [[epoch, top] for epoch in epochs],
            "symbol": "triangle",
            "symbolSize": 12,
            "color": DIVERGED_COLOUR,
            "label": {"show": True, "formatter": "diverged", "position": "bottom"},
            "tooltip": {"formatter": f"{name}: diverged (not a finite number)"},
        }
        for name, epochs in diverged.items()
        if epochs
    ]
    option = {
        "animation": False,  # an update redraws in place, with nothing replayed
        "title": {"text": title, "textStyle": {"fontSize": 14, "fontWeight": "normal"}},
        "tooltip": {"trigger": "axis", "valueFormatter": "%.4f"},
        "legend": {"bottom": 0},
        "grid": {"left": 8, "right": 16, "top": 44, "bottom": 48, "containLabel": True},
        "xAxis": {
            "type": "value",
            "name": "epoch",
            "nameLocation": "middle",
            "nameGap": 24,
            "minInterval": 1,
            "min": 1,
        },
        "yAxis": (
            {"type": "log", "logBase": 10, **bounds} if log_y else {"type": "value", "scale": True}
        ),
        "series": series,
    }
    return option, f"{title}: {', '.join(counts)}"


DIVERGED_COLOUR = "#d62728"


LOG_STEPS = [m * 10.0**e for e in range(-6, 7) for m in (1, 2, 5)]


def _log_bounds(series: list[dict]) -> dict:
    """A log axis from the 1-2-5 step just below the data to the one just above it: ECharts
    alone rounds out to powers of ten, which squeezes a loss from 8 to 0.8 into a third of the
    plot. {} when there is no positive value."""
    values = [y for line in series for _, y in line["data"] if y > 0]
    if not values:
        return {}
    low = max((s for s in LOG_STEPS if s <= min(values)), default=LOG_STEPS[0])
    high = min((s for s in LOG_STEPS if s >= max(values)), default=LOG_STEPS[-1])
    return {"min": low, "max": high}


def colour_map(values: pd.Series) -> dict:
    """A colour per distinct value, cycling through a qualitative palette."""
    distinct = sorted(values.dropna().unique(), key=str)
    return {value: QUALITATIVE[i % len(QUALITATIVE)] for i, value in enumerate(distinct)}


def _lines_option(lines: dict[str, dict], title: str, y_axis: dict, y_name: str) -> dict:
    """An ECharts option of one line per entry of `lines` (name -> {"data": [[x, y], ...],
    and any other series keys}) against epoch."""
    return {
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14, "fontWeight": "normal"}},
        "tooltip": {"trigger": "axis"},
        "legend": {"bottom": 0, "type": "scroll"},
        "grid": {"left": 8, "right": 16, "top": 44, "bottom": 48, "containLabel": True},
        "xAxis": {
            "type": "value",
            "name": "epoch",
            "nameLocation": "middle",
            "nameGap": 24,
            "minInterval": 1,
            "min": 1,
        },
        "yAxis": {"name": y_name, **y_axis},
        "series": [
            {"type": "line", "name": name, "showSymbol": True, "symbolSize": 5, **line}
            for name, line in lines.items()
        ],
    }


def pruning_option(timeline: pd.DataFrame) -> tuple[dict, str]:
    """The pruning timeline (hmf_core's pruning_timeline: epoch, side, view, active): active
    centres per view against epoch, a step line per side and view (users solid, items dashed,
    a colour per view), and its accessible name ("... user view 1: 10 to 7 centres, ...")."""
    lines, said = {}, []
    for (side, view), rows in timeline.groupby(["side", "view"], sort=False):
        name = f"{side} view {view}"
        lines[name] = {
            "data": [[int(e), int(a)] for e, a in zip(rows["epoch"], rows["active"])],
            "step": "end",
            "color": QUALITATIVE[(int(view) - 1) % len(QUALITATIVE)],
            "lineStyle": {"type": "solid" if side == "user" else "dashed"},
        }
        said.append(f"{name}: {rows['active'].iloc[0]} to {rows['active'].iloc[-1]} centres")
    title = "Pruning timeline: active centres per view"
    axis = {"type": "value", "minInterval": 1, "min": 0}
    return _lines_option(lines, title, axis, "centres"), f"{title}: {', '.join(said)}"


def loss_terms_option(terms: pd.DataFrame) -> tuple[dict, str]:
    """The training loss and the family's weighted loss terms (hmf_core's loss_term_curves:
    epoch, term, value) against epoch on a log axis (a term at 0 is not drawn there), and its
    accessible name."""
    lines, said = {}, []
    for term, rows in terms.groupby("term", sort=False):
        points = [[int(e), float(v)] for e, v in zip(rows["epoch"], rows["value"]) if v > 0]
        name = "train loss" if term == "loss" else f"{term} (weighted)"
        lines[name] = {
            "data": points,
            **({"color": MODEL_COLOURS["HMF"]} if term == "loss" else {}),
        }
        said.append(f"{name} {len(points)} epochs")
    bounds = _log_bounds(list(lines.values()))
    title = "Loss terms beside the training loss (log scale)"
    axis = {"type": "log", "logBase": 10, **bounds}
    return _lines_option(lines, title, axis, ""), f"{title}: {', '.join(said)}"


def figure_json(figure: dict) -> str:
    """`figure` (a plotly figure as a dict, numpy arrays in it: dashboard.map_figure) as the
    JSON the chart draws, numeric arrays as plotly.js typed arrays (base64): what a
    graph_objects Figure's JSON is, without its validation and deep copy of every array."""
    encoded = _containers_copied(figure)  # the arrays are replaced in the copy, not read twice
    convert_to_base64(encoded)  # plotly's own step in Figure.to_dict
    return pio.to_json(encoded, validate=False)


PIECE_BYTES = 3072  # an array this large or larger is a piece (figure_parts): 4 KB in base64
PIECE_ITEMS = 64  # and so is a list (hover texts, ...) of this many items or more


def figure_parts(
    figure: dict, kept: frozenset[str] = frozenset()
) -> tuple[str, dict[str, str], frozenset[str]]:
    """`figure` as figure_json sends it, in parts: (the figure's JSON with each large value,
    an array or a long list such as the hover texts, replaced by {"piece": name}; the JSON of
    each such piece not in `kept`, by name; every piece's name). A name is a hash of the value
    (its bytes, dtype and shape; a list's pickle): the same value, the same name in every
    figure. A chart that keeps the pieces of its last figure is sent only the new ones
    (dashboard.live_chart), and a kept piece is not even written as JSON again."""
    names: set[str] = set()
    sent: dict[str, str] = {}
    skeleton = _pieces_taken(figure, kept, names, sent)
    return pio.json.to_json_plotly(skeleton), sent, frozenset(names)


def _pieces_taken(value, kept: frozenset[str], names: set[str], sent: dict[str, str]):
    """A copy of `value` with its large values named (figure_parts), its other arrays as
    typed arrays, as convert_to_base64 (plotly's own step in Figure.to_dict) leaves them."""
    if isinstance(value, list | tuple) and len(value) >= PIECE_ITEMS:
        if not isinstance(value[0], dict | list | tuple):
            return _piece(value, pickle.dumps(value, protocol=5), kept, names, sent)
    if isinstance(value, list | tuple):
        return [_pieces_taken(item, kept, names, sent) for item in value]
    if not isinstance(value, dict):
        return value
    copied = {}
    for key, item in value.items():
        if is_skipped_key(key) or not is_homogeneous_array(item):
            copied[key] = _pieces_taken(item, kept, names, sent)
        elif getattr(item, "nbytes", 0) < PIECE_BYTES:
            copied[key] = to_typed_array_spec(item)
        else:
            item = np.ascontiguousarray(item)
            if item.dtype.kind in "biuf":  # numbers: the name from their bytes
                raw = f"{item.dtype.str}{item.shape}".encode() + item.tobytes()
            else:  # objects (their bytes are addresses): from their values
                raw = pickle.dumps(item.tolist(), protocol=5)
            copied[key] = _piece(item, raw, kept, names, sent)
    return copied


def _piece(value, raw: bytes, kept: frozenset[str], names: set[str], sent: dict[str, str]):
    name = hashlib.blake2b(raw, digest_size=12).hexdigest()
    names.add(name)
    if name not in kept and name not in sent:
        typed = to_typed_array_spec(value) if isinstance(value, np.ndarray) else value
        sent[name] = pio.json.to_json_plotly(typed)
    return {"piece": name}


def _containers_copied(value):
    if isinstance(value, dict):
        return {key: _containers_copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_containers_copied(item) for item in value]
    return value
