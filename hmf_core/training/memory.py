"""Memory a training run needs, estimated before it starts (the dashboard shows it).

Checked against measured peaks in benchmarks/speed.py (benchmarks/results/speed.md): e.g. an
ML-20M-size HMF depth 1 (200/100 clusters) is estimated at 726 MiB (without the data) and
peaked at 885-896 MiB; the rest is memory the allocator keeps after frees.
"""

from __future__ import annotations

import os

from hmf_core.models.hmf import HMFConfig

# "dense" (TrainSettings.optimizer) is fused AdamW: "adamw"
OPTIMIZER_STATES = {"adamw": 2, "dense": 2, "lazy": 2, "adam": 2, "sgd_momentum": 1, "sgd": 0}
INDEX_BYTES = 8  # int64: row indices, LazyAdamW's per-row step counter

# LazyAdamW's sizes (hmf_core.training.optim imports them): here, so that what a run will need
# is pure arithmetic, without importing the optimizer's numba kernels
HORIZON = 256  # skipped steps summed exactly; the rest are below float32 (see optim's doc)
AHEAD = 64  # per-start tables built at once: a missing start s and the next AHEAD - 1
MAX_DEGREE = 8  # polynomial degree in y before a row falls back to step-by-step catch-up
CHUNK_ROWS = 16_384  # rows per slice when bringing a whole table up to date
PLAN_COLUMNS = MAX_DEGREE + 4  # optim._Plans: M_0..M_D, then the degree, step-by-step, Q


def plan_ring_bytes() -> int:
    """Bytes of one lazy table's catch-up ring (optim._Plans.ring, float64): 7.9 MB a table."""
    return (HORIZON + AHEAD) * (HORIZON + 1) * PLAN_COLUMNS * 8


def parameter_count(config: HMFConfig) -> int:
    """Connection matrices (m_{l-1} x m_l per level), root embeddings (m_p x d) on both sides,
    plus 1 + M + N biases when use_bias."""
    count = 0
    for n_objects, clusters in (
        (config.n_users, config.user_clusters),
        (config.n_items, config.item_clusters),
    ):
        sizes = (n_objects, *clusters)
        count += sum(sizes[i] * sizes[i + 1] for i in range(len(clusters)))
        count += sizes[-1] * config.dim
    if config.use_bias:
        count += 1 + config.n_users + config.n_items
    return count


def row_tables(config: HMFConfig) -> list[tuple[int, int]]:
    """(rows, width) of each side's row table, the one a batch indexes by row: C_1 (M x m_1)
    for HMF, the embedding table (M x d) for MF. LazyAdamW steps these by row."""
    return [
        (n_objects, clusters[0] if clusters else config.dim)
        for n_objects, clusters in (
            (config.n_users, config.user_clusters),
            (config.n_items, config.item_clusters),
        )
    ]


def training_memory_bytes(
    config: HMFConfig,
    optimizer: str = "adamw",
    batch_size: int = 1024,
    n_ratings: int = 0,
    bytes_per_value: int = 4,
) -> dict[str, int]:
    """Estimated peak memory of training, in bytes, before it starts (float32 by default).
    `optimizer`: "adamw" or "dense" (fused AdamW: --optimizer dense), "lazy"
    (hmf_core.training.optim.LazyAdamW), "auto" (either may be picked: the larger estimate), "adam",
    "sgd_momentum", "sgd" (TrainSettings.optimizer can be passed as it is).

    - parameters P (parameter_count): connection matrices m_{l-1} x m_l, root embeddings
      m_p x d, biases;
    - gradients: P, dense (indexing rows of C_1 or of the MF embeddings back-propagates into
      a full-size zero tensor);
    - optimizer state: AdamW/Adam 2P (exp_avg, exp_avg_sq), SGD with momentum P, SGD 0;
    - optimizer workspace: the largest parameter once for non-fused Adam (its per-tensor
      denominator); fused AdamW, what training uses, allocates none (measured 0 MiB);
    - activations: per side 3 x B x (m_1 + d) (softmax input/output/grad of the batch's rows,
      the embeddings) and 3 x m_{l-1} x m_l for each upper level's full softmax;
    - data: user, item (int64) and rating (float32) tensors, 20 bytes a rating;
    - permutation: the epoch's int64 shuffle order, 8 bytes a rating.

    The lazy optimizer (hmf_core/training/optim.py) differs on the row tables T (row_tables; R rows
    of width w each): their gradients are sparse, 2 x B x w values (the lookup's and the
    coalesced one) and their indices, instead of T; its state adds one int64 step counter per
    row (8 R); its workspace is, during the first warm-up steps, a dense gradient buffer of
    T (the warm-up steps the whole table), the batch's rows gathered from the table and both
    moments (3 x B x w, kept between steps; on the CPU the fused loops of row_kernels update
    the rows in place and gather only rows caught up step by step, so this part is an upper
    bound there), the step's summed row gradient (B x w, kept) and the catch-up's temporaries
    (3 x CHUNK_ROWS x w), plus per table the catch-up's float64 ring of per-start sums
    (plan_ring_bytes, 7.9 MB).
    So it needs more memory than dense AdamW at its peak (the warm-up), not less.
    """
    if optimizer == "auto":  # lazy or dense, by the size of the row tables: the larger one
        estimates = [
            training_memory_bytes(config, kind, batch_size, n_ratings, bytes_per_value)
            for kind in ("adamw", "lazy")
        ]
        return max(estimates, key=lambda parts: parts["total"])
    states = OPTIMIZER_STATES
    if optimizer not in states:
        choices = ", ".join([*states, "auto"])
        raise ValueError(f"optimizer must be one of {choices}, not {optimizer!r}")
    params = parameter_count(config)
    largest, activations = _largest_and_activations(config, batch_size)
    parts = {
        "parameters": params * bytes_per_value,
        "gradients": params * bytes_per_value,
        "optimizer_state": states[optimizer] * params * bytes_per_value,
        "optimizer_workspace": (largest if optimizer == "adam" else 0) * bytes_per_value,
        "activations": activations * bytes_per_value,
        "data": n_ratings * (8 + 8 + 4),
        "permutation": n_ratings * 8,
    }
    if optimizer == "lazy":
        parts.update(_lazy_parts(config, params, parts, batch_size, bytes_per_value))
    parts["total"] = sum(parts.values())
    return parts


def _largest_and_activations(config: HMFConfig, batch_size: int) -> tuple[int, int]:
    """(values of the largest parameter matrix, activation values of a step), both sides."""
    largest = 0
    activations = 0
    for n_objects, clusters in (
        (config.n_users, config.user_clusters),
        (config.n_items, config.item_clusters),
    ):
        sizes = (n_objects, *clusters, config.dim)  # matrices: sizes[i] x sizes[i + 1]
        largest = max(largest, *(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1)))
        first = clusters[0] if clusters else 0
        activations += 3 * batch_size * (first + config.dim)
        activations += 3 * sum(sizes[i] * sizes[i + 1] for i in range(1, len(clusters)))
    return largest, activations


def _lazy_parts(
    config: HMFConfig, params: int, parts: dict, batch_size: int, bytes_per_value: int
) -> dict[str, int]:
    """The gradients, optimizer state and workspace of the lazy optimizer (the docstring of
    training_memory_bytes), from the dense estimate's `parts`."""
    tables = row_tables(config)
    table_values = sum(rows * width for rows, width in tables)
    batch_rows = [min(rows, batch_size) for rows, _ in tables]
    sparse = sum(2 * b * w for b, (_, w) in zip(batch_rows, tables)) * bytes_per_value
    gradients = (params - table_values) * bytes_per_value + sparse
    gradients += 2 * INDEX_BYTES * sum(batch_rows)
    state = parts["optimizer_state"] + INDEX_BYTES * sum(rows for rows, _ in tables)
    gathered = sum(4 * b * w for b, (_, w) in zip(batch_rows, tables))
    catch_up = max(3 * min(rows, CHUNK_ROWS) * w for rows, w in tables)
    workspace = (table_values + gathered + catch_up) * bytes_per_value
    workspace += len(tables) * plan_ring_bytes()
    return {"gradients": gradients, "optimizer_state": state, "optimizer_workspace": workspace}


def available_memory_bytes() -> int | None:
    """Memory the machine can give a new process now (Linux: MemAvailable of /proc/meminfo;
    else free physical pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def memory_shortfall(needed: int, available: int | None = None) -> str | None:
    """A plain reason when a training needing `needed` bytes would not fit, else None."""
    available = available_memory_bytes() if available is None else available
    if available is None or needed <= available:
        return None
    return (
        f"training needs about {needed / 2**30:,.1f} GiB of memory (estimate: weights, "
        f"gradients, AdamW state, data) but only {available / 2**30:,.1f} GiB is available "
        "now: use fewer clusters, a smaller dimension d, or a machine with more memory"
    )
