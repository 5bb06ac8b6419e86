"""Cached calls of `hmf_core.interpret`, keyed by (run path, checkpoint mtime) and the query's
arguments, so a page redraw does not recompute and a new checkpoint does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import state
from hmf_core import interpret
from hmf_core.rundir import RunDir

Key = tuple[str, int]  # (run path, checkpoint mtime) = state.Explored.key


def _model(key: Key):
    return state.load_model(*key)


def _meta(key: Key, side: str) -> pd.DataFrame:
    return state.table(RunDir(key[0]), f"{side}s")


@st.cache_data(max_entries=32, show_spinner=False)
def cluster_sizes(key: Key, side: str, level: int) -> np.ndarray:
    return interpret.cluster_sizes(_model(key), side, level)


@st.cache_data(max_entries=16, show_spinner="Computing the cluster affinity matrix…")
def affinity(key: Key, user_level: int, item_level: int) -> tuple[pd.DataFrame, list, list]:
    """(matrix, row order, column order): the matrix and the order that shows its blocks."""
    matrix = interpret.affinity_matrix(_model(key), user_level, item_level)
    rows, columns = interpret.block_order(matrix)
    return matrix, rows, columns


@st.cache_data(max_entries=64, show_spinner=False)
def item_clusters_for_user_cluster(
    key: Key, cluster: int, user_level: int, item_level: int, n_titles: int
) -> pd.DataFrame:
    return interpret.item_clusters_for_user_cluster(
        _model(key), cluster, _meta(key, "item"), user_level, item_level, n_titles
    )


@st.cache_data(max_entries=64, show_spinner=False)
def user_clusters_for_item_cluster(
    key: Key, cluster: int, user_level: int, item_level: int, n_users: int, attribute: str | None
) -> pd.DataFrame:
    return interpret.user_clusters_for_item_cluster(
        _model(key), cluster, _meta(key, "user"), user_level, item_level, n_users, attribute
    )


@st.cache_data(max_entries=64, show_spinner=False)
def cluster_members(
    key: Key, side: str, level: int, cluster: int, top: int | None = None
) -> pd.DataFrame:
    return interpret.cluster_members(_model(key), side, level, cluster, _meta(key, side), top)


@st.cache_data(max_entries=128, show_spinner=False)
def object_membership(key: Key, side: str, index: int) -> pd.DataFrame:
    return interpret.object_membership(_model(key), side, index)


@st.cache_data(max_entries=16, show_spinner=False)
def hierarchy_links(key: Key, side: str, min_probability: float) -> pd.DataFrame:
    return interpret.hierarchy_links(_model(key), side, min_probability)


def _interactions(key: Key) -> pd.DataFrame:
    return state.table(RunDir(key[0]), "interactions")


@st.cache_data(max_entries=64, show_spinner=False)
def recommend(key: Key, user: int, k: int) -> pd.DataFrame:
    """Top-k items the user did not rate in training; `held_out` marks the ones the user did
    rate in validation or test (a hit the model could not have memorised)."""
    rows = _interactions(key)
    mine = rows[rows["user"] == user]
    seen = set(mine.loc[mine["stage"] == "train", "item"].tolist())
    picked = interpret.recommend(_model(key), user, seen, _meta(key, "item"), k)
    held_out = dict(
        zip(mine.loc[mine["stage"] != "train", "item"], mine.loc[mine["stage"] != "train", "stage"])
    )
    return picked.assign(held_out=picked["index"].map(held_out).fillna(""))


@st.cache_data(max_entries=64, show_spinner=False)
def explain_pair(key: Key, user: int, item: int, user_level: int, item_level: int) -> pd.DataFrame:
    return interpret.explain_pair(
        _model(key), user, item, user_level=user_level, item_level=item_level
    )


def history(key: Key, user: int) -> pd.DataFrame:
    """The user's rows of the split (train, val, test) with item labels, best rated first."""
    rows = _interactions(key)
    mine = rows[rows["user"] == user]
    items = _meta(key, "item").set_index("index")
    return mine.assign(label=items["label"].reindex(mine["item"]).to_numpy()).sort_values(
        ["rating", "timestamp"], ascending=[False, False]
    )[["item", "label", "rating", "stage", "timestamp"]]


def prediction(key: Key, user: int, item: int) -> float:
    import torch

    with torch.no_grad():
        model = _model(key)
        return float(model(torch.tensor([user]), torch.tensor([item]))[0])
