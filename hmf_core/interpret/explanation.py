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

import pandas as pd
import torch

from hmf_core.interpret.queries import OWN_PARTS, model_device
from hmf_core.models.interface import ClusterModel

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
