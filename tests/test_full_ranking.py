"""Full-ranking NDCG / Recall / Precision (training.full_ranking): a case worked by hand, the
same numbers as torchmetrics' retrieval metrics on random data, and a split's rules (seen
items masked, relevance threshold, users without a relevant item skipped)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics.retrieval import RetrievalNormalizedDCG, RetrievalPrecision, RetrievalRecall

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.training.full_ranking import (
    USERS_KEY,
    full_ranking_metrics,
    label,
    metric_names,
    relevance_threshold,
    split_full_ranking,
)


def long(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


# Four users, five items. Scores fall with the item for user 0 and rise for the others.
SCORES = torch.tensor(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5],
        [0.1, 0.2, 0.3, 0.4, 0.5],
        [0.5, 0.4, 0.3, 0.2, 0.1],
        [0.5, 0.4, 0.3, 0.2, 0.1],
    ]
)
SEEN = (long([0, 1, 1, 3]), long([0, 4, 3, 2]))  # user 0 has item 0; user 1 items 4, 3; ...
RELEVANT = (long([0, 0, 1, 3]), long([1, 3, 0, 2]))  # user 2: none; user 3: only a seen one


def test_a_case_worked_by_hand():
    got = full_ranking_metrics(lambda who: SCORES[who], 4, 5, SEEN, RELEVANT, ks=(2, 3))
    # User 0: item 0 is seen; the list is 1, 2, 3, 4; relevant {1, 3}.
    #   @2: [1, 2] -> hits 1,0: P 1/2, R 1/2, DCG 1, IDCG 1 + 1/log2(3)
    #   @3: [1, 2, 3] -> hits 1,0,1: P 2/3, R 2/2, DCG 1 + 1/log2(4), IDCG 1 + 1/log2(3)
    # User 1: items 4, 3 are seen; the list is 2, 1, 0; relevant {0}.
    #   @2: [2, 1] -> no hit: all 0.  @3: [2, 1, 0] -> hit at 3: P 1/3, R 1, NDCG 1/log2(4)
    # User 2 has no relevant item; user 3's only one is seen: both skipped.
    idcg = 1 + 1 / math.log2(3)
    expected = {
        "test_ndcg@2_full": (1 / idcg + 0) / 2,
        "test_recall@2_full": (1 / 2 + 0) / 2,
        "test_precision@2_full": (1 / 2 + 0) / 2,
        "test_ndcg@3_full": ((1 + 1 / math.log2(4)) / idcg + 1 / math.log2(4)) / 2,
        "test_recall@3_full": (1 + 1) / 2,
        "test_precision@3_full": (2 / 3 + 1 / 3) / 2,
    }
    assert got[USERS_KEY] == 2
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert list(expected) == metric_names(ks=(2, 3))


def test_fewer_candidates_than_k_count_as_misses():
    # user 1 has 3 candidates; @10 they are all in its list: P 1/10 (K stays the divisor)
    got = full_ranking_metrics(lambda who: SCORES[who], 4, 5, SEEN, RELEVANT, ks=(10,))
    assert got["test_precision@10_full"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    assert got["test_recall@10_full"] == pytest.approx(1.0)


def torchmetrics_reference(scores, seen_mask, relevant_mask, k: int) -> dict:
    """The same metrics by torchmetrics: one flat row per unseen (user, item)."""
    users, items = torch.nonzero(~seen_mask, as_tuple=True)
    preds, target = scores[users, items], relevant_mask[users, items]
    reference = {}
    for name, metric in (
        ("ndcg", RetrievalNormalizedDCG(top_k=k, empty_target_action="skip")),
        ("recall", RetrievalRecall(top_k=k, empty_target_action="skip")),
        ("precision", RetrievalPrecision(top_k=k, empty_target_action="skip")),
    ):
        reference[name] = metric(preds, target, indexes=users).item()
    return reference


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_torchmetrics_retrieval_metrics_on_random_data(seed):
    generator = torch.Generator().manual_seed(seed)
    n_users, n_items = 60, 45
    scores = torch.rand(n_users, n_items, generator=generator)  # (U, N) no ties
    seen_mask = torch.rand(n_users, n_items, generator=generator) < 0.3
    relevant_mask = (torch.rand(n_users, n_items, generator=generator) < 0.15) & ~seen_mask
    relevant_mask[:5] = False  # users without a relevant item: skipped by both
    got = full_ranking_metrics(
        lambda who: scores[who],
        n_users,
        n_items,
        torch.nonzero(seen_mask, as_tuple=True),
        torch.nonzero(relevant_mask, as_tuple=True),
        chunk_elements=7 * n_items,  # several chunks, one of them short
    )
    assert got[USERS_KEY] == int(relevant_mask.any(1).sum())
    for k in (10, 20):
        reference = torchmetrics_reference(scores, seen_mask, relevant_mask, k)
        for measure, value in reference.items():
            assert got[f"test_{measure}@{k}_full"] == pytest.approx(value, abs=1e-6), (measure, k)


def test_a_splits_rules_seen_items_threshold_and_stage():
    """On a real model and split: the test stage masks training and validation items and keeps
    test items rated >= 4 (80% of 5), as torchmetrics computes from the same masks."""
    split = make_split(planted_ratings(seed=0).data, "random", seed=0)
    torch.manual_seed(0)
    model = HMF(HMFConfig(split.n_users, split.n_items, dim=4, user_clusters=(3,)))
    assert relevance_threshold("rating", split.train["rating"].to_numpy()) == pytest.approx(
        0.8 * split.train["rating"].max()
    )
    assert relevance_threshold("rating", np.array([1.0, 5.0]), 3.5) == 3.5
    assert relevance_threshold("ranking", np.array([1.0])) is None
    got = split_full_ranking(model, split, "rating")
    threshold = got["full_ranking_threshold"]

    def mask(frame: pd.DataFrame) -> torch.Tensor:
        values = torch.zeros(split.n_users, split.n_items, dtype=torch.bool)
        values[frame["user"].to_numpy(copy=True), frame["item"].to_numpy(copy=True)] = True
        return values

    seen = mask(split.train) | mask(split.val)
    relevant = mask(split.test[split.test["rating"] >= threshold]) & ~seen
    with torch.no_grad():
        scores = model.score_all(torch.arange(split.n_users))
    assert got[USERS_KEY] == int(relevant.any(1).sum()) > 0
    for k in (10, 20):
        for measure, value in torchmetrics_reference(scores, seen, relevant, k).items():
            assert got[f"test_{measure}@{k}_full"] == pytest.approx(value, abs=1e-6)
    # the validation stage masks training items only and ranks validation items
    val = split_full_ranking(model, split, "rating", stage="val")
    relevant_val = mask(split.val[split.val["rating"] >= threshold]) & ~mask(split.train)
    reference = torchmetrics_reference(scores, mask(split.train), relevant_val, 10)
    assert val["val_ndcg@10_full"] == pytest.approx(reference["ndcg"], abs=1e-6)


def test_labels_people_read():
    assert label("test_ndcg@10_full") == "NDCG@10 (all items)"
    assert label("mf_test_recall@20_full") == "Recall@20 (all items)"


def test_format_metrics_keeps_run_lists_to_the_tasks_own_metrics():
    from hmf_core.runs.manager import format_metrics

    metrics = {"test_rmse": 0.9, "test_ndcg@10_full": 0.1, USERS_KEY: 12, "best_epoch": 3}
    assert format_metrics(metrics) == "RMSE 0.9000"


def test_old_runs_say_not_computed_and_evaluate_compute_adds_them(tmp_path, capsys, monkeypatch):
    """A run written before full-ranking metrics existed: `evaluate` says so, the Metrics page
    says so, and `evaluate --compute` writes the same numbers training writes."""
    from conftest import small_demo
    from test_app import app, texts, visit

    from hmf_core.cli import main
    from hmf_core.runs.rundir import RunDir

    ratings, _ = small_demo(tmp_path / "data", users=40)
    run_dir = tmp_path / "runs" / "old"
    train = ["train", "--data", str(ratings), "--split", "random", "--max-epochs", "1"]
    train += ["--user-clusters", "4", "--item-clusters", "6", "--no-projection"]
    assert main([*train, "--run-dir", str(run_dir)]) == 0
    run = RunDir(run_dir)
    trained = run.test_metrics()
    assert set(metric_names()) <= set(trained) and trained[USERS_KEY] > 0
    assert trained["full_ranking_threshold"] == 4.0  # 80% of the demo's highest rating, 5
    old = {k: v for k, v in trained.items() if not k.endswith("_full") and not k.startswith("full")}
    run.write("test_metrics", old)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir)]) == 0
    assert "HMF full ranking: not computed: compute them with --compute" in capsys.readouterr().out

    monkeypatch.setenv("HMF_DATA_DIR", str(tmp_path))
    at = app(tmp_path / "runs", monkeypatch)
    at.query_params["run"] = "old"
    at.run()
    visit(at, "metrics")
    assert "Full-ranking metrics: not computed" in texts(at)

    assert main(["evaluate", str(run_dir), "--compute"]) == 0
    printed = capsys.readouterr().out
    computed = run.test_metrics()
    for name in metric_names():
        assert computed[name] == pytest.approx(trained[name], rel=1e-6)
        assert f"{name}={computed[name]}" in printed
    assert f"; {trained[USERS_KEY]} users with a relevant test item, relevant: rated >= 4)" in (
        printed
    )
    visit(at, "metrics")
    assert "Full-ranking metrics: not computed" not in texts(at)
