"""2-D maps of users, items and the clusters of every level, all in HMF's one latent space.

Paper section 5.3: "all users, items, and their clusters are projected onto the same latent
space". Every object embedding is a weighted average of its clusters' embeddings (eq. 6), so
objects sit inside the hull of their clusters; the maps keep that picture.

Written to a run directory after training (`save_projections`), read through
`RunDir.map`: map_pca.parquet first (instant), then map_umap.parquet, then maps.json.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hmf_core.files import write_atomically
from hmf_core.interpret import model_rows, side_embedding
from hmf_core.model import HMF
from hmf_core.rundir import RunDir

METADATA_COLUMNS = {"user": ("gender", "occupation"), "item": ("genre",)}
KINDS = {"user": ("user", "user cluster"), "item": ("item", "item cluster")}


def _labels(meta: pd.DataFrame | None, n_objects: int, side: str) -> pd.DataFrame:
    """`label` and the side's metadata columns, one row per model row 0..n_objects-1."""
    rows = model_rows(meta, n_objects, side)
    present = [c for c in METADATA_COLUMNS[side] if c in rows.columns]
    return rows[["label", *present]].reset_index(drop=True)


def _side_rows(model: HMF, side: str, meta: pd.DataFrame | None):
    """(frame, vectors) for one side: its objects (level 0), then its clusters level by level."""
    hierarchy = side_embedding(model, side)
    object_kind, cluster_kind = KINDS[side]
    objects = hierarchy.cluster_embeddings(0)  # (M, d)
    n_objects = objects.shape[0]
    if hierarchy.depth:
        top_cluster = hierarchy.membership(1).argmax(1).cpu().numpy()  # (M,)
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
        ).join(_labels(meta, n_objects, side))
    ]
    vectors = [objects]
    for level in range(1, hierarchy.depth + 1):
        clusters = hierarchy.cluster_embeddings(level)  # (m_l, d)
        ids = np.arange(clusters.shape[0])
        frames.append(
            pd.DataFrame(
                {
                    "kind": cluster_kind,
                    "level": level,
                    "index": ids,
                    "label": [f"{cluster_kind} {i} (L{level})" for i in ids],
                    "size": hierarchy.object_to_level(level).sum(0).cpu().double().numpy(),
                    "top_cluster": ids if level == 1 else -1,
                }
            )
        )
        vectors.append(clusters)
    return frames, vectors


@torch.no_grad()
def embedding_table(
    model: HMF, users: pd.DataFrame | None, items: pd.DataFrame | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every user, item, user cluster and item cluster of every level: a frame and (rows, d).

    Columns: kind, level, index, label, size (1 for objects, cluster size for clusters),
    top_cluster (argmax level-1 cluster for objects, itself for level-1 clusters, else -1), and
    gender, occupation (users) / genre (items) where the metadata has them.
    """
    user_frames, user_vectors = _side_rows(model, "user", users)
    item_frames, item_vectors = _side_rows(model, "item", items)
    table = pd.concat(user_frames + item_frames, ignore_index=True)
    first = ["kind", "level", "index", "label", "size", "top_cluster"]
    table = table[first + [c for c in table.columns if c not in first]]
    vectors = torch.cat(user_vectors + item_vectors).cpu().double().numpy()  # (rows, d)
    return table, vectors


def pca_map(model: HMF, users: pd.DataFrame | None, items: pd.DataFrame | None) -> pd.DataFrame:
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


def umap_map(
    model: HMF,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    seed: int = 0,
    n_neighbors: int = 15,
    init: str = "spectral",
    n_epochs: int | None = None,
) -> pd.DataFrame:
    """embedding_table's frame with x, y from UMAP (seeded, hence single-threaded).

    Euclidean metric: predictions are inner products, where a vector's norm matters as much
    as its direction, and an object is the weighted average of its clusters (eq. 6), i.e. a
    point between them in Euclidean terms; cosine would discard the norm and pull averages
    towards the origin's direction. `interpret` also finds "nearest" objects by Euclidean
    distance, so the map and the tables agree.
    """
    umap = import_umap()  # slow import and numba JIT: only here
    table, vectors = embedding_table(model, users, items)
    if len(vectors) < 4:  # UMAP needs a few neighbours; fall back to PCA
        return pca_map(model, users, items)
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
        coordinates = reducer.fit_transform(vectors)  # (rows, 2)
    return table.assign(x=coordinates[:, 0].astype(float), y=coordinates[:, 1].astype(float))


def _write_map(run: RunDir, method: str, frame: pd.DataFrame) -> None:
    write_atomically(run.file(f"map_{method}"), lambda path: frame.to_parquet(path, index=False))


def save_projections(run_dir: str | Path, seed: int = 0) -> dict:
    """Compute and write the PCA map, then the UMAP map, then maps.json; returns the timings."""
    run = RunDir(run_dir)
    model = run.load_model()
    users, items = run.users(), run.items()
    timings = {}
    started = time.perf_counter()
    _write_map(run, "pca", pca_map(model, users, items))
    timings["pca_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    import_umap()  # timed apart from the fit: the import alone takes seconds
    timings["umap_import_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    _write_map(run, "umap", umap_map(model, users, items, seed=seed))
    timings["umap_s"] = round(time.perf_counter() - started, 3)
    run.write("maps", timings)
    return timings


def map_points(frame: pd.DataFrame, kinds: list[str], levels: list[int]) -> pd.DataFrame:
    """The rows of a map to draw: objects and clusters of the chosen `kinds`, clusters only of
    the chosen `levels`."""
    return frame[frame["kind"].isin(kinds) & ((frame["level"] == 0) | frame["level"].isin(levels))]


def find_points(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """The rows of a map whose label contains `query` (case-insensitive, plain text)."""
    if not query.strip():
        return frame.iloc[:0]
    return frame[frame["label"].astype(str).str.contains(query.strip(), case=False, regex=False)]


def points_of(frame: pd.DataFrame, points: list[dict]) -> pd.DataFrame:
    """The rows of a map for selected points (dicts with kind, level, index)."""
    keys = ["kind", "level", "index"]
    return frame.merge(pd.DataFrame(points, columns=keys)[keys], on=keys)
