"""The Train page's MFDMC knobs (family "mfdmc"): the views and their centres, the loss terms,
pruning. Shown in place of HMF's depth and cluster counts, which MFDMC does not read.

Widget keys start with ``train_``; KNOBS maps each to its TrainSettings field, except pruning,
which is two widgets (whether, and from which epoch) for one field (prune_from, -1 = never).
"""

from __future__ import annotations

import streamlit as st

from hmf_core import DEFAULT_PRESET, TrainSettings, with_preset

KEEP = {"persist_state": "session"}
PRESET_KEY = "train_preset"  # dashboard.recipe's picker; it opens on hmf_core.DEFAULT_PRESET
DEFAULTS = TrainSettings()
COMBINES = ("concat", "sum")
COMBINE_LABELS = {"concat": "concat: a slice each", "sum": "sum: added"}
KNOBS = {  # widget key -> TrainSettings field (pruning: see knob_values)
    "train_views": "views",
    "train_user_centres": "user_centres",
    "train_item_centres": "item_centres",
    "train_view_combine": "view_combine",
    "train_spread_weight": "spread_weight",
    "train_spread_margin": "spread_margin",
    "train_proximity_weight": "proximity_weight",
    "train_view_entropy_weight": "view_entropy_weight",
    "train_prune_threshold": "prune_threshold",
    "train_min_centres": "min_centres",
}
RANGES = {  # widget key -> (lowest, highest) its number input accepts
    "train_views": (1, 64),
    "train_user_centres": (1, 1000),
    "train_item_centres": (1, 1000),
    "train_spread_weight": (0.0, 10.0),
    "train_spread_margin": (0.0, 100.0),
    "train_proximity_weight": (0.0, 10.0),
    "train_view_entropy_weight": (0.0, 10.0),
    "train_prune_from": (0, 5000),
    "train_prune_threshold": (0.0, 1.0),
    "train_min_centres": (1, 1000),
}
FLOATS = {key for key, (low, _) in RANGES.items() if isinstance(low, float)}
PRUNE_FROM = 40  # the epoch shown when pruning is off (the method note's start)


def knob_values(settings: dict) -> dict:
    """The widget values that show these settings' MFDMC fields (a settings.json, or asdict
    of a TrainSettings); a field missing keeps the widget's value."""
    values = {key: settings[field] for key, field in KNOBS.items() if field in settings}
    if "prune_from" in settings:
        start = settings["prune_from"]
        values["train_prune"] = isinstance(start, int) and start >= 0
        values["train_prune_from"] = start if values["train_prune"] else PRUNE_FROM
    return values


def _number(column, label: str, key: str, help: str, **options):
    low, high = RANGES[key]
    step = options.pop("step", 1 if isinstance(low, int) else 0.01)
    return column.number_input(
        label, low, high, step=step, key=key, help=help, **_first(key), **options, **KEEP
    )


def _first(key: str) -> dict:
    """value= for a widget the session does not hold yet: the chosen preset's for MFDMC
    (dashboard.recipe.apply_preset writes them in when the family or the preset changes)."""
    if key in st.session_state:
        return {}
    preset = st.session_state.get(PRESET_KEY) or DEFAULT_PRESET
    return {"value": knob_values(vars(with_preset(preset, family="mfdmc")))[key]}


def mfdmc_fields() -> dict:
    """The views, centres and how views combine; then, in an expander, the loss terms and
    pruning. Returns TrainSettings fields."""
    left, middle, right = st.columns(3)
    views = _number(
        left,
        "Views",
        "train_views",
        "V: how many separate clusterings each side gets. With concat each view owns a slice of "
        "dim / V of the latent space (the dimension must divide by V).",
    )
    user_centres = _number(
        middle,
        "User centres per view",
        "train_user_centres",
        "K0: user centres each view starts with; pruning removes the weak ones.",
    )
    item_centres = _number(
        right,
        "Item centres per view",
        "train_item_centres",
        "K0: item centres each view starts with; pruning removes the weak ones.",
    )
    combine = st.segmented_control(
        "Combine views",
        COMBINES,
        required=True,
        key="train_view_combine",
        format_func=COMBINE_LABELS.get,
        help="concat: a view's centres live in its own slice of the latent space, so views do "
        "not mix (the method note's default). sum: every view spans the whole space and the "
        "views' vectors are added.",
        **({} if "train_view_combine" in st.session_state else {"default": DEFAULTS.view_combine}),
        **KEEP,
    )
    fields = {
        "views": int(views),
        "user_centres": int(user_centres),
        "item_centres": int(item_centres),
        "view_combine": combine,
    }
    with st.expander("MFDMC loss terms and pruning"):
        fields |= _loss_fields() | _pruning_fields()
    return fields


def _loss_fields() -> dict:
    """The spread, proximity and entropy terms' weights (0 = off) and the spread's margin."""
    left, right = st.columns(2)
    spread = _number(
        left,
        "Spread weight",
        "train_spread_weight",
        "Weight of the spread term, which pushes a view's centres apart when closer than the "
        "margin; 0 = off.",
    )
    margin = _number(
        right,
        "Spread margin",
        "train_spread_margin",
        "rho: two centres of a view closer than this are pushed apart.",
        step=0.1,
    )
    proximity = _number(
        left,
        "Proximity weight",
        "train_proximity_weight",
        "Weight of the proximity term, which pulls each user's or item's view vector towards "
        "the centres it belongs to; 0 = off.",
    )
    entropy = _number(
        right,
        "View entropy weight",
        "train_view_entropy_weight",
        "Weight of each view's membership entropy (divided by log K): larger = each object "
        "leans on fewer centres, crisper clusters; 0 = off.",
    )
    return {
        "spread_weight": float(spread),
        "spread_margin": float(margin),
        "proximity_weight": float(proximity),
        "view_entropy_weight": float(entropy),
    }


def _pruning_fields() -> dict:
    """Whether and from which epoch weak centres are pruned, the threshold, the minimum."""
    prune = st.checkbox(
        "Prune weak centres",
        key="train_prune",
        help="At the end of each epoch from the start epoch on, a centre whose mean weight over "
        "all users (or items) is below threshold / K is removed for good.",
        **_first("train_prune"),
        **KEEP,
    )
    left, middle, right = st.columns(3)
    start = _number(
        left,
        "Pruning starts at epoch",
        "train_prune_from",
        "First epoch (counted from 0) that prunes; a late start lets the centres settle first.",
        disabled=not prune,
    )
    threshold = _number(
        middle,
        "Pruning threshold",
        "train_prune_threshold",
        "theta: prune a centre whose mean weight is below theta / K, K the view's active centres.",
        step=0.05,
        disabled=not prune,
    )
    least = _number(
        right,
        "Min centres",
        "train_min_centres",
        "A view keeps at least this many centres, however weak.",
        disabled=not prune,
    )
    return {
        "prune_from": int(start) if prune else -1,
        "prune_threshold": float(threshold),
        "min_centres": int(least),
    }
