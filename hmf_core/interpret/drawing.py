"""What a large map draws one by one: above HOVER_POINTS rows, a stated sample (every cluster,
users and items in proportion to their top cluster: `hover_rows`) is drawn as points with a
hover text, and every user and item as a density layer (`density`); a box or lasso selects
every point inside it, sampled or not (`points_in_region`). At ML-20M size (165,537 points) the
hover texts alone were 30 MB of the figure's 37.6 MB (benchmarks/results/maps.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hmf_core.interpret.projection import umap_sample

HOVER_POINTS = 10_000  # rows of a map with a hover text; up to this many, every row


def hover_rows(frame: pd.DataFrame, limit: int = HOVER_POINTS, keep=None) -> np.ndarray:
    """(rows,) bool: the rows of a map's frame (kind, level, index, top_cluster) that get a
    hover text and can be clicked: all of them up to `limit` rows; else every cluster and
    users and items stratified by (kind, top cluster), as UMAP's fitted sample is
    (`projection.umap_sample`: seeded, so a redraw keeps the same rows), plus the rows of
    `keep` (a bool mask, e.g. a search hit)."""
    chosen = np.zeros(len(frame), dtype=bool)
    chosen[umap_sample(frame.reset_index(drop=True), limit)] = True
    if keep is not None:
        chosen |= np.asarray(keep, dtype=bool)
    return chosen


def points_in_region(frame: pd.DataFrame, box: list, lasso: list) -> pd.DataFrame:
    """The rows of `frame` (x, y) inside any of the selected regions: boxes ({"x": [x0, x1],
    "y": [y0, y1]}) and lasso polygons ({"x": [...], "y": [...]}), as a chart's selection
    event gives them. Regions without coordinates are skipped."""
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    inside = np.zeros(len(frame), dtype=bool)
    for region in box or ():
        xs, ys = _corners(region)
        if len(xs) >= 2 and len(ys) >= 2:
            inside |= (x >= min(xs)) & (x <= max(xs)) & (y >= min(ys)) & (y <= max(ys))
    for region in lasso or ():
        xs, ys = _corners(region)
        if len(xs) >= 3 and len(xs) == len(ys):
            inside |= in_polygon(x, y, np.asarray(xs, float), np.asarray(ys, float))
    return frame[inside]


def _corners(region) -> tuple[list, list]:
    if not isinstance(region, dict):
        return [], []
    xs, ys = region.get("x") or [], region.get("y") or []
    numbers = (int, float)
    if not all(isinstance(v, numbers) for v in [*xs, *ys]):
        return [], []
    return list(xs), list(ys)


def in_polygon(x: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(n,) bool: whether each point (x, y) lies inside the closed polygon (xs, ys), by the
    even-odd rule (a ray to the right crosses its edges an odd number of times)."""
    inside = np.zeros(len(x), dtype=bool)
    previous = len(xs) - 1
    for current in range(len(xs)):  # each edge (previous -> current)
        x0, y0, x1, y1 = xs[previous], ys[previous], xs[current], ys[current]
        crosses = (y0 > y) != (y1 > y)
        if y1 != y0:
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)  # the edge's x at the point's height
            inside ^= crosses & (x < at)
        previous = current
    return inside


DENSITY_CELLS = 160  # cells across the longer side of a map's density layer


def density(frame: pd.DataFrame, cells: int = DENSITY_CELLS) -> dict:
    """Where a map's rows (x, y) lie, counted on a grid of square cells (`cells` across the
    longer side): {"x": cell centres (nx,), "y": cell centres (ny,), "count": (ny, nx)}, as a
    heatmap draws them (rows are y). Empty frame: no cells."""
    if frame.empty:
        return {"x": np.zeros(0), "y": np.zeros(0), "count": np.zeros((0, 0))}
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    low = np.array([x.min(), y.min()])
    extent = np.array([np.ptp(x), np.ptp(y)])
    side = max(float(extent.max()), 1e-9) / cells  # one cell's width and height
    counts = np.maximum(np.ceil(extent / side).astype(int), 1)  # (nx, ny) cells
    edges = [low[axis] + side * np.arange(counts[axis] + 1) for axis in (0, 1)]
    edges[0][-1], edges[1][-1] = max(edges[0][-1], x.max()), max(edges[1][-1], y.max())
    column, row = _cells(x, edges[0], side), _cells(y, edges[1], side)  # (rows,) each
    count = np.bincount(row * counts[0] + column, minlength=counts[1] * counts[0])
    centres = [(edge[:-1] + edge[1:]) / 2 for edge in edges]
    return {"x": centres[0], "y": centres[1], "count": count.reshape(counts[1], counts[0])}


def _cells(values: np.ndarray, edges: np.ndarray, side: float) -> np.ndarray:
    """(rows,) each value's cell between `edges` (`side` apart), the last cell closed on the
    right: np.histogram2d's cells, found by division (then set right where rounding put a
    value beside an edge) instead of a search among the edges, 5x faster on 165,000 points."""
    last = len(edges) - 2
    cell = np.clip(((values - edges[0]) / side).astype(np.int64), 0, last)
    cell -= values < edges[cell]
    cell += (values >= edges[cell + 1]) & (cell < last)
    return cell
