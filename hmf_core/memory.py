"""Memory a training run needs, estimated before it starts (the dashboard shows it).

Checked against measured peaks in benchmarks/speed.py (benchmarks/results/speed.md): e.g. an
ML-20M-size HMF depth 1 (200/100 clusters) is estimated at 726 MiB (without the data) and
peaked at 885-896 MiB; the rest is memory the allocator keeps after frees.
"""

from __future__ import annotations

import os

from hmf_core.model import HMFConfig


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


def training_memory_bytes(
    config: HMFConfig,
    optimizer: str = "adamw",
    batch_size: int = 1024,
    n_ratings: int = 0,
    bytes_per_value: int = 4,
) -> dict[str, int]:
    """Estimated peak memory of training, in bytes, before it starts (float32 by default).

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
    """
    states = {"adamw": 2, "adam": 2, "sgd_momentum": 1, "sgd": 0}  # "adamw" = fused, as trained
    if optimizer not in states:
        raise ValueError(f"optimizer must be one of {', '.join(states)}, not {optimizer!r}")
    params = parameter_count(config)
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
    parts = {
        "parameters": params * bytes_per_value,
        "gradients": params * bytes_per_value,
        "optimizer_state": states[optimizer] * params * bytes_per_value,
        "optimizer_workspace": (largest if optimizer == "adam" else 0) * bytes_per_value,
        "activations": activations * bytes_per_value,
        "data": n_ratings * (8 + 8 + 4),
        "permutation": n_ratings * 8,
    }
    parts["total"] = sum(parts.values())
    return parts


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
