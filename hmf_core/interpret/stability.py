"""Cluster stability: do models trained on the same data with other seeds find the same
clusters? Pure numpy/scipy/sklearn over top-cluster assignments (each object's most probable
cluster, the argmax of a grouping's membership); hmf_core.runs.stability trains the extra seeds
and stores the result as a run's stability.json.

Per side and grouping ("level"), for R runs (run 0 the reference, the run being shown):
- the adjusted Rand index (ARI) of every pair of runs' assignments and its mean: 1 for the same
  partition under any relabelling, about 0 for unrelated partitions;
- each reference cluster matched one-to-one to a cluster of every other run by the Hungarian
  method (scipy.optimize.linear_sum_assignment) on the Jaccard overlap of their members
  (|A n B| / |A u B|, on top-cluster members);
- a reference cluster *reappears* in another run when its matched cluster's Jaccard is at least
  REAPPEAR_JACCARD (0.5: the two member sets share more objects than either holds alone, so no
  other cluster of that run can match it as well; the common threshold in cluster-stability
  work, e.g. Hennig 2007's "dissolved below 0.5");
- its verdict: "reappears in k of R runs" (counting itself) when it reappears in at least one
  other run, "unstable" when it reappears in none, "empty" when no object has it as its top
  cluster (nothing to match).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from hmf_core.models.interface import SIDES, ClusterModel

REAPPEAR_JACCARD = 0.5  # module docstring
UNSTABLE = "unstable"
EMPTY = "empty"


def top_clusters(model: ClusterModel) -> dict[str, list[np.ndarray]]:
    """Per side, each grouping's top cluster of every object: [(M,) int64, ...] for grouping 1,
    2, ...; [] for a side without clusters (plain MF)."""
    return {
        side: [
            grouping.membership.detach().argmax(dim=1).cpu().numpy().astype(np.int64)  # (M,)
            for grouping in model.groupings(side)
        ]
        for side in SIDES
    }


def cluster_counts(model: ClusterModel) -> dict[str, list[int]]:
    """Per side, each grouping's number of clusters."""
    return {side: [g.n_clusters for g in model.groupings(side)] for side in SIDES}


def jaccard_matrix(first: np.ndarray, second: np.ndarray, n_first: int, n_second: int):
    """Jaccard overlap of every cluster pair of two assignments of the same objects: (n_first,
    n_second); 0 where both clusters are empty."""
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)  # (M,), (M,)
    if first.shape != second.shape:
        raise ValueError(
            f"assignments cover different objects: {first.shape[0]} and {second.shape[0]}"
        )
    joint = np.bincount(first * n_second + second, minlength=n_first * n_second)
    overlap = joint.reshape(n_first, n_second).astype(np.float64)  # (n_first, n_second)
    union = overlap.sum(1)[:, None] + overlap.sum(0)[None, :] - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)


def match_clusters(first: np.ndarray, second: np.ndarray, n_first: int, n_second: int):
    """Hungarian matching of `first`'s clusters to `second`'s on member overlap: (partner (n_first,)
    int64, -1 for a cluster left unmatched when `second` has fewer clusters; its Jaccard
    (n_first,))."""
    jaccard = jaccard_matrix(first, second, n_first, n_second)
    rows, columns = linear_sum_assignment(jaccard, maximize=True)
    partner = np.full(n_first, -1, np.int64)
    partner[rows] = columns
    overlap = np.zeros(n_first)
    overlap[rows] = jaccard[rows, columns]
    return partner, overlap


def grouping_stability(
    assignments: list[np.ndarray], n_clusters: int, threshold: float = REAPPEAR_JACCARD
) -> dict:
    """Stability of one grouping over R >= 2 runs' assignments (run 0 the reference, with
    `n_clusters` clusters; cluster numbers of every run below `n_clusters`)."""
    if len(assignments) < 2:
        raise ValueError(f"stability needs at least 2 runs, got {len(assignments)}")
    runs = len(assignments)
    if len({len(a) for a in assignments}) > 1:
        sizes = ", ".join(str(len(a)) for a in assignments)
        raise ValueError(f"assignments cover different objects: {sizes} objects")
    pairs = [
        {"runs": [a, b], "ari": float(adjusted_rand_score(assignments[a], assignments[b]))}
        for a, b in combinations(range(runs), 2)
    ]
    reference = assignments[0]
    matches = [
        match_clusters(reference, other, n_clusters, n_clusters) for other in assignments[1:]
    ]
    overlaps = np.stack([overlap for _, overlap in matches])  # (R-1, m)
    partners = np.stack([partner for partner, _ in matches])  # (R-1, m)
    sizes = np.bincount(reference, minlength=n_clusters)  # (m,)
    clusters = []
    for cluster in range(n_clusters):
        found = int((overlaps[:, cluster] >= threshold).sum())
        if sizes[cluster] == 0:
            verdict = EMPTY
        elif found == 0:
            verdict = UNSTABLE
        else:
            verdict = f"reappears in {found + 1} of {runs} runs"
        clusters.append(
            {
                "cluster": cluster,
                "members": int(sizes[cluster]),
                "reappears": found,  # in how many of the R-1 other runs
                "mean_jaccard": float(overlaps[:, cluster].mean()),
                "matched": partners[:, cluster].tolist(),  # its partner in runs 1..R-1
                "verdict": verdict,
            }
        )
    populated = [c for c in clusters if c["members"] > 0]
    everywhere = sum(c["reappears"] == runs - 1 for c in populated)
    return {
        "clusters": clusters,
        "pairs": pairs,
        "mean_ari": float(np.mean([pair["ari"] for pair in pairs])),
        "reappearing_share": everywhere / len(populated) if populated else None,
    }


def stability(
    runs: list[dict[str, list[np.ndarray]]],
    counts: dict[str, list[int]] | None = None,
    threshold: float = REAPPEAR_JACCARD,
) -> dict:
    """Stability of every side and grouping of R runs' top_clusters (run 0 the reference):
    {"threshold", "runs": R, "sides": {side: [grouping 1's grouping_stability + "level", ...]}}.
    `counts`: each grouping's number of clusters (cluster_counts of the reference model), so a
    cluster no object has as its top one is still listed (as "empty"); else the largest cluster
    number seen, plus one. Every run must have the reference's groupings over the same objects."""
    reference = runs[0]
    sides = {}
    for side in SIDES:
        levels = []
        for number in range(1, len(reference.get(side, [])) + 1):
            found = [run.get(side, []) for run in runs]
            if any(len(groupings) < number for groupings in found):
                raise ValueError(f"a run has no {side} level {number}: its settings differ")
            assignments = [groupings[number - 1] for groupings in found]
            seen = max(int(a.max(initial=-1)) for a in assignments) + 1
            n_clusters = counts[side][number - 1] if counts else seen
            if seen > n_clusters:
                raise ValueError(
                    f"{side} level {number}: a run has more than {n_clusters} clusters"
                )
            levels.append(
                {"level": number, **grouping_stability(assignments, n_clusters, threshold)}
            )
        sides[side] = levels
    return {"threshold": threshold, "runs": len(runs), "sides": sides}


def cluster_verdicts(stored: dict, side: str, level: int) -> list[str] | None:
    """The verdict of each level-`level` cluster of `side` in a stored stability (a run's
    stability.json), in cluster order; None when it holds no such level."""
    for found in (stored or {}).get("sides", {}).get(side, []):
        if found.get("level") == level:
            return [cluster["verdict"] for cluster in found["clusters"]]
    return None


def stability_summary(stored: dict) -> list[dict]:
    """One row per side and level of a stored stability: side, level, clusters, mean ARI, the
    lowest pairwise ARI, and the share of (non-empty) clusters that reappear in every run."""
    rows = []
    for side, levels in (stored or {}).get("sides", {}).items():
        for found in levels:
            aris = [pair["ari"] for pair in found["pairs"]]
            rows.append(
                {
                    "side": side,
                    "level": found["level"],
                    "clusters": len(found["clusters"]),
                    "mean_ari": found["mean_ari"],
                    "lowest_ari": min(aris) if aris else None,
                    "reappearing_share": found["reappearing_share"],
                }
            )
    return rows


def pair_agreement(first: dict[str, list[np.ndarray]], second: dict[str, list[np.ndarray]]):
    """ARI of two runs' top_clusters over the same objects, per side and level both have:
    [{"side", "level", "ari"}], and {"side", "level", "note"} where only one run has that level
    or the two cover different numbers of objects (then there is no ARI to give)."""
    rows = []
    for side in SIDES:
        ours, theirs = first.get(side, []), second.get(side, [])
        for number in range(1, max(len(ours), len(theirs)) + 1):
            row = {"side": side, "level": number}
            if number > min(len(ours), len(theirs)):
                which = "first" if number > len(ours) else "second"
                rows.append({**row, "note": f"the {which} run has no {side} level {number}"})
            elif len(ours[number - 1]) != len(theirs[number - 1]):
                sizes = f"{len(ours[number - 1])} vs {len(theirs[number - 1])}"
                rows.append({**row, "note": f"different object counts ({sizes} {side}s)"})
            else:
                ari = float(adjusted_rand_score(ours[number - 1], theirs[number - 1]))
                rows.append({**row, "ari": ari})
    return rows
