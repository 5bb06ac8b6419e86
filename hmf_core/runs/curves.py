"""A run's per-epoch curves besides the loss and the validation metrics, read from its metrics
(RunDir.metrics(): one row per validated epoch) as tidy frames a page draws as they are:
MFDMC's active centres per view (the pruning timeline, active_{side}_view{v}) and a family's
own loss terms beside the loss (train_spread, train_proximity, train_entropy). A run that
logged none (HMF) gives empty frames."""

from __future__ import annotations

import re

import pandas as pd

ACTIVE_COLUMN = re.compile(r"active_(user|item)_view(\d+)")
LOSS = "train_loss"


def pruning_timeline(metrics: pd.DataFrame) -> pd.DataFrame:
    """Active centres per side, view and epoch: columns epoch, side ("user" / "item"), view
    (from 1), active; sorted by side, view, epoch. An epoch that did not log a view's count is
    left out; no rows when the run logged none."""
    found = {column: ACTIVE_COLUMN.fullmatch(column) for column in metrics.columns}
    rows = []
    for column, match in found.items():
        if match is None:
            continue
        kept = metrics[["epoch", column]].dropna()
        side, view = match.group(1), int(match.group(2))
        rows += [
            {"epoch": int(epoch), "side": side, "view": view, "active": int(round(value))}
            for epoch, value in zip(kept["epoch"], kept[column])
        ]
    table = pd.DataFrame(rows, columns=["epoch", "side", "view", "active"])
    order = table["side"].map({"user": 0, "item": 1})
    return (
        table.assign(order=order)
        .sort_values(["order", "view", "epoch"])
        .drop(columns="order")
        .reset_index(drop=True)
    )


def loss_term_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """The training loss and the family's own weighted loss terms (every other train_ column:
    MFDMC's spread, proximity, entropy) per epoch: columns epoch, term ("loss", "spread", ...),
    value. No rows when the run logged no term besides the loss; a NaN value (a diverged
    epoch) is left out."""
    terms = [c for c in metrics.columns if c.startswith("train_") and c != LOSS]
    if not terms:
        return pd.DataFrame(columns=["epoch", "term", "value"])
    long = metrics[["epoch", *(c for c in (LOSS, *terms) if c in metrics.columns)]].melt(
        id_vars="epoch", var_name="term", value_name="value"
    )
    long = long.dropna(subset=["value"])
    long["term"] = long["term"].str.removeprefix("train_")
    long["epoch"] = long["epoch"].astype(int)
    return long.reset_index(drop=True)
