"""How many clusters the data supports: "Suggest sizes" (issue 17), before anything is trained.

The interpretable recipe starts its memberships from k-means on the spectral co-clustering
vectors of who rated what (hmf_core.models.warmstart.spectral_vectors). A cluster count is only
worth reading when that clustering comes back under another seed: for each candidate count k
(CANDIDATES, capped at half the side's objects), k-means clusters the same vectors under
`seeds` random states, and the runs' assignments are compared as a run's stability is
(hmf_core.interpret.stability.grouping_stability): the mean and lowest pairwise adjusted Rand
index (ARI), and the share of clusters that reappear (Jaccard >= 0.5) in every run; beside
them the smallest cluster any seed made and the seconds the count took.

Per side the suggestion is
- "stable": the largest k whose mean ARI reaches the side's TARGETS (issue 17's targets for
  trained clusters across seeds: 0.8 items, 0.6 users; training moves the start's clusters
  little, so a start below them is unlikely to give a model above), None when no k does;
- "readable": of the counts k <= READABLE (30, the issue's readable top level), the one with
  the highest mean ARI (the larger of two within TIE of each other), said to meet the target
  or not. Not the largest readable count that reaches the target: the ARI forgives a few
  extra splits, so on planted blocks the counts just above the planted one still reach it
  (4 planted groups: ARI 1.0 at k=4, 0.83 at 5, 0.72-0.81 at 6), while the peak is the
  planted count (tests/test_sizes.py).
The train flags follow: one level of `readable` clusters, or two levels (`stable` fine clusters
for accuracy under a `readable` top level) when the stable count is larger.

Ours: the vectors are computed once (the first seed's SVD, as the run with that seed would);
only k-means varies with the seed, through warmstart.kmeans itself (MiniBatchKMeans above
warmstart.LARGE objects); N_INIT is the seeded spectral start's one init.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from hmf_core.common.progress import Report, monotone
from hmf_core.models.interface import SIDES

# sklearn, scipy and the warm start are imported where they are used: the CLI's parser reads
# this module's defaults, and `hmf --help` imports neither.

CANDIDATES = (5, 10, 15, 20, 30, 50, 100, 200)
# Issue 17's targets for the pairwise ARI of top clusters across seeds ("items >= 0.8, users
# >= 0.6"): the suggested counts are those whose warm start already reaches them.
TARGETS = {"user": 0.6, "item": 0.8}
READABLE = 30  # the most clusters a person reads at the top level (issue 17, item 3)
SEEDS = 5  # k-means random states compared per count
N_INIT = 1  # k-means starts per seed: the seeded spectral start's (the start this predicts)
TIE = 0.01  # mean ARIs this close are equally stable: the larger count is suggested
DIM = 20  # the spectral vectors' rank: TrainSettings.dim's default (the model's dim)


def candidate_counts(n_objects: int, candidates=CANDIDATES) -> list[int]:
    """The candidates worth trying for `n_objects` objects: at least 2 clusters and at most half
    the objects (beyond that most clusters hold one object, and any two seeds agree on those)."""
    return sorted({int(k) for k in candidates if 2 <= int(k) <= n_objects // 2})


def kmeans_labels(vectors: np.ndarray, k: int, seed: int, n_init: int = N_INIT) -> np.ndarray:
    """k-means top cluster of each row of `vectors` (M, r), as the warm start clusters
    (warmstart.kmeans): (M,) int64."""
    from hmf_core.models.warmstart import kmeans

    return kmeans(vectors, k, seed, n_init)[0].astype(np.int64)


def count_row(vectors: np.ndarray, k: int, seeds: list[int], n_init: int = N_INIT) -> dict:
    """One candidate count k on one side's vectors (M, r): {"k", "mean_ari", "lowest_ari",
    "reappearing_share", "smallest", "seconds"}."""
    from hmf_core.interpret.stability import grouping_stability

    started = time.perf_counter()
    labels = [kmeans_labels(vectors, k, seed, n_init) for seed in seeds]  # [(M,)] per seed
    found = grouping_stability(labels, k)
    return {
        "k": k,
        "mean_ari": found["mean_ari"],
        "lowest_ari": min(pair["ari"] for pair in found["pairs"]),
        "reappearing_share": found["reappearing_share"],
        "smallest": int(min(np.bincount(one, minlength=k).min() for one in labels)),
        "seconds": time.perf_counter() - started,
    }


def suggestion(rows: list[dict], target: float, readable: int = READABLE) -> dict:
    """The side's suggestion from its table (see the module): {"stable", "readable",
    "readable_meets" (whether the readable count reaches the target), "target"}."""
    meeting = [row["k"] for row in rows if row["mean_ari"] >= target]
    small = [row for row in rows if row["k"] <= readable]
    chosen, meets = None, False
    if small:
        best = max(row["mean_ari"] for row in small)
        top = max((row for row in small if row["mean_ari"] >= best - TIE), key=lambda r: r["k"])
        chosen, meets = top["k"], top["mean_ari"] >= target
    return {
        "stable": max(meeting) if meeting else None,
        "readable": chosen,
        "readable_meets": meets,
        "target": target,
    }


def suggest_sizes(
    train: pd.DataFrame,
    n_users: int,
    n_items: int,
    dim: int = DIM,
    seeds: int = SEEDS,
    seed: int = 0,
    candidates=CANDIDATES,
    targets: dict | None = None,
    report: Report | None = None,
) -> dict:
    """Stability of k-means on the training rows' spectral vectors for every candidate count,
    per side, and the suggested counts: {"sides": {side: {"rows": [count_row...], **suggestion}},
    "seeds": [...], "dim", "seconds"}. `train`: the split's training rows (user and item codes);
    seeds seed .. seed+seeds-1 are compared; `report` hears each count as it is done."""
    from hmf_core.models.warmstart import spectral_vectors

    if seeds < 2:
        raise ValueError(f"suggesting sizes compares at least 2 seeds, not {seeds}")
    targets = {**TARGETS, **(targets or {})}
    started = time.perf_counter()
    report = monotone(report)
    report(0.0, "spectral vectors: the SVD of who rated what")
    vectors = dict(zip(SIDES, spectral_vectors(train, n_users, n_items, dim, seed)))
    runs = [seed + offset for offset in range(seeds)]
    counts = {side: candidate_counts(len(vectors[side]), candidates) for side in SIDES}
    total, done = max(1, sum(len(found) for found in counts.values())), 0
    sides = {}
    for side in SIDES:
        rows = []
        for k in counts[side]:
            report(0.05 + 0.95 * done / total, f"k-means: {side}s, {k} clusters, {seeds} seeds")
            rows.append(count_row(vectors[side], k, runs))
            done += 1
        sides[side] = {"rows": rows, **suggestion(rows, targets[side])}
    report(1.0, "k-means: done")
    return {"sides": sides, "seeds": runs, "dim": dim, "seconds": time.perf_counter() - started}


def suggested_shape(suggested: dict) -> dict:
    """Per side the depth and the cluster counts (level 1 first) the suggestion gives:
    {side: (depth, [counts])}; depth 0 (plain MF) for a side too small to cluster."""
    shape = {}
    for side in SIDES:
        found = suggested["sides"][side]
        readable, stable = found["readable"], found["stable"]
        if readable is None:
            shape[side] = (0, [1])
        elif stable is not None and stable > readable:
            shape[side] = (2, [stable, readable])
        else:
            shape[side] = (1, [readable])
    return shape


def size_flags(suggested: dict) -> str:
    """The `train` options of the suggested shape, e.g. "--user-depth 1 --user-clusters 20
    --item-depth 2 --item-clusters 50,20"."""
    shape = suggested_shape(suggested)
    return " ".join(
        f"--{side}-depth {depth} --{side}-clusters {','.join(map(str, counts))}"
        for side, (depth, counts) in shape.items()
    )


def size_table(suggested: dict) -> pd.DataFrame:
    """Both sides' rows as one table: side, k, mean ARI, lowest ARI, share reappearing,
    smallest cluster, seconds, and whether the mean ARI reaches the side's target."""
    frames = []
    for side in SIDES:
        found = suggested["sides"][side]
        frame = pd.DataFrame(
            found["rows"],
            columns=["k", "mean_ari", "lowest_ari", "reappearing_share", "smallest", "seconds"],
        )
        frames.append(frame.assign(meets_target=frame["mean_ari"] >= found["target"]))
        frames[-1].insert(0, "side", side)
    return pd.concat(frames, ignore_index=True)


def suggestion_lines(suggested: dict) -> list[str]:
    """The suggestion in words, a line per side, e.g. "users: 5 clusters at the top (mean ARI
    0.74 >= 0.6); 10 is the largest count that reaches 0.6 (a finer level)"."""
    lines = []
    for side in SIDES:
        found = suggested["sides"][side]
        readable, stable, target = found["readable"], found["stable"], found["target"]
        if readable is None:
            lines.append(f"{side}s: too few to cluster (no candidate count fits)")
            continue
        ari = next(row["mean_ari"] for row in found["rows"] if row["k"] == readable)
        mark = ">=" if found["readable_meets"] else "< the target"
        line = f"{side}s: {readable} clusters at the top (mean ARI {ari:.2f} {mark} {target:g})"
        if stable is None:
            line += f"; no count reaches {target:g}: the most stable readable one is shown"
        elif stable > readable:
            line += f"; {stable} is the largest count that reaches {target:g} (a finer level)"
        lines.append(line)
    return lines
