"""Cached calls of `interpret.queries`, keyed by (run path, checkpoint mtime) and the query's
arguments, so a page redraw does not recompute and a new checkpoint does."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd
import streamlit as st

import hmf_core
from dashboard import loads
from hmf_core import RunDir

Key = loads.Key


def _model(key: Key):
    return loads.load_model(*key)


def _table(key: Key, name: str) -> pd.DataFrame:
    return loads.table(RunDir(key[0]), name)


@st.cache_data(max_entries=32, show_spinner=False)
def level_counts(key: Key) -> dict[str, int]:
    """How many levels (groupings) of clusters each side of the run's model has."""
    return hmf_core.level_counts(_model(key))


@st.cache_data(max_entries=32, show_spinner=False)
def level_sizes(key: Key) -> dict[str, list[int]]:
    """Each side's number of clusters per level, finest first (level_picker reads the levels
    from it and opens on hmf_core.readable_level of it)."""
    return hmf_core.level_sizes(_model(key))


@st.cache_data(max_entries=32, show_spinner=False)
def top_clusters_of(key: Key, side: str, level: int) -> np.ndarray:
    """(M,) each user's or item's most probable cluster of that level (map clicks read it)."""
    return hmf_core.top_clusters_of(_model(key), side, level)


@st.cache_data(max_entries=32, show_spinner=False)
def cluster_sizes(key: Key, side: str, level: int) -> np.ndarray:
    return hmf_core.cluster_sizes(_model(key), side, level)


@st.cache_data(max_entries=16, show_spinner="Computing the cluster affinity matrix…")
def affinity(key: Key, user_level: int, item_level: int) -> tuple[pd.DataFrame, list, list]:
    """(matrix, row order, column order): the matrix and the order that shows its blocks."""
    matrix = hmf_core.affinity_matrix(_model(key), user_level, item_level)
    rows, columns = hmf_core.block_order(matrix)
    return matrix, rows, columns


def cluster_table(
    key: Key, side: str, level: int, top: int, attribute: str | None = None
) -> pd.DataFrame:
    """Names, sizes, nearest and top members of a side's clusters (and whether each reappears
    with other seeds, once the run's stability.json is measured): the same for every cluster of
    the other side that they are ranked against, so computed once, not on each pick."""
    return _cluster_table(key, side, level, top, attribute, _stability_stamp(key))


def _stability_stamp(key: Key) -> tuple:
    """stability.json's (mtime, size): a cache key part, so a new measurement is shown."""
    return RunDir(key[0]).stamp("stability")


@st.cache_data(max_entries=16, show_spinner="Naming the clusters…")
def _cluster_table(
    key: Key, side: str, level: int, top: int, attribute: str | None, stamp: tuple
) -> pd.DataFrame:
    meta = _table(key, f"{side}s")
    stored = RunDir(key[0]).stability() if stamp else {}
    stored = None if not stored or "error" in stored else stored
    saved = saved_names(key, side, [level])
    names = saved[0] if saved else None  # None: cluster_table works them out
    return hmf_core.cluster_table(_model(key), side, level, meta, top, attribute, stored, names)


def cluster_stability(key: Key, side: str, level: int) -> pd.DataFrame | None:
    """hmf_core.cluster_stability of the run's stability.json for one side and grouping (level
    or view), or None when not measured, damaged, or another model's (other cluster count)."""
    return _cluster_stability(key, side, level, _stability_stamp(key))


@st.cache_data(max_entries=32, show_spinner=False)
def _cluster_stability(key: Key, side: str, level: int, stamp: tuple) -> pd.DataFrame | None:
    if not stamp or level < 1 or level > level_counts(key).get(side, 0):
        return None
    table = hmf_core.cluster_stability(RunDir(key[0]).stability(), side, level)
    if table is None or len(table) != len(cluster_sizes(key, side, level)):
        return None
    return table


def stability_note(key: Key) -> str:
    """The line a cluster view shows when no stability is: how to measure it for this run."""
    return hmf_core.stability_note(RunDir(key[0]).stability(), key[0])


def item_clusters_for_user_cluster(
    key: Key, cluster: int, user_level: int, item_level: int, top: int, attribute: str | None = None
) -> pd.DataFrame:
    stamp = _stability_stamp(key)
    return _item_clusters(key, cluster, user_level, item_level, top, attribute, stamp)


@st.cache_data(max_entries=64, show_spinner=False)
def _item_clusters(
    key: Key,
    cluster: int,
    user_level: int,
    item_level: int,
    top: int,
    attribute: str | None,
    stamp: tuple,
) -> pd.DataFrame:
    table = cluster_table(key, "item", item_level, top, attribute)
    return hmf_core.item_clusters_for_user_cluster(
        _model(key), cluster, _table(key, "items"), user_level, item_level, top, table
    )


def user_clusters_for_item_cluster(
    key: Key, cluster: int, user_level: int, item_level: int, top: int, attribute: str | None
) -> pd.DataFrame:
    stamp = _stability_stamp(key)
    return _user_clusters(key, cluster, user_level, item_level, top, attribute, stamp)


@st.cache_data(max_entries=64, show_spinner=False)
def _user_clusters(
    key: Key,
    cluster: int,
    user_level: int,
    item_level: int,
    top: int,
    attribute: str | None,
    stamp: tuple,
) -> pd.DataFrame:
    table = cluster_table(key, "user", user_level, top, attribute)
    return hmf_core.user_clusters_for_item_cluster(
        _model(key), cluster, _table(key, "users"), user_level, item_level, top, attribute, table
    )


@st.cache_data(max_entries=64, show_spinner=False)
def cluster_members(
    key: Key, side: str, level: int, cluster: int, top: int | None = None
) -> pd.DataFrame:
    meta = _table(key, f"{side}s")
    return hmf_core.cluster_members(_model(key), side, level, cluster, meta, top)


@st.cache_data(max_entries=16, show_spinner=False)
def metadata_shown(key: Key, side: str) -> list[str]:
    """The run's own metadata columns a table of its users or items shows after id and label."""
    return hmf_core.metadata_shown(_table(key, f"{side}s"))


@st.cache_data(max_entries=128, show_spinner=False)
def object_membership(key: Key, side: str, index: int) -> pd.DataFrame:
    return hmf_core.object_membership(_model(key), side, index)


@st.cache_data(max_entries=16, show_spinner=False)
def hierarchy_links(key: Key, side: str, min_probability: float) -> pd.DataFrame:
    return hmf_core.hierarchy_links(_model(key), side, min_probability)


@st.cache_data(max_entries=64, show_spinner=False)
def recommend(key: Key, user: int, top: int) -> pd.DataFrame:
    return hmf_core.recommend_in_split(
        _model(key), user, _table(key, "interactions"), _table(key, "items"), top
    )


@st.cache_data(max_entries=64, show_spinner=False)
def explain_pair(key: Key, user: int, item: int, user_level: int, item_level: int) -> pd.DataFrame:
    return hmf_core.explain_pair(
        _model(key), user, item, user_level=user_level, item_level=item_level
    )


def explain_pair_stability(
    key: Key, user: int, item: int, user_level: int, item_level: int
) -> pd.DataFrame:
    """explain_pair with each pair's user and item cluster stability (hmf_core.pair_stability:
    {side}_runs and {side}_stability) once stability.json is measured."""
    stamp = _stability_stamp(key)
    return _explain_pair_stability(key, user, item, user_level, item_level, stamp)


@st.cache_data(max_entries=32, show_spinner=False)
def _explain_pair_stability(
    key: Key, user: int, item: int, user_level: int, item_level: int, stamp: tuple
) -> pd.DataFrame:
    pairs = explain_pair(key, user, item, user_level, item_level)
    stored = RunDir(key[0]).stability() if stamp else None
    return hmf_core.pair_stability(pairs, stored, user_level, item_level)


@st.cache_data(max_entries=64, show_spinner=False)
def history(key: Key, user: int) -> pd.DataFrame:
    return hmf_core.user_history(_table(key, "interactions"), _table(key, "items"), user)


@st.cache_resource(max_entries=16, show_spinner=False)
def labels(key: Key, side: str) -> Mapping[int, str]:
    """{model index: label} of a run's users or items, in its table's order: the options of
    a picker, built once rather than on every rerun, and read-only: shared, not copied at
    each read (st.cache_data's copy of 137,000 labels took 0.03 s of every Explain rerun)."""
    table = _table(key, f"{side}s")
    labelled = zip(table["index"].astype(int).tolist(), table["label"].astype(str).tolist())
    return MappingProxyType(dict(labelled))


def prediction(key: Key, user: int, item: int) -> float:
    return hmf_core.predict(_model(key), user, item)


@st.cache_data(max_entries=32, show_spinner=False)
def cluster_names(key: Key, side: str, level: int) -> dict[int, str]:
    """hmf_core.interpret.naming's name of every level-`level` cluster of `side`: read from
    the names the maps job saved (loads.map_labels), else computed (1.3 s at 165,000 objects)."""
    if level < 1 or level > level_counts(key)[side]:
        return {}
    saved = loads.map_labels(key, "map_names")
    if saved is not None:
        rows = saved[(saved["kind"] == f"{side} cluster") & (saved["level"] == level)]
        if len(rows) == len(cluster_sizes(key, side, level)):
            return dict(zip(rows["index"].astype(int).tolist(), rows["name"]))
    names = hmf_core.named_clusters(_model(key), side, level, _table(key, f"{side}s"))
    return dict(zip(names["cluster"], names["name"]))


def saved_names(key: Key, side: str, levels) -> list[dict[int, str]] | None:
    """cluster_names of these groupings where the maps job saved names; None where it saved
    none: the hmf_core function the caller passes them to then works them out itself, once,
    for what it shows."""
    if loads.map_labels(key, "map_names") is None:
        return None
    return [cluster_names(key, side, level) for level in levels]


@st.cache_data(max_entries=32, show_spinner=False)
def explanation_views(key: Key, user: int, item: int, user_level: int, item_level: int, top: int):
    """One prediction by user cluster, by item cluster and by top pairs (interpret.explanation),
    parts labelled by the clusters' names."""
    pairs = explain_pair(key, user, item, user_level, item_level)
    names = {
        "user_cluster": cluster_names(key, "user", user_level),
        "item_cluster": cluster_names(key, "item", item_level),
    }
    biases = hmf_core.bias_terms(_model(key), user, item)
    return hmf_core.explanation_views(pairs, biases, top, names)


@st.cache_data(max_entries=16, show_spinner=False)
def hierarchy_tree(key: Key, side: str, top: int, members: int = 0) -> pd.DataFrame:
    """interpret.naming's tree of a side's named clusters, every level, for an icicle chart;
    `members`: each level-1 cluster's most probable members under it."""
    names = saved_names(key, side, range(1, level_counts(key)[side] + 1))
    model, meta = _model(key), _table(key, f"{side}s")
    return hmf_core.cluster_tree(model, side, meta, top, members, names)


@st.cache_resource(max_entries=8, show_spinner=False)
def embedding_table(key: Key) -> tuple[pd.DataFrame, np.ndarray]:
    """Every user, item and cluster with its embedding and label (projection.embedding_table,
    without the metadata columns: its readers show labels, and the map joins the saved ones).
    Shared, not copied, by its readers, which only read it: as a cached copy each map click
    that asked for a cluster's neighbours unpickled it (36 MB, 0.02-0.04 s with 165,000 rows)."""
    model, users, items = _model(key), _table(key, "users"), _table(key, "items")
    table, vectors = hmf_core.embedding_table(model, users, items, metadata=False)
    vectors.setflags(write=False)  # (rows, d): a reader that wrote to it would fail
    return table, vectors


@st.cache_data(max_entries=64, show_spinner=False)
def nearest(key: Key, kind: str, level: int, index: int, measure: str, k: int) -> pd.DataFrame:
    table, vectors = embedding_table(key)
    return hmf_core.nearest_to(table, vectors, kind, level, index, measure, k)


@st.cache_data(max_entries=64, show_spinner=False)
def vector_ties(key: Key, kind: str, index: int) -> tuple[pd.DataFrame, str]:
    """The users or items sharing one's vector, and what tells them apart (neighbours)."""
    table, vectors = embedding_table(key)
    return hmf_core.vector_ties(_model(key), table, vectors, kind, index)


@st.cache_data(max_entries=32, show_spinner=False)
def grouping_word(key: Key) -> str:
    """What the pages call one of the run's groupings: "level", or "view" (interface)."""
    return hmf_core.grouping_word(_model(key))


@st.cache_data(max_entries=64, show_spinner=False)
def unpairable(key: Key, user_level: int, item_level: int) -> str | None:
    """Why those user and item groupings cannot be compared (queries.unpairable), or None."""
    return hmf_core.unpairable(_model(key), user_level, item_level)


@st.cache_data(max_entries=32, show_spinner=False)
def explains_by_view(key: Key) -> bool:
    return hmf_core.explains_by_view(_model(key))


def explain_by_view(key: Key, user: int, item: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every per-view cluster pair and the other parts, the totals per view and bias):
    interpret.explanation.explain_by_view and view_totals; each pair with its clusters'
    stability (hmf_core.pair_stability) once stability.json is measured."""
    return _explain_by_view(key, user, item, _stability_stamp(key))


@st.cache_data(max_entries=64, show_spinner=False)
def _explain_by_view(key: Key, user: int, item: int, stamp: tuple):
    parts = hmf_core.explain_by_view(_model(key), user, item)
    stored = RunDir(key[0]).stability() if stamp else None
    return hmf_core.pair_stability(parts, stored), hmf_core.view_totals(parts)
