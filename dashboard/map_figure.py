"""The map's figure: users, items and clusters in their latent space, drawn with plotly.

Plain dicts in plotly's figure schema rather than graph_objects or plotly express: the
clusters must be SVG markers (clickable one by one) beside thousands of objects in WebGL, and
plotly express sets one render mode per figure; graph_objects validates and deep-copies every
array of a figure the page redraws at each click (0.04-0.11 s of a 10,000-point map drawn over
165,000: benchmarks/results/latency_ml20m.md). `dashboard.charts.figure_json` writes them as
plotly's Figure would (numeric arrays as typed arrays, plotly's default template), and
`figure_parts` the same in pieces, which the chart sends only once (dashboard.live_chart).

Readability rules: the legend sits right of the plot (vertical, scrolling when long), so it never
takes the plot's height; at most MAX_COLOURS values get a colour of their own and a legend entry,
the rest one grey "other" entry, so the legend lists exactly the colours drawn. A search hit is
zoomed to and ringed by a layout shape, drawn above every trace (WebGL ones included).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import plotly.io as pio

from dashboard import charts
from dashboard.text import hover
from hmf_core import HOVER_POINTS, POINT_KINDS, density, hover_rows, parse_point_kind

COLOUR_TITLES = {"top_cluster": "top cluster (level 1)", "cluster_stability": "cluster stability"}
KINDS = POINT_KINDS  # user, item, user cluster, item cluster: custom data holds the position
SYMBOLS = {"user": "circle", "item": "circle", "user cluster": "diamond", "item cluster": "square"}
KIND_COLOURS = {
    "user": "#3457d5",
    "item": "#e8743b",
    "user cluster": "#0b1f73",
    "item cluster": "#9c3b00",
}
MAX_COLOURS = 16  # values with a colour (and legend entry) of their own; the rest are "other"
OTHER_COLOUR = "#b8bfcc"
LEGEND_CHARACTERS = 30  # longer legend texts are cut (the hover has them whole)
LEGEND_ENTRY_PX = 200  # a legend entry's width: the legend below the plot has even columns
LEGEND_COLUMNS = 2  # columns the figure's height allows for (3 fit in a 600 px wide chart)
LEGEND_ROW_PX = 26
HEIGHT = 600  # the figure without its legend; the plot area is this less the top margin
RING = "#e0115f"
HOVER_BYTES = 1_500_000  # characters of hover text a figure carries at most (see `hover_limit`)
DENSITY_SCALE = [[0.0, "#e6eaf2"], [1.0, "#5b6478"]]  # log count of users and items in a cell


def _short(text: str, limit: int = LEGEND_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def hover_texts(rows: pd.DataFrame, word: str = "level", columns: list | None = None) -> list[str]:
    """Hover HTML per row, every text from user files escaped: a cluster's name, or a user's /
    item's label with its top cluster's name and probability, and its metadata `columns`
    (map_data.metadata_columns: the run's own). `word`: what a grouping is called ("level",
    "view": the top cluster is then the first view's).

    Made for every row of a map (165,000 on the largest data measured): each distinct name,
    verdict and metadata value is escaped once, and the rows are read as arrays, not tuples."""
    top_of = "top cluster" if word == "level" else f"top cluster of {word} 1"
    extra = [c for c in columns or () if c in rows.columns]
    escaped: dict = {}  # a value -> its escaped text, or None where it shows nothing

    def once(value, shorten: bool = False):
        key = (value, shorten) if isinstance(value, str) else None
        if key is None or not value:
            return None
        if key not in escaped:
            escaped[key] = hover(_short(value, 60) if shorten else value)
        return escaped[key]

    def column(name: str, default=None) -> np.ndarray:
        if name in rows.columns:
            return rows[name].to_numpy(object)
        return np.full(len(rows), default, dtype=object)

    labels = [str(label) for label in column("label")]
    names, verdicts = column("name"), column("cluster_stability")
    metadata = [(name, column(name)) for name in extra]  # any column name
    probabilities = column("top_probability", float("nan"))
    kinds, indexes, levels = (rows[name].to_numpy(object) for name in ("kind", "index", "level"))
    sizes, tops = column("size", 0.0), column("top_cluster", -1)
    texts = []
    for position, (kind, index, level, size, top, label) in enumerate(
        zip(kinds, indexes, levels, sizes, tops, labels, strict=True)
    ):
        name = names[position] if isinstance(names[position], str) and names[position] else None
        if level > 0:
            title = once(name) or hover(label)
            text = f"<b>{title}</b><br>{kind} {index}, {word} {level}, size {size:.1f}"
            verdict = once(verdicts[position])
            if verdict is not None:
                text += f"<br>stability: {verdict}"
        else:
            text = f"<b>{hover(label)}</b><br>{kind}"
            if top >= 0:
                probability = probabilities[position]
                text += f"<br>{top_of}: {kind} cluster {top}"
                if probability == probability:  # not NaN
                    text += f" (probability {probability:.2f})"
                if name:
                    text += f"<br>{once(name, shorten=True)}"
        for title, values in metadata:  # what the label does not say already
            value = values[position]
            if isinstance(value, str) and value and value not in label:
                text += f"<br>{title}: {once(value)}"
        texts.append(text)
    return texts


def colour_values(rows: pd.DataFrame, colour: str) -> pd.Series:
    """The value each row is coloured by: the column itself, except for the top cluster, whose
    number means a user cluster for users and an item cluster for items (so the side is part of
    the value). NaN: no value (a higher-level cluster has no level-1 top cluster).

    The top cluster's values are categorical: a label is made per distinct (side, cluster),
    not per row (every point of the map is coloured: 165,000 rows on the largest map measured)."""
    if colour != "top_cluster":
        return rows[colour]
    top = rows["top_cluster"].to_numpy()
    item_side = np.array([parse_point_kind(kind)[0] == "item" for kind in KINDS])
    span = max(int(top.max(initial=0)) + 1, 1)
    keyed = np.where(top >= 0, item_side[kind_codes(rows)] * span + top, np.nan)
    codes, found = pd.factorize(keyed)  # no value (NaN): code -1
    labels = [f"{('user', 'item')[int(key) // span]} cluster {int(key) % span}" for key in found]
    return pd.Series(pd.Categorical.from_codes(codes, labels), index=rows.index)


def kind_codes(rows: pd.DataFrame) -> np.ndarray:
    """(rows,) each row's kind as its position in KINDS (hashed once per distinct kind)."""
    codes, found = pd.factorize(rows["kind"])
    return np.array([KINDS.index(kind) for kind in found], dtype=np.int64)[codes]


def palette(values: pd.Series, names: dict | None = None) -> tuple[dict, dict, int]:
    """(colour per value, legend text per value, count of values folded into "other"): the
    MAX_COLOURS most frequent values get a colour, shared evenly between the user and the item
    side for top clusters ("user cluster 3", "item cluster 3"); names (value -> cluster name)
    label them."""
    counts = values.dropna().value_counts()
    sides = counts.index.to_series().astype(str).str.extract(r"^(user|item) cluster ")[0]
    if sides.notna().all() and sides.nunique() > 1:
        quota = MAX_COLOURS // sides.nunique()
        kept = [value for _, group in counts.groupby(sides.values) for value in group.index[:quota]]
    else:
        kept = list(counts.index[:MAX_COLOURS])
    kept = sorted(kept, key=_natural)
    colours = charts.colour_map(pd.Series(range(len(kept))))
    colours = {value: colours[position] for position, value in enumerate(kept)}
    names = names or {}
    legend = {
        value: _short(f"{str(value).replace(' cluster ', ' c')}: {names[value]}")
        if value in names
        else _short(str(value))
        for value in kept
    }
    return colours, legend, max(len(counts) - len(kept), 0)


def _natural(value) -> tuple:
    """Sort key that puts "user cluster 2" before "user cluster 10"."""
    text = str(value)
    head, _, tail = text.rpartition(" ")
    return (head, int(tail), "") if tail.isdigit() else (text, -1, text)


def _custom(rows: pd.DataFrame) -> np.ndarray:
    """Per point: kind (its position in KINDS), level, index (which object or cluster it is),
    size and top cluster. All numbers: plotly sends them as one compact typed array."""
    return np.stack(
        [
            kind_codes(rows).astype(float),
            rows["level"].to_numpy(),
            rows["index"].to_numpy(),
            rows["size"].to_numpy(),
            rows["top_cluster"].to_numpy(),
        ],
        axis=1,
    ).astype(np.float32)


def point_of(custom: list) -> dict:
    """A point as the selection keeps it, from a marker's customdata (see `_custom`): a list,
    or, as the browser sends a typed array's row, a dict {"0": kind, "1": level, ...}."""
    if isinstance(custom, dict):
        custom = [custom[str(position)] for position in range(len(custom))]
    kind = KINDS[int(custom[0])]
    return {
        "kind": kind,
        "level": int(custom[1]),
        "index": int(custom[2]),
        "size": custom[3],
        "top_cluster": int(custom[4]),
    }


def _coded(values: pd.Series, colours: dict) -> dict:
    """Marker colours as numbers (a code per point: position in `colours`, or the last code
    for "other") with a stepped colour scale: one typed array instead of a colour string per
    point, which plotly validates one by one."""
    palette_list = [*colours.values(), OTHER_COLOUR]
    steps = len(palette_list)
    code_of = {value: code for code, value in enumerate(colours)}
    positions, distinct = pd.factorize(values)  # no value (NaN): -1, the last entry: "other"
    codes = np.array([code_of.get(value, steps - 1) for value in distinct] + [steps - 1])
    scale = []
    for code, colour in enumerate(palette_list):
        scale += [[code / steps, colour], [(code + 1) / steps, colour]]
    return {
        "color": codes[positions].astype(np.float32),
        "colorscale": scale,
        "cmin": -0.5,
        "cmax": steps - 0.5,
        "showscale": False,
    }


def texts(rows: pd.DataFrame, words: tuple = ("level", None)) -> np.ndarray:
    """The rows' hover texts as one object array: plotly checks a list string by string (27-100
    ms for 10,000 hovers), an array at once; the figure's JSON is the same. A row with no
    hover yet (map_data makes those a first draw shows) gets one here: `words`, the (word,
    metadata columns) of `hover_texts`."""
    if "hover" not in rows.columns:
        return np.asarray(hover_texts(rows, *words), dtype=object)
    found = rows["hover"].to_numpy(dtype=object, copy=True)
    missing = pd.isna(found)
    if missing.any():
        found[missing] = hover_texts(rows[missing], *words)
    return found


def _legend_entry(name: str, marker: dict, group: str) -> dict:
    """A legend line with no points (the legend explains colours and shapes; it filters
    nothing: itemclick is off)."""
    return {
        "type": "scatter",
        "x": [None],
        "y": [None],
        "mode": "markers",
        "name": hover(name),  # legend text is HTML too
        "marker": marker,
        "legendgroup": group,
        "hoverinfo": "skip",
        "showlegend": True,
    }


def figure(
    visible: pd.DataFrame,
    colour: str,
    *,
    cluster_names: dict | None = None,
    focus: pd.Series | None = None,
    selected: pd.DataFrame | None = None,
    highlight: pd.DataFrame | None = None,
    drawn: np.ndarray | None = None,
    colour_title: str | None = None,
    words: tuple = ("level", None),
    view: str = "map",
) -> dict:
    """The map, a plotly figure as a dict ("data": its traces, "layout"): a trace per kind
    (clusters as SVG, easy to click; objects as WebGL), coloured by `colour` (see `palette`);
    `focus`, a search hit, zoomed to and ringed; `selected` points ringed; `highlight`, a
    cluster's members (rows with a probability), drawn on top, sized and opaque by
    probability, every other point dimmed. Every marker carries (kind, level,
    index, size, top cluster) as customdata, which the page's selection reads. `colour_title`:
    the legend's heading in place of the colour's own.

    More than `hover_limit(visible)` points: every cluster and a stated sample of users and
    items (hmf_core.hover_rows) are drawn with hovers, and every user and item, sampled or
    not, as a grey density layer beneath them. `drawn`: `drawn_rows(visible, focus)`, when
    the caller has it already. `words`: (word, metadata columns) of the hovers made here, for
    rows with none yet (`texts`). `view`: what the axes show (e.g. the run and its layout): a
    redraw of the same view keeps the reader's zoom, a new view starts from the whole map."""
    traces = []
    dimmed = highlight is not None
    values = colour_values(visible, colour) if colour != "kind" else None
    title = hover(colour_title or COLOUR_TITLES.get(colour, colour))
    colours, legend, folded = palette(values, cluster_names) if values is not None else ({}, {}, 0)
    points = visible[drawn_rows(visible, focus) if drawn is None else drawn]
    if len(points) < len(visible):
        objects = visible.loc[visible["level"] == 0, ["x", "y"]]
        traces.append(_density_trace(objects, dimmed=dimmed))
    for kind in KINDS:
        rows = points[points["kind"] == kind]
        if not rows.empty:
            traces.append(_kind_trace(rows, kind, values, colours, dimmed, words))
    if values is not None:
        traces += _colour_legend(visible, values, colours, legend, folded)
    if highlight is not None and not highlight.empty:
        traces.append(_members_trace(strongest(highlight), words))
    if selected is not None and not selected.empty:
        traces.append(_selected_trace(selected))
    legend_entries = sum(1 for trace in traces if trace["showlegend"])
    layout = _layout(legend_entries, title if values is not None else None, view)
    if focus is not None:
        layout.update(_zoom_to(visible if not visible.empty else focus.to_frame().T, focus))
    return {"data": traces, "layout": layout}


def hover_limit(rows: pd.DataFrame) -> int:
    """Points a figure draws with a hover: HOVER_POINTS, fewer where the hover texts are long
    (at most HOVER_BYTES characters of them, so the figure stays a few MB)."""
    known = rows["hover"].dropna() if "hover" in rows.columns else ()
    if not len(known):  # lengths from the rows with a hover text (map_data: a sample at least)
        return HOVER_POINTS
    mean = max(float(known.str.len().mean()), 1.0)
    return max(min(HOVER_POINTS, int(HOVER_BYTES / mean)), 1)


def drawn_rows(visible: pd.DataFrame, focus: pd.Series | None = None) -> np.ndarray:
    """(rows,) bool: the rows of `visible` drawn one by one, with a hover (every row up to
    `hover_limit`; else hmf_core.hover_rows' sample, the search hit `focus` included)."""
    limit = hover_limit(visible)
    if len(visible) <= limit:
        return np.ones(len(visible), dtype=bool)
    keep = None
    if focus is not None:
        keep = (
            (visible["kind"] == focus["kind"])
            & (visible["level"] == focus["level"])
            & (visible["index"] == focus["index"])
        ).to_numpy()
    return hover_rows(visible, limit, keep)


def strongest(highlight: pd.DataFrame) -> pd.DataFrame:
    """A cluster's members to draw: the `hover_limit` most probable."""
    limit = hover_limit(highlight)
    return highlight if len(highlight) <= limit else highlight.nlargest(limit, "probability")


def _density_trace(objects: pd.DataFrame, *, dimmed: bool) -> dict:
    """Every user and item as a grey shade per cell (log of the count; empty cells clear):
    not hoverable, not selectable, beneath every point."""
    cells = density(objects)
    count = cells["count"]
    shade = np.where(count > 0, np.log1p(count), np.nan).astype(np.float32)
    return {
        "type": "heatmap",
        "x": np.asarray(cells["x"], dtype=np.float32),
        "y": np.asarray(cells["y"], dtype=np.float32),
        "z": shade,
        "colorscale": DENSITY_SCALE,
        "opacity": 0.3 if dimmed else 0.85,
        "showscale": False,
        "hoverinfo": "skip",
        "name": "density",
        "showlegend": False,
    }


def _kind_trace(
    rows: pd.DataFrame, kind: str, values: pd.Series | None, colours: dict, dimmed: bool, words
) -> dict:
    """One kind's points: coloured by kind (`values` None) or by their values' codes; clusters
    sized by their size."""
    is_cluster = parse_point_kind(kind)[1]
    if values is None:
        colouring = {"color": KIND_COLOURS[kind]}
    else:
        colouring = _coded(values.loc[rows.index], colours)
    if is_cluster:  # marker area grows with the cluster's size, relative to its kind
        relative = np.sqrt(rows["size"].clip(lower=0) / max(rows["size"].max(), 1e-9))
        sizes = (6 + 10 * relative).to_numpy()
    else:
        sizes = 5
    opacity = 0.95 if is_cluster else 0.6
    # Clusters in SVG, users and items in WebGL: a cluster wins a hover or click over the
    # objects on top of it (all SVG, an object within 3 px of the pointer took it).
    return {
        "type": "scatter" if is_cluster else "scattergl",
        "x": rows["x"].to_numpy(np.float32),  # typed arrays: 4 bytes a number in the figure
        "y": rows["y"].to_numpy(np.float32),
        "mode": "markers",
        "name": kind,
        "marker": {
            **colouring,
            "size": sizes,
            "symbol": SYMBOLS[kind],
            "opacity": 0.12 if dimmed else opacity,
            "line": {"width": 1 if is_cluster else 0, "color": "white"},
        },
        "hovertext": texts(rows, words),
        "hoverinfo": "text",
        "customdata": _custom(rows),
        "showlegend": values is None,
        "legendgroup": "kinds",
    }


def _colour_legend(
    visible: pd.DataFrame, values: pd.Series, colours: dict, legend: dict, folded: int
) -> list[dict]:
    """Legend entries for the colours drawn ("other" / "none" last), then for the shapes."""
    entries = [(legend[value], hex_colour) for value, hex_colour in colours.items()]
    if folded or values.isna().any():
        other = f"other ({folded} values)" if folded else ""
        none = "none" if values.isna().any() else ""
        entries.append((" or ".join(t for t in (other, none) if t), OTHER_COLOUR))
    traces = [
        _legend_entry(text, {"color": hex_colour, "size": 9}, "colours")
        for text, hex_colour in entries
    ]
    for kind in KINDS:  # what the shapes mean
        if (visible["kind"] == kind).any():
            marker = {"color": "#6b7385", "size": 9, "symbol": SYMBOLS[kind]}
            traces.append(_legend_entry(f"shape: {kind}", marker, "shapes"))
    return traces


def _members_trace(highlight: pd.DataFrame, words: tuple) -> dict:
    """A cluster's members, sized and opaque by their probability, above the WebGL points."""
    strongest = max(float(highlight["probability"].max()), 1e-9)
    relative = (highlight["probability"] / strongest).clip(0, 1).to_numpy()
    return {
        "type": "scattergl",  # above the WebGL points
        "x": highlight["x"].to_numpy(),
        "y": highlight["y"].to_numpy(),
        "mode": "markers",
        "name": "members",
        "marker": {
            "color": RING,
            "size": 5 + 9 * relative,
            "opacity": (0.35 + 0.65 * relative).tolist(),
            "line": {"width": 0},
        },
        "hovertext": texts(highlight, words),
        "hoverinfo": "text",
        "customdata": _custom(highlight),
        "showlegend": False,
    }


def _selected_trace(selected: pd.DataFrame) -> dict:
    """Rings around the selected points (larger when there are few)."""
    few = len(selected) <= 20
    ring = {"symbol": "circle-open", "size": 16 if few else 9, "color": RING}
    return {
        "type": "scattergl",
        "x": selected["x"].to_numpy(),
        "y": selected["y"].to_numpy(),
        "mode": "markers",
        "name": "selected",
        "marker": {**ring, "line": {"width": 2.5 if few else 1.2}},
        "hoverinfo": "skip",  # a ring never takes a hover or click from the point it rings
        "customdata": _custom(selected),
        "showlegend": False,
    }


def _layout(legend_entries: int, heading: str | None, view: str) -> dict:
    """The figure's layout: HEIGHT plus the legend below the plot (headed `heading`, none when
    coloured by kind), panning, no axes; the zoom kept while `view` stays (uirevision)."""
    return {
        "template": _template(),
        "height": HEIGHT + legend_height(legend_entries),
        "margin": {"l": 0, "r": 0, "t": 10, "b": 0},
        "dragmode": "pan",
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 0,
            "yanchor": "top",
            "entrywidth": LEGEND_ENTRY_PX,
            "itemsizing": "constant",
            "traceorder": "normal",  # entries flow in rows (grouped would make columns)
            "title": {"text": f"<b>{heading}</b>" if heading is not None else "", "side": "top"},
            "itemclick": False,
            "itemdoubleclick": False,
            "font": {"size": 11},
        },
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "scaleanchor": "x"},
        "plot_bgcolor": "#fbfcfe",
        "hovermode": "closest",
        "uirevision": view,
    }


@cache
def _template() -> dict:
    """plotly's default template, as a graph_objects figure carries it (plotly.io.templates)."""
    return pio.templates[pio.templates.default].to_plotly_json()


def legend_height(entries: int) -> int:
    """Pixels the legend below the plot needs (LEGEND_COLUMNS entries a row, group headings on
    rows of their own): the figure grows by this much, so the plot keeps HEIGHT."""
    if not entries:
        return 0
    rows = -(-entries // LEGEND_COLUMNS) + 1  # and the heading's
    return 16 + LEGEND_ROW_PX * rows


def _zoom_to(rows: pd.DataFrame, focus: pd.Series) -> dict:
    """Layout that zooms to `focus` (a window a sixth of the map's extent) and rings it with
    shapes drawn above every trace, with its label beside it."""
    x, y = float(focus["x"]), float(focus["y"])
    extent = max(float(np.ptp(rows["x"])), float(np.ptp(rows["y"])), 1e-6)
    half = extent / 12
    radius = half / 7
    ring = {
        "type": "circle",
        "xref": "x",
        "yref": "y",
        "x0": x - radius,
        "x1": x + radius,
        "y0": y - radius,
        "y1": y + radius,
        "layer": "above",
        "line": {"color": RING, "width": 3},
        "name": "search hit",
    }
    halo = {**ring, "line": {"color": "white", "width": 7}, "name": "search hit halo"}
    label = {
        "x": x,
        "y": y + radius,
        "xref": "x",
        "yref": "y",
        "text": f"<b>{hover(_short(str(focus['label']), 50))}</b>",
        "showarrow": True,
        "arrowhead": 0,
        "ay": -30,
        "ax": 0,
        "bgcolor": "rgba(255,255,255,0.9)",
        "bordercolor": RING,
        "font": {"size": 12},
    }
    return {
        "xaxis": {"visible": False, "range": [x - half, x + half]},
        "yaxis": {"visible": False, "scaleanchor": "x", "range": [y - half, y + half]},
        "shapes": [halo, ring],
        "annotations": [label],
        "uirevision": f"focus-{focus['kind']}-{focus['level']}-{focus['index']}",
    }
