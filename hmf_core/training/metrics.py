"""Evaluation metrics, as the paper (section 4.3), and which task reports which."""

from __future__ import annotations

import torch

# The one task -> metric mapping: the first metric of a task is the one training monitors.
TASK_METRICS = {"rating": ("rmse",), "ranking": ("hr10", "mrr10")}
TASKS = tuple(TASK_METRICS)
LOWER_IS_BETTER = frozenset({"rmse"})
METRIC_LABELS = {"rmse": "RMSE", "hr10": "HR@10", "mrr10": "MRR@10"}  # as people read them
# Ranking evaluation ranks each held-out positive among this many sampled unseen items.
RANKING_NEGATIVES = 99


def metric_names(task: str, stage: str) -> list[str]:
    """The logged names of a task's metrics at `stage` ("val", "test"): val_rmse, test_hr10..."""
    return [f"{stage}_{metric}" for metric in TASK_METRICS[task]]


def task_metric_text(task: str) -> str:
    """A task's metrics as people read them: "RMSE", "HR@10 and MRR@10"."""
    return " and ".join(METRIC_LABELS[metric] for metric in TASK_METRICS[task])


def monitor(task: str) -> tuple[str, str]:
    """(validation metric, "min" or "max"): what early stopping and the checkpoint follow."""
    metric = TASK_METRICS[task][0]
    return f"val_{metric}", "min" if metric in LOWER_IS_BETTER else "max"


def lower_is_better(name: str) -> bool:
    """For a logged name such as test_rmse or val_hr10."""
    return name.split("_", 1)[-1] in LOWER_IS_BETTER


def positive_rank(candidate_scores: torch.Tensor) -> torch.Tensor:
    """Rank (0 = top) of the positive in column 0 among its candidates: (B, 1+K) -> (B,).

    Ties count against the positive, so a model that scores everything equal ranks last."""
    positive = candidate_scores[:, :1]  # (B, 1)
    return (candidate_scores[:, 1:] >= positive).sum(dim=1)  # (B,)


def hits_and_reciprocal_ranks(ranks: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, ...]:
    """Per row, from 0-based ranks of the positive: hit@k (0/1) and reciprocal rank@k (0 past
    k), (B,) each; their means are HitRatio@k and MRR@k."""
    hits = ranks < k  # (B,)
    reciprocal = torch.where(hits, 1.0 / (ranks.double() + 1.0), 0.0)  # (B,)
    return hits.double(), reciprocal


def hit_ratio_and_mrr(ranks: torch.Tensor, k: int = 10) -> tuple[float, float]:
    """HitRatio@k and MRR@k from 0-based ranks of the positive."""
    hits, reciprocal = hits_and_reciprocal_ranks(ranks, k)
    return hits.mean().item(), reciprocal.mean().item()
