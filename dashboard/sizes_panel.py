"""The Train page's "Suggest sizes" (issue 17): how many user and item clusters the data
supports, measured by hmf_core (hmf_core.interpret.sizes: k-means on the spectral warm start
under several seeds, per candidate count) on the split the form names, shown as a chart and a
table, and a "Use these sizes" button that puts the suggested depths and counts in the form.

The measurement runs on the click only (a few seconds at 100,000 ratings), with a progress bar; its
result is kept in the session with the form values it was measured for.
"""

from __future__ import annotations

import streamlit as st

from dashboard import loads
from dashboard.text import literal
from hmf_core import (
    Dataset,
    TrainSettings,
    make_split,
    size_flags,
    size_table,
    suggest_sizes,
    suggested_shape,
    suggestion_lines,
)

DEFAULTS = TrainSettings()
RESULT = "train_sizes"  # session key: {"inputs": what it was measured on, "found": the result}


def _inputs(dataset: Dataset) -> dict:
    """The form's values the measurement reads (drawn later on the page: the session's)."""
    state = st.session_state
    task = state.get("train_task", DEFAULTS.task)
    threshold = None
    if task == "ranking" and state.get("train_use_threshold", True):
        threshold = float(state.get("train_threshold", 4.0))
    return {
        "data": dataset.ratings,
        "split": state.get("train_split", DEFAULTS.split),
        "seed": int(state.get("train_seed", DEFAULTS.seed)),
        "dim": int(state.get("train_dim", DEFAULTS.dim)),
        "threshold": threshold,
    }


def _measure(dataset: Dataset, inputs: dict) -> dict | None:
    """suggest_sizes on the training rows of the form's split, a progress bar meanwhile; None
    (and the one-line reason shown) when the split refuses the data."""
    bar = st.progress(0.0, text="Suggesting sizes: reading the data")
    try:
        data = loads.dataset_data(dataset)
        if inputs["threshold"] is not None and not data.implicit:
            data = data.as_implicit(inputs["threshold"])  # the rows a ranking run trains on
        split = make_split(data, inputs["split"], inputs["seed"])
        found = suggest_sizes(
            split.train,
            split.n_users,
            split.n_items,
            dim=inputs["dim"],
            seed=inputs["seed"],
            report=lambda fraction, text: bar.progress(fraction, text=literal(text)),
        )
    except ValueError as error:
        st.error(literal(f"Sizes cannot be suggested: {error}"))
        return None
    finally:
        bar.empty()
    return found


def _use(found: dict) -> None:
    """ "Use these sizes": the suggested depth and counts in the form's fields (a callback, so
    they are set before the widgets are drawn again)."""
    for side, (depth, counts) in suggested_shape(found).items():
        st.session_state[f"train_{side}_depth"] = depth
        st.session_state[f"train_{side}_clusters"] = ",".join(map(str, counts))


def _show(found: dict, inputs: dict, current: dict) -> None:
    table = size_table(found)
    if table.empty:
        st.info("Too few users and items to try any cluster count (2 to half the objects).")
        return
    st.line_chart(
        table.pivot(index="k", columns="side", values="mean_ari"),
        x_label="clusters k",
        y_label="mean ARI across seeds",
        height=180,
    )
    with st.expander("Stability per cluster count"):
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "mean_ari": st.column_config.NumberColumn("mean ARI", format="%.3f"),
                "lowest_ari": st.column_config.NumberColumn("lowest ARI", format="%.3f"),
                "reappearing_share": st.column_config.NumberColumn(
                    "reappear in every seed", format="percent"
                ),
                "smallest": "smallest cluster",
                "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
                "meets_target": "meets target",
            },
        )
    for line in suggestion_lines(found):
        st.markdown(f"- {literal(line)}")
    measured = f"{inputs['split']} split, seed {inputs['seed']}, d={inputs['dim']}"
    if inputs != current:
        measured += " (the form has changed since: press Suggest sizes again)"
    st.caption(
        f"k-means on the spectral warm start, seeds {found['seeds'][0]}-{found['seeds'][-1]}; "
        f"{literal(measured)}; took {found['seconds']:.1f} s. "
        f"CLI: `{size_flags(found)}`"
    )
    st.button(
        "Use these sizes",
        key="train_use_sizes",
        icon=":material/check:",
        on_click=_use,
        args=(found,),
        help="Put the suggested depth and cluster counts of both sides in the form.",
    )


def sizes_panel(dataset: Dataset) -> None:
    """The "Suggest sizes" button, and the last suggestion measured in this session."""
    current = _inputs(dataset)
    if st.button(
        "Suggest sizes",
        key="train_suggest_sizes",
        icon=":material/insights:",
        help="How many clusters come back under other seeds: k-means on the spectral warm "
        "start with 5 seeds for 5-200 clusters per side, on this form's split. Takes seconds.",
    ):
        found = _measure(dataset, current)
        st.session_state[RESULT] = None if found is None else {"inputs": current, "found": found}
    stored = st.session_state.get(RESULT)
    if stored and stored["inputs"]["data"] == dataset.ratings:
        _show(stored["found"], stored["inputs"], current)
