"""Compare page: several runs side by side, their validation curves overlaid, a table of their
settings, test metrics and cluster quality, and how far their clusters agree (the ARI of their
top clusters, per side and level); hmf_core.runs.compare computes all three."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import loads, state, widgets
from dashboard.charts import DIVERGED_COLOUR
from dashboard.text import hover, literal
from hmf_core import (
    TASKS,
    RunDir,
    cluster_agreement,
    compare_curves,
    compare_table,
    incomparable,
    monitor,
    run_labels,
    sweep_trials,
    without_full_ranking,
)
from hmf_core import list_runs as runs


def compare_page() -> None:
    st.title("Compare runs")
    available = runs()
    if not available:
        st.info("No runs yet: train some on the Train page, then compare them here.")
        return
    chosen = _chosen_runs(available)
    picked = _undamaged(run for run in available if run.name in chosen)
    if not picked:
        st.info("Pick one or more runs.")
        return
    warning = incomparable(picked)  # metrics of other data or splits: not comparable
    if warning:
        st.warning(literal(warning), icon=":material/warning:")
    _table(picked)
    _curves(picked, separate=warning is not None)
    _agreement(picked)


def _chosen_runs(available: list) -> list[str]:
    """The Sweep picker (when there are sweeps) and the Runs multiselect: the names picked."""
    names = [run.name for run in available]
    labels = run_labels(available)
    current = state.current_run()
    default = [current.name] if current is not None and current.name in names else names[:1]
    sweeps = sweep_trials(available)
    if sweeps:
        _sweep_picker(sweeps)
    return st.multiselect(
        "Runs",
        names,
        # no default once a sweep's pick has set the value (Streamlit warns about both)
        default=None
        if "compare_runs" in st.session_state
        else default + [n for n in names[:2] if n not in default][: max(0, 2 - len(default))],
        key="compare_runs",
        format_func=lambda name: labels.get(name, name),
        help="Newest first, by name (name them on the Train page). Curves and the table show "
        "every run picked here.",
    )


def _sweep_picker(sweeps: dict) -> None:
    """A sweep picked sets the Runs multiselect to its trials, best first."""

    def pick_sweep() -> None:  # before the multiselect is drawn: its value may be set
        picked_sweep = st.session_state.get("compare_sweep")
        if picked_sweep in sweeps:
            st.session_state["compare_runs"] = sweeps[picked_sweep]

    st.selectbox(
        "Sweep",
        list(sweeps),
        index=None,
        key="compare_sweep",
        on_change=pick_sweep,
        placeholder="Pick a sweep to compare its trials, best first",
        help="python -m hmf_core sweep trains one run per setting and ranks them on "
        "the validation metric; picking one here lists its runs by rank.",
    )


def _undamaged(picked) -> list:
    """The runs picked less the damaged ones, each of those named in a warning."""
    picked = list(picked)
    damaged = {run.name: run.damage() for run in picked}
    for name, damage in damaged.items():
        if damage is not None:
            st.warning(
                literal(f"Run {name} is left out: {damage}."), icon=":material/broken_image:"
            )
    return [run for run in picked if damaged[run.name] is None]


def _table(picked: list) -> None:
    """The runs' settings, test metrics and cluster quality, one row a run."""
    table = compare_table(picked)
    table = widgets.text_where_diverged(table, skip=("name", "data", "note", "run"))
    st.dataframe(
        table,
        hide_index=True,
        key="compare_table",
        column_config={
            "name": st.column_config.TextColumn("name", pinned=True),
            "data": st.column_config.TextColumn(
                "data", help="The data file; runs with the same label share data and split."
            ),
            "note": st.column_config.TextColumn("note", width="medium"),
            "run": st.column_config.TextColumn("run directory"),
            "rank": st.column_config.NumberColumn("rank", help="rank in its sweep (validation)"),
            **{  # a test metric column holding "diverged" is text: the numbers as given
                column: st.column_config.NumberColumn(column, format="%.4f")
                for column in table.columns
                if column.startswith(("test_", "mf_test_", "user_mean", "item_mean"))
                or column.endswith(("_ami_model", "_ami_mf_kmeans"))
                and not table[column].map(lambda value: isinstance(value, str)).any()
            },
        },
    )
    missing = without_full_ranking(picked)
    if missing:
        st.caption(
            "Full-ranking metrics (the *_full columns): not computed for "
            + literal(", ".join(missing))
            + ". Compute them with `python -m hmf_core evaluate RUN_DIR --compute`."
        )


AGREEMENT_RUNS = 6  # at most 15 pairs: each run's model is loaded


def _agreement(picked: list) -> None:
    """Cluster agreement between every two runs picked: per side and level, the ARI of their
    top-cluster assignments, or why there is none (other data, other objects)."""
    st.subheader("Cluster agreement between runs")
    if len(picked) < 2:
        st.caption("Pick two or more runs to see how far their clusters agree.")
        return
    if len(picked) > AGREEMENT_RUNS:
        st.caption(f"Comparing the clusters of the first {AGREEMENT_RUNS} runs picked.")
    keys = tuple((str(run.path), run.checkpoint_stamp()) for run in picked[:AGREEMENT_RUNS])
    table = _agreement_table(keys)
    st.caption(
        "Adjusted Rand index of two runs' top clusters (each object's most probable cluster), "
        "objects matched by id: 1 = the same partition under any renumbering, about 0 = no more "
        "alike than chance. Only runs on the same data file and the same objects compare. "
        "An HMF run against an MFDMC run: HMF's level 1 against each MFDMC view."
    )
    st.dataframe(
        table,
        hide_index=True,
        key="compare_agreement",
        column_config={
            "first": st.column_config.TextColumn("run"),
            "second": st.column_config.TextColumn("against"),
            "level": st.column_config.NumberColumn("level", format="%d"),
            "pairing": st.column_config.TextColumn("groupings compared"),
            "ari": st.column_config.NumberColumn("ARI", format="%.3f"),
        },
    )


@st.cache_data(max_entries=8, show_spinner="Comparing the runs' clusters…")
def _agreement_table(keys: tuple) -> pd.DataFrame:
    """cluster_agreement of the runs at `keys` ((path, checkpoint stamp), ...), their models
    from the model cache."""
    runs = [RunDir(path) for path, _ in keys]
    models = {RunDir(path).name: loads.load_model(path, stamp) for path, stamp in keys if stamp}
    return cluster_agreement(runs, models)


def _curves(picked: list, separate: bool) -> None:
    """The Curve picker and the runs' validation curves of that metric, overlaid; `separate`
    (runs of different data or splits): one panel per dataset unless the user asks to overlay
    them anyway."""
    curves = compare_curves(picked)
    if curves.empty:
        st.info("None of these runs has a validated epoch yet.")
        return
    metrics = sorted(curves["metric"].unique())
    monitored = [monitor(task)[0] for task in TASKS]  # val_rmse, val_hr10
    preferred = next((m for m in monitored if m in metrics), metrics[0])
    metric = st.selectbox("Curve", metrics, index=metrics.index(preferred), key="compare_metric")
    if separate:
        separate = not st.checkbox(
            "Overlay the curves of different data",
            value=False,
            key="compare_overlay",
            help="Curves measured on different data or splits are drawn in one panel per "
            "dataset; their values are not comparable.",
        )
    st.plotly_chart(_curve_figure(curves, metric, separate), key="compare_chart")


def _curve_figure(curves, metric: str, separate: bool = False):
    """One line per run (one panel per dataset when `separate`); a diverged epoch is a marker
    at the top, never a point at infinity."""
    picked = curves[curves["metric"] == metric].assign(
        name=lambda f: f["name"].map(hover), data=lambda f: f["data"].map(hover)
    )
    shown = picked[~picked["diverged"]]
    panels = {"facet_row": "data"} if separate else {}
    figure = px.line(  # run names go into the legend's HTML: escaped
        shown,
        x="epoch",
        y="value",
        color="name",
        markers=True,
        labels={"value": metric, "name": "run"},
        **panels,
    )
    if separate:
        figure.update_yaxes(matches=None)  # each dataset on its own scale
    groups = picked.groupby("data", sort=False) if separate else [(None, picked)]
    for index, (_, group) in enumerate(groups):
        _diverged_markers(figure, group, shown, legend=index == 0)
    rows = picked["data"].nunique() if separate else 1
    figure.update_layout(
        height=420 * rows if rows > 1 else 420, legend={"orientation": "h", "y": -0.2}
    )
    return figure


def _diverged_markers(figure, group, shown, legend: bool) -> None:
    """The diverged epochs of `group`'s runs (NaN or infinite): markers at the top of the
    panel their runs are drawn in, never points at infinity."""
    diverged = group[group["diverged"]]
    if diverged.empty:
        return
    names = set(group["name"])
    finite = shown[shown["name"].isin(names)]
    axes = next(((t.xaxis, t.yaxis) for t in figure.data if t.name in names), ("x", "y"))
    top = finite["value"].max() if not finite.empty else 1.0
    figure.add_scatter(
        x=diverged["epoch"],
        y=[top] * len(diverged),
        xaxis=axes[0],
        yaxis=axes[1],
        mode="markers+text",
        marker={"symbol": "triangle-down", "size": 12, "color": DIVERGED_COLOUR},
        text=["diverged"] * len(diverged),
        textposition="bottom center",
        customdata=diverged["name"],
        hovertemplate="%{customdata}: diverged at epoch %{x}<extra></extra>",
        name="diverged (not a finite number)",
        legendgroup="diverged",
        showlegend=legend,
    )


compare_page()
