"""One readable name per cluster: the metadata values its members carry beyond chance, with
the evidence, and who its members are.

For a level's memberships P (objects x clusters, rows sum to 1; eq. 6 collapsed) and the
objects' metadata (users.csv / items.csv of a run, row k = object k), per categorical column
(hmf_core.data.columns; a multi-valued one like genres "Comedy|Drama" too), over the objects
that have a value in that column:

- share_c(v) = sum_o P[o, c] [o has v] / sum_o P[o, c]: the membership-weighted fraction of
  cluster c's members that carry v (a film with several genres carries each of them, so a
  column's shares may sum past 1); base(v) = the fraction of all objects that carry v; lift =
  share / base.
- The test: is c's count of v more than chance? Under the null, c's members are drawn from the
  data, so each carries v with probability base(v): the count is Binomial(n, base(v)) with n
  the cluster's effective size, taken as its soft size n = sum_o P[o, c] (its members' worth of
  weight; all its members when memberships are 0 / 1), and the observed count x = share * n =
  the weighted count. The one-sided p-value is P(X >= x) = I_base(x, n - x + 1) (the
  regularised incomplete beta, scipy.special.betainc: binom.sf(x - 1, n, base) for whole x and
  n, continuous between). Not Kish's (sum P)^2 / sum P^2: for weights <= 1 it is never below the
  soft size and counts a thousand objects each 5% in c as a thousand draws, right for the
  variance of the weighted share but more members than the name describes; the soft size errs
  towards naming less.
  Binomial rather than hypergeometric: the base rate includes the cluster itself, and the
  binomial's tail is the wider, so the test errs towards naming less.
- Multiple testing: every (cluster, column, value) pair of one call is a test; the p-values are
  adjusted together by Benjamini-Hochberg (scipy.stats.false_discovery_control) and a pair is
  over-represented when its adjusted value is at most FDR = 0.05 (of the values named, at most
  about one in twenty is expected to be a chance finding).
- A value is supported, and may enter the name, only when it is over-represented AND a real
  share of the cluster: share >= MIN_SHARE = 0.20 (one member in five: below that a value,
  however over-represented, describes few of the cluster, as Documentary at 5% of a cluster of
  dramas did; 20% rather than 15% because a film's several genres each count, so shares run
  high) and at least MIN_SUPPORT members' worth of weight (so one or two objects with a rare
  value never name a cluster). The TOP_VALUES supported values of largest lift are named.
- Its typical members are the objects with the largest membership probability P[o, c].

The name shows the evidence: "Documentary 31% (base 4%) · Drama 60% (base 45%) — Miss Potter,
Mrs. Miniver". A cluster with no supported value is named by its typical members and says so:
"no distinctive genres — Miss Potter, Mrs. Miniver" (the column's name when one column was
tested, "no distinctive metadata" for several). Without metadata, the typical members alone.
Names are one plain-text string built from user files: show them literally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hmf_core.data.columns import categorical_columns

MIN_SUPPORT = 3.0  # members' worth of membership weight a value needs in a cluster
MIN_SHARE = 0.20  # fraction of the cluster's members (weighted) a value needs
FDR = 0.05  # Benjamini-Hochberg false discovery rate over all (cluster, value) pairs tested
TOP_VALUES = 2
TOP_MEMBERS = 2
LIFT_COLUMNS = [
    "cluster",
    "column",
    "value",
    "weight",
    "share",
    "population_share",
    "lift",
    "effective_size",
    "p_value",
    "q_value",
]


def over_representation(count, size, base) -> np.ndarray:
    """One-sided binomial p-value P(X >= count), X ~ Binomial(size, base), for real-valued
    count and size (a soft cluster's effective count and size): I_base(count, size - count + 1),
    which is scipy.stats.binom.sf(count - 1, size, base) for whole numbers. 1 where count <= 0
    (nothing observed is never evidence), 0 where base is 0 and count is positive."""
    count, size, base = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (count, size, base))
    )
    from scipy.special import betainc  # here: the app's pages show saved names (import: 0.2 s)

    p = np.ones(count.shape)
    seen = count > 0
    tail = size[seen] - count[seen] + 1.0
    p[seen] = betainc(count[seen], np.maximum(tail, 1e-12), np.clip(base[seen], 0.0, 1.0))
    return p


def value_lift(probabilities: np.ndarray, metadata: pd.DataFrame | None) -> pd.DataFrame:
    """Long table, one row per (cluster, column, value): weight (membership-weighted count of
    the cluster's members carrying the value), share, population_share (base rate), lift,
    effective_size (soft size), p_value (one-sided binomial) and q_value (Benjamini-Hochberg over
    every row of the table). See the module docstring."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # (M, k)
    if metadata is None:
        return pd.DataFrame(columns=LIFT_COLUMNS)
    frames = []
    for column, found in categorical_columns(metadata.reset_index(drop=True)).items():
        rows, labels = found["rows"], found["labels"]
        values, codes = np.unique(labels.astype(str), return_inverse=True)
        objects, row_index = np.unique(rows, return_inverse=True)  # objects with a value
        carries = np.zeros((len(objects), len(values)))  # (objects, values): 1 if o has v
        carries[row_index, codes] = 1.0
        member = probabilities[objects]  # (objects, k)
        total = member.sum(0)  # (k,): cluster weight among the objects with a value
        weight = member.T @ carries  # (k, values): weighted count of members carrying v
        share = weight / np.maximum(total, 1e-12)[:, None]  # (k, values)
        population = carries.mean(0)  # (values,): base rate
        p_value = over_representation(weight, total[:, None], population)  # (k, values)
        clusters, value_index = np.meshgrid(
            np.arange(weight.shape[0]), np.arange(len(values)), indexing="ij"
        )
        frames.append(
            pd.DataFrame(
                {
                    "cluster": clusters.ravel(),
                    "column": column,
                    "value": values[value_index.ravel()],
                    "weight": weight.ravel(),
                    "share": share.ravel(),
                    "population_share": population[value_index.ravel()],
                    "lift": (share / population).ravel(),
                    "effective_size": total[clusters.ravel()],
                    "p_value": p_value.ravel(),
                }
            )
        )
    if not frames:
        return value_lift(probabilities, None)
    from scipy.stats import false_discovery_control  # here: importing scipy.stats takes 0.7 s

    table = pd.concat(frames, ignore_index=True)
    table["q_value"] = false_discovery_control(table["p_value"].to_numpy(), method="bh")
    return table


def supported_values(lift: pd.DataFrame) -> pd.DataFrame:
    """The rows of value_lift that may name their cluster: over-represented (q_value <= FDR,
    lift > 1), share >= MIN_SHARE and weight >= MIN_SUPPORT; largest lift first per cluster."""
    kept = lift[
        (lift["q_value"] <= FDR)
        & (lift["lift"] > 1.0)
        & (lift["share"] >= MIN_SHARE)
        & (lift["weight"] >= MIN_SUPPORT)
    ]
    return kept.sort_values(["cluster", "lift"], ascending=[True, False], kind="stable")


def percent(fraction: float) -> str:
    """A share as a short percentage: whole percents, one decimal below 1% ("0.4%")."""
    value = 100.0 * float(fraction)
    if value >= 0.995 or value == 0.0:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value >= 0.05 else "<0.1%"


BLOCK = 16  # clusters top_members ranks at a time


def top_members(probabilities: np.ndarray, top: int) -> np.ndarray:
    """Per cluster (column), the rows of its `top` largest probabilities, largest first, ties to
    the lower row: np.argsort(-P, axis=0, kind="stable")[:top], without sorting every column
    (a full sort of ML-20M's 138,493 x 200 took 3 s; a partition finds each column's `top`-th
    value in linear time, and only the rows at or above it are sorted). (top, k)."""
    probabilities = np.asarray(probabilities)  # (M, k)
    top = min(top, probabilities.shape[0])
    if top == 0:
        return np.zeros((0, probabilities.shape[1]), dtype=np.int64)
    order = np.empty((top, probabilities.shape[1]), dtype=np.int64)
    # A block of clusters at a time, each cluster's probabilities contiguous and negated
    # (largest first): reading a column of the (M, k) table in place strode across it, and
    # one contiguous copy of the whole table cost seconds of fresh memory at ML-20M size.
    for start in range(0, probabilities.shape[1], BLOCK):
        columns = -np.ascontiguousarray(probabilities[:, start : start + BLOCK].T)  # (b, M)
        threshold = np.partition(columns, top - 1, axis=1)[:, top - 1]  # (b,) minus top-th
        for offset, column in enumerate(columns):
            rows = np.flatnonzero(column <= threshold[offset])  # ties included
            ranked = rows[np.argsort(column[rows], kind="stable")]
            order[:, start + offset] = ranked[:top]
    return order


def cluster_names(
    probabilities: np.ndarray,
    labels: pd.Series | np.ndarray,
    metadata: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cluster: cluster, name (see the module docstring), top_values (the supported
    values named, " · "-joined; empty when none), top_members, size (soft), members (argmax
    count). `labels`: the objects' display labels (titles), row k = object k."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # (M, k)
    labels = np.asarray(labels, dtype=object)
    k = probabilities.shape[1]
    lift = value_lift(probabilities, metadata)
    tested = list(dict.fromkeys(lift["column"]))
    best = supported_values(lift)
    order = top_members(probabilities, TOP_MEMBERS)  # (TOP_MEMBERS, k)
    argmax_counts = np.bincount(probabilities.argmax(1), minlength=k)
    rows = []
    for cluster in range(k):
        picked = best[best["cluster"] == cluster].drop_duplicates("value").head(TOP_VALUES)
        members = ", ".join(str(labels[o]) for o in order[:, cluster])
        evidence = [
            f"{r.value} {percent(r.share)} (base {percent(r.population_share)})"
            for r in picked.itertuples()
        ]
        if evidence:
            head = " · ".join(evidence)
        elif tested:
            head = f"no distinctive {tested[0] if len(tested) == 1 else 'metadata'}"
        else:
            head = ""
        rows.append(
            {
                "cluster": cluster,
                "name": f"{head} — {members}" if head else members,
                "top_values": " · ".join(picked["value"]),
                "top_members": members,
                "size": float(probabilities[:, cluster].sum()),
                "members": int(argmax_counts[cluster]),
            }
        )
    return pd.DataFrame(rows)


def _named(probabilities: np.ndarray, names: dict[int, str]) -> pd.DataFrame:
    """cluster, name and size (soft, as cluster_names sums it: in float64) of one level's
    clusters, a column at a time (no float64 copy of the whole (M, k) table)."""
    clusters = range(probabilities.shape[1])
    sizes = [float(np.asarray(probabilities[:, c], dtype=np.float64).sum()) for c in clusters]
    return pd.DataFrame(
        {"cluster": list(clusters), "name": [names[c] for c in clusters], "size": sizes}
    )


def hierarchy_tree(
    levels: list[np.ndarray],
    connections: list[np.ndarray],
    labels: pd.Series | np.ndarray,
    metadata: pd.DataFrame | None = None,
    top: int = 12,
    root: str = "all",
    members: int = 0,
    names: list[dict[int, str]] | None = None,
) -> pd.DataFrame:
    """A side's clusters as a tree for an icicle / sunburst chart: id, parent, name, size,
    level. `levels[l-1]`: P(object -> level-l cluster) (M, m_l); `connections[l-1]`: S(C_l)
    (m_{l-1}, m_l). A cluster's parent is its most probable cluster one level up; at each level
    only the `top` largest clusters (soft size) under each parent are kept, the rest of that
    parent's weight goes into one "other" node, so the chart stays readable. `members` > 0: under
    each level-1 cluster kept, its `members` most probable objects (level -1 rows). `names`:
    each level's {cluster: name} where they are known already (the maps job saved them), so
    they are not worked out again from the metadata."""
    depth = len(levels)
    if names is None:
        names = [cluster_names(p, labels, metadata) for p in levels]  # per level
    else:
        names = [_named(p, known) for p, known in zip(levels, names, strict=True)]
    rows = [{"id": root, "parent": "", "name": root, "size": float(len(labels)), "level": 0}]
    kept: dict[tuple[int, int], str] = {}
    for level in range(depth, 0, -1):  # coarsest first: parents before children
        table = names[level - 1]
        if level == depth:
            parents = np.full(len(table), root, dtype=object)
        else:
            up = np.asarray(connections[level]).argmax(1)  # (m_l,): parent at level + 1
            parents = np.array([kept.get((level + 1, int(p))) for p in up], dtype=object)
        table = table.assign(parent=parents).dropna(subset=["parent"])
        for parent, group in table.groupby("parent", sort=False):
            group = group.sort_values("size", ascending=False)
            for record in group.head(top).to_dict("records"):
                node = f"L{level}:{record['cluster']}"
                kept[level, int(record["cluster"])] = node
                rows.append(
                    {
                        "id": node,
                        "parent": parent,
                        "name": f"c{record['cluster']} {record['name']}",
                        "size": record["size"],
                        "level": level,
                    }
                )
            rest = group.iloc[top:]
            if len(rest):
                rows.append(
                    {
                        "id": f"L{level}:other:{parent}",
                        "parent": parent,
                        "name": f"{len(rest)} smaller clusters",
                        "size": float(rest["size"].sum()),
                        "level": level,
                    }
                )
    rows += _member_rows(levels[0], labels, kept, members) if depth and members else []
    return pd.DataFrame(rows)


def most_probable(column: np.ndarray, count: int) -> np.ndarray:
    """The positions of `column`'s `count` largest values, largest first, ties by position: what
    a stable argsort of -column gives, without sorting all of it (12 clusters x 138,000 users
    took 0.15 s). No position for a count of 0 or less."""
    if count <= 0:
        return np.empty(0, dtype=np.intp)
    if count >= len(column) or not np.isfinite(column).all():
        return np.argsort(-column, kind="stable")[:count]
    cutoff = np.partition(column, len(column) - count)[len(column) - count]  # count-th largest
    candidates = np.flatnonzero(column >= cutoff)  # ascending: ties stay in position order
    return candidates[np.argsort(-column[candidates], kind="stable")][:count]


def _member_rows(
    membership: np.ndarray, labels, kept: dict[tuple[int, int], str], members: int
) -> list[dict]:
    """The `members` most probable objects of every level-1 cluster drawn (level -1 rows,
    size = the object's probability): a cluster zoomed into in the icicle shows its typical
    members, not an empty box. `membership`: P(object -> level-1 cluster) (M, m_1)."""
    labels = np.asarray(labels, dtype=object)
    rows = []
    for (level, cluster), node in kept.items():
        if level != 1:
            continue
        column = np.asarray(membership[:, cluster], dtype=np.float64)  # (M,)
        for obj in most_probable(column, members):
            rows.append(
                {
                    "id": f"{node}:member:{obj}",
                    "parent": node,
                    "name": str(labels[obj]),
                    "size": float(column[obj]),
                    "level": -1,
                }
            )
    return rows


def drawn_tree(tree: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """hierarchy_tree without its folded "smaller clusters" nodes, ready for an icicle with
    branchvalues "remainder": leaves carry their size and every parent is the sum of its
    children drawn. A cluster's member rows (level -1) share its size in proportion to their
    probabilities, so that they fill it when it is zoomed into. Returns the frame and the
    share of the objects' weight it shows."""
    kept = tree[~tree["id"].str.contains(":other:", regex=False)].copy()
    has_children = kept["id"].isin(kept["parent"])
    top = kept[kept["parent"] == kept.loc[kept["level"] == 0, "id"].iloc[0]]
    root_size = float(tree.loc[tree["level"] == 0, "size"].iloc[0])
    shown = float(top["size"].sum()) / root_size if root_size > 0 else 0.0
    kept["value"] = kept["size"].where(~has_children, 0.0)
    member = kept["level"] == -1
    if member.any():
        cluster_size = kept.set_index("id")["size"]
        parents = kept.loc[member, "parent"]
        share = kept.loc[member, "size"] / kept.loc[member].groupby("parent")["size"].transform(
            "sum"
        ).clip(lower=1e-12)
        kept.loc[member, "value"] = share * cluster_size.reindex(parents).to_numpy()
    return kept, shown
