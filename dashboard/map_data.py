"""Cached map data: the drawn frame of each layout (with cluster names and hover texts made once),
a cluster's members to highlight, and the numbers behind the comparable view. Everything is
computed by `interpret.projection`; this module only caches it, keyed by (run path, checkpoint
mtime) and the map file's stamp like `dashboard.loads`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import hmf_core
from dashboard import loads, map_figure, queries
from hmf_core import HOVER_POINTS, RunDir

Key = loads.Key
LENGTH_SAMPLE = 2_000  # rows whose hover lengths size a large map's drawn sample (hover_limit)
LAYOUTS = {
    "model": "Model space",
    "shared": "Users and items comparable",
}


def names(key: Key) -> pd.DataFrame:
    """projection.map_names: every cluster's name, every object's top cluster name."""
    return _labels(key, "map_names")


def metadata(key: Key) -> pd.DataFrame:
    """projection.map_metadata: every user's and item's categorical metadata values."""
    return _labels(key, "map_metadata")


def _labels(key: Key, name: str) -> pd.DataFrame:
    """A label table as the maps job saved it (loads.map_labels), else computed (cached)."""
    saved = loads.map_labels(key, name)
    return saved if saved is not None else _computed(key, name)


@st.cache_data(max_entries=8, show_spinner=False)
def _computed(key: Key, name: str) -> pd.DataFrame:
    run = RunDir(key[0])
    compute = {"map_names": hmf_core.map_names, "map_metadata": hmf_core.map_metadata}[name]
    return compute(loads.load_model(*key), loads.table(run, "users"), loads.table(run, "items"))


def metadata_columns(key: Key) -> list[str]:
    """The run's metadata columns on the map (Colour by, hovers), whatever they are called:
    kept apart from the table, which each Map rerun would otherwise copy out of the cache for
    its column names (7 ms at 165,000 rows)."""
    run = RunDir(key[0])
    return _metadata_columns(key, run.stamp("map_metadata"), run.stamp("maps"))


@st.cache_data(max_entries=16, show_spinner=False)
def _metadata_columns(key: Key, file_stamp: tuple, maps_stamp: tuple) -> list[str]:
    # the stamps of what map_labels reads: a new maps job, new columns
    return [c for c in metadata(key).columns if c not in ("kind", "level", "index")]


@st.cache_data(max_entries=8, show_spinner="Placing users and items in one space…")
def shared(key: Key) -> tuple[pd.DataFrame, dict]:
    """The comparable view (projection.shared_map) and the side offsets it removes."""
    table, vectors = queries.embedding_table(key)
    return hmf_core.shared_map(table, vectors), hmf_core.side_offsets(table, vectors)


@st.cache_data(max_entries=12, show_spinner=False)
def _drawn(key: Key, layout: str, method: str, file_stamp: tuple) -> pd.DataFrame:
    if layout == "shared":
        frame = shared(key)[0]
    else:
        frame = loads.run_map(RunDir(key[0]), key)[0]
    keys = ["kind", "level", "index"]
    columns = metadata_columns(key)
    frame = frame.drop(columns=[c for c in columns if c in frame.columns])  # an older map's
    frame = frame.merge(names(key), on=keys, how="left", validate="one_to_one")
    frame = frame.merge(metadata(key), on=keys, how="left", validate="one_to_one")
    verdicts = stability(key)
    if not verdicts.empty:  # measured: each cluster's verdict, for its hover and Colour by
        frame = frame.merge(verdicts, on=keys, how="left", validate="one_to_one")
    return frame.assign(hover=first_hovers(frame, queries.grouping_word(key), columns))


def first_hovers(frame: pd.DataFrame, word: str, columns: list) -> np.ndarray:
    """Hover texts of the rows a first draw of the whole map shows (every row up to
    HOVER_POINTS; else every cluster and map_figure.drawn_rows' sample, the lengths that sample
    is sized by taken from a smaller one), None for the rest, which map_figure makes when it
    draws them: 0.53 s for all 164,794 rows of the largest map measured."""
    hovers = np.full(len(frame), None, dtype=object)
    chosen = np.ones(len(frame), dtype=bool)
    if len(frame) > HOVER_POINTS:
        sample = hmf_core.hover_rows(frame, LENGTH_SAMPLE)
        hovers[sample] = map_figure.hover_texts(frame[sample], word, columns)
        chosen = map_figure.drawn_rows(frame.assign(hover=hovers)) & pd.isna(hovers)
    hovers[chosen] = map_figure.hover_texts(frame[chosen], word, columns)
    return hovers


def stability(key: Key) -> pd.DataFrame:
    """kind, level, index and cluster_stability (the verdict: "reappears in 3 of 3 runs",
    "unstable") of every cluster that queries.cluster_stability covers; empty when none is."""
    frames = []
    for side, depth in queries.level_counts(key).items():
        for level in range(1, depth + 1):
            table = queries.cluster_stability(key, side, level)
            if table is not None:
                frames.append(
                    pd.DataFrame(
                        {
                            "kind": f"{side} cluster",
                            "level": level,
                            "index": table["cluster"].to_numpy(),
                            "cluster_stability": table["verdict"].to_numpy(object),
                        }
                    )
                )
    columns = ["kind", "level", "index", "cluster_stability"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _version(run: RunDir, key: Key, layout: str) -> tuple[str, tuple]:
    """(method, stamp) of a layout's drawn frame: the run's best map (UMAP, else PCA) and its
    file's stamp for the model space, the comparable view's PCA for "shared"; the stability
    file's stamp too (a new stability measurement: new hovers)."""
    method = loads.run_map_method(run)
    if layout == "shared":
        method, stamp = "pca", ()
    else:
        stamp = run.stamp(f"map_{method}")
    return method, (stamp, run.stamp("stability"))


def drawn(run: RunDir, key: Key, layout: str, top_level: int = 1) -> tuple[pd.DataFrame, str]:
    """(frame, method) of a layout: the run's best map (UMAP, else PCA) for the model space,
    the comparable view's PCA for "shared"; names and hover texts added; top_cluster of
    grouping `top_level` (1: as stored)."""
    method, stamp = _version(run, key, layout)
    if top_level != 1:
        return coloured_by(key, layout, method, stamp, top_level), method
    return _drawn(key, layout, method, stamp), method


def drawn_rows(
    run: RunDir, key: Key, layout: str, top_level: int, kinds: list, levels: list, focus
) -> np.ndarray:
    """map_figure.drawn_rows of the points `drawn` shows for these `kinds` and `levels`, the
    search hit `focus` (a row, or None) drawn too: made once per view, not on every rerun
    (0.1-0.3 s at 165,000 points)."""
    stamp = _version(run, key, layout)[1]
    hit = None if focus is None else (focus["kind"], int(focus["level"]), int(focus["index"]))
    return _drawn_rows(key, layout, top_level, stamp, tuple(kinds), tuple(levels), hit)


@st.cache_data(max_entries=16, show_spinner=False)
def _drawn_rows(
    key: Key, layout: str, top_level: int, stamp: tuple, kinds: tuple, levels: tuple, hit
) -> np.ndarray:
    frame = drawn(RunDir(key[0]), key, layout, top_level)[0]
    visible = hmf_core.map_points(frame, list(kinds), list(levels))
    focus = None if hit is None else pd.Series(dict(zip(("kind", "level", "index"), hit)))
    return map_figure.drawn_rows(visible, focus)


def cluster_names(frame: pd.DataFrame, level: int = 1) -> dict[str, str]:
    """ "user cluster 3" -> its name, for the clusters of one level (or view): the top-cluster
    colouring."""
    first = frame[(frame["level"] == level) & frame["name"].notna()]
    return dict(zip(first["kind"] + " " + first["index"].astype(str), first["name"]))


@st.cache_data(max_entries=8, show_spinner=False)
def coloured_by(key: Key, layout: str, method: str, stamp: tuple, level: int) -> pd.DataFrame:
    """A layout's drawn frame with its top_cluster column for grouping `level` (a view) in
    place of grouping 1's (projection.top_clusters_at)."""
    frame = _drawn(key, layout, method, stamp)
    # every hover made now, from grouping 1's top cluster: the column replaced below
    words = (queries.grouping_word(key), metadata_columns(key))
    frame = frame.assign(hover=map_figure.texts(frame, words))
    return frame.assign(top_cluster=hmf_core.top_clusters_at(loads.load_model(*key), frame, level))


@st.cache_data(max_entries=32, show_spinner=False)
def highlight(key: Key, side: str, level: int, cluster: int) -> pd.DataFrame:
    """projection.cluster_highlight: the members of one cluster, with their probability."""
    tops = queries.top_clusters_of(key, side, level)  # one argmax for every cluster's click
    return hmf_core.cluster_highlight(loads.load_model(*key), side, level, cluster, tops=tops)
