"""A plotly chart that stays mounted across reruns: each new figure is drawn into the same plot
with `Plotly.react` (live_chart.js), so a colour change or a highlight redraws the traces.
The browser keeps the long values of the figure it drew (its points' positions, hover texts,
colours: charts.figure_parts' pieces), so the next figure sends only what changed: a
highlight or a colour change of a large map sends kilobytes, not its megabytes again.

`st.plotly_chart` mounts a new chart whenever its figure changes (Streamlit 1.67: the figure is
part of the element's identity), which builds the plot, its WebGL context and shaders anew
(benchmarks/results/latency_ml20m.md says what that costs). Selections come back in
st.plotly_chart's shape (`selection`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components_v1

from dashboard.charts import figure_parts

# plotly.js with only the traces the map draws (scatter, scattergl, heatmap), at the version the
# plotly Python package ships and writes figures for: plotly_js/build.sh builds it as plotly.js
# builds its own bundles; tests/test_map_drawing.py checks both. Its first run in a fresh tab
# takes 0.12-0.17 s of the browser's main thread here, the whole plotly.min.js (4.8 MB) 1.1 s
# (benchmarks/results/latency_ml20m.md). Served by Streamlit's component route: no network.
_PLOTLY_FILES = components_v1.declare_component(
    "plotly_js", path=str(Path(__file__).with_name("plotly_js"))
)
PLOTLY_URL = f"component/{_PLOTLY_FILES.name}/plotly-map.min.js"  # relative: any baseUrlPath

_JS = Path(__file__).with_name("live_chart.js").read_text(encoding="utf-8")
_CHART = st.components.v2.component(
    "hmf_live_chart",
    js=_JS,
    isolate_styles=False,  # plotly's own stylesheet (hover labels, toolbar) reaches the plot
)
_PRELOAD = st.components.v2.component("hmf_plotly_preload", js=_JS)  # data without a figure

NO_SELECTION = {"points": [], "box": [], "lasso": []}


HELD = "live_chart_held"  # session state: chart key -> the pieces its browser keeps


def live_chart(figure: dict, *, key: str, on_select: Callable[[], None], config: dict) -> None:
    """Draw `figure` (a dict: charts.figure_json) in the chart under `key` (mounted once, redrawn in
    place); `on_select` runs on a click, box, lasso or double-click in it, `selection(key)`
    then says what. The pieces of the figure that this session's browser keeps from the
    chart's last figure are named, not sent: live_chart.js keeps exactly the pieces of the
    figure it drew last, under `key`, in the page (a page switch does not lose them; a reload
    is a new session); should one be missing, it says so and is sent every piece."""
    held = dict(st.session_state.get(HELD, {}))
    skeleton, pieces, names = figure_parts(figure, held.get(key, frozenset()))
    _CHART(
        key=key,
        data={
            "figure": skeleton,
            "pieces": pieces,
            "chart": key,
            "config": config,
            "plotly": PLOTLY_URL,
        },
        on_selection_change=on_select,
        on_missing_change=lambda: _forget(key),
    )
    held[key] = names
    st.session_state[HELD] = held


def _forget(key: str) -> None:
    """The browser lacks a piece the chart under `key` named: the next figure sends them all."""
    held = dict(st.session_state.get(HELD, {}))
    held.pop(key, None)
    st.session_state[HELD] = held


def preload_chart(key: str) -> None:
    """Start plotly.js's download and first run in the browser now, in an element that shows
    nothing (put it where an empty element takes no room: the end of the sidebar), so that it
    overlaps the server's work before the first `live_chart` of the page."""
    _PRELOAD(key=key, data={"plotly": PLOTLY_URL})


def selection(key: str) -> dict:
    """The last selection event of the chart under `key`: its points (curve_number,
    point_index, x, y, customdata), boxes ({x: [x0, x1], y: [y0, y1]}) and lassos ({x: [...],
    y: [...]}); none when the chart has sent nothing or its last event cleared it."""
    result = st.session_state.get(key)
    found = result.get("selection") if hasattr(result, "get") else None
    return {**NO_SELECTION, **found} if isinstance(found, dict) else dict(NO_SELECTION)
