"""The paper's protocol on the real ML-100K: HMF (depth 1, paper-faithful) against plain MF."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_file

from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import make_split
from hmf_core.runs.recorder import fit_run
from hmf_core.training.trainer import TrainSettings

PAPER_HMF_RMSE = 1.066  # paper Table 3, ML-100K, HMF depth 1


@pytest.mark.slow
def test_hmf_depth1_beats_the_paper_and_plain_mf_on_ml100k(tmp_path: Path):
    """Seed 0, temporal split (Table 1), d=20, batch 1024, AdamW lr 1e-3, weight decay 1e-4,
    200 user / 100 item clusters, patience 5. Measured: HMF 1.0649; MF 1.0949 with init std 0.1
    (its best of lr 1e-3 / 1e-2; with the paper's N(0, 1) init MF reaches only 1.44-1.68)."""
    split = make_split(read_ratings(shared_file("ml-100k/u.data")), "temporal")
    hmf = TrainSettings(lr=1e-3, weight_decay=1e-4, projection=False, seed=0)
    mf = TrainSettings(
        user_depth=0,
        item_depth=0,
        init_std=0.1,
        lr=1e-3,
        weight_decay=1e-4,
        projection=False,
        seed=0,
    )
    hmf_rmse = fit_run(hmf, split, tmp_path / "hmf")["test_rmse"]
    mf_rmse = fit_run(mf, split, tmp_path / "mf")["test_rmse"]
    assert hmf_rmse <= PAPER_HMF_RMSE, hmf_rmse
    assert hmf_rmse < mf_rmse, (hmf_rmse, mf_rmse)
