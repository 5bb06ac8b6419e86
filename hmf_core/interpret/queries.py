"""Interpretation queries on a trained cluster model (HMF or any family implementing
hmf_core.models.interface.ClusterModel): pure functions of the model -> labelled DataFrames.
They read a model only through that interface: object vectors, groupings (the pages call
grouping g "level g"), bias terms and its scores.

Paper section 3.3 (eq. 10-11): a prediction is a sum over cluster pairs (s, t) of
membership(user, s) * membership(item, t) * <U_s, V_t>, so the inner product of two cluster
embeddings is the cluster-level preference. Section 5.3 (Tables 4 and 5): cluster sizes, the
clusters of the other side sorted by inner product, and the members of one cluster.

A grouping's membership is P(object -> cluster): (M, m), each row sums to 1; for HMF level l it
is the "collapsed" S(C1) S(C2) ... S(C_l).
Nearness in the latent space is Euclidean, as are the 2-D maps in `projection`.
The dashboard renders these frames and computes nothing of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hmf_core.data.columns import shown_columns
from hmf_core.interpret.naming import cluster_names, hierarchy_tree, most_probable
from hmf_core.interpret.stability import cluster_verdicts
from hmf_core.models.interface import (
    SIDES,
    ClusterModel,
    Grouping,
    check_side,
    decompose,
    grouping_word,
)
from hmf_core.models.interface import n_objects as _n_objects

LINK_COLUMNS = ["level", "child", "parent", "probability", "child_size"]
OWN_PARTS = ("user own", "item own")  # explain_pair's rows of the objects' own offsets


def level_counts(model: ClusterModel) -> dict[str, int]:
    """How many groupings ("levels") each side has: {"user": n, "item": n}; 0 = plain MF."""
    return {side: len(model.groupings(side)) for side in SIDES}


# The most clusters a person reads as a list (issue 17: "a default shape a person can read").
READABLE_CLUSTERS = 30


def readable_level(sizes) -> int:
    """The level (from 1) every cluster view opens on, given each level's number of clusters
    (finest first): the finest with at most READABLE_CLUSTERS clusters, else the top (the
    coarsest there is); 0 for no levels (plain MF)."""
    sizes = list(sizes)
    for level, count in enumerate(sizes, start=1):
        if count <= READABLE_CLUSTERS:
            return level
    return len(sizes)


def level_sizes(model: ClusterModel) -> dict[str, list[int]]:
    """Each side's number of clusters per level (grouping), finest first: {"user": [...], ...}."""
    return {side: [g.n_clusters for g in model.groupings(side)] for side in SIDES}


def readable_levels(model: ClusterModel) -> dict[str, int]:
    """readable_level of each side of `model`: {"user": level, "item": level}."""
    return {side: readable_level(sizes) for side, sizes in level_sizes(model).items()}


def level_grouping(model: ClusterModel, side: str, level: int) -> Grouping:
    """Grouping `level` (from 1) of a side, or an error naming the valid levels."""
    found = model.groupings(check_side(side))
    if not found:
        raise ValueError(f"the {side} side has depth 0 (plain MF): it has no clusters")
    if not 1 <= level <= len(found):
        raise ValueError(
            f"{side} level must be between 1 and {len(found)} (the {side} depth), got {level}"
        )
    return found[level - 1]


def _check_cluster(found: Grouping, side: str, level: int, cluster: int) -> None:
    if not 0 <= cluster < found.n_clusters:
        raise ValueError(
            f"{side} cluster must be between 0 and {found.n_clusters - 1} at level {level}, "
            f"got {cluster}"
        )


def _check_object(n_objects: int, side: str, index: int) -> None:
    if not 0 <= index < n_objects:
        raise ValueError(f"{side} index must be between 0 and {n_objects - 1}, got {index}")


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


@torch.no_grad()
def cluster_sizes(model: ClusterModel, side: str, level: int = 1) -> np.ndarray:
    """Size of cluster t = sum over objects of their membership probability (paper 5.3)."""
    return _numpy(level_grouping(model, side, level).membership.sum(0))  # (m_level,)


@torch.no_grad()
def affinity_matrix(model: ClusterModel, user_level: int = 1, item_level: int = 1) -> pd.DataFrame:
    """Cluster-level preferences <U^(l)_s, V^(l')_t> (eq. 11); rows user, columns item clusters."""
    user_clusters = level_grouping(model, "user", user_level).cluster_vectors  # (m_l, d)
    item_clusters = level_grouping(model, "item", item_level).cluster_vectors  # (n_l', d)
    affinity = _numpy(user_clusters @ item_clusters.T)  # (m_l, n_l')
    return pd.DataFrame(
        affinity,
        index=pd.RangeIndex(affinity.shape[0], name="user_cluster"),
        columns=pd.RangeIndex(affinity.shape[1], name="item_cluster"),
    )


@torch.no_grad()
def unpairable(model: ClusterModel, user_level: int, item_level: int) -> str | None:
    """Why user grouping `user_level` and item grouping `item_level` cannot be compared, or None
    when they can. Their cluster vectors are compared by inner products; when the coordinates
    the user clusters use (any nonzero) and those the item clusters use are disjoint, every
    inner product is 0 by construction (MFDMC's concatenated views: view v owns slice v), so
    a table of them says nothing."""
    user_used = level_grouping(model, "user", user_level).cluster_vectors.ne(0).any(0)  # (d,)
    item_used = level_grouping(model, "item", item_level).cluster_vectors.ne(0).any(0)  # (d,)
    if bool((user_used & item_used).any()):
        return None
    word = grouping_word(model)
    return (
        f"{word.capitalize()}s {user_level} and {item_level} use different slices of the latent "
        f"space: their clusters' inner products are all 0. Pick the same {word} on both sides."
    )


def _leaf_order(rows: np.ndarray) -> list[int]:
    """Positions of `rows` ordered so that similar rows sit together (average linkage)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    if rows.shape[0] <= 2:
        return list(range(rows.shape[0]))
    tree = linkage(rows, method="average", metric="euclidean", optimal_ordering=True)
    return [int(position) for position in leaves_list(tree)]


def block_order(matrix: pd.DataFrame) -> tuple[list, list]:
    """Row and column labels in an order that makes blocks visible (optimal leaf ordering).

    Returns index labels and column labels; for `affinity_matrix` these equal positions, so
    both `matrix.loc[rows, columns]` and `matrix.iloc[rows, columns]` work there.
    """
    values = np.nan_to_num(matrix.to_numpy(dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    row_positions = _leaf_order(values)
    column_positions = _leaf_order(values.T)
    return (
        [matrix.index[p] for p in row_positions],
        [matrix.columns[p] for p in column_positions],
    )


def model_rows(
    meta: pd.DataFrame | None, n_objects: int, side: str, only: np.ndarray | None = None
) -> pd.DataFrame:
    """A run's metadata (users.csv / items.csv, whose `index` column is the model row; without
    one, rows in order) aligned to model rows 0..n_objects-1: every column, indexed by `index`,
    and a `label` that reads "<side> <row>" where the metadata has none. `only`: those model
    rows, in that order (the same rows as the whole table's, 0.1 s less at 138,000 users)."""
    index = pd.RangeIndex(n_objects) if only is None else pd.Index(np.asarray(only, dtype=np.int64))
    rows = pd.DataFrame(index=index.rename("index"))
    if meta is not None and not meta.empty:
        table = meta.set_index("index") if "index" in meta.columns else meta.reset_index(drop=True)
        rows = rows.join(table[~table.index.duplicated()].rename_axis("index"))
    label = rows["label"] if "label" in rows else pd.Series(None, index=rows.index, dtype=object)
    rows["label"] = _named(label, side)
    if meta is not None:
        rows.attrs.update(meta.attrs)  # the run's column types (data.columns.types_of)
    return rows


HIDDEN_COLUMNS = ("index", "id", "label")  # a table shows id and label first, by itself


def metadata_shown(meta: pd.DataFrame | None) -> list[str]:
    """The columns a table of users or items shows after its id and label: every column of the
    run's metadata (users.csv / items.csv), whatever it is called, except those typed `id`
    (data.column_types: the model row, ids and codes, `genre` beside `genres`) and the column
    the label repeats (a title)."""
    if meta is None:
        return []
    label = meta["label"].astype(str) if "label" in meta.columns else None
    shown = []
    for column in shown_columns(meta):
        if column in HIDDEN_COLUMNS:
            continue
        if label is not None and meta[column].astype(str).equals(label):
            continue  # the label is this column (a title, a name)
        shown.append(str(column))
    return shown


def _fallback(rows, side: str) -> list[str]:
    """Labels of model rows the metadata leaves unnamed: "<side> <row>", one per row of `rows`."""
    return [f"{side} {row}" for row in rows]


def _named(texts: pd.Series, side: str) -> pd.Series:
    """`texts` (indexed by model row) as objects, "<side> <row>" where missing. Only the missing
    rows get one: 0.09 -> 0.02 s for 138,000 users that all have a label."""
    texts = texts.astype(object)
    missing = texts.isna()
    if missing.any():
        texts[missing] = _fallback(texts.index[missing], side)
    return texts


def _describe(meta: pd.DataFrame, n_objects: int, side: str, column: str = "label") -> np.ndarray:
    """One text per model row (0..n_objects-1): `column` of the metadata, "<side> <row>" where
    it has none."""
    rows = model_rows(meta, n_objects, side)
    if column not in rows:
        return np.array(_fallback(range(n_objects), side), dtype=object)
    return _named(rows[column], side).astype(str).to_numpy(dtype=object)


@torch.no_grad()
def cluster_table(
    model: ClusterModel,
    side: str,
    level: int,
    meta: pd.DataFrame | None = None,
    top: int = 3,
    attribute: str | None = None,
    stability: dict | None = None,
    names: dict[int, str] | None = None,
) -> pd.DataFrame:
    """Table 4's columns that do not depend on the other side's cluster, for every
    level-`level` cluster of `side`: its name (hmf_core.interpret.naming: over-represented metadata
    values and typical members), size, the `top` objects nearest it and its `top` most probable
    members (their `attribute`, e.g. gender, when the metadata has it, else their labels).
    `stability`: the run's stored stability (its stability.json); when it covers this level, a
    "stability" column says whether each cluster reappears with other seeds
    (hmf_core.interpret.stability). `names`: cluster -> name as `cluster_names` gives them
    (e.g. saved by the maps job), used when they cover every cluster; else worked out here."""
    found = level_grouping(model, side, level)
    n_objects = _n_objects(model, side)
    by_attribute = attribute is not None and meta is not None and attribute in meta.columns
    texts = _describe(meta, n_objects, side, attribute if by_attribute else "label")
    separator = ", " if by_attribute else "; "
    clusters = found.cluster_vectors  # (m, d)
    objects = model.object_vectors(side)  # (M, d)
    membership = found.membership  # (M, m)
    n_shown = max(0, min(top, objects.shape[0]))
    distances = torch.cdist(clusters, objects)  # (m, M)
    nearest = distances.topk(n_shown, dim=1, largest=False).indices  # (m, n_shown)
    top_members = membership.T.topk(n_shown, dim=1).indices  # (m, n_shown)
    rows = model_rows(meta, objects.shape[0], side)
    count = clusters.shape[0]
    if names is None or sorted(names) != list(range(count)):
        found_names = cluster_names(_numpy(membership), rows["label"].astype(str), rows)["name"]
        names = dict(enumerate(found_names))
    table = pd.DataFrame(
        {
            f"{side}_cluster": np.arange(count),
            "name": [names[cluster] for cluster in range(count)],
            "size": _numpy(membership.sum(0)),  # (m,)
            "nearest": [separator.join(texts[row]) for row in nearest.cpu().numpy()],
            "top_members": [separator.join(texts[row]) for row in top_members.cpu().numpy()],
        }
    )
    verdicts = cluster_verdicts(stability, side, level) if stability else None
    if verdicts is not None and len(verdicts) == len(table):  # else another model's: left out
        table["stability"] = verdicts
    return table


def _against(table: pd.DataFrame, model: ClusterModel, side: str, level: int, target: torch.Tensor):
    """`table` (cluster_table of `side`) with each cluster's inner product with one cluster
    embedding of the other side, highest first: Table 4."""
    clusters = level_grouping(model, side, level).cluster_vectors  # (m, d)
    frame = table.assign(inner_product=_numpy(clusters @ target))  # (m,): eq. (11)
    return frame.sort_values("inner_product", ascending=False, kind="stable").reset_index(drop=True)


@torch.no_grad()
def item_clusters_for_user_cluster(
    model: ClusterModel,
    user_cluster: int,
    items: pd.DataFrame,
    user_level: int = 1,
    item_level: int = 1,
    top: int = 3,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Table 4 (a)/(b): every item cluster against one user cluster, by inner product, with
    `top` titles of each (nearest, most probable members). `table`: cluster_table(model,
    "item", item_level, items, top) when the caller has it already (it is the same for every
    user cluster)."""
    users = level_grouping(model, "user", user_level)
    level_grouping(model, "item", item_level)
    _check_cluster(users, "user", user_level, user_cluster)
    target = users.cluster_vectors[user_cluster]  # (d,)
    if table is None:
        table = cluster_table(model, "item", item_level, items, top)
    return _against(table, model, "item", item_level, target)


@torch.no_grad()
def user_clusters_for_item_cluster(
    model: ClusterModel,
    item_cluster: int,
    users: pd.DataFrame,
    user_level: int = 1,
    item_level: int = 1,
    top: int = 9,
    attribute: str | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Table 4 (c)/(d): every user cluster against one item cluster, by inner product, with
    `top` users of each. `table`: cluster_table(model, "user", user_level, users, top,
    attribute) when the caller has it already.

    `nearest` and `top_members` show the users' `attribute` (e.g. gender: "M, F, M") when that
    column exists, else their labels.
    """
    level_grouping(model, "user", user_level)
    items = level_grouping(model, "item", item_level)
    _check_cluster(items, "item", item_level, item_cluster)
    target = items.cluster_vectors[item_cluster]  # (d,)
    if table is None:
        table = cluster_table(model, "user", user_level, users, top, attribute)
    return _against(table, model, "user", user_level, target)


@torch.no_grad()
def cluster_members(
    model: ClusterModel,
    side: str,
    level: int,
    cluster: int,
    meta: pd.DataFrame,
    top: int | None = None,
) -> pd.DataFrame:
    """Table 5: every object with its probability of belonging to `cluster` (HMF: collapsed),
    most probable first (the `top` most probable, when given)."""
    found = level_grouping(model, side, level)
    _check_cluster(found, side, level, cluster)
    probability = _numpy(found.membership[:, cluster])  # (M,)
    if top is not None:  # those rows only: the same as the head of the whole sorted table
        order = most_probable(np.asarray(probability, dtype=np.float64), top)
        members = model_rows(meta, len(probability), side, only=order).reset_index()
        return members.assign(probability=probability[order])
    members = model_rows(meta, len(probability), side).reset_index()
    members = members.assign(probability=probability)
    members = members.sort_values("probability", ascending=False, kind="stable")
    return members.reset_index(drop=True)


@torch.no_grad()
def object_membership(model: ClusterModel, side: str, index: int) -> pd.DataFrame:
    """One user or item: its probability for every cluster of every level (grouping)."""
    _check_object(_n_objects(model, side), side, index)
    frames = []
    for level, found in enumerate(model.groupings(side), start=1):
        probability = _numpy(found.membership[index])  # (m_level,)
        frames.append(
            pd.DataFrame(
                {"level": level, "cluster": np.arange(len(probability)), "probability": probability}
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "level": pd.Series(dtype=int),
                "cluster": pd.Series(dtype=int),
                "probability": pd.Series(dtype=float),
            }
        )
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def hierarchy_links(model: ClusterModel, side: str, min_probability: float = 0.05) -> pd.DataFrame:
    """Edges child (level l-1) -> parent (level l) from each grouping's `links` (HMF: S(C_l),
    l >= 2), for a sankey; empty when the groupings are not nested (no links).

    `child_size` is the flow: child cluster size * probability; with min_probability 0 the
    flows into a parent sum to the parent's size.
    """
    found = model.groupings(check_side(side))
    frames = []
    for level in range(2, len(found) + 1):
        if found[level - 1].links is None:
            continue  # parallel groupings: nothing flows from one into the next
        connection = _numpy(found[level - 1].links)  # (m_{l-1}, m_l)
        child_sizes = _numpy(found[level - 2].membership.sum(0))  # (m_{l-1},)
        child, parent = np.nonzero(connection >= min_probability)
        probability = connection[child, parent]
        frames.append(
            pd.DataFrame(
                {
                    "level": level - 1,
                    "child": child,
                    "parent": parent,
                    "probability": probability,
                    "child_size": child_sizes[child] * probability,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                name: pd.Series(dtype=float if name in ("probability", "child_size") else int)
                for name in LINK_COLUMNS
            }
        )
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def named_clusters(
    model: ClusterModel, side: str, level: int, meta: pd.DataFrame | None
) -> pd.DataFrame:
    """hmf_core.interpret.naming.cluster_names of every level-`level` cluster of `side` (the
    name every page and export shows), from the run's metadata `meta` (users.csv / items.csv)."""
    found = level_grouping(model, side, level)
    rows = model_rows(meta, _n_objects(model, side), side)
    return cluster_names(_numpy(found.membership), rows["label"].astype(str), rows)


@torch.no_grad()
def cluster_tree(
    model: ClusterModel,
    side: str,
    meta: pd.DataFrame | None,
    top: int,
    members: int = 0,
    names: list[dict[int, str]] | None = None,
) -> pd.DataFrame:
    """naming.hierarchy_tree of a side's named clusters for an icicle chart: its nested
    groupings (grouping 1 and every next one that links to the one before; HMF: all levels);
    `members`: each level-1 cluster's most probable members under it; `names`: each grouping's
    {cluster: name} when known already (else worked out here)."""
    found = model.groupings(check_side(side))
    nested = found[:1]
    for following in found[1:]:
        if following.links is None:
            break
        nested.append(following)
    rows = model_rows(meta, _n_objects(model, side), side)
    # (M, m_l) each, as the model holds them: a float64 copy of ML-20M's level 1 alone is
    # 221 MB of fresh memory (about 1 s); naming reads them in float64 column by column.
    levels = [g.membership.detach().cpu().numpy() for g in nested]
    links = [None if g.links is None else _numpy(g.links) for g in nested]  # (m_{l-1}, m_l)
    labels = rows["label"].astype(str)
    known = None if names is None else names[: len(nested)]
    return hierarchy_tree(levels, links, labels, rows, top, f"all {side}s", members, known)


def links_under(links: pd.DataFrame, parents: list[int], top_level: int) -> pd.DataFrame:
    """The links of the clusters that flow (through any level) into the chosen top-level
    `parents`: a readable sankey of a selection instead of every link at once."""
    keep = set(parents)
    frames = []
    for level in range(top_level - 1, 0, -1):  # links child (level) -> parent (level + 1)
        step = links[(links["level"] == level) & links["parent"].isin(keep)]
        frames.append(step)
        keep = set(step["child"])
    return links.iloc[0:0] if not frames else pd.concat(frames).sort_index()


def model_device(model: ClusterModel) -> torch.device:
    """Where the model's tensors live (CPU for a model without any)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def recommend(
    model: ClusterModel,
    user: int,
    seen: np.ndarray | set,
    items: pd.DataFrame,
    top: int = 10,
) -> pd.DataFrame:
    """The `top` items the user has not seen, by model score."""
    _check_object(_n_objects(model, "user"), "user", user)
    users = torch.tensor([user], device=model_device(model))
    scores = model.score_all(users)[0].detach().cpu().double()  # (N,)
    seen_rows = np.fromiter((int(item) for item in seen), dtype=np.int64)
    seen_rows = seen_rows[(seen_rows >= 0) & (seen_rows < len(scores))]
    scores[torch.from_numpy(seen_rows)] = -torch.inf
    n_unseen = len(scores) - len(np.unique(seen_rows))
    best = scores.topk(max(0, min(top, n_unseen)))
    rows = best.indices.numpy()
    catalogue = model_rows(items, _n_objects(model, "item"), "item")
    picked = pd.DataFrame({"rank": np.arange(1, len(rows) + 1), "index": rows})
    picked["id"] = catalogue["id"].to_numpy()[rows] if "id" in catalogue else rows
    picked["label"] = catalogue["label"].astype(str).to_numpy()[rows]
    picked["score"] = best.values.numpy()
    for column in metadata_shown(items):  # the items' own metadata, whatever it is
        picked[column] = catalogue[column].to_numpy()[rows]
    return picked


def recommend_in_split(
    model: ClusterModel, user: int, interactions: pd.DataFrame, items: pd.DataFrame, top: int = 10
) -> pd.DataFrame:
    """`recommend` for a user of a run's split (interactions.parquet): the items the user did
    not rate in training; `held_out` names the stage ("val", "test") where the user did rate
    a recommended item (a hit the model could not have memorised), else ""."""
    mine = interactions[interactions["user"] == user]
    trained = mine["stage"] == "train"
    picked = recommend(model, user, set(mine.loc[trained, "item"].tolist()), items, top)
    held_out = dict(zip(mine.loc[~trained, "item"], mine.loc[~trained, "stage"]))
    return picked.assign(held_out=picked["index"].map(held_out).fillna(""))


def user_history(interactions: pd.DataFrame, items: pd.DataFrame, user: int) -> pd.DataFrame:
    """The user's rows of the split (train, val, test) with item labels and the items' metadata
    columns (metadata_shown), best rated first."""
    mine = interactions[interactions["user"] == user]
    catalogue = model_rows(items, len(items), "item")
    columns = ["label", *metadata_shown(items)]
    described = mine.assign(
        **{column: catalogue[column].reindex(mine["item"]).to_numpy() for column in columns}
    )
    return described.sort_values(["rating", "timestamp"], ascending=[False, False])[
        ["item", "label", "rating", "stage", "timestamp", *columns[1:]]
    ]


@torch.no_grad()
def predict(model: ClusterModel, user: int, item: int) -> float:
    """The model's score of one (user, item) pair."""
    device = model_device(model)
    return float(model(torch.tensor([user], device=device), torch.tensor([item], device=device))[0])


def _pair_side(model: ClusterModel, side: str, index: int, level: int) -> tuple[np.ndarray, int]:
    """(cluster ids, grouping number for interface.decompose) of one object at `level`.

    A side without groupings (plain MF) or level 0: the object is its own single cluster
    (id = its index) with probability 1, grouping number 0.
    """
    if level < 0:
        raise ValueError(f"{side} level must be at least 0, got {level}")
    found = model.groupings(side)
    if not found or level == 0:
        return np.array([index]), 0
    if level > len(found):
        raise ValueError(
            f"level {level} is deeper than the {side} hierarchy (depth "
            f"{len(found)}): choose a level between 1 and {len(found)}"
        )
    return np.arange(found[level - 1].n_clusters), level


def exact_groupings(model: ClusterModel) -> bool:
    """Whether the model declares that its groupings reproduce its object vectors at every
    level (U0 = P C, so interface.decompose's own terms are 0): the `exact_groupings` class
    attribute, True for HMF (eq. 6). A family without it (the two-stage MF then k-means,
    whose objects sit off their cluster's centre) gets explain_pair's "own" rows."""
    return bool(getattr(model, "exact_groupings", False))


def _summary_row(name: str, contribution: float) -> dict:
    return {
        "user_cluster": name,
        "item_cluster": name,
        "user_probability": np.nan,
        "item_probability": np.nan,
        "inner_product": np.nan,
        "contribution": contribution,
    }


@torch.no_grad()
def explain_pair(
    model: ClusterModel,
    user: int,
    item: int,
    level: int = 1,
    *,
    user_level: int | None = None,
    item_level: int | None = None,
) -> pd.DataFrame:
    """One prediction split into cluster-pair contributions, eq. (11), at any level
    (hmf_core.models.interface.decompose).

    Rows: the cluster pairs, largest |contribution| first, P_is * Q_jt * <U_s, V_t>; then, for
    a model whose groupings do not reproduce its object vectors (see `exact_groupings`; HMF's
    do, eq. 6, so it has none), a "user own" row <u - P C, v> when the user side was split
    into clusters and an "item own" row <P C, v - Q D> when the item side was; then with
    biases one "bias" row. The contribution column sums to model(user, item).
    `user_level` / `item_level` override `level` per side.
    """
    _check_object(_n_objects(model, "user"), "user", user)
    _check_object(_n_objects(model, "item"), "item", item)
    user_ids, user_number = _pair_side(
        model, "user", user, level if user_level is None else user_level
    )
    item_ids, item_number = _pair_side(
        model, "item", item, level if item_level is None else item_level
    )
    parts = decompose(model, user, item, user_number, item_number)
    pairs = pd.DataFrame(
        {
            "user_cluster": np.repeat(user_ids, len(item_ids)).astype(object),
            "item_cluster": np.tile(item_ids, len(user_ids)).astype(object),
            "user_probability": np.repeat(_numpy(parts["user_weights"]), len(item_ids)),
            "item_probability": np.tile(_numpy(parts["item_weights"]), len(user_ids)),
            "inner_product": _numpy(parts["inner_products"]).ravel(),
            "contribution": _numpy(parts["pairs"]).ravel(),  # (m_u * m_i,): eq. (11)
        }
    )
    order = np.argsort(-np.abs(pairs["contribution"].to_numpy()), kind="stable")
    pairs = pairs.iloc[order].reset_index(drop=True)
    extra = []
    if not exact_groupings(model):
        if user_number:
            extra.append(_summary_row("user own", float(parts["user_own"])))
        if item_number:
            extra.append(_summary_row("item own", float(parts["item_own"])))
    if parts["biases"]:
        extra.append(_summary_row("bias", float(sum(parts["biases"].values()))))
    if extra:
        pairs = pd.concat([pairs, pd.DataFrame(extra)], ignore_index=True)
    return pairs
