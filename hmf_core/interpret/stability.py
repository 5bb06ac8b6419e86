"""Cluster stability: do models trained on the same data with other seeds find the same
clusters? Pure numpy/scipy/sklearn over top-cluster assignments (each object's most probable
cluster, the argmax of a grouping's membership); hmf_core.runs.stability trains the extra seeds
and stores the result as a run's stability.json.

Per side and grouping ("level"; MFDMC's view v is "level" v), for R runs (run 0 the reference,
the run being shown):
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
Runs may keep different numbers of clusters in a grouping (MFDMC prunes centres during training,
so seeds end with different numbers): the ARI compares partitions of any sizes, the matching is
rectangular (a reference cluster without a partner gets Jaccard 0 there) and each level records
every run's count. Parallel groupings (views) are numbered arbitrarily by each seed, so each
view also records the other runs' best-agreeing view and its ARI (`best_partners`).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from hmf_core.models.interface import SIDES, ClusterModel

REAPPEAR_JACCARD = 0.5  # module docstring
UNSTABLE = "unstable"
EMPTY = "empty"


def top_clusters(model: ClusterModel) -> dict[str, list[np.ndarray]]:
    """Per side, each grouping's top cluster of every object: [(M,) int64, ...] for grouping 1,
    2, ...; [] for a side without clusters (plain MF)."""
    return {
        side: [grouping.top_clusters() for grouping in model.groupings(side)]  # (M,) each
        for side in SIDES
    }


def cluster_counts(model: ClusterModel) -> dict[str, list[int]]:
    """Per side, each grouping's number of clusters."""
    return {side: [g.n_clusters for g in model.groupings(side)] for side in SIDES}


def parallel_groupings(model: ClusterModel) -> bool:
    """Whether the model's groupings beyond the first are parallel (MFDMC's views: no links),
    so that another seed may find the same grouping under another number."""
    return any(
        len(found) > 1 and all(g.links is None for g in found[1:])
        for found in (model.groupings(side) for side in SIDES)
    )


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


def adjusted_rand(first, second) -> float:
    """sklearn's adjusted Rand index of two assignments. Imported here, not with this module:
    the app's pages import it to read saved verdicts, and importing sklearn.metrics takes
    about 1 s of a page's first visit."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(first, second))


def match_clusters(first: np.ndarray, second: np.ndarray, n_first: int, n_second: int):
    """Hungarian matching of `first`'s clusters to `second`'s on member overlap: (partner (n_first,)
    int64, -1 for a cluster left unmatched when `second` has fewer clusters; its Jaccard
    (n_first,))."""
    from scipy.optimize import linear_sum_assignment  # here, as sklearn in `adjusted_rand`

    jaccard = jaccard_matrix(first, second, n_first, n_second)
    rows, columns = linear_sum_assignment(jaccard, maximize=True)
    partner = np.full(n_first, -1, np.int64)
    partner[rows] = columns
    overlap = np.zeros(n_first)
    overlap[rows] = jaccard[rows, columns]
    return partner, overlap


def grouping_stability(
    assignments: list[np.ndarray],
    n_clusters: int | list[int],
    threshold: float = REAPPEAR_JACCARD,
) -> dict:
    """Stability of one grouping over R >= 2 runs' assignments (run 0 the reference). `n_clusters`:
    every run's number of clusters, or one number for all; runs may differ (MFDMC prunes
    centres, so seeds keep different numbers): the ARI takes partitions of any sizes, and a
    reference cluster left without a partner by a run with fewer clusters has Jaccard 0 there."""
    if len(assignments) < 2:
        raise ValueError(f"stability needs at least 2 runs, got {len(assignments)}")
    runs = len(assignments)
    counts = [int(n_clusters)] * runs if isinstance(n_clusters, int) else list(n_clusters)
    if len({len(a) for a in assignments}) > 1:
        sizes = ", ".join(str(len(a)) for a in assignments)
        raise ValueError(f"assignments cover different objects: {sizes} objects")
    pairs = [
        {"runs": [a, b], "ari": adjusted_rand(assignments[a], assignments[b])}
        for a, b in combinations(range(runs), 2)
    ]
    reference = assignments[0]
    matches = [
        match_clusters(reference, other, counts[0], count)
        for other, count in zip(assignments[1:], counts[1:])
    ]
    overlaps = np.stack([overlap for _, overlap in matches])  # (R-1, m)
    partners = np.stack([partner for partner, _ in matches])  # (R-1, m)
    sizes = np.bincount(reference, minlength=counts[0])  # (m,)
    clusters = []
    for cluster in range(counts[0]):
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
                "matched": partners[:, cluster].tolist(),  # its partner in runs 1..R-1 (-1: none)
                "verdict": verdict,
            }
        )
    populated = [c for c in clusters if c["members"] > 0]
    everywhere = sum(c["reappears"] == runs - 1 for c in populated)
    return {
        "clusters": clusters,
        "cluster_counts": counts,  # each run's number of clusters, run 0 first
        "pairs": pairs,
        "mean_ari": float(np.mean([pair["ari"] for pair in pairs])),
        "reappearing_share": everywhere / len(populated) if populated else None,
    }


def best_partners(reference: np.ndarray, others: list[np.ndarray]) -> dict:
    """For parallel groupings (MFDMC's views, which no seed numbers alike): the grouping of
    another run whose top clusters agree most with `reference`'s. `others`: one run's
    assignments of each of its groupings. {"level": its number (from 1), "ari"}."""
    aris = [adjusted_rand(reference, other) for other in others]
    best = int(np.argmax(aris))
    return {"level": best + 1, "ari": aris[best]}


def stability(
    runs: list[dict[str, list[np.ndarray]]],
    counts: dict[str, list[int]] | list[dict[str, list[int]]] | None = None,
    threshold: float = REAPPEAR_JACCARD,
    parallel: bool = False,
) -> dict:
    """Stability of every side and grouping of R runs' top_clusters (run 0 the reference):
    {"threshold", "runs": R, "sides": {side: [grouping 1's grouping_stability + "level", ...]}}.
    `counts`: each grouping's number of clusters, either the reference's (cluster_counts of its
    model; every other run then has at most as many) or a list of every run's (MFDMC's pruning
    leaves seeds with different numbers), so a cluster no object has as its top one is still
    listed (as "empty"); else the largest cluster number each run uses, plus one. Every run must
    have the reference's groupings over the same objects. `parallel`: the groupings are parallel
    (views, numbered arbitrarily by each seed): each level also gets "best_partners", per other
    run the grouping whose clusters agree most with it (best_partners)."""
    reference = runs[0]
    sides = {}
    for side in SIDES:
        levels = []
        for number in range(1, len(reference.get(side, [])) + 1):
            found = [run.get(side, []) for run in runs]
            if any(len(groupings) < number for groupings in found):
                raise ValueError(f"a run has no {side} level {number}: its settings differ")
            assignments = [groupings[number - 1] for groupings in found]
            n_clusters = _run_counts(assignments, counts, side, number)
            level = {"level": number, **grouping_stability(assignments, n_clusters, threshold)}
            if parallel:
                level["best_partners"] = [
                    best_partners(assignments[0], groupings) for groupings in found[1:]
                ]
            levels.append(level)
        sides[side] = levels
    return {"threshold": threshold, "runs": len(runs), "sides": sides}


def _run_counts(assignments: list[np.ndarray], counts, side: str, number: int) -> list[int]:
    """Every run's number of clusters at `side` grouping `number` (see stability's `counts`),
    checked against the cluster numbers each run's assignments use."""
    seen = [int(a.max(initial=-1)) + 1 for a in assignments]
    if counts is None:
        return seen
    if isinstance(counts, dict):  # the reference's: the others have at most as many
        given = [counts[side][number - 1]] * len(assignments)
    else:
        given = [run[side][number - 1] for run in counts]
    for run, (used, count) in enumerate(zip(seen, given)):
        if used > count:
            raise ValueError(
                f"{side} level {number}: run {run} uses cluster {used - 1} of {count} clusters"
            )
    return given


def stored_grouping(stored: dict | None, side: str, level: int) -> dict | None:
    """The record of `side`'s grouping `level` in a stored stability (a run's stability.json:
    its "clusters", "pairs", "mean_ari", ...), or None when it holds no such grouping."""
    for found in (stored or {}).get("sides", {}).get(side, []):
        if found.get("level") == level:
            return found
    return None


def cluster_verdicts(stored: dict, side: str, level: int) -> list[str] | None:
    """The verdict of each level-`level` cluster of `side` in a stored stability (a run's
    stability.json), in cluster order; None when it holds no such level."""
    found = stored_grouping(stored, side, level)
    return None if found is None else [cluster["verdict"] for cluster in found["clusters"]]


def stability_summary(stored: dict) -> list[dict]:
    """One row per side and level of a stored stability: side, level, clusters, mean ARI, the
    lowest pairwise ARI, and the share of (non-empty) clusters that reappear in every run; where
    the runs kept different numbers of clusters (MFDMC's pruning), "clusters_per_run" ("10/8/9",
    run 0 first); for parallel groupings (views), "best_partner_ari": the mean over the other
    runs of the ARI with their best-agreeing view (`best_partners`)."""
    rows = []
    for side, levels in (stored or {}).get("sides", {}).items():
        for found in levels:
            aris = [pair["ari"] for pair in found["pairs"]]
            row = {
                "side": side,
                "level": found["level"],
                "clusters": len(found["clusters"]),
                "mean_ari": found["mean_ari"],
                "lowest_ari": min(aris) if aris else None,
                "reappearing_share": found["reappearing_share"],
            }
            counts = found.get("cluster_counts") or []
            if len(set(counts)) > 1:
                row["clusters_per_run"] = "/".join(map(str, counts))
            partners = found.get("best_partners")
            if partners:
                row["best_partner_ari"] = float(np.mean([p["ari"] for p in partners]))
            rows.append(row)
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
                ari = adjusted_rand(ours[number - 1], theirs[number - 1])
                rows.append({**row, "ari": ari})
    return rows


def cross_agreement(
    first: dict[str, list[np.ndarray]],
    second: dict[str, list[np.ndarray]],
    words: tuple[str, str] = ("level", "level"),
) -> list[dict]:
    """pair_agreement for two runs whose groupings are of different kinds: `words` says what
    each run's groupings are ("level": HMF's nested levels, "view": MFDMC's parallel views).
    Same kind: grouping g against grouping g (pair_agreement), each row with its "pairing"
    ("level 1 vs level 1"). Levels against views: level 1 (the finest, each object's own
    clusters) against every view, a row each; every deeper level gets a note saying it has no
    counterpart among the views (they are parallel groupings of the objects, not groupings of
    level-1 clusters). Rows: {"side", "level" (the first run's number), "pairing", "ari" or
    "note"}."""
    if words[0] == words[1]:
        word = words[0]
        return [
            {**row, "pairing": f"{word} {row['level']} vs {word} {row['level']}"}
            for row in pair_agreement(first, second)
        ]
    rows = []
    runs = (first, second)
    levels_run = 0 if words[0] != "view" else 1  # which of the two has nested levels
    for side in SIDES:
        levels, views = runs[levels_run].get(side, []), runs[1 - levels_run].get(side, [])
        if not levels or not views:
            which = ("first", "second")[levels_run if not levels else 1 - levels_run]
            rows.append({"side": side, "note": f"the {which} run has no {side} clusters"})
            continue
        for view, grouping in enumerate(views, start=1):
            pairing = ("level 1", f"view {view}")[:: 1 if levels_run == 0 else -1]
            row = {"side": side, "level": 1 if levels_run == 0 else view}
            row["pairing"] = " vs ".join(pairing)
            if len(levels[0]) != len(grouping):
                sizes = f"{len(levels[0])} vs {len(grouping)}"
                rows.append({**row, "note": f"different object counts ({sizes} {side}s)"})
            else:
                rows.append({**row, "ari": adjusted_rand(levels[0], grouping)})
        for level in range(2, len(levels) + 1):
            which = ("first", "second")[levels_run]
            rows.append(
                {
                    "side": side,
                    "level": level if levels_run == 0 else None,
                    "pairing": f"level {level}",
                    "note": f"no counterpart: level {level} of the {which} run groups level "
                    f"{level - 1}'s clusters, and the other run's views are parallel groupings "
                    f"of the {side}s (only level 1 is compared with each view)",
                }
            )
    return rows
