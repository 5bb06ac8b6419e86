"""The Train page's "Cluster recipe" controls: a preset, and every knob of it with a help text.

Choosing a preset writes its values into the knobs; a knob changed afterwards wins, and the run
records both the preset's name and every field (settings.json).
"""

from __future__ import annotations

import streamlit as st

from dashboard import mfdmc_form
from hmf_core import DEFAULT_PRESET, FAMILIES, PRESETS, WARM_STARTS, with_preset

KEEP = {"persist_state": "session"}
PRESET_LABELS = {
    "interpretable": "Interpretable (crisp clusters)",
    "paper": "Paper (as published)",
    "stable": "Stable (same clusters every seed, 25 to read)",
}
WARM_START_LABELS = {
    "spectral": "spectral: who rated what",
    "mf": "mf: k-means on a brief MF",
    "none": "none: random start",
    "spectral-consensus": "spectral-consensus: the same every seed",
    "mf-consensus": "mf-consensus: the same every seed",
}
KNOBS = {  # widget key -> TrainSettings field
    "train_warm_start": "warm_start",
    "train_warm_start_sharpness": "warm_start_sharpness",
    "train_logit_lr": "logit_lr",
    "train_entropy_weight": "entropy_weight",
    "train_init_std": "init_std",
    "train_use_bias": "use_bias",
}
FIELD_DEFAULTS = {"warm_start_sharpness": 0.8, "logit_lr": 1e-3}  # where a preset is silent
# The shape knobs (train_form's) a preset also writes: "stable" has its own, the others the
# library's defaults.
DEPTHS, COUNTS = ("user_depth", "item_depth"), ("user_clusters", "item_clusters")


def preset_knobs(preset: str, family: str) -> dict:
    """Widget key -> the value preset `preset` gives it for `family` (hmf_core's with_preset:
    MFDMC has its own recipe, and its own knobs)."""
    settings = with_preset(preset, family=family)
    values = {key: getattr(settings, field) for key, field in KNOBS.items()}
    values = {
        key: FIELD_DEFAULTS.get(KNOBS[key]) if value is None else value
        for key, value in values.items()
    }
    if family == "mfdmc":
        values |= mfdmc_form.knob_values(vars(settings))
    if "user_depth" not in FAMILIES[family].unused:  # the shape: "stable" sets HMF's own
        # (settings.preset_fields); another family that reads one (two-stage: one grouping per
        # side) gets TrainSettings' default shape back, not HMF's two levels
        values |= {f"train_{field}": getattr(settings, field) for field in DEPTHS}
        values |= {
            f"train_{field}": ",".join(map(str, getattr(settings, field))) for field in COUNTS
        }
    return values


def _family() -> str:
    return st.session_state.get("train_family") or "hmf"


def apply_preset() -> None:
    """The chosen preset's values, for the chosen family, into its knobs (on a change of
    either): a knob changed afterwards wins."""
    preset = st.session_state.get("train_preset") or DEFAULT_PRESET
    for key, value in preset_knobs(preset, _family()).items():
        st.session_state[key] = value


def _start(key: str, preset: str) -> dict:
    """The widget's first value (from the preset) unless the session already holds one."""
    if key in st.session_state:
        return {}
    value = preset_knobs(preset, _family())[key]
    return {"index": WARM_STARTS.index(value)} if key == "train_warm_start" else {"value": value}


def recipe_controls(lr: float, family: str) -> dict:
    """The preset and the knobs of it that `family` reads; returns those TrainSettings fields
    (preset included). MFDMC's own knobs are dashboard.mfdmc_form's."""
    unused = FAMILIES[family].unused
    preset = _preset_picker()
    fields = {"preset": preset}
    with st.expander("Recipe details"):
        left, right = st.columns(2)
        if "warm_start" not in unused:
            warm_start, sharpness = _warm_start_knobs(left, right, preset)
            fields |= {"warm_start": warm_start, "warm_start_sharpness": float(sharpness)}
        logit_lr, entropy, init_std, use_bias = _learning_knobs(left, right, preset, unused)
    if logit_lr is not None:
        fields["logit_lr"] = float(logit_lr) if logit_lr != lr else None
    if entropy is not None:
        fields["entropy_weight"] = float(entropy)
    return fields | {"init_std": float(init_std), "use_bias": bool(use_bias)}


def _preset_picker() -> str:
    """The preset: choosing one writes its values into the knobs (`apply_preset`)."""
    return st.segmented_control(
        "Cluster recipe",
        list(PRESETS),
        required=True,
        key="train_preset",
        **({} if "train_preset" in st.session_state else {"default": DEFAULT_PRESET}),
        on_change=apply_preset,
        format_func=PRESET_LABELS.get,
        help="Interpretable: memberships start from a co-clustering of who rated what, the "
        "connection logits learn faster and biases absorb leniency and popularity, so clusters "
        "come out crisp and data-driven (on ML-100K: top membership 0.73 against 0.08, "
        "metadata agreement 3.7x k-means on MF, test RMSE 1.059 against 1.065). Stable (the "
        "default): the same, with two levels (100 clusters, then 25 to read), a start that is "
        "the same for every seed and an entropy weight of 0.1, so retraining finds the same "
        "clusters (on ML-100K: agreement across seeds 0.82 users / 0.95 items; test RMSE "
        "1.046 on the paper split, 0.930 against 0.924 on a random split). Paper: "
        "the paper's random N(0, 1) start and one learning rate; memberships stay near uniform. "
        "MFDMC has its own: paper = the method note's section 7 (no biases, N(0, 1) start, loss "
        "weights 0.01, pruning from epoch 40); interpretable = biases, a small start, faster "
        "logits, a larger view entropy weight and earlier pruning; stable = interpretable.",
        **KEEP,
    )


def _warm_start_knobs(left, right, preset: str) -> tuple:
    """(warm start, its sharpness): where the memberships start."""
    warm_start = left.selectbox(
        "Warm start",
        WARM_STARTS,
        key="train_warm_start",
        format_func=WARM_START_LABELS.get,
        help="Where memberships start. spectral: k-means on a spectral co-clustering of "
        "the training interactions (users and items that share raters). mf: k-means on a "
        "plain MF trained 10 epochs (reads rating values). -consensus: the same start for "
        "every seed (a fixed random state, the consensus of 5 x 10 k-means inits). none: the "
        "random N(0, init std) draw of the paper.",
        **_start("train_warm_start", preset),
        **KEEP,
    )
    sharpness = right.slider(
        "Warm-start sharpness",
        0.5,
        0.99,
        step=0.01,
        key="train_warm_start_sharpness",
        disabled=warm_start == "none",
        help="Membership probability a warm-started object gives its first cluster at the "
        "start; training moves it from there.",
        **_start("train_warm_start_sharpness", preset),
        **KEEP,
    )
    return warm_start, sharpness


def _learning_knobs(left, right, preset: str, unused: tuple) -> tuple:
    """(logit learning rate, entropy weight, initial std, biases): how the memberships learn;
    None for a knob the family does not read (not drawn)."""
    logit_lr = entropy = None
    if "logit_lr" not in unused:
        logit_lr = left.number_input(
            "Logit learning rate",
            1e-6,
            1.0,
            step=1e-3,
            format="%.1e",
            key="train_logit_lr",
            help="Learning rate of the connection logits (the memberships). Larger than the "
            "embeddings' lets the ratings move memberships away from their start.",
            **_start("train_logit_lr", preset),
            **KEEP,
        )
    if "entropy_weight" not in unused:
        entropy = right.number_input(
            "Entropy weight",
            0.0,
            10.0,
            step=0.05,
            key="train_entropy_weight",
            help="Weight of the mean membership entropy (divided by log k) added to the loss: "
            "larger = sharper memberships. 0.3 gave top membership 0.95 on ML-100K at a cost of "
            "0.002 test RMSE.",
            **_start("train_entropy_weight", preset),
            **KEEP,
        )
    init_std = left.number_input(
        "Initial std",
        0.0001,
        10.0,
        step=0.05,
        format="%.4f",
        key="train_init_std",
        help="Standard deviation of the N(0, s) initial logits and embeddings (the paper: 1).",
        **_start("train_init_std", preset),
        **KEEP,
    )
    use_bias = right.checkbox(
        "Global, user and item biases",
        key="train_use_bias",
        help="An extension (the paper has none): biases take leniency and popularity, so "
        "clusters are about taste.",
        **_start("train_use_bias", preset),
        **KEEP,
    )
    return logit_lr, entropy, init_std, use_bias
