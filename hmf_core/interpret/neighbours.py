"""Nearest neighbours of any point of the shared latent space (a user, an item, or a cluster of
any level), as the Embedding Projector lists them: by cosine similarity and by inner product.

Rows and vectors come from projection.embedding_table(model, users, items): every user, item
and cluster with its kind, level, index and label. Inner product is what the model scores
(a user's rating of an item is <U0_i, V0_j>); cosine ignores length (popularity, leniency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MEASURES = ("cosine", "inner product")


def nearest(
    table: pd.DataFrame,
    vectors: np.ndarray,
    row: int,
    measure: str = "cosine",
    k: int = 10,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The `k` rows most similar to row `row` (itself excluded), optionally only of `kinds`
    (e.g. ("item",) for the items nearest a user). Columns: the table's, plus similarity."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    if not 0 <= row < len(table):
        raise ValueError(f"row {row} is not in the table of {len(table)} points")
    vectors = np.asarray(vectors, dtype=np.float64)  # (rows, d)
    query = vectors[row]  # (d,)
    scores = vectors @ query  # (rows,)
    if measure == "cosine":
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)  # (rows,)
        scores = np.divide(scores, norms, out=np.zeros_like(scores), where=norms > 0)
    candidates = np.ones(len(table), dtype=bool)
    candidates[row] = False
    if kinds is not None:
        candidates &= table["kind"].isin(kinds).to_numpy()
    chosen = np.flatnonzero(candidates)
    order = chosen[np.argsort(-scores[chosen], kind="stable")[:k]]
    found = table.iloc[order].copy()
    found.insert(0, measure, scores[order])
    return found.reset_index(drop=True)


def nearest_to(
    table: pd.DataFrame,
    vectors: np.ndarray,
    kind: str,
    level: int,
    index: int,
    measure: str = "cosine",
    k: int = 10,
) -> pd.DataFrame:
    """`nearest` for the point named as the map names it: (kind, level, index)."""
    found = np.flatnonzero(
        (table["kind"] == kind).to_numpy()
        & (table["level"] == level).to_numpy()
        & (table["index"] == index).to_numpy()
    )
    if len(found) != 1:
        raise ValueError(f"no single point {kind} {index} at level {level} in the table")
    return nearest(table, vectors, int(found[0]), measure, k)
