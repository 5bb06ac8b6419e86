"""Nearest neighbours of any point of the shared latent space (a user, an item, or a cluster of
any level), as the Embedding Projector lists them: by cosine similarity and by inner product.

Rows and vectors come from projection.embedding_table(model, users, items): every user, item
and cluster with its kind, level, index and label. Inner product is what the model scores
(a user's rating of an item is <U0_i, V0_j>); cosine ignores length (popularity, leniency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hmf_core.interpret.naming import most_probable
from hmf_core.interpret.projection import parse_point_kind
from hmf_core.models.interface import ClusterModel

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
    order = chosen[most_probable(scores[chosen], k)]
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
    return nearest(table, vectors, _row_of(table, kind, level, index), measure, k)


TIE_COSINE = 0.9999  # neighbours this close in direction share the selected object's vector


def vector_ties(
    model: ClusterModel,
    table: pd.DataFrame,
    vectors: np.ndarray,
    kind: str,
    index: int,
    threshold: float = TIE_COSINE,
) -> tuple[pd.DataFrame, str]:
    """The objects of `kind` ("user" or "item") whose vectors have cosine >= `threshold` with
    object `index`'s (a crisp cluster collapses its members onto its vector), and what still
    tells them apart: (a table, one line). The table lists the object first, then the others:
    kind, index, label, cosine, bias (their own bias term, model.bias_terms, when the model has
    them), top_cluster, second_cluster and second_probability (the residual membership: the
    second-highest level-1 cluster and its probability, when the side has clusters). No other
    object that close: an empty table and "". `table` and `vectors`: embedding_table's."""
    side, is_cluster = parse_point_kind(kind)
    if is_cluster:
        raise ValueError(f"vector ties are asked of users and items, not of a {kind}")
    row = _row_of(table, kind, 0, index)
    vectors = np.asarray(vectors, dtype=np.float64)  # (rows, d)
    mine = (table["kind"] == kind).to_numpy()  # (rows,)
    norms = np.linalg.norm(vectors, axis=1)  # (rows,)
    scale = norms * norms[row]  # (rows,)
    cosine = np.divide(vectors @ vectors[row], scale, out=np.zeros(len(table)), where=scale > 0)
    close = mine & (cosine >= threshold)  # (rows,), the object itself included
    close[row] = False
    if not close.any():
        return table.iloc[:0][["kind", "index", "label"]].assign(cosine=[]), ""
    rows = np.concatenate([[row], np.flatnonzero(close)])
    found = table.iloc[rows][["kind", "index", "label"]].reset_index(drop=True)
    found.insert(3, "cosine", cosine[rows])
    device = model.object_vectors(side).device
    objects = torch.tensor(found["index"].tolist(), dtype=torch.long, device=device)  # (n,)
    found, differs = _what_differs(model, side, objects, found)
    others = len(rows) - 1
    mates = f"{others} {side}{'s' if others > 1 else ''}"
    line = (
        f"{mates} share{'s' if others == 1 else ''} this {side}'s vector (cosine ≥ "
        f"{threshold}): the model cannot tell them apart"
    )
    line += f"; they differ only in {' and '.join(differs)}." if differs else "."
    return found, line


def _what_differs(
    model: ClusterModel, side: str, objects: torch.Tensor, found: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """`found` with the bias and residual membership of `objects` (n,), and what the line says
    of their ranges."""
    differs = []
    with torch.no_grad():
        zeros = torch.zeros_like(objects)  # (n,): the other side's object, not read
        pair = (objects, zeros) if side == "user" else (zeros, objects)
        biases = model.bias_terms(*pair)  # {name: (n,)}
        if side in biases:
            bias = biases[side].detach().cpu().double().numpy()  # (n,)
            found["bias"] = bias
            differs.append(f"their {side} bias ({bias.min():+.3f} to {bias.max():+.3f})")
        groupings = model.groupings(side)
        if groupings:
            membership = groupings[0].membership[objects].detach().double().cpu()  # (n, m)
            top = torch.topk(membership, k=min(2, membership.shape[1]), dim=1)
            found["top_cluster"] = top.indices[:, 0].numpy()
            if membership.shape[1] > 1:
                found["second_cluster"] = top.indices[:, 1].numpy()
                second = top.values[:, 1].numpy()  # (n,)
                found["second_probability"] = second
                differs.append(
                    "their residual membership (second-highest level-1 cluster probability "
                    f"{second.min():.4f} to {second.max():.4f})"
                )
    return found, differs


def _row_of(table: pd.DataFrame, kind: str, level: int, index: int) -> int:
    found = np.flatnonzero(
        (table["kind"] == kind).to_numpy()
        & (table["level"] == level).to_numpy()
        & (table["index"] == index).to_numpy()
    )
    if len(found) != 1:
        raise ValueError(f"no single point {kind} {index} at level {level} in the table")
    return int(found[0])
