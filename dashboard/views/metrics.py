"""Metrics page: the run's test metrics against plain MF on the same split (paper Fig. 2), the
curves, and the run's configuration and data."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import charts, state, widgets
from dashboard.quality_panel import quality_section
from dashboard.text import literal
from hmf_core import (
    QUALITY_STEP,
    REAPPEAR_JACCARD,
    RunError,
    diverged_fields,
    full_ranking_table,
    is_full_ranking,
    job_running,
    loss_term_curves,
    lower_is_better,
    model_name,
    pruning_timeline,
    published_references,
    rule_text,
    run_status,
    stability_job,
    stability_summary,
    start_stability,
)


def metrics_page() -> None:
    st.title("Metrics")
    run = state.current_run()
    if run is None:
        st.info("No run selected: train one on the Train page.")
        return
    status = run_status(run)
    settings = run.settings()
    directory = f" (directory {literal(run.name)})" if run.label != run.name else ""
    st.caption(f"Run **{literal(run.label)}**{directory} · {literal(status.phase)}")
    test = run.test_metrics()
    mf_run = run.comparison()
    mf_test = mf_run.test_metrics() if mf_run is not None else {}
    if not test:
        st.info(
            "No test metrics yet: they are computed on the best checkpoint when training "
            f"ends (now: {literal(status.phase)})."
        )
    else:
        _test_metrics(run, settings, test, mf_test)

    widgets.curve_row(run, settings.get("task", "rating"), "metrics_curve_")
    _family_curves(run)
    depths = {"user": settings.get("user_depth", 0), "item": settings.get("item_depth", 0)}
    quality_section(run.quality(), depths, run_status(run).phase == QUALITY_STEP, run.stability())
    _stability(run, settings)

    left, right = st.columns(2)
    with left:
        _configuration(run, settings)
    with right:
        _data(run)


def _family_curves(run) -> None:
    """A family's own curves (MFDMC's loss terms and pruning timeline, from hmf_core), side by
    side; nothing for a run that logged neither (HMF)."""
    metrics = run.metrics()
    terms, timeline = loss_term_curves(metrics), pruning_timeline(metrics)
    drawn = []
    if not terms.empty:
        drawn.append(("metrics_loss_terms", charts.loss_terms_option(terms)))
    if not timeline.empty:
        drawn.append(("metrics_pruning", charts.pruning_option(timeline)))
    if not drawn:
        return
    st.caption(
        "This family's own loss terms (each times its weight, as added to the loss) and, "
        "as weak centres are pruned, the active centres of each view (users solid, items dashed)."
    )
    for cell, (key, (option, alt)) in zip(st.columns(len(drawn)), drawn):
        cell.echarts_chart(option, key=key, height=300, alt=alt)


def _test_metrics(run, settings: dict, test: dict, mf_test: dict) -> None:
    """The test metrics (beside MF's, when the run trained it), the paper's figures and the
    full-ranking metrics."""
    names = [k for k in test if k.startswith("test_") and not is_full_ranking(k)]
    _metric_cells(test, mf_test, names, model_name(settings.get("family")))
    rows = [
        {
            "model": "HMF",
            **{n: _cell(test, n) for n in names},
            "best_epoch": test.get("best_epoch"),
            "epochs_run": test.get("epochs_run"),
        }
    ]
    if mf_test:
        rows.append(
            {
                "model": "MF (same split)",
                **{n: _cell(mf_test, n) for n in names},
                "best_epoch": mf_test.get("best_epoch"),
                "epochs_run": mf_test.get("epochs_run"),
            }
        )
    elif not settings.get("compare_mf"):
        st.caption(
            "No MF comparison in this run: tick *Also train plain MF* on the Train page to get one."
        )
    st.dataframe(
        widgets.text_where_diverged(pd.DataFrame(rows), skip=("model",)),
        hide_index=True,
        key="metrics_table",
    )
    _paper_reference(run, settings)
    _full_ranking(run, test, mf_test, settings.get("task", "rating"))


def _metric_cells(test: dict, mf_test: dict, names: list[str], model: str) -> None:
    """A metric card per test metric (its difference to MF's as the delta), the best epoch and
    the epochs run."""
    cells = st.columns(len(names) + 2)
    for cell, name in zip(cells, names):
        delta = None
        if _number(test, name) and _number(mf_test, name):
            delta = f"{test[name] - mf_test[name]:+.4f} vs MF"
        cell.metric(
            f"{model} {charts.METRIC_NAMES.get(name, name)}",
            f"{test[name]:.4f}" if _number(test, name) else _missing(test, name),
            delta=delta,
            delta_color="inverse" if lower_is_better(name) else "normal",
        )
    cells[-2].metric("Best epoch", test.get("best_epoch", "–"))
    cells[-1].metric("Epochs run", test.get("epochs_run", "–"))


def _configuration(run, settings: dict) -> None:
    """The run's settings, as a table and as settings.json to download."""
    st.subheader("Configuration")
    st.dataframe(
        pd.DataFrame(
            {"setting": list(settings), "value": [json.dumps(v) for v in settings.values()]}
        ),
        hide_index=True,
        key="metrics_settings",
        height=400,
    )
    st.download_button(
        "Download settings.json",
        json.dumps(settings, indent=2).encode(),
        file_name=f"{run.name}-settings.json",
        mime="application/json",
        key="metrics_settings_download",
        icon=":material/download:",
    )


def _data(run) -> None:
    """The run's data and split summary, its map timings and its directory."""
    st.subheader("Data")
    summary = run.data_summary()
    for part in ("data", "split"):
        values = summary.get(part, {})
        if values:
            st.dataframe(
                pd.DataFrame({"": list(values), part: [json.dumps(v) for v in values.values()]}),
                hide_index=True,
                key=f"metrics_{part}",
            )
    timings = {k: v for k, v in run.map_timings().items() if k != "labels_version"}
    if timings:
        shown = ", ".join(f"{k} {v}" for k, v in timings.items())
        st.caption(literal(f"Map timings (s): {shown}"))
    st.caption(f"Run directory: {literal(run.path)}")


def _stability(run, settings: dict) -> None:
    """Cluster stability across seeds (stability.json, hmf_core.interpret.stability): the
    table, the Measure button (a background job) or its progress while it runs."""
    st.subheader("Cluster stability across seeds")
    if not any(settings.get(f"{side}_depth", 0) for side in ("user", "item")):
        st.caption("This run has no clusters (plain MF on both sides): nothing to compare.")
        return
    if job_running(run, "stability"):
        _stability_progress(run)
        return
    stored = run.stability()
    command = f"python -m hmf_core stability {run.path} --seeds 3"
    job = stability_job(run)
    if job.get("state") == "failed":
        st.warning(literal(f"The last stability measurement failed: {job.get('error')}"))
    if not stored:
        st.info(
            "Not measured: training again with another seed can give other clusters. Measure "
            "how far this run's clusters reappear (more seeds on the same split) with the "
            "button, or with:"
        )
        st.code(command, language="bash")
    elif "error" in stored:
        st.warning(literal(stored["error"]))
    else:
        _stability_table(stored)
        st.code(command, language="bash")
    _measure_button(run, again=bool(stored))


def _measure_button(run, again: bool) -> None:
    """Seeds and the button that starts the measurement as a background process."""
    seeds_cell, button_cell = st.columns([1, 3], vertical_alignment="bottom")
    seeds = seeds_cell.number_input(
        "Runs (this one included)", min_value=2, max_value=10, value=3, key="stability_seeds"
    )
    label = "Measure stability again" if again else "Measure stability"
    if button_cell.button(
        label,
        key="measure_stability",
        help="Trains this run's settings again with more seeds on its split, in a separate "
        "process (each seed takes about as long as the run's training did).",
    ):
        try:
            start_stability(run, int(seeds))
        except RunError as refused:
            st.warning(literal(str(refused)))
            return
        st.rerun()


def _stability_progress(run) -> None:
    """The running job's progress, read again every 2 s; the page reruns when it ends."""

    @st.fragment(run_every=2.0)
    def follow() -> None:
        if not job_running(run, "stability"):
            st.rerun()
        job = stability_job(run)
        fraction = min(1.0, max(0.0, float(job.get("fraction") or 0.0)))
        st.progress(fraction, text=literal(f"Measuring stability: {job.get('text', '')}"))

    follow()


def _stability_table(stored: dict) -> None:
    """The stored stability per side and level, with what its columns mean."""
    seeds = ", ".join(str(seed) for seed in stored.get("seeds", []))
    st.caption(
        f"{stored.get('runs', '?')} runs on this run's split (seeds {literal(seeds)}). "
        "ARI: adjusted Rand index of two runs' top clusters (1: the same partition, 0: chance). "
        f"A cluster reappears in a run when its Hungarian-matched cluster there shares at least "
        f"{stored.get('threshold', REAPPEAR_JACCARD):.0%} of their members (Jaccard); the "
        "cluster tables on the Affinity page say it per cluster. Measured again with the "
        "button or the command below."
    )
    rows = pd.DataFrame(stability_summary(stored))
    if rows.empty:
        st.caption("No clustered level was compared.")
        return
    rows["reappearing_share"] = rows["reappearing_share"].map(
        lambda share: "–" if share is None or pd.isna(share) else f"{share:.0%}"
    )
    st.dataframe(
        rows.rename(
            columns={
                "mean_ari": "mean pairwise ARI",
                "lowest_ari": "lowest pairwise ARI",
                "reappearing_share": "clusters reappearing in every run",
            }
        ),
        hide_index=True,
        key="metrics_stability",
        column_config={
            "mean pairwise ARI": st.column_config.NumberColumn(format="%.3f"),
            "lowest pairwise ARI": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def _number(metrics: dict, name: str) -> bool:
    value = metrics.get(name)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _missing(metrics: dict, name: str) -> str:
    """A test metric with no number: "diverged" when it was NaN or infinite (common.files)."""
    return "diverged" if name in diverged_fields(metrics) else "–"


def _cell(metrics: dict, name: str):
    """A metric table's cell: the number, or "diverged" / None."""
    if _number(metrics, name):
        return metrics[name]
    return "diverged" if name in diverged_fields(metrics) else None


def _full_ranking(run, test: dict, mf_test: dict, task: str) -> None:
    """NDCG / Recall / Precision @10 and @20 over all unseen items (training.full_ranking)."""
    st.subheader("Top-K over all items")
    table = full_ranking_table({"HMF": test, "MF (same split)": mf_test})
    if table.empty:
        st.info(
            "Full-ranking metrics: not computed (the run predates them). Compute them from "
            "best.ckpt with `python -m hmf_core evaluate RUN_DIR --compute` (RUN_DIR: "
            f"{literal(run.path)})."
        )
        return
    st.dataframe(
        table,
        hide_index=True,
        key="metrics_full_ranking",
        column_config={
            column: st.column_config.NumberColumn(column, format="%.4f")
            for column in table.columns
            if "@" in column
        },
    )
    st.caption(rule_text(test, task))


def _paper_reference(run, settings: dict) -> None:
    """The published figures that apply to this run's data and split (hmf_core decides, from
    the data's content), as captions."""
    summary = run.data_summary()
    train = summary.get("split", {}).get("train", 0)
    for reference in published_references(summary, settings):
        st.caption(reference.text(train))


metrics_page()
