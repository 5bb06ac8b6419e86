"""The memory the dashboard can show before training: `hmf_core.memory`'s estimate for MF and
HMF depth 1-3 at ML-100K, ML-1M and ML-20M size (a section of speed.md; the measured peaks are
in speed.py's main table)."""

from __future__ import annotations

import pandas as pd

from benchmarks.harness import Section
from benchmarks.loops import MODELS, model_config
from hmf_core.memory import parameter_count, training_memory_bytes


def memory_table(split_sizes: dict[str, tuple[int, int, int]]) -> pd.DataFrame:
    rows = []
    for name, (users, items, n) in split_sizes.items():
        for clusters in ((200, 100), (1000, 500)):
            for model, depth in MODELS.items():
                if depth == 0 and clusters != (200, 100):
                    continue
                config = model_config(users, items, depth, clusters)
                parts = training_memory_bytes(config, n_ratings=n)
                rows.append(
                    {
                        "data": name,
                        "model": model if depth == 0 else f"{model} {clusters}",
                        "parameters": parameter_count(config),
                        "parameters MiB": parts["parameters"] / 2**20,
                        "+ grads + AdamW MiB": (
                            parts["gradients"]
                            + parts["optimizer_state"]
                            + parts["optimizer_workspace"]
                        )
                        / 2**20,
                        "activations MiB": parts["activations"] / 2**20,
                        "data + permutation MiB": (parts["data"] + parts["permutation"]) / 2**20,
                        "total MiB": parts["total"] / 2**20,
                    }
                )
    return pd.DataFrame(rows)


MEMORY_FORMULA = """\
```
P = sum over sides (users M, items N) of [ m_0*m_1 + m_1*m_2 + ... + m_{p-1}*m_p + m_p*d ]
    (+ 1 + M + N with biases)                              m_0 = M (or N); depth 0: M*d
bytes = 4 * [ P (weights) + P (gradients, dense) + 2P (AdamW exp_avg, exp_avg_sq)
              + max_l m_{l-1}*m_l (AdamW's denominator for the largest tensor)
              + 3*B*(m_1 + d) per side + 3 * sum_{l>=2} m_{l-1}*m_l per side (activations) ]
        + 20 * ratings (int64 user, int64 item, float32 rating tensors)
        + 8 * ratings (the epoch's int64 permutation)
```
"""


def section(sizes: dict[str, tuple[int, int, int]]) -> Section:
    return Section(
        "Memory the dashboard can show before training",
        "`hmf_core.memory.training_memory_bytes(config, optimizer='adamw')`, float32:\n\n"
        + MEMORY_FORMULA,
        memory_table(sizes),
        digits=1,
    )
