"""A predicted rating as shown to a user: clipped to the data's rating range, as Surprise does
(a model's raw score can leave it: 5.45 on a 0.5-5 scale), with the clipping stated. The
explanation's parts add up to the raw score, so both are named. Training and the RMSE metrics
use the raw score (evaluation does not clip)."""

from __future__ import annotations

import numpy as np


def rating_scale(summary: dict) -> tuple[float, float] | None:
    """(lowest, highest) rating of a run's data (RunDir.data_summary()), or None when the
    summary has no range or the run ranks (implicit feedback: scores are not ratings)."""
    data = summary.get("data", summary)
    low, high = data.get("rating_min"), data.get("rating_max")
    if low is None or high is None or data.get("implicit") or not low < high:
        return None
    return float(low), float(high)


def on_scale(scores, scale: tuple[float, float] | None):
    """`scores` (a float or an array) clipped to `scale`; unchanged when scale is None."""
    if scale is None:
        return scores
    clipped = np.clip(scores, scale[0], scale[1])
    return float(clipped) if np.ndim(clipped) == 0 else clipped


def shown_prediction(score: float, scale: tuple[float, float] | None) -> str:
    """'3.412', or '5.00 (model 5.45, clipped to the 0.5-5 scale)' when the model's score
    lies outside the data's rating range."""
    shown = on_scale(score, scale)
    if shown == score:
        return f"{score:.3f}"
    return f"{shown:.2f} (model {score:.2f}, clipped to the {scale[0]:g}-{scale[1]:g} scale)"
