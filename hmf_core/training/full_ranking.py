"""Top-K metrics over the full ranking: NDCG@K, Recall@K and Precision@K (K = 10, 20) of every
item a user has not interacted with, the protocol of RecBole, LensKit and cornac (beside the
paper's 1 positive + 99 sampled negatives, hmf_core.training.metrics).

Definitions (binary relevance, RecBole's and cornac's conventions):

- Candidates: every item of the split's catalogue except those the user has in training and
  validation (the test stage: both are known when the test is taken). Their scores are set to
  -inf; the K highest of the rest are the user's list (ties: torch.topk's order).
- Relevant: ranking runs, the user's test positives; rating runs (ranked by predicted rating),
  the user's test items rated >= the threshold `relevance_threshold` gives: the run's
  positive_threshold when it has one, else 80% of the highest training rating (4 on a 1-5
  scale). A relevant item the user also has in training or validation cannot be recommended
  and is not counted.
- Users with no relevant test item are skipped (not counted as 0); `full_ranking_users` says
  how many were evaluated. Each metric is the mean over those users.
- Precision@K = hits in the top K / K (K even when fewer than K candidates are left).
- Recall@K = hits in the top K / #relevant (RecBole and cornac; LensKit's min(K, #relevant)
  variant is not used).
- NDCG@K = DCG@K / IDCG@K, DCG@K = sum over the top K of rel_i / log2(i + 1) (i from 1), IDCG
  the DCG of min(K, #relevant) hits in the first places.

Computed once after training on the best checkpoint: users in chunks of about
CHUNK_ELEMENTS / n_items rows, each chunk one (B, N) score matrix (HMF.score_all), seen items
masked, torch.topk of the largest K, then every metric from the (B, K) hit matrix at once.

torchmetrics' RetrievalNormalizedDCG / RetrievalRecall / RetrievalPrecision are the reference
in tests/test_full_ranking.py (equal to 1e-6 on random data), not the computation: they take
one flat (user, item) row per score, so a full ranking is U x N rows at once (ML-20M: 138k x
27k = 3.7G scores, 15 GB of float32 before their index tensors), and they sort and score each
user in a Python loop. Measured (1 thread, shared 2-core CPU): on ML-100K's temporal split,
torchmetrics' NDCG@10 alone 0.23 s, this module's six metrics 0.01 s; an ML-1M-size model
(6,040 users x 3,706 items, every user evaluated) 0.9 s here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

KS = (10, 20)
MEASURES = ("ndcg", "recall", "precision")
LABELS = {"ndcg": "NDCG", "recall": "Recall", "precision": "Precision"}
# Scores per chunk: 2^24 float32 = 64 MB (ML-20M's 27k items: ~600 users a chunk).
CHUNK_ELEMENTS = 1 << 24
USERS_KEY = "full_ranking_users"  # how many users were evaluated (had a relevant test item)
THRESHOLD_KEY = "full_ranking_threshold"  # rating runs: the relevance threshold used


def metric_names(stage: str = "test", ks: tuple[int, ...] = KS) -> list[str]:
    """The keys in test_metrics.json: test_ndcg@10_full, test_recall@10_full, ..."""
    return [f"{stage}_{measure}@{k}_full" for k in ks for measure in MEASURES]


def is_full_ranking(name: str) -> bool:
    return name.endswith("_full")


def label(name: str) -> str:
    """'test_ndcg@10_full' -> 'NDCG@10 (all items)'."""
    measure, k = name.removesuffix("_full").split("@")
    measure = measure.rsplit("_", 1)[-1]
    return f"{LABELS.get(measure, measure)}@{k} (all items)"


def relevance_threshold(
    task: str, train_ratings: np.ndarray, positive_threshold: float | None = None
) -> float | None:
    """Ranking runs: None (every test row is a positive). Rating runs: the run's
    positive_threshold, else 80% of the highest training rating (4 on a 1-5 scale)."""
    if task == "ranking":
        return None
    if positive_threshold is not None:
        return float(positive_threshold)
    return 0.8 * float(np.max(train_ratings))


class UserItems:
    """Each user's items as compressed rows: `items[pointers[u]:pointers[u + 1]]`."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_users: int):
        order = torch.argsort(users, stable=True)
        self.items = items[order]  # (P,) grouped by user
        counts = torch.bincount(users, minlength=n_users)  # (U,)
        self.pointers = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (U+1,)

    def counts(self, who: torch.Tensor) -> torch.Tensor:
        return self.pointers[who + 1] - self.pointers[who]  # (B,)

    def mask(self, who: torch.Tensor, n_items: int) -> torch.Tensor:
        """(B, N) bool: True where row b's user `who[b]` has the item."""
        counts = self.counts(who)  # (B,)
        rows = torch.repeat_interleave(torch.arange(len(who), device=who.device), counts)  # (P,)
        starts = torch.repeat_interleave(self.pointers[who], counts)  # (P,)
        offsets = torch.repeat_interleave(counts.cumsum(0) - counts, counts)  # (P,)
        positions = starts + torch.arange(len(rows), device=who.device) - offsets  # (P,)
        mask = torch.zeros(len(who), n_items, dtype=torch.bool, device=who.device)
        mask[rows, self.items[positions]] = True
        return mask


def metrics_from_hits(hits: torch.Tensor, n_relevant: torch.Tensor, k: int) -> dict:
    """Per-user NDCG@k, Recall@k and Precision@k, (B,) each, from the (B, >=k) 0/1 matrix of
    whether the item at each place of the ranked list is relevant, and each user's count of
    relevant items (>= 1)."""
    top = hits[:, :k].double()  # (B, k)
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=hits.device))
    dcg = (top * discount[: top.shape[1]]).sum(1)  # (B,)
    ideal = torch.cumsum(discount, 0)[(n_relevant.clamp(max=k) - 1)]  # (B,) IDCG@k
    found = top.sum(1)  # (B,)
    return {"ndcg": dcg / ideal, "recall": found / n_relevant.double(), "precision": found / k}


@torch.no_grad()
def full_ranking_metrics(
    score_all,
    n_users: int,
    n_items: int,
    seen: tuple[torch.Tensor, torch.Tensor],
    relevant: tuple[torch.Tensor, torch.Tensor],
    ks: tuple[int, ...] = KS,
    stage: str = "test",
    chunk_elements: int = CHUNK_ELEMENTS,
) -> dict:
    """Mean NDCG / Recall / Precision @ each k over the users with a relevant item, by the
    module docstring's rules. `score_all(users (B,)) -> (B, N)` scores; `seen` and `relevant`
    are (users, items) pairs of the known interactions and of the relevant test items."""
    device = seen[0].device
    seen_rows = UserItems(*seen, n_users)
    relevant_rows = UserItems(*relevant, n_users)
    counts = relevant_rows.counts(torch.arange(n_users, device=device))  # (U,)
    evaluated = torch.nonzero(counts).flatten()  # users with a relevant test item
    depth = min(max(ks), n_items)
    sums = {(measure, k): 0.0 for k in ks for measure in MEASURES}
    n_evaluated = 0
    chunk = max(1, chunk_elements // n_items)
    for start in range(0, len(evaluated), chunk):
        who = evaluated[start : start + chunk]  # (B,)
        scores = score_all(who).float()  # (B, N)
        known = seen_rows.mask(who, n_items)  # (B, N)
        scores = scores.masked_fill(known, float("-inf"))
        wanted = relevant_rows.mask(who, n_items) & ~known  # (B, N)
        n_relevant = wanted.sum(1)  # (B,)
        keep = n_relevant > 0  # relevant only where already seen: skipped
        top = torch.topk(scores[keep], depth, dim=1).indices  # (B', depth)
        hits = wanted[keep].gather(1, top)  # (B', depth)
        if depth < max(ks):  # fewer items than K: the missing places are no hits
            hits = torch.cat([hits, hits.new_zeros(len(hits), max(ks) - depth)], dim=1)
        for k in ks:
            for measure, values in metrics_from_hits(hits, n_relevant[keep], k).items():
                sums[(measure, k)] += float(values.sum())
        n_evaluated += int(keep.sum())
    result = {
        f"{stage}_{measure}@{k}_full": (sums[(measure, k)] / n_evaluated if n_evaluated else None)
        for k in ks
        for measure in MEASURES
    }
    result[USERS_KEY] = n_evaluated
    return result


def pairs(frame: pd.DataFrame, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """(users, items) of a split frame as long tensors."""
    return tuple(
        torch.as_tensor(frame[column].to_numpy(copy=True), dtype=torch.long, device=device)
        for column in ("user", "item")
    )


def split_full_ranking(
    scorer, split, task: str, positive_threshold: float | None = None, stage: str = "test"
) -> dict:
    """The full-ranking metrics of `scorer` (an HMF, or any score_all(users (B,)) -> (B, N)
    callable, e.g. another library's model) on a Split's test (or validation) rows: seen =
    training rows (and validation rows for the test stage), relevant = the stage's rows (rating
    runs: rated >= relevance_threshold). Adds `full_ranking_threshold` for rating runs."""
    if isinstance(scorer, torch.nn.Module):
        device = next(scorer.parameters()).device
        score_all = scorer.eval().score_all
    else:
        device, score_all = torch.device("cpu"), scorer
    known = [split.train] + ([split.val] if stage == "test" else [])
    seen = pairs(pd.concat(known, ignore_index=True), device)
    target = split.test if stage == "test" else split.val
    threshold = relevance_threshold(task, split.train["rating"].to_numpy(), positive_threshold)
    if threshold is not None:
        target = target[target["rating"].to_numpy() >= threshold]
    result = full_ranking_metrics(
        score_all, split.n_users, split.n_items, seen, pairs(target, device), stage=stage
    )
    if threshold is not None:
        result[THRESHOLD_KEY] = threshold
    return result


def full_ranking_table(parts: dict[str, dict]) -> pd.DataFrame:
    """One row per model whose test metrics hold full-ranking values: model, NDCG@10,
    Recall@10, Precision@10, ... @20 (labels people read), users evaluated. Empty when none."""
    rows = []
    for model, metrics in parts.items():
        full = {label(k): v for k, v in (metrics or {}).items() if is_full_ranking(k)}
        if full:
            rows.append({"model": model, **full, "users evaluated": metrics.get(USERS_KEY)})
    return pd.DataFrame(rows)


def rule_text(metrics: dict, task: str) -> str:
    """How the numbers were computed, in a sentence (the Metrics page's caption)."""
    if task == "ranking":
        relevant = "the user's test positives"
    else:
        threshold = metrics.get(THRESHOLD_KEY)
        shown = f"{threshold:g}" if isinstance(threshold, (int, float)) else "the threshold"
        relevant = f"the user's test items rated >= {shown}, ranked by predicted rating"
    return (
        "Top-K over every item the user has not rated in training or validation; relevant: "
        f"{relevant}. Users with no relevant test item are skipped; Recall@K divides by all "
        "of the user's relevant items, Precision@K by K (RecBole's and cornac's conventions)."
    )
