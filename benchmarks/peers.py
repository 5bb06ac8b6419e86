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


def _candidates(seed: int, quick: bool) -> dict[str, list]:
    """Peer name -> [(make(setting) -> algorithm, setting)] over its grid."""
    from surprise import SVD, BaselineOnly

    return {
        "Surprise BaselineOnly": [
            (lambda s: BaselineOnly(bsl_options=s, verbose=False), s)
            for s in _settings(BASELINE_GRID if not quick else {**BASELINE_GRID, "reg_i": [10]})
        ],
        "Surprise SVD (biased MF, SGD)": [
            (lambda s: SVD(random_state=seed, **s), s)
            for s in _settings(QUICK_SVD_GRID if quick else SVD_GRID)
        ],
    }


def best_fitted(split, name: str, seed: int = 0, quick: bool = False) -> tuple:
    """(fitted algorithm, its setting, validation RMSE): the setting of peer `name`'s grid with
    the lowest validation RMSE, fitted on the split's training rows."""
    scale = (float(split.train["rating"].min()), float(split.train["rating"].max()))
    trainset = _trainset(split.train, scale)
    best = None
    for make, setting in _candidates(seed, quick)[name]:
        algorithm = make(setting)
        algorithm.fit(trainset)
        val = _rmse(algorithm, split.val)
        if best is None or val < best[2]:
            best = (algorithm, setting, val)
    return best


def best_peers(split, seed: int = 0, quick: bool = False) -> pd.DataFrame:
    """One row per peer: its chosen setting, validation RMSE and test RMSE."""
    rows = []
    for name in _candidates(seed, quick):
        algorithm, setting, val = best_fitted(split, name, seed, quick)
        rows.append(
            {
                "model": name,
                "setting": ", ".join(f"{k}={v}" for k, v in setting.items()),
                "val_rmse": val,
                "test_rmse": _rmse(algorithm, split.test),
            }
        )
    return pd.DataFrame(rows)


def svd_scorer(algorithm, n_users: int, n_items: int):
    """score_all(users (B,)) -> (B, N) torch scores of a fitted Surprise SVD for every item of
    a split whose users and items are its codes 0..n-1 (all in training): the estimate
    mu + b_u + b_i + q_i . p_u that SVD.predict returns before clipping to the rating scale
    (clipping would only add ties at the top)."""
    import torch

    trainset = algorithm.trainset
    users = np.array([trainset.to_inner_uid(u) for u in range(n_users)])  # code -> inner
    items = np.array([trainset.to_inner_iid(i) for i in range(n_items)])
    user_factors = torch.as_tensor(algorithm.pu[users])  # (U, d)
    item_factors = torch.as_tensor(algorithm.qi[items])  # (N, d)
    user_bias = torch.as_tensor(algorithm.bu[users])  # (U,)
    item_bias = torch.as_tensor(algorithm.bi[items])  # (N,)
    mean = float(trainset.global_mean)

    def score_all(who: torch.Tensor) -> torch.Tensor:
        scores = user_factors[who] @ item_factors.T  # (B, N)
        return scores + mean + user_bias[who, None] + item_bias  # (B, N)

    return score_all
