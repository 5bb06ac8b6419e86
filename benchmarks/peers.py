"""Well-known peers on our splits: Surprise's BaselineOnly and SVD (biased MF trained by SGD,
the textbook method), each with the setting of its grid that has the lowest validation RMSE.

Fitted on the split's training rows only, chosen on its validation rows, scored on its test
rows: the same protocol as HMF (which stops early on validation).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

BASELINE_GRID = {"method": ["als"], "reg_i": [5, 10, 25], "reg_u": [5, 15, 25], "n_epochs": [10]}
SVD_GRID = {
    "n_factors": [20, 100],
    "n_epochs": [20, 50],
    "lr_all": [0.005],
    "reg_all": [0.02, 0.05, 0.1],
}
QUICK_SVD_GRID = {"n_factors": [20], "n_epochs": [5], "lr_all": [0.005], "reg_all": [0.05]}


def _trainset(train: pd.DataFrame, scale: tuple[float, float]):
    from surprise import Dataset, Reader  # a benchmark dependency (scikit-surprise)

    frame = train[["user", "item", "rating"]]
    return Dataset.load_from_df(frame, Reader(rating_scale=scale)).build_full_trainset()


def _rmse(algorithm, frame: pd.DataFrame) -> float:
    predicted = np.array(
        [algorithm.predict(u, i).est for u, i in zip(frame["user"], frame["item"])]
    )  # (R,)
    return float(np.sqrt(np.mean((predicted - frame["rating"].to_numpy()) ** 2)))


def _settings(grid: dict) -> list[dict]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def best_peers(split, seed: int = 0, quick: bool = False) -> pd.DataFrame:
    """One row per peer: its chosen setting, validation RMSE and test RMSE."""
    from surprise import SVD, BaselineOnly

    scale = (float(split.train["rating"].min()), float(split.train["rating"].max()))
    trainset = _trainset(split.train, scale)
    rows = []
    candidates = {
        "Surprise BaselineOnly": [
            (lambda s: BaselineOnly(bsl_options=s, verbose=False), s)
            for s in _settings(BASELINE_GRID if not quick else {**BASELINE_GRID, "reg_i": [10]})
        ],
        "Surprise SVD (biased MF, SGD)": [
            (lambda s: SVD(random_state=seed, **s), s)
            for s in _settings(QUICK_SVD_GRID if quick else SVD_GRID)
        ],
    }
    for name, options in candidates.items():
        best = None
        for make, setting in options:
            algorithm = make(setting)
            algorithm.fit(trainset)
            val = _rmse(algorithm, split.val)
            if best is None or val < best[0]:
                best = (val, setting, algorithm)
        val, setting, algorithm = best
        rows.append(
            {
                "model": name,
                "setting": ", ".join(f"{k}={v}" for k, v in setting.items()),
                "val_rmse": val,
                "test_rmse": _rmse(algorithm, split.test),
            }
        )
    return pd.DataFrame(rows)
