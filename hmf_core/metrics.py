"""Evaluation metrics, as the paper (section 4.3)."""

from __future__ import annotations

import math

import torch


def rmse(squared_error_sum: float, count: int) -> float:
    return math.sqrt(squared_error_sum / max(1, count))


def positive_rank(candidate_scores: torch.Tensor) -> torch.Tensor:
    """Rank (0 = top) of the positive in column 0 among its candidates: (B, 1+K) -> (B,).

    Ties count against the positive, so a model that scores everything equal ranks last."""
    positive = candidate_scores[:, :1]  # (B, 1)
    return (candidate_scores[:, 1:] >= positive).sum(dim=1)  # (B,)


def hit_ratio_and_mrr(ranks: torch.Tensor, k: int = 10) -> tuple[float, float]:
    """HitRatio@k and MRR@k from 0-based ranks of the positive."""
    hits = ranks < k
    reciprocal = torch.where(hits, 1.0 / (ranks.float() + 1.0), torch.zeros_like(ranks.float()))
    return hits.float().mean().item(), reciprocal.mean().item()
