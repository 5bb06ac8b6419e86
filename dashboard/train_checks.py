"""The Train page's checks of a new run's settings, drawn under the form: the split's sizes
(or why it cannot be made), the settings' refusal, cluster warnings, the model's size and
memory estimate, the runs already training, and what a shared app allows."""

from __future__ import annotations

import streamlit as st

from dashboard import loads
from dashboard.sharing import SharedLimits
from dashboard.text import literal
from hmf_core import (
    Dataset,
    RatingData,
    TrainSettings,
    cluster_warnings,
    folder_bytes,
    parameter_count,
    run_status,
    runs_root,
    size_text,
    training_memory_bytes,
)
from hmf_core import list_runs as runs


def split_sizes(dataset: Dataset, settings: TrainSettings) -> dict | None:
    """The sizes of the settings' split of the dataset, stated in a caption; None (and an
    error shown) when the split itself refuses this data."""
    split = settings.split
    try:
        sizes = loads.dataset_split(dataset, split, settings.seed)
    except Exception as error:  # the split itself refuses this data
        st.error(literal(f"The {split} split cannot be made: {error}"))
        return None
    st.caption(
        f"{split} split: {sizes['train']:,} train · {sizes['val']:,} validation · "
        f"{sizes['test']:,} test ratings; {sizes['users']:,} users × "
        f"{sizes['items']:,} items."
    )
    return sizes


def refusal(settings: TrainSettings, data: RatingData, sizes: dict) -> str | None:
    """Why these settings cannot train on this data (TrainSettings.validate), or None."""
    try:
        settings.validate(data, sizes)
    except ValueError as error:
        return str(error)
    return None


def show_warnings(settings: TrainSettings, sizes: dict) -> None:
    """Cluster counts that train but hardly make sense (more clusters than objects...)."""
    for warning in cluster_warnings(settings, sizes):
        st.warning(literal(warning))


def memory_estimate(settings: TrainSettings, sizes: dict, levels: tuple[list, list]) -> None:
    """The clusters per level of each side, the parameter count, and the training memory."""
    shape = [" → ".join(map(str, side)) or "none (MF)" for side in levels]
    shape_text = f"User clusters per level: {shape[0]}; item clusters per level: {shape[1]}."
    if settings.family == "mfdmc":  # no levels: views of centres
        shape_text = (
            f"{settings.views} views per side, each starting with {settings.user_centres} user "
            f"and {settings.item_centres} item centres."
        )
    try:  # the parameters training updates (twostage: its MF)
        config = settings.trained_config(sizes["users"], sizes["items"])
    except ValueError:
        return  # the settings' refusal above says why
    memory = training_memory_bytes(
        config, settings.optimizer, batch_size=settings.batch_size, n_ratings=sizes["train"]
    )
    st.caption(
        f"{shape_text} {parameter_count(config):,} parameters; training needs about "
        f"{memory['total'] / 2**20:,.0f} MiB (estimate: weights, gradients, AdamW state, data)."
    )


def active_runs() -> None:
    """The runs training now, which a new one would share the CPU with."""
    active = [other.label for other in runs() if run_status(other).active]
    if active:
        st.caption(
            f"Already training: {literal(', '.join(active))}. Runs share the CPU, so a second "
            "one slows both."
        )


def shared_limits(limits: SharedLimits) -> None:
    """What a shared app allows, stated where it bites: trainings at once, disk for runs."""
    used = folder_bytes(runs_root())
    st.caption(
        f"This app is shared: at most {limits.trainings} training(s) run at once "
        "(HMF_SHARED_TRAININGS), more wait in line and start when one ends; a new training is "
        f"refused while runs use more than {size_text(limits.runs_bytes)} of disk "
        f"(HMF_SHARED_RUNS_GB; now {size_text(used)})."
    )
