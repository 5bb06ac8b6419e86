"""One readable name per cluster: what is over-represented among its members, and who they are.

For a level's memberships P (objects x clusters, rows sum to 1; eq. 6 collapsed) and the
objects' metadata (users.csv / items.csv of a run, row k = object k):

- every categorical value v (a genre, an occupation, an age bucket...) gets, per cluster c, its
  membership-weighted share among c's members, share_c(v) = sum_o P[o, c] [o has v] /
  sum_o P[o, c] (an item with several genres counts once per genre, as in interpret.quality),
  and its lift against the whole population, share_c(v) / share(v);
- the cluster's top values are those with the largest lift among values with real support
  (at least MIN_SUPPORT members' worth of weight and MIN_SHARE of the cluster);
- its typical members are the objects with the largest membership probability P[o, c].

The name joins both: "Film-Noir · Crime — Chinatown, The Maltese Falcon"; without metadata, the
typical members alone. Names are plain text built from user files: show them literally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hmf_core.data.columns import categorical_columns

MIN_SUPPORT = 3.0  # members' worth of membership weight a value needs in a cluster
MIN_SHARE = 0.05  # share of the cluster's weight a value needs
TOP_VALUES = 2
TOP_MEMBERS = 2


def value_lift(probabilities: np.ndarray, metadata: pd.DataFrame | None) -> pd.DataFrame:
    """Long table: cluster, column, value, weight, share, population_share, lift."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # (M, k)
    if metadata is None:
        return pd.DataFrame(
            columns=["cluster", "column", "value", "weight", "share", "population_share", "lift"]
        )
    frames = []
    for column, found in categorical_columns(metadata.reset_index(drop=True)).items():
        rows, labels = found["rows"], found["labels"]
        values, codes = np.unique(labels.astype(str), return_inverse=True)
        onehot = np.zeros((len(rows), len(values)))  # (samples, values)
        onehot[np.arange(len(rows)), codes] = 1.0
        weight = probabilities[rows].T @ onehot  # (k, values): weighted counts per cluster
        share = weight / np.maximum(weight.sum(1, keepdims=True), 1e-12)  # (k, values)
        population = onehot.sum(0) / len(rows)  # (values,)
        clusters, value_index = np.meshgrid(
            np.arange(weight.shape[0]), np.arange(len(values)), indexing="ij"
        )
        frames.append(
            pd.DataFrame(
                {
                    "cluster": clusters.ravel(),
                    "column": column,
                    "value": values[value_index.ravel()],
                    "weight": weight.ravel(),
                    "share": share.ravel(),
                    "population_share": population[value_index.ravel()],
                    "lift": (share / population).ravel(),
                }
            )
        )
    if not frames:
        return value_lift(probabilities, None)
    return pd.concat(frames, ignore_index=True)


def top_members(probabilities: np.ndarray, top: int) -> np.ndarray:
    """Per cluster (column), the rows of its `top` largest probabilities, largest first, ties to
    the lower row: np.argsort(-P, axis=0, kind="stable")[:top], without sorting every column
    (a full sort of ML-20M's 138,493 x 200 took 3 s; a partition finds each column's `top`-th
    value in linear time, and only the rows at or above it are sorted). (top, k)."""
    probabilities = np.asarray(probabilities)  # (M, k)
    top = min(top, probabilities.shape[0])
    if top == 0:
        return np.zeros((0, probabilities.shape[1]), dtype=np.int64)
    threshold = -np.partition(-probabilities, top - 1, axis=0)[top - 1]  # (k,) top-th largest
    order = np.empty((top, probabilities.shape[1]), dtype=np.int64)
    for cluster in range(probabilities.shape[1]):
        rows = np.flatnonzero(probabilities[:, cluster] >= threshold[cluster])  # ties included
        ranked = rows[np.argsort(-probabilities[rows, cluster], kind="stable")]
        order[:, cluster] = ranked[:top]
    return order


def cluster_names(
    probabilities: np.ndarray,
    labels: pd.Series | np.ndarray,
    metadata: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cluster: cluster, name, top_values, top_members, size (soft), members
    (argmax count). `labels`: the objects' display labels (titles), row k = object k."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # (M, k)
    labels = np.asarray(labels, dtype=object)
    k = probabilities.shape[1]
    lift = value_lift(probabilities, metadata)
    supported = lift[(lift["weight"] >= MIN_SUPPORT) & (lift["share"] >= MIN_SHARE)]
    supported = supported[supported["lift"] > 1.0]
    best = supported.sort_values(["cluster", "lift"], ascending=[True, False])
    values = best.groupby("cluster")["value"].apply(lambda v: list(dict.fromkeys(v))[:TOP_VALUES])
    order = top_members(probabilities, TOP_MEMBERS)  # (TOP_MEMBERS, k)
    argmax_counts = np.bincount(probabilities.argmax(1), minlength=k)
    rows = []
    for cluster in range(k):
        top_values = values.get(cluster, [])
        members = [str(labels[o]) for o in order[:, cluster]]
        head = " · ".join(top_values)
        rows.append(
            {
                "cluster": cluster,
                "name": f"{head} — {', '.join(members)}" if head else ", ".join(members),
                "top_values": " · ".join(top_values),
                "top_members": ", ".join(members),
                "size": float(probabilities[:, cluster].sum()),
                "members": int(argmax_counts[cluster]),
            }
        )
    return pd.DataFrame(rows)


def hierarchy_tree(
    levels: list[np.ndarray],
    connections: list[np.ndarray],
    labels: pd.Series | np.ndarray,
    metadata: pd.DataFrame | None = None,
    top: int = 12,
    root: str = "all",
) -> pd.DataFrame:
    """A side's clusters as a tree for an icicle / sunburst chart: id, parent, name, size,
    level. `levels[l-1]`: P(object -> level-l cluster) (M, m_l); `connections[l-1]`: S(C_l)
    (m_{l-1}, m_l). A cluster's parent is its most probable cluster one level up; at each level
    only the `top` largest clusters (soft size) under each parent are kept, the rest of that
    parent's weight goes into one "other" node, so the chart stays readable."""
    depth = len(levels)
    names = [cluster_names(p, labels, metadata) for p in levels]  # per level
    rows = [{"id": root, "parent": "", "name": root, "size": float(len(labels)), "level": 0}]
    kept: dict[tuple[int, int], str] = {}
    for level in range(depth, 0, -1):  # coarsest first: parents before children
        table = names[level - 1]
        if level == depth:
            parents = np.full(len(table), root, dtype=object)
        else:
            up = np.asarray(connections[level]).argmax(1)  # (m_l,): parent at level + 1
            parents = np.array([kept.get((level + 1, int(p))) for p in up], dtype=object)
        table = table.assign(parent=parents).dropna(subset=["parent"])
        for parent, group in table.groupby("parent", sort=False):
            group = group.sort_values("size", ascending=False)
            for record in group.head(top).to_dict("records"):
                node = f"L{level}:{record['cluster']}"
                kept[level, int(record["cluster"])] = node
                rows.append(
                    {
                        "id": node,
                        "parent": parent,
                        "name": f"c{record['cluster']} {record['name']}",
                        "size": record["size"],
                        "level": level,
                    }
                )
            rest = group.iloc[top:]
            if len(rest):
                rows.append(
                    {
                        "id": f"L{level}:other:{parent}",
                        "parent": parent,
                        "name": f"{len(rest)} smaller clusters",
                        "size": float(rest["size"].sum()),
                        "level": level,
                    }
                )
    return pd.DataFrame(rows)


def drawn_tree(tree: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """hierarchy_tree without its folded "smaller clusters" nodes, ready for an icicle with
    branchvalues "remainder": leaves carry their size and every parent is the sum of its
    children drawn. Returns the frame and the share of the objects' weight it shows."""
    kept = tree[~tree["id"].str.contains(":other:", regex=False)].copy()
    has_children = kept["id"].isin(kept["parent"])
    top = kept[kept["parent"] == kept.loc[kept["level"] == 0, "id"].iloc[0]]
    root_size = float(tree.loc[tree["level"] == 0, "size"].iloc[0])
    shown = float(top["size"].sum()) / root_size if root_size > 0 else 0.0
    kept["value"] = kept["size"].where(~has_children, 0.0)
    return kept, shown
