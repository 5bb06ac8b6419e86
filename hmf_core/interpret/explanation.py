"""A prediction's explanation in three readable views: by user cluster, by item cluster, and the
top cluster pairs, each with a "rest" bar and the share of the prediction its bars cover.

interpret.explain_pair gives eq. (11)'s m_u x m_i contributions P_is Q_jt <U_s, V_t>, which sum
to the prediction (plus one "bias" row with biases, and for a model whose groupings do not
reproduce its object vectors a "user own" and an "item own" row). Summed over item clusters they
give each user cluster's part (P_is <U_s, V0_j>), and the other way round; the biases become
their own bars (global, user, item) and the own offsets theirs ("own"), so every view's bars add
up to the prediction exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hmf_core.interpret.queries import OWN_PARTS, model_device
from hmf_core.models.interface import ClusterModel, grouping_word

VIEWS = {
    "by user cluster": ["user_cluster"],
    "by item cluster": ["item_cluster"],
    "top pairs": ["user_cluster", "item_cluster"],
}


@dataclass
class ExplanationView:
    bars: pd.DataFrame  # part, contribution, kind ("cluster" | "rest" | "own" | "bias")
    prediction: float
    shown: int  # cluster bars shown
    total: int  # cluster parts in all
    covered: float  # share of the absolute cluster contributions the shown bars carry

    @property
    def summary(self) -> str:
        return (
            f"{self.shown} of {self.total} parts shown; they carry {self.covered:.0%} of the "
            f"clusters' contributions (by absolute size); the bars add up to the prediction "
            f"{self.prediction:.3f}."
        )


def bias_terms(model: ClusterModel, user: int, item: int) -> dict[str, float]:
    """The global, user and item biases of one prediction ({} without biases): the model's
    bias_terms, named "<part> bias"."""
    with torch.no_grad():
        device = model_device(model)
        found = model.bias_terms(
            torch.tensor([user], device=device), torch.tensor([item], device=device)
        )
        return {f"{name} bias": float(part.detach().reshape(-1)[0]) for name, part in found.items()}


def explanation_views(
    pairs: pd.DataFrame,
    biases: dict[str, float] | None = None,
    top: int = 10,
    names: dict[str, dict] | None = None,
) -> dict[str, ExplanationView]:
    """`pairs`: interpret.explain_pair's table. `biases`: bias_terms(...), shown as bars in place
    of its single "bias" row. Each view: the `top` largest parts by size, a rest bar, biases.
    `names`: {"user_cluster": {id: name}, "item_cluster": {...}} labels parts by name."""
    part = pairs["user_cluster"].astype(str)
    clusters = pairs[~part.isin(["bias", *OWN_PARTS])]
    bias_rows = pairs[part == "bias"]
    own = dict(zip(part[part.isin(OWN_PARTS)], pairs.loc[part.isin(OWN_PARTS), "contribution"]))
    if biases is None and not bias_rows.empty:
        biases = {"bias": float(bias_rows["contribution"].sum())}
    biases = biases or {}
    prediction = float(clusters["contribution"].sum()) + sum(own.values()) + sum(biases.values())
    views = {}
    for name, keys in VIEWS.items():
        parts = clusters.groupby(keys, sort=False)["contribution"].sum().reset_index()
        parts = parts.reindex(parts["contribution"].abs().sort_values(ascending=False).index)
        shown = parts.head(top)
        # Only the bars shown are named (a view of m_u x m_i pairs has thousands of parts).
        shown = shown.assign(
            part=[_part(dict(zip(keys, row)), keys, names or {}) for row in shown[keys].to_numpy()]
        )
        rest = float(parts["contribution"].sum() - shown["contribution"].sum())
        bars = [
            {"part": p, "contribution": c, "kind": "cluster"}
            for p, c in zip(shown["part"], shown["contribution"])
        ]
        if len(parts) > len(shown):
            hidden = len(parts) - len(shown)
            bars.append({"part": f"rest ({hidden} more)", "contribution": rest, "kind": "rest"})
        bars += [{"part": n, "contribution": float(v), "kind": "own"} for n, v in own.items()]
        bars += [{"part": n, "contribution": v, "kind": "bias"} for n, v in biases.items()]
        mass = float(parts["contribution"].abs().sum())
        views[name] = ExplanationView(
            bars=pd.DataFrame(bars, columns=["part", "contribution", "kind"]),
            prediction=prediction,
            shown=len(shown),
            total=len(parts),
            covered=float(shown["contribution"].abs().sum()) / mass if mass > 0 else 1.0,
        )
    return views


def _part(row: dict, keys: list[str], names: dict[str, dict]) -> str:
    """ "user c3 (its name) × item c7 (its name)" for one part of a view."""
    labels = []
    for key in keys:
        side = key.split("_")[0]
        name = names.get(key, {}).get(row[key])
        labels.append(f"{side} c{row[key]}" + (f" ({name})" if name else ""))
    return " × ".join(labels)


# --- a prediction as a sum over views (models whose groupings are parallel views) -------------

BY_VIEW_COLUMNS = [
    "view",
    "user_cluster",
    "item_cluster",
    "user_probability",
    "item_probability",
    "inner_product",
    "contribution",
]


def explains_by_view(model: ClusterModel) -> bool:
    """Whether a prediction of `model` is explained view by view (`explain_by_view`): its
    groupings are views (interface.grouping_word), as many on the user side as on the item
    side, view v of users meeting view v of items."""
    counts = [len(model.groupings(side)) for side in ("user", "item")]
    return grouping_word(model) == "view" and counts[0] == counts[1] > 0


@torch.no_grad()
def explain_by_view(model: ClusterModel, user: int, item: int) -> pd.DataFrame:
    """One prediction as a sum over views of per-view cluster-pair terms, in float64:
    score = sum_v sum_st P_vs Q_vt <C_vs, D_vt> (+ the views' cross terms) + biases.

    Rows (BY_VIEW_COLUMNS): every (view, user cluster, item cluster) pair of the same view,
    largest |contribution| first; then an "across views" row, <u, v> minus the per-view terms,
    when it is not 0 (views that share coordinates, MFDMC's combine="sum"; with concatenated
    views each view owns a slice and it is 0); then a row per bias ("global bias", ...). The
    contribution column sums to model(user, item)."""
    if not explains_by_view(model):
        raise ValueError(
            f"a prediction is split by view only for a model whose groupings are views, as many "
            f"on both sides; this one has {grouping_word(model)}s"
        )
    for side, index in (("user", user), ("item", item)):
        rows = int(model.object_vectors(side).shape[0])
        if not 0 <= index < rows:
            raise ValueError(f"{side} index must be between 0 and {rows - 1}, got {index}")
    frames = []
    within = 0.0
    pairs = zip(model.groupings("user"), model.groupings("item"))
    for view, (users, items) in enumerate(pairs, start=1):
        p = users.membership[user].double()  # (m_u,)
        q = items.membership[item].double()  # (m_i,)
        inner = users.cluster_vectors.double() @ items.cluster_vectors.double().T  # (m_u, m_i)
        terms = (p[:, None] * q[None, :] * inner).cpu().numpy()  # (m_u, m_i)
        within += float(terms.sum())
        m_u, m_i = terms.shape
        frames.append(
            pd.DataFrame(
                {
                    "view": view,
                    "user_cluster": np.repeat(np.arange(m_u), m_i),
                    "item_cluster": np.tile(np.arange(m_i), m_u),
                    "user_probability": np.repeat(p.cpu().numpy(), m_i),
                    "item_probability": np.tile(q.cpu().numpy(), m_u),
                    "inner_product": inner.cpu().numpy().ravel(),
                    "contribution": terms.ravel(),
                }
            )
        )
    parts = pd.concat(frames, ignore_index=True)
    order = np.argsort(-np.abs(parts["contribution"].to_numpy()), kind="stable")
    parts = parts.iloc[order].reset_index(drop=True).astype({"view": object})
    u = model.object_vectors("user")[user].double()  # (d,)
    v = model.object_vectors("item")[item].double()  # (d,)
    extra = {}
    across = float(u @ v) - within
    if abs(across) > 1e-6:
        extra["across views"] = across
    extra.update(bias_terms(model, user, item))
    rows = [{"view": name, "contribution": value} for name, value in extra.items()]
    parts = pd.concat([parts, pd.DataFrame(rows, columns=BY_VIEW_COLUMNS)], ignore_index=True)
    return parts.astype({"user_cluster": "Int64", "item_cluster": "Int64"})


def view_totals(parts: pd.DataFrame) -> pd.DataFrame:
    """explain_by_view's table summed per view: part ("view 1", ..., "across views",
    "global bias", ...), contribution, kind ("view" | "across" | "bias"); they add up to the
    prediction."""
    is_view = parts["view"].map(lambda value: isinstance(value, (int, np.integer)))
    views = parts[is_view].groupby("view", sort=True)["contribution"].sum()
    rows = [
        {"part": f"view {view}", "contribution": float(c), "kind": "view"}
        for view, c in views.items()
    ]
    for name, value in zip(parts.loc[~is_view, "view"], parts.loc[~is_view, "contribution"]):
        kind = "across" if name == "across views" else "bias"
        rows.append({"part": name, "contribution": float(value), "kind": kind})
    return pd.DataFrame(rows, columns=["part", "contribution", "kind"])
