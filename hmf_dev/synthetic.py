"""Synthetic data files shared by the tests and the benchmarks (seeded, written on demand, never
kept in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    """ML-20M-like: 138,493 users, 26,744 items (ids up to 131,262), half-star ratings,
    unix-second timestamps 1995-2015; written in 1M-row chunks."""
    rng = np.random.default_rng(seed)
    item_ids = np.sort(rng.choice(np.arange(1, 131_263), size=26_744, replace=False))
    options = pacsv.WriteOptions(include_header=True)
    with pacsv.CSVWriter(
        str(path),
        pa.schema(
            [
                ("userId", pa.int64()),
                ("movieId", pa.int64()),
                ("rating", pa.float64()),
                ("timestamp", pa.int64()),
            ]
        ),
        write_options=options,
    ) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            writer.write_table(
                pa.table(
                    {
                        "userId": rng.integers(1, 138_494, n),
                        # popular items more often (u^2 skew), few duplicated pairs
                        "movieId": item_ids[(len(item_ids) * rng.random(n) ** 2).astype(int)],
                        "rating": rng.integers(1, 11, n) / 2.0,
                        "timestamp": rng.integers(789_652_009, 1_427_784_002, n),
                    }
                )
            )
