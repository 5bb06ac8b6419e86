"""Train page: configure a run, start it in a background process, watch it learn, stop it,
and reopen any earlier run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import gate, loads, state, train_checks, widgets
from dashboard.pages import PAGES
from dashboard.sharing import Access
from dashboard.text import literal
from dashboard.train_form import form_origin, form_settings, reset_form, sync_form, train_form
from hmf_core import (
    MAX_NAME,
    MAX_NOTE,
    METRIC_LABELS,
    DamagedFile,
    Dataset,
    RunDir,
    RunError,
    RunStatus,
    TrainSettings,
    diverged_fields,
    format_duration,
    format_metrics,
    metric_names,
    model_name,
    read_error_message,
    run_labels,
    run_note,
    run_status,
    runs_root,
    start_run,
    step_of,
    stop_run,
)
from hmf_core import list_runs as runs

EXPLORE_PAGES = [  # short labels: they share one row under the curves
    (page.path, page.short, page.icon)
    for page in PAGES["Explore a run"]
    if page.path != "views/compare.py"  # a run's own pages only
]


def train_page() -> None:
    st.title("Train")
    run = state.current_run()
    settings_column, run_column = st.columns([2, 3], gap="large")
    with settings_column:
        _new_run(state.current_dataset(), run)
    with run_column:
        _live_panel(run)


# --- a new run: the form (dashboard.train_form), its checks (dashboard.train_checks), Train ---


def _new_run(dataset: Dataset, run: RunDir | None) -> None:
    st.subheader("New run")
    st.caption(f"Data: **{literal(dataset.label)}** (change it on the Data page)")
    try:
        data = loads.dataset_data(dataset)
    except Exception as error:
        st.error(literal(read_error_message(dataset.ratings, error)))
        return
    sync_form(dataset, run, data.implicit)
    origin = st.empty()  # filled once the form's values are known: where they came from
    st.button(
        "Reset to defaults",
        key="train_reset",
        icon=":material/restart_alt:",
        on_click=reset_form,
        args=(dataset, data.implicit),
        help="The app's defaults and this dataset's split in every field.",
    )
    form = train_form(dataset, data.implicit)
    try:
        settings = form_settings(dataset, form)
        levels = settings.levels("user"), settings.levels("item")
    except ValueError as error:
        form_origin(origin, dataset, run, None)
        st.error(literal(error))
        return
    form_origin(origin, dataset, run, settings)
    sizes = train_checks.split_sizes(dataset, settings)
    if sizes is None:
        return
    problem = train_checks.refusal(settings, data, sizes)
    train_checks.show_warnings(settings, sizes)
    train_checks.memory_estimate(settings, sizes, levels)
    train_checks.active_runs()
    access = gate.current_access()
    if access.limits:
        train_checks.shared_limits(access.limits)
    _train_button(settings, form.label, form.note, access, disabled=problem is not None)
    if problem:
        st.error(literal(problem))  # may quote a file name or a column


def _train_button(
    settings: TrainSettings, label: str, note: str, access: Access, disabled: bool
) -> None:
    """Train: start the run in a background process and open it, or say why it is refused."""
    if st.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        key="train_button",
        disabled=disabled,
        width="stretch",
    ):
        try:
            started = start_run(
                settings, root=runs_root(), label=label, note=note, limits=access.run_limits()
            )
        except RunError as refusal:  # the runs folder is over its disk limit
            st.session_state["train_refused"] = str(refusal)
        else:
            state.open_run(started.name)
            st.rerun()
    refused = st.session_state.pop("train_refused", None)
    if refused:
        st.error(literal(f"Refused: {refused}."), icon=":material/block:")


# --- the current run, live, and every run on disk ---------------------------------------------


def _live_panel(run: RunDir | None) -> None:
    """The run beside the form and the list of all runs, in one fragment that re-runs each
    second while any run trains: both read the same `run_status` snapshot, so they never
    disagree, and every element is drawn on each pass in the same order with the same keys,
    so the charts update in place."""
    live = any(run_status(other).active for other in runs())

    @st.fragment(run_every=1.0 if live else None)
    def panel() -> None:
        available = runs()
        statuses = {other.name: run_status(other) for other in available}
        if any(status.active for status in statuses.values()) != live:
            st.rerun()  # a run started or ended: redraw the page (and the refresh rate)
        if "open_run" in st.session_state:
            st.rerun()  # a row picked in the list: the whole page follows (sidebar too)
        if run is None:
            st.info(
                "No run yet. Choose the settings on the left and press **Train**: training "
                "runs in a background process and its curves appear here."
            )
        else:
            try:
                _run_view(run, statuses.get(run.name) or run_status(run))
            except DamagedFile as damage:  # a fragment's exception never reaches app.py
                st.error(literal(f"Run {run.name}: {damage}."), icon=":material/broken_image:")
        st.divider()
        _run_list(available, statuses)

    panel()


def _run_view(run: RunDir, status: RunStatus) -> None:
    settings = run.settings()
    header, button = st.columns([4, 1], vertical_alignment="center")
    header.subheader(f"Run {literal(run.label)}", anchor=False)
    if status.active:
        stopping = run.stop_requested()
        button.button(
            "Stopping…" if stopping else "Stop",
            icon=":material/stop:",
            key="stop_button",
            disabled=stopping,
            on_click=stop_run,
            args=(run,),
            help="Ends training at the next batch; the best checkpoint is kept.",
        )
    badge = {"finished": "green", "stopped": "orange", "failed": "red"}.get(status.phase, "blue")
    dataset = Path(settings.get("data", "")).name
    st.markdown(
        f":{badge}-badge[{literal(status.phase)}] {literal(settings.get('task'))} task on "
        f"{literal(dataset)}, "
        f"user depth {settings.get('user_depth')}, item depth "
        f"{settings.get('item_depth')}, d={settings.get('dim')} · run directory "
        f"{literal(run.name)}"
    )
    note = run_note(run)
    if note:
        st.caption(literal(note))
    if status.phase.startswith("damaged"):
        st.error(literal(f"Run {run.name}: {status.error}."), icon=":material/broken_image:")
        return
    if status.phase == "failed":
        st.error(literal(f"Training failed: {status.error or 'see the log below'}"))
        with st.expander("Last lines of the training log"):
            st.code(run.log_tail() or "(empty)", language=None)

    if status.phase.startswith("queued"):
        st.info(
            f"{literal(status.phase.capitalize())}: this shared app trains a limited number of "
            "runs at once (HMF_SHARED_TRAININGS); this one starts when one of them ends. "
            "Stop takes it out of the line.",
            icon=":material/hourglass_top:",
        )
    _progress(status, settings)
    task = settings.get("task", "rating")
    if not widgets.curve_row(run, task, "curve_", mf=bool(settings.get("compare_mf"))):
        if status.active:
            st.caption("The first curve point appears when the first epoch ends.")
    _outcome(run, status)
    _name_editor(run)


def _progress(status: RunStatus, settings: dict) -> None:
    """The progress bar (while the run is active) and one row of figures, the same ones on
    every pass: epochs, elapsed wall time (from `run_status`, as the run list), the last
    validation metric."""
    hmf = status.hmf
    current = status.mf if status.phase == "training MF" and status.mf else hmf
    label = "MF" if current is status.mf else "HMF"
    epoch, batch, batches = (int(current.get(k) or 0) for k in ("epoch", "batch", "batches"))
    max_epochs = int(current.get("max_epochs") or settings.get("max_epochs") or 1)
    if status.phase in ("training HMF", "training MF"):
        fraction = batch / batches if batches else 0.0
        st.progress(
            min(1.0, fraction),
            text=f"{label}: epoch {epoch + 1} of at most {max_epochs}, "
            f"batch {batch}/{batches or '?'}",
        )
    elif status.active:  # preparing data / cluster quality: the step progress.json names
        queued = 0.0 if status.phase.startswith("queued") else None  # waiting: not begun
        fraction, text = step_of(hmf) or (queued, status.phase)
        st.progress(1.0 if fraction is None else fraction, text=f"{literal(text)}…")
    metrics = {f"{model_name(settings.get('family'))} epochs": str(int(hmf.get("epoch") or 0))}
    if settings.get("compare_mf"):
        metrics["MF epochs"] = str(int((status.mf or {}).get("epoch") or 0))
    metrics["Elapsed"] = format_duration(status.elapsed_s)
    metric = metric_names(settings.get("task", "rating"), "val")[0]  # val_rmse, val_hr10
    last = hmf.get("last") or {}
    value = last.get(metric)
    name = f"Val. {METRIC_LABELS[metric.removeprefix('val_')]}"
    metrics[name] = f"{value:.4f}" if isinstance(value, (int, float)) else "–"
    if metric in diverged_fields(last):  # NaN or infinite when written (hmf_core.common.files)
        metrics[name] = "diverged"
    for cell, (name, value) in zip(st.columns(len(metrics)), metrics.items()):
        cell.metric(name, value)
    device = str(hmf.get("device") or settings.get("accelerator", "?"))
    threads = f" · {hmf['threads']} CPU thread(s)" if hmf.get("threads") and device == "cpu" else ""
    st.caption(f"Device: {literal(device)}{threads}")


def _evaluate_kept(run) -> None:
    from hmf_core import evaluate_checkpoint  # Lightning: imported when needed

    try:
        with st.spinner("Testing the kept checkpoint…"):
            evaluate_checkpoint(run.path)
    except RunError as error:  # DamagedFile included
        st.session_state["evaluate_error"] = (run.name, str(error))


def _outcome(run, status: RunStatus) -> None:
    test = run.test_metrics()
    if not test and run.has_model() and not status.active:
        st.info(
            "This run kept a best checkpoint but has no test metrics (its training process "
            "ended before testing). Evaluate the kept checkpoint on the test set:",
            icon=":material/science:",
        )
        st.button(
            "Evaluate the kept checkpoint",
            key="evaluate_button",
            icon=":material/science:",
            on_click=_evaluate_kept,
            args=(run,),
        )
        failed = st.session_state.get("evaluate_error")
        if failed and failed[0] == run.name:
            st.error(literal(failed[1]))
    if test:
        mf_run = run.comparison()
        mf_shown = format_metrics(mf_run.test_metrics()) if mf_run is not None else ""
        st.success(
            f"{model_name(run.settings().get('family'))} Test {format_metrics(test)} "
            f"(best epoch {test.get('best_epoch')})"
            + (f" · MF Test {mf_shown}" if mf_shown else ""),
            icon=":material/check_circle:",
        )
    maps = run.maps_ready()
    if maps:
        st.caption(f"Maps ready: {', '.join(maps)}.")
    if run.has_model():
        cells = st.columns(len(EXPLORE_PAGES))
        for cell, (path, title, icon) in zip(cells, EXPLORE_PAGES):
            cell.page_link(path, label=title, icon=icon)


def _name_editor(run: RunDir) -> None:
    """The run's name and note, editable (meta.json, written atomically)."""
    with st.expander("Name and note"):
        with st.form(key=f"meta_form_{run.name}", border=False):
            name = st.text_input(
                "Name",
                value=run.label if run.label != run.name else "",
                max_chars=MAX_NAME,
                key=f"meta_name_{run.name}",
            )
            note = st.text_area(
                "Note", value=run_note(run), max_chars=MAX_NOTE, key=f"meta_note_{run.name}"
            )
            if st.form_submit_button("Save name and note", icon=":material/save:"):
                run.update_meta(name=name, note=note)
                st.rerun()  # the sidebar and the other pages show the new name


def _open_selected_run() -> None:
    rows = st.session_state["runs_table"].selection.rows
    names = st.session_state.get("runs_table_names", [])
    if rows and rows[0] < len(names):
        state.open_run(names[rows[0]])


def _run_list(available: list[RunDir], statuses: dict[str, RunStatus]) -> None:
    """Every run on disk, with the same state and elapsed time as the panel above."""
    st.subheader(f"All runs ({len(available)})", anchor=False)
    if not available:
        st.caption(f"Runs are saved under {literal(runs_root())}.")
        return
    names = run_labels(available)  # twins: "name · directory"
    rows = [
        loads.run_row(other, statuses.get(other.name) or run_status(other))
        | {"name": names[other.name]}
        for other in available
    ]
    st.session_state["runs_table_names"] = [row["run"] for row in rows]
    st.dataframe(
        rows,
        hide_index=True,
        key="runs_table",
        on_select=_open_selected_run,
        selection_mode="single-row",
        column_config={  # the first four fit beside the form at 1440 px
            "name": st.column_config.TextColumn("name", width=170),
            "data": st.column_config.TextColumn("data", width=110, help="The data file"),
            "state": st.column_config.TextColumn("state", width=110),
            "elapsed": st.column_config.TextColumn("elapsed", width=60),
            "test": st.column_config.TextColumn("test", width=150),
            "note": st.column_config.TextColumn("note", width="medium"),
            "run": st.column_config.TextColumn("run directory"),
        },
    )
    st.caption(
        f"Select a row to open that run. Runs are saved under `{runs_root()}` and "
        "listed again after the app restarts."
    )


train_page()
