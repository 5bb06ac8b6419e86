"""Every cluster's stability as the cluster views show it (issue 17): a run's stored stability
(its stability.json, hmf_core.interpret.stability) read as a per-cluster table for one side and
grouping (HMF's level, MFDMC's view), and the columns a table of cluster pairs gains from it.

A cluster's "runs" counts the runs it is found in, itself included: R (every run) for a cluster
that reappears in all R - 1 other seeds, 1 for an unstable one, 0 for an empty one (no object
has it as its top cluster); numeric, so a table sorts by it. "stable" is runs == R.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hmf_core.interpret.stability import stored_grouping
from hmf_core.interpret.trust import MEASURE_STABILITY

TABLE_COLUMNS = ["cluster", "runs", "of_runs", "match_jaccard", "verdict", "stable"]
PAIR_SIDES = ("user", "item")


def _readable(stored: dict | None) -> bool:
    return bool(stored) and "error" not in stored and isinstance(stored.get("sides"), dict)


def cluster_stability(stored: dict | None, side: str, level: int) -> pd.DataFrame | None:
    """Per cluster of `side`'s grouping `level` in a stored stability: cluster, runs (the runs it
    is found in, itself included; 0 when empty), of_runs (R), match_jaccard (the mean over the
    other runs of its matched cluster's Jaccard overlap), verdict ("reappears in 3 of 3 runs",
    "unstable", "empty") and stable (found in every run). None when nothing is stored (not
    measured, or a damaged file) or it holds no such grouping."""
    found = stored_grouping(stored, side, level) if _readable(stored) else None
    if found is None:
        return None
    clusters = found["clusters"]
    runs = int(stored.get("runs") or len(found.get("cluster_counts") or []))
    found_in = [0 if c["members"] == 0 else int(c["reappears"]) + 1 for c in clusters]
    return pd.DataFrame(
        {
            "cluster": np.array([c["cluster"] for c in clusters], dtype=np.int64),
            "runs": np.array(found_in, dtype=np.int64),
            "of_runs": np.full(len(clusters), runs, dtype=np.int64),
            "match_jaccard": np.array([c["mean_jaccard"] for c in clusters], np.float64),
            "verdict": [str(c["verdict"]) for c in clusters],
            "stable": np.array([n == runs for n in found_in], dtype=bool),
        },
        columns=TABLE_COLUMNS,
    )


def pair_stability(
    pairs: pd.DataFrame,
    stored: dict | None,
    user_level: int | None = None,
    item_level: int | None = None,
) -> pd.DataFrame:
    """`pairs` (a table with user_cluster and item_cluster columns: interpret.queries.explain_pair
    at `user_level` / `item_level`, or explanation.explain_by_view, whose "view" column gives
    each row's grouping on both sides) with, per side, "{side}_runs" (nullable int) and
    "{side}_stability" (the verdict) of the row's cluster; empty where a row is no cluster (a
    bias, an "own" or "across views" part) or the stability does not cover it. Unchanged
    when nothing is stored."""
    if not _readable(stored):
        return pairs
    out = pairs.copy()
    for side, level in zip(PAIR_SIDES, (user_level, item_level)):
        if "view" in pairs.columns:
            groupings = pairs["view"].map(lambda g: int(g) if _is_number(g) else -1)
        else:
            groupings = pd.Series(-1 if level is None else level, index=pairs.index)
        clusters = pairs[f"{side}_cluster"].map(lambda c: int(c) if _is_number(c) else -1)
        runs = pd.Series(pd.NA, index=pairs.index, dtype="Int64")
        verdicts = pd.Series([None] * len(pairs), index=pairs.index, dtype=object)
        for grouping in sorted(set(groupings) - {-1}):
            table = cluster_stability(stored, side, int(grouping))
            if table is None:
                continue
            rows = (groupings == grouping) & clusters.between(0, len(table) - 1)
            found = clusters[rows].to_numpy()  # (rows,): positions in the table
            runs[rows] = table["runs"].to_numpy()[found]
            verdicts[rows] = table["verdict"].to_numpy(object)[found]
        out[f"{side}_runs"] = runs
        out[f"{side}_stability"] = verdicts
    return out


def _is_number(value) -> bool:
    """An integer cluster or grouping number (not "bias", None or NA)."""
    if isinstance(value, (bool, np.bool_)) or value is None or value is pd.NA:
        return False
    return isinstance(value, (int, np.integer))


def stability_note(stored: dict | None, run_dir=None) -> str:
    """One line for a cluster view where no stability is shown: how to measure it (the run's
    own folder in the command when given), or that stability.json is unreadable and why."""
    if stored and "error" in stored:
        return f"Stability unreadable ({stored['error']}); measure it again on the Metrics page."
    how = MEASURE_STABILITY
    if run_dir is not None:
        how = how.replace("RUN_DIR", str(run_dir))
    return f"Stability across seeds not measured: {how}."
