"""2-D maps of users, items and the clusters of every level, all in HMF's one latent space.

Paper section 5.3: "all users, items, and their clusters are projected onto the same latent
space". Every object embedding is a weighted average of its clusters' embeddings (eq. 6), so
objects sit inside the hull of their clusters; the maps keep that picture.

Parallel groupings (MFDMC's views: links None, each view's centres zero outside its slice of
the latent space with concatenated views) are drawn like levels: grouping g's clusters have
level g; `top_clusters_at` colours the objects by any grouping's top cluster.

Written to a run directory after training (hmf_core.runs.maps.save_projections), read through
`RunDir.map`: map_pca.parquet first (instant), then map_umap.parquet, then maps.json.

At scale (more than UMAP_SAMPLE rows: ML-20M has ~165,000), UMAP is fitted on a stated sample
(every cluster, and users and items stratified by their top cluster) and every other point is
placed from its nearest fitted points; the UMAP map's `umap_fitted` column and maps.json say
which and how many (`map_sample`).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import torch

from hmf_core.data.columns import categorical_columns
from hmf_core.interpret.naming import cluster_names
from hmf_core.interpret.queries import model_rows
from hmf_core.models.interface import ClusterModel

# a map frame's own columns: a metadata column of one of these names is not shown on the map
MAP_COLUMNS = {"kind", "level", "index", "label", "size", "top_cluster", "name", "x", "y"}
MAP_COLUMNS |= {"top_probability", "hover"}
KINDS = {"user": ("user", "user cluster"), "item": ("item", "item cluster")}  # (object, cluster)
POINT_KINDS = (*(kinds[0] for kinds in KINDS.values()), *(kinds[1] for kinds in KINDS.values()))


def parse_point_kind(kind: str) -> tuple[str, bool]:
    """(side, is a cluster) of a map point's kind: "user" -> ("user", False), "item cluster" ->
    ("item", True). The one reader of the kind column (embedding_table, the map, a selection)."""
    for side, (object_kind, cluster_kind) in KINDS.items():
        if kind in (object_kind, cluster_kind):
            return side, kind == cluster_kind
    raise ValueError(f"a map point's kind must be one of {POINT_KINDS}, got {kind!r}")


def _labels(
    meta: pd.DataFrame | None, n_objects: int, side: str, metadata: bool = True
) -> pd.DataFrame:
    """`label` and (`metadata`) the side's metadata columns, one row per model row
    0..n_objects-1."""
    rows = model_rows(meta, n_objects, side).reset_index(drop=True)
    values = _values(rows, n_objects) if meta is not None and metadata else None
    return rows[["label"]] if values is None else rows[["label"]].join(values)


def column_title(column: str) -> str:
    """A metadata column's name as a control shows it: "genre" -> "Genre", "home_region" ->
    "Home region" (the column's own name, whatever the data)."""
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def metadata_values(meta: pd.DataFrame | None, n_objects: int, side: str) -> pd.DataFrame:
    """One value per model row 0..n_objects-1 of each categorical metadata column
    (data.columns.categorical_columns: ids, labels and free text left out, ages bucketed): what
    the map colours by and its hovers show. A multi-valued column ("Comedy|Drama") gives its
    first value, under its singular name where it has a plural one ("genres" -> "genre")."""
    if meta is None:
        return pd.DataFrame(index=pd.RangeIndex(n_objects))
    return _values(model_rows(meta, n_objects, side).reset_index(drop=True), n_objects)


def _values(rows: pd.DataFrame, n_objects: int) -> pd.DataFrame:
    """metadata_values of the model rows (queries.model_rows, row k = model row k)."""
    values = {}
    for name, column in categorical_columns(rows).items():
        shown = name[:-1] if column["multi_valued"] and name.endswith("s") else name
        if shown in MAP_COLUMNS or name in MAP_COLUMNS:
            continue
        first = pd.Series(column["labels"]).groupby(column["rows"]).first()
        values[shown] = first.reindex(range(n_objects)).to_numpy(object)
    return pd.DataFrame(values, index=pd.RangeIndex(n_objects))


def map_metadata(
    model: ClusterModel, users: pd.DataFrame | None, items: pd.DataFrame | None
) -> pd.DataFrame:
    """The metadata_values of every user and item, keyed like embedding_table (kind, level 0,
    index): joined to a saved map when it is drawn, so a map shows the run's columns
    whatever they are (clusters have none)."""
    frames = []
    for side, meta in (("user", users), ("item", items)):
        n_objects = model.object_vectors(side).shape[0]
        keys = pd.DataFrame({"kind": KINDS[side][0], "level": 0, "index": np.arange(n_objects)})
        frames.append(keys.join(metadata_values(meta, n_objects, side)))
    return pd.concat(frames, ignore_index=True)


def _side_rows(model: ClusterModel, side: str, meta: pd.DataFrame | None, metadata: bool):
    """(frame, vectors) for one side: its objects (level 0), then its clusters level by level
    (grouping by grouping)."""
    groupings = model.groupings(side)
    object_kind, cluster_kind = KINDS[side]
    objects = model.object_vectors(side)  # (M, d)
    n_objects = objects.shape[0]
    if groupings:
        top_cluster = groupings[0].membership.argmax(1).cpu().numpy()  # (M,)
    else:
        top_cluster = np.full(n_objects, -1)
    frames = [
        pd.DataFrame(
            {
                "kind": object_kind,
                "level": 0,
                "index": np.arange(n_objects),
                "size": 1.0,
                "top_cluster": top_cluster,
            }
        ).join(_labels(meta, n_objects, side, metadata))
    ]
    vectors = [objects]
    for level, found in enumerate(groupings, start=1):
        clusters = found.cluster_vectors  # (m_l, d)
        ids = np.arange(clusters.shape[0])
        frames.append(
            pd.DataFrame(
                {
                    "kind": cluster_kind,
                    "level": level,
                    "index": ids,
                    "label": [f"{cluster_kind} {i} (L{level})" for i in ids],
                    "size": found.membership.sum(0).cpu().double().numpy(),
                    "top_cluster": ids if level == 1 else -1,
                }
            )
        )
        vectors.append(clusters)
    return frames, vectors


@torch.no_grad()
def embedding_table(
    model: ClusterModel,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    metadata: bool = True,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every user, item, user cluster and item cluster of every level: a frame and (rows, d).

    Columns: kind, level, index, label, size (1 for objects, cluster size for clusters),
    top_cluster (argmax level-1 cluster for objects, itself for level-1 clusters, else -1), and
    (`metadata`) the metadata's categorical columns (metadata_values), whatever they are called:
    0.22 s of 0.5 s at 138,000 users and 26,744 items, which a reader of the labels only (the
    nearest points, the vector ties) need not wait for.
    """
    user_frames, user_vectors = _side_rows(model, "user", users, metadata)
    item_frames, item_vectors = _side_rows(model, "item", items, metadata)
    table = pd.concat(user_frames + item_frames, ignore_index=True)
    first = ["kind", "level", "index", "label", "size", "top_cluster"]
    table = table[first + [c for c in table.columns if c not in first]]
    vectors = torch.cat(user_vectors + item_vectors).cpu().double().numpy()  # (rows, d)
    return table, vectors


def pca_map(
    model: ClusterModel, users: pd.DataFrame | None, items: pd.DataFrame | None
) -> pd.DataFrame:
    """embedding_table's frame with x, y: the first two principal components."""
    from sklearn.decomposition import PCA

    table, vectors = embedding_table(model, users, items)
    n_components = min(2, *vectors.shape)
    coordinates = np.zeros((len(vectors), 2))
    if n_components and len(vectors) > 1:
        pca = PCA(n_components=n_components, svd_solver="full")
        coordinates[:, :n_components] = pca.fit_transform(vectors)  # (rows, <=2)
    return table.assign(x=coordinates[:, 0], y=coordinates[:, 1])


def import_umap():
    """Import umap and let numba cache its compiled functions on disk.

    umap-learn jit-compiles its functions without numba's `cache=True`, so every new process
    (each training run's worker) compiled them again: a first fit of 24 s against 11 s warm
    for an ML-100K-sized model, and 20-35 s even for 30 points, on the shared 2-core machine.
    With the cache, a later process's first fit is as fast as a warm one. The cache sits in
    umap's __pycache__ (numba's user cache dir where that is read-only, or NUMBA_CACHE_DIR);
    should this fail, it only costs the compile time again.
    """
    import umap

    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher

        for name in ("umap_", "layouts", "utils", "distances", "spectral", "sparse"):
            module = sys.modules.get(f"umap.{name}")
            for function in vars(module).values() if module else ():
                if (
                    isinstance(function, Dispatcher)
                    and isinstance(function._cache, NullCache)
                    and function.py_func.__module__ == module.__name__
                ):
                    function.enable_caching()
    except Exception:  # a numba or umap version without these internals: just slower
        pass
    return umap


EXACT_NEIGHBOURS_UP_TO = 50_000  # rows; above, UMAP's own approximate search (pynndescent)
UMAP_SAMPLE = 20_000  # rows UMAP is fitted on; up to this many, every row (no sampling)
MIN_PER_STRATUM = 10  # objects per (kind, top cluster) in the sample, where it has that many
PLACEMENT_NEIGHBOURS = 10  # fitted points an unfitted point is placed from


def exact_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of every row, itself first (UMAP's convention): (rows, k) each.

    Why not leave it to UMAP: under 4096 rows it computes all pairwise distances through
    sklearn with its numba distance as a Python callable, one call per pair; for an
    ML-100K-sized model (2,486 rows, 3.1 M pairs) that was 20 of a 24 s fit. sklearn's
    vectorised search gives the same exact neighbours in well under a second.
    """
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(vectors)
    distances, indices = search.kneighbors(vectors)  # (rows, k) each
    return indices.astype(np.int32), distances.astype(np.float32)


def umap_sample(table: pd.DataFrame, size: int = UMAP_SAMPLE, seed: int = 0) -> np.ndarray:
    """Row positions of embedding_table's frame to fit UMAP on: every row when there are at
    most `size`; else every cluster of every level, plus users and items stratified by
    (kind, top_cluster): each stratum gets its share of the remaining budget in proportion
    to its size, and at least MIN_PER_STRATUM rows (all of a smaller one), drawn at random
    (seeded). Sorted; the count can exceed `size` by the strata's minimums."""
    if len(table) <= size:
        return np.arange(len(table))
    is_object = (table["level"] == 0).to_numpy()
    clusters = np.flatnonzero(~is_object)
    # only the columns the strata need: shuffling a map's text columns too took 0.1 s a call
    objects = table.loc[is_object, ["kind", "top_cluster", "level"]]
    budget = max(size - len(clusters), 0)
    strata = objects.groupby(["kind", "top_cluster"], sort=False)["level"].transform("size")
    quota = np.maximum(
        np.round(budget * strata / len(objects)), np.minimum(strata, MIN_PER_STRATUM)
    )  # (objects,) the quota of each row's stratum
    rng = np.random.default_rng(seed)
    shuffled = objects.iloc[rng.permutation(len(objects))]
    rank = shuffled.groupby(["kind", "top_cluster"], sort=False).cumcount()
    chosen = shuffled.index[rank.to_numpy() < quota.loc[shuffled.index].to_numpy()]
    return np.sort(np.concatenate([clusters, chosen.to_numpy()]))


def place_from_neighbours(
    fitted_vectors: np.ndarray, fitted_xy: np.ndarray, vectors: np.ndarray, k: int
) -> np.ndarray:
    """2-D positions for `vectors` (n, d): the inverse-distance-weighted mean of the map
    positions of their k nearest fitted points in the latent space, Euclidean as the map.
    UMAP's own `transform` starts from this same weighted mean of neighbours, then refines
    it by optimisation epochs; at ML-20M size that (with the search index it needs) took
    minutes here, this seconds (benchmarks/results/maps.md)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(fitted_vectors))
    search = NearestNeighbors(n_neighbors=k, metric="euclidean", algorithm="brute")
    search.fit(fitted_vectors)  # brute: 20x faster than a k-d tree in 20 dimensions here
    distances, indices = search.kneighbors(vectors)  # (n, k) each
    weights = 1.0 / np.maximum(distances, 1e-12)  # (n, k); an exact duplicate dominates
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", weights, fitted_xy[indices])  # (n, 2)


def umap_map(
    model: ClusterModel,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    seed: int = 0,
    n_neighbors: int = 15,
    init: str = "spectral",
    n_epochs: int | None = None,
    sample_size: int = UMAP_SAMPLE,
) -> pd.DataFrame:
    """embedding_table's frame with x, y from UMAP (seeded, hence single-threaded), and
    `umap_fitted`: whether the row was in UMAP's fit (`umap_sample`; every row up to
    `sample_size` rows) or placed from its fitted neighbours (`place_from_neighbours`).

    Euclidean metric: predictions are inner products, where a vector's norm matters as much
    as its direction, and an object is the weighted average of its clusters (eq. 6), i.e. a
    point between them in Euclidean terms; cosine would discard the norm and pull averages
    towards the origin's direction. `interpret` also finds "nearest" objects by Euclidean
    distance, so the map and the tables agree.
    """
    table, vectors = embedding_table(model, users, items)
    if len(vectors) < 4:  # UMAP needs a few neighbours; fall back to PCA
        return pca_map(model, users, items).assign(umap_fitted=True)
    fitted = umap_sample(table, sample_size, seed)
    coordinates = np.empty((len(vectors), 2))
    coordinates[fitted] = _fit_umap(vectors[fitted], seed, n_neighbors, init, n_epochs)
    placed = np.setdiff1d(np.arange(len(vectors)), fitted)
    if len(placed):
        coordinates[placed] = place_from_neighbours(
            vectors[fitted], coordinates[fitted], vectors[placed], PLACEMENT_NEIGHBOURS
        )
    umap_fitted = np.zeros(len(vectors), dtype=bool)
    umap_fitted[fitted] = True
    return table.assign(x=coordinates[:, 0], y=coordinates[:, 1], umap_fitted=umap_fitted)


def _fit_umap(
    vectors: np.ndarray, seed: int, n_neighbors: int, init: str, n_epochs: int | None
) -> np.ndarray:
    """UMAP's 2-D embedding of `vectors` (rows, d) -> (rows, 2)."""
    umap = import_umap()  # slow import and numba JIT: only here
    n_neighbors = min(n_neighbors, len(vectors) - 1)
    precomputed = (None, None, None)
    if len(vectors) <= EXACT_NEIGHBOURS_UP_TO:
        precomputed = (*exact_neighbours(vectors, n_neighbors), None)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        metric="euclidean",
        init=init,
        n_epochs=n_epochs,
        random_state=seed,
        n_jobs=1,
        precomputed_knn=precomputed,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # no .transform()
        return reducer.fit_transform(vectors).astype(float)  # (rows, 2)


def map_sample(frame: pd.DataFrame) -> dict:
    """What a UMAP map says about its sample, for the page to state: `umap_fitted_rows` of
    `umap_rows` were in UMAP's fit (all of them below UMAP_SAMPLE rows); the others were
    placed from their nearest fitted points (`umap_placement`)."""
    fitted = int(frame["umap_fitted"].sum()) if "umap_fitted" in frame else len(frame)
    return {
        "umap_rows": len(frame),
        "umap_fitted_rows": fitted,
        "umap_placement": (
            "all rows fitted"
            if fitted == len(frame)
            else f"UMAP fitted on every cluster and a sample of users and items stratified by "
            f"top cluster; every other point placed at the distance-weighted mean of its "
            f"{PLACEMENT_NEIGHBOURS} nearest fitted points"
        ),
    }


def map_points(frame: pd.DataFrame, kinds: list[str], levels: list[int]) -> pd.DataFrame:
    """The rows of a map to draw: objects and clusters of the chosen `kinds`, clusters only of
    the chosen `levels`."""
    return frame[frame["kind"].isin(kinds) & ((frame["level"] == 0) | frame["level"].isin(levels))]


@torch.no_grad()
def top_clusters_of(model: ClusterModel, side: str, level: int) -> np.ndarray:
    """(M,) int64: each of the side's objects' most probable cluster of grouping `level`."""
    return model.groupings(side)[level - 1].top_clusters()  # (M,)


@torch.no_grad()
def top_clusters_at(model: ClusterModel, frame: pd.DataFrame, level: int) -> np.ndarray:
    """The top_cluster column of a map's frame (embedding_table's rows) for grouping `level`
    in place of grouping 1: a user's or item's most probable cluster of that grouping, a
    cluster of that grouping itself, -1 for every other cluster (and a side without it)."""
    found = frame["top_cluster"].to_numpy().copy()  # (rows,)
    for side, (object_kind, cluster_kind) in KINDS.items():
        groupings = model.groupings(side)
        clusters = (frame["kind"] == cluster_kind).to_numpy()
        objects = (frame["kind"] == object_kind).to_numpy()
        if not 1 <= level <= len(groupings):
            found[objects | clusters] = -1
            continue
        top = top_clusters_of(model, side, level)  # (M,)
        found[objects] = top[frame.loc[objects, "index"].to_numpy()]
        same = clusters & (frame["level"] == level).to_numpy()
        found[clusters] = -1
        found[same] = frame.loc[same, "index"].to_numpy()
    return found


def find_points(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """The rows of a map whose label contains `query` (case-insensitive, plain text)."""
    if not query.strip():
        return frame.iloc[:0]
    return frame[frame["label"].astype(str).str.contains(query.strip(), case=False, regex=False)]


def points_of(frame: pd.DataFrame, points: list[dict]) -> pd.DataFrame:
    """The rows of a map for selected points (dicts with kind, level, index)."""
    keys = ["kind", "level", "index"]
    return joined_on_points(frame, pd.DataFrame(points, columns=keys)[keys])


def joined_on_points(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """left.merge(right) on kind, level and index (the same rows, in left's order), the larger
    side first cut to the other's indices: a merge of a whole 165,000-point map took 12-15 ms,
    the cut one 5-9 ms."""
    if len(left) > len(right):
        left = left[left["index"].isin(right["index"].unique())]
    else:
        right = right[right["index"].isin(left["index"].unique())]
    return left.merge(right, on=["kind", "level", "index"])


# --- names on the map --------------------------------------------------------------------------

# The maps job saves map_names' and map_metadata's tables with the maps (runs.maps), so a first
# Map visit reads them instead of computing them (1.3 s and 0.5 s at ML-20M size). Raise this
# when either table's content changes: the tables an older version saved are then computed
# again, not shown.
LABELS_VERSION = 1


@torch.no_grad()
def map_names(
    model: ClusterModel, users: pd.DataFrame | None, items: pd.DataFrame | None
) -> pd.DataFrame:
    """Names for a map's hovers, one row per row of embedding_table (kind, level, index):
    `name`: a cluster's naming.cluster_names name (the name the Affinity and Membership pages
    use, from the same metadata rows); for a user or item, its top level-1 cluster's name;
    `top_probability`: a user's or item's probability of that cluster (NaN for clusters and
    for a side of depth 0)."""
    frames = []
    for side, meta in (("user", users), ("item", items)):
        object_kind, cluster_kind = KINDS[side]
        n_objects = model.object_vectors(side).shape[0]
        rows = model_rows(meta, n_objects, side)
        labels = rows["label"].astype(str)
        first_names = None
        for level, found in enumerate(model.groupings(side), start=1):
            probabilities = found.membership.cpu().double().numpy()  # (M, m_l)
            names = cluster_names(probabilities, labels, rows)["name"].to_numpy(object)
            frames.append(
                pd.DataFrame(
                    {
                        "kind": cluster_kind,
                        "level": level,
                        "index": np.arange(len(names)),
                        "name": names,
                        "top_probability": np.nan,
                    }
                )
            )
            if level == 1:
                first_names, first = names, probabilities
        objects = pd.DataFrame({"kind": object_kind, "level": 0, "index": np.arange(n_objects)})
        if first_names is None:  # depth 0: plain MF on this side, no clusters
            objects = objects.assign(name=None, top_probability=np.nan)
        else:
            top = first.argmax(1)  # (M,)
            objects = objects.assign(
                name=first_names[top], top_probability=first[np.arange(n_objects), top]
            )
        frames.append(objects)
    return pd.concat(frames[::-1], ignore_index=True)  # any order: join on kind, level, index


# --- a cluster's members on the map -------------------------------------------------------------


@torch.no_grad()
def cluster_highlight(
    model: ClusterModel,
    side: str,
    level: int,
    cluster: int,
    min_probability: float | None = None,
    tops: np.ndarray | None = None,
) -> pd.DataFrame:
    """The members of one cluster to highlight on a map, most probable first: the objects whose
    most probable level-`level` cluster it is (`top`; the `members` count of naming), and those
    with a probability of at least `min_probability` for it (eq. 6 collapsed; default twice the
    uniform share, 2 / m_l). Columns kind, level (0), index, probability, top. `tops`:
    `top_clusters_of(model, side, level)`, where the caller keeps it (the argmax of every
    object's membership: 0.05 s of each map click at 138,000 users)."""
    groupings = model.groupings(side)
    if not 1 <= level <= len(groupings):
        raise ValueError(f"{side} level must be between 1 and {len(groupings)}, got {level}")
    probabilities = groupings[level - 1].membership.detach().cpu()  # (M, m_l), not copied
    if not 0 <= cluster < probabilities.shape[1]:
        raise ValueError(
            f"{side} cluster must be between 0 and {probabilities.shape[1] - 1}, got {cluster}"
        )
    if min_probability is None:
        min_probability = 2.0 / probabilities.shape[1]
    if tops is None:
        tops = top_clusters_of(model, side, level)
    top = tops == cluster  # (M,)
    column = probabilities[:, cluster].double().numpy()  # (M,): one column in float64
    members = np.flatnonzero(top | (column >= min_probability))
    found = pd.DataFrame(
        {
            "kind": side,
            "level": 0,
            "index": members,
            "probability": column[members],
            "top": top[members],
        }
    )
    return found.sort_values("probability", ascending=False, kind="stable", ignore_index=True)


# --- a view in which users and items are comparable ----------------------------------------------


def _side_of(table: pd.DataFrame) -> np.ndarray:
    """True for the user side's rows (users and user clusters) of embedding_table's frame."""
    return table["kind"].isin(KINDS["user"]).to_numpy()


def side_offsets(table: pd.DataFrame, vectors: np.ndarray) -> dict:
    """Why the sides sit apart, in numbers: the length of each side's mean (the offset that
    `shared_vectors` removes), the mean length of its objects, and the cosine between the
    two means (-1: opposite directions; 1: the same)."""
    vectors = np.asarray(vectors, dtype=np.float64)  # (rows, d)
    kinds = table["kind"].to_numpy()
    found = {}
    means = {}
    for side in ("user", "item"):
        objects = vectors[kinds == side]  # (M, d)
        means[side] = objects.mean(0) if len(objects) else np.zeros(vectors.shape[1])  # (d,)
        found[f"{side}_mean_norm"] = float(np.linalg.norm(means[side]))
        found[f"{side}_norm"] = float(np.linalg.norm(objects, axis=1).mean()) if len(objects) else 0
    lengths = found["user_mean_norm"] * found["item_mean_norm"]
    found["means_cosine"] = float(means["user"] @ means["item"] / lengths) if lengths > 0 else 0.0
    return found


def shared_vectors(table: pd.DataFrame, vectors: np.ndarray) -> np.ndarray:
    """Every row of embedding_table made comparable across sides: minus its side's mean object
    (users and user clusters minus the mean user, items and item clusters minus the mean item),
    divided by its length (a zero vector stays zero). (rows, d)."""
    vectors = np.asarray(vectors, dtype=np.float64)  # (rows, d)
    kinds = table["kind"].to_numpy()
    user_side = _side_of(table)
    centred = vectors.copy()
    for side, rows in (("user", user_side), ("item", ~user_side)):
        objects = vectors[kinds == side]  # (M, d)
        if len(objects):
            centred[rows] -= objects.mean(0)  # (rows_side, d)
    lengths = np.linalg.norm(centred, axis=1, keepdims=True)  # (rows, 1)
    return np.divide(centred, lengths, out=np.zeros_like(centred), where=lengths > 0)


def shared_map(table: pd.DataFrame, vectors: np.ndarray) -> pd.DataFrame:
    """embedding_table's frame with x, y: the first two principal components of
    `shared_vectors` (PCA: seconds even at ML-20M size, so it is computed when asked for)."""
    from sklearn.decomposition import PCA

    shared = shared_vectors(table, vectors)  # (rows, d)
    coordinates = np.zeros((len(shared), 2))
    n_components = min(2, *shared.shape)
    if n_components and len(shared) > 1:
        pca = PCA(n_components=n_components, svd_solver="full")
        coordinates[:, :n_components] = pca.fit_transform(shared)  # (rows, <=2)
    return table.assign(x=coordinates[:, 0], y=coordinates[:, 1])
