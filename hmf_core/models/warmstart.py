"""Where HMF's memberships start: the random draw of the paper, a spectral co-clustering of
who rated what, or k-means on a briefly trained MF.

The paper starts every connection logit at N(0, 1). Trained from there, memberships barely move
and stay diffuse (benchmarks/results/interpretability.md). The spectral start reads who rated
what: the training interactions as a user x item matrix X, normalised as in spectral
co-clustering (Dhillon 2001), A = Du^-1/2 X Di^-1/2, whose top singular vectors place users and
items that share raters close together. k-means on those (row-normalised) vectors gives each
user and each item a first-level cluster; k-means on the level-l centres gives level l+1. Each
object's logits then start one-hot-ish: its cluster gets the logit that makes its membership
`sharpness` (e.g. 0.8), the rest share 1 - sharpness. Training on the ratings moves them from
there (the logits have their own, larger learning rate in the interpretable preset).

MFDMC (models/mfdmc.py) starts its views from the same vectors, one block of them per view:
view v clusters the v-th of V equal blocks of the singular vectors (the first view the
strongest directions), so each view starts from a different pattern of who rated what rather
than V copies of one clustering. Ours: the paper's initialisation is not known.

The "mf" start clusters the embeddings of a plain MF (with biases) trained for a few epochs
instead: it reads the rating values rather than who rated what, which is what carries the
clusters when every pair is equally likely to be observed (the planted data). On MovieLens,
who-rated-what carries 3-4x more genre information (benchmarks/results/interpretability.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import adjusted_rand_score

from hmf_core.models import hmf, mfdmc
from hmf_core.models.hmf import HMF, WARM_STARTS, HierarchicalEmbedding, HMFConfig

LARGE = 50_000  # objects above which k-means runs in mini-batches
CONSENSUS_BASE = 0  # the "-consensus" starts' random state: fixed, not the run's seed
CONSENSUS_STATES = 5  # k-means random states whose partitions vote
CONSENSUS_INITS = 10  # k-means inits per random state (the best inertia of each kept)


def spectral_vectors(
    train: pd.DataFrame, n_users: int, n_items: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised spectral co-clustering vectors of users (M, k) and items (N, k)."""
    counts = sp.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (train["user"], train["item"])),
        shape=(n_users, n_items),
    )  # (M, N), 1 per observed (user, item)
    user_scale = sp.diags(1.0 / np.sqrt(np.asarray(counts.sum(1)).ravel() + 1.0))
    item_scale = sp.diags(1.0 / np.sqrt(np.asarray(counts.sum(0)).ravel() + 1.0))
    normalised = user_scale @ counts @ item_scale  # (M, N)
    rank = max(1, min(dim, min(n_users, n_items) - 1))
    svd = TruncatedSVD(rank, random_state=seed).fit(normalised)
    users = svd.transform(normalised)  # U S: (M, rank)
    items = svd.components_.T * svd.singular_values_  # V S: (N, rank), scaled like the users
    return _unit_rows(users), _unit_rows(items)


def mf_vectors(
    train: pd.DataFrame, n_users: int, n_items: int, dim: int, seed: int, epochs: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised embeddings of users (M, d) and items (N, d) of a plain MF with biases
    trained `epochs` epochs (AdamW, lr 1e-2, batch 1024): a brief fit, enough to cluster."""
    generator = torch.Generator().manual_seed(seed)
    config = HMFConfig(
        n_users,
        n_items,
        dim=dim,
        user_clusters=(),
        item_clusters=(),
        init_std=0.1,
        use_bias=True,
        global_mean=float(train["rating"].mean()),
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = HMF(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    users = torch.as_tensor(train["user"].to_numpy(), dtype=torch.long)  # (R,)
    items = torch.as_tensor(train["item"].to_numpy(), dtype=torch.long)  # (R,)
    ratings = torch.as_tensor(train["rating"].to_numpy(), dtype=torch.float32)  # (R,)
    for _ in range(epochs):
        order = torch.randperm(len(ratings), generator=generator)
        for batch in order.split(1024):
            loss = (model(users[batch], items[batch]) - ratings[batch]).pow(2).mean()  # eq. (5)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return _unit_rows(model.users.root.numpy()), _unit_rows(model.items.root.numpy())


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)


def kmeans(
    vectors: np.ndarray, k: int, seed: int, n_init: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """k-means labels (M,) and centres (k, d) of `vectors` (M, d), k capped at M; mini-batches
    above LARGE objects."""
    k = min(k, len(vectors))
    kind = MiniBatchKMeans if len(vectors) > LARGE else KMeans
    fitted = kind(n_clusters=k, n_init=n_init, random_state=seed).fit(vectors)
    return fitted.labels_, fitted.cluster_centers_


def consensus_partition(
    vectors: np.ndarray,
    k: int,
    base: int = CONSENSUS_BASE,
    states: int = CONSENSUS_STATES,
    n_init: int = CONSENSUS_INITS,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means labels (M,) and centres (k, d) of `vectors` (M, d): of the partitions found from
    random states base, base + 1, ... (`n_init` inits each), the one with the highest mean ARI
    to the others (ties: the first)."""
    fits = [kmeans(vectors, k, base + state, n_init) for state in range(states)]
    agreement = np.zeros((states, states))  # (S, S) pairwise ARI, 0 on the diagonal
    for a in range(states):
        for b in range(a + 1, states):
            agreement[a, b] = agreement[b, a] = adjusted_rand_score(fits[a][0], fits[b][0])
    return fits[int(np.argmax(agreement.sum(1)))]


def _cluster(consensus: bool):
    """How a level is clustered: (vectors, k, seed) -> (labels, centres)."""
    if consensus:
        return lambda vectors, k, seed: consensus_partition(vectors, k)
    return kmeans


def sharp_logit(sharpness: float, n_clusters: int) -> float:
    """The logit a (others 0) for which softmax gives `sharpness` to the chosen cluster."""
    if n_clusters == 1:
        return 0.0
    return math.log(sharpness * (n_clusters - 1) / (1.0 - sharpness))


@torch.no_grad()
def _start_side(
    side: HierarchicalEmbedding, vectors: np.ndarray, sharpness: float, seed: int, cluster=kmeans
) -> None:
    generator = torch.Generator().manual_seed(seed)
    for connection in side.connections:  # C_l: (m_{l-1}, m_l)
        labels, centres = cluster(vectors, connection.shape[1], seed)
        logits = torch.zeros(connection.shape)  # (m_{l-1}, m_l)
        logits[torch.arange(len(labels)), torch.as_tensor(labels, dtype=torch.long)] = (
            sharp_logit(sharpness, connection.shape[1]) * side.temperature
        )
        noise = 0.01 * torch.randn(connection.shape, generator=generator)  # breaks ties
        connection.copy_(logits + noise)
        vectors = _unit_rows(centres)  # the next level clusters these clusters


@torch.no_grad()
def _start_views(
    side: mfdmc.MultiViewEmbedding,
    vectors: np.ndarray,
    sharpness: float,
    seed: int,
    cluster=kmeans,
) -> None:
    """View v's logits from k-means on the v-th block of the vectors' columns."""
    generator = torch.Generator().manual_seed(seed)
    k = side.n_centres
    for view, columns in enumerate(np.array_split(np.arange(vectors.shape[1]), side.views)):
        labels, _ = cluster(_unit_rows(vectors[:, columns]), k, seed + view)
        logits = torch.zeros(len(labels), k)  # (M, K)
        logits[torch.arange(len(labels)), torch.as_tensor(labels, dtype=torch.long)] = (
            sharp_logit(sharpness, k) * side.temperature
        )
        noise = 0.01 * torch.randn(logits.shape, generator=generator)  # breaks ties
        side.connections[:, view * k : (view + 1) * k] = logits + noise


def start_model(config, seed: int, train: pd.DataFrame | None, method: str, sharpness: float = 0.8):
    """The model as training starts it (hmf_core.training.trainer.fit): the seed's random draw, then
    the warm start from the training rows (`train` is not read when `method` is "none")."""
    first = mfdmc.initial_model if isinstance(config, mfdmc.MFDMCConfig) else hmf.initial_model
    return warm_start(first(config, seed), train, method, sharpness, seed)


def warm_start(
    model: HMF, train: pd.DataFrame, method: str, sharpness: float = 0.8, seed: int = 0
) -> HMF:
    """Replace the random start of the connection logits (in place); returns the model."""
    if method not in WARM_STARTS:
        raise ValueError(f"warm start must be one of {', '.join(WARM_STARTS)}, not {method!r}")
    if not 0.0 < sharpness < 1.0:
        raise ValueError(f"warm-start sharpness must be between 0 and 1, not {sharpness}")
    if method == "none":  # any family: nothing to start
        return model
    sides = (model.users, model.items)
    if all(getattr(side, "depth", 1) == 0 for side in sides):
        return model
    config = model.config
    consensus = method.endswith("-consensus")
    users, items = start_vectors(train, config.n_users, config.n_items, config.dim, method, seed)
    for side, vectors in zip(sides, (users, items)):
        start = _start_views if isinstance(side, mfdmc.MultiViewEmbedding) else _start_side
        start(side, vectors, sharpness, seed, _cluster(consensus))
    return model


def start_vectors(
    train: pd.DataFrame, n_users: int, n_items: int, dim: int, method: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors warm start `method` clusters: users (M, k), items (N, k); a "-consensus"
    method's from CONSENSUS_BASE, whatever `seed`."""
    vectors = spectral_vectors if method.startswith("spectral") else mf_vectors
    consensus = method.endswith("-consensus")
    return vectors(train, n_users, n_items, dim, CONSENSUS_BASE if consensus else seed)
