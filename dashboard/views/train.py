"""Train page: configure a run, start it in a background process, watch it learn, stop it,
and reopen any earlier run."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import streamlit as st
import torch

from dashboard import gate, loads, state, widgets
from dashboard.recipe import KNOBS, recipe_controls
from dashboard.sharing import SharedLimits
from dashboard.text import literal
from hmf_core.common.errors import RunError
from hmf_core.common.files import DamagedFile, diverged_fields
from hmf_core.common.progress import step_of
from hmf_core.data.datasets import Dataset, SplitChoice, default_split, read_error_message
from hmf_core.data.split import SPLITS
from hmf_core.runs.compare import changed_settings
from hmf_core.runs.limits import folder_bytes, size_text
from hmf_core.runs.manager import (
    METRIC_LABELS,
    RunStatus,
    format_duration,
    format_metrics,
    run_note,
    run_status,
    runs,
    runs_root,
    start_run,
    stop_run,
)
from hmf_core.runs.rundir import MAX_NAME, MAX_NOTE, RunDir
from hmf_core.training.memory import parameter_count, training_memory_bytes
from hmf_core.training.metrics import metric_names
from hmf_core.training.settings import TrainSettings, cluster_warnings, parse_cluster_counts

DEFAULTS = TrainSettings()
BATCH_SIZES = [128, 256, 512, 1024, 2048, 4096, 8192, 16384]
KEEP = {"persist_state": "session"}  # keep the form's values when the user visits other pages
EXPLORE_PAGES = [  # short labels: they share one row under the curves
    ("views/map.py", "Map", ":material/scatter_plot:"),
    ("views/affinity.py", "Affinity", ":material/grid_on:"),
    ("views/membership.py", "Members", ":material/account_tree:"),
    ("views/explain.py", "Explain", ":material/lightbulb:"),
    ("views/metrics.py", "Metrics", ":material/monitoring:"),
]


def train_page() -> None:
    st.title("Train")
    run = state.current_run()
    settings_column, run_column = st.columns([2, 3], gap="large")
    with settings_column:
        _new_run(state.current_dataset(), run)
    with run_column:
        _live_panel(run)


# --- the settings of a new run ---------------------------------------------------------------


def _counts_text(counts: list[int]) -> str:
    return ",".join(map(str, counts))


@st.cache_data(max_entries=8, show_spinner="Choosing the split…")
def _split_choice(path: str, file_stamp: tuple, columns: tuple) -> SplitChoice:
    return default_split(loads.rating_data(path, file_stamp, columns))


def split_choice(dataset: Dataset) -> SplitChoice:
    """hmf_core.data.datasets.default_split of the dataset, cached by its file."""
    return _split_choice(dataset.ratings, loads.stamp(dataset.ratings), dataset.columns)


RANGES = {  # widget key -> (lowest, highest) it accepts: a run's value outside is not loaded
    "train_user_depth": (0, 4),
    "train_item_depth": (0, 4),
    "train_dim": (1, 512),
    "train_lr": (1e-6, 1.0),
    "train_weight_decay": (0.0, 1.0),
    "train_max_epochs": (1, 5000),
    "train_patience": (1, 500),
    "train_seed": (0, 2**31 - 1),
    "train_temperature": (0.01, 10.0),
    "train_threads": (0, 64),
    "train_warm_start_sharpness": (0.5, 0.99),
    "train_logit_lr": (1e-6, 1.0),
    "train_entropy_weight": (0.0, 10.0),
    "train_init_std": (0.0001, 10.0),
}


def _form_values(settings: dict) -> dict:
    """The Train form's widget values that reproduce a run's settings.json."""
    threshold = settings.get("positive_threshold")
    values = {
        "train_task": settings.get("task"),
        "train_use_threshold": threshold is not None,
        "train_threshold": float(threshold) if threshold is not None else 4.0,
        "train_user_depth": settings.get("user_depth"),
        "train_item_depth": settings.get("item_depth"),
        "train_user_clusters": _counts_text(settings.get("user_clusters") or []),
        "train_item_clusters": _counts_text(settings.get("item_clusters") or []),
        "train_dim": settings.get("dim"),
        "train_lr": settings.get("lr"),
        "train_weight_decay": settings.get("weight_decay"),
        "train_batch_size": settings.get("batch_size"),
        "train_max_epochs": settings.get("max_epochs"),
        "train_patience": settings.get("patience"),
        "train_split": settings.get("split"),
        "train_seed": settings.get("seed"),
        "train_device": settings.get("accelerator"),
        "train_compare_mf": settings.get("compare_mf"),
        "train_temperature": settings.get("temperature"),
        "train_threads": settings.get("threads") or 0,
        "train_projection": settings.get("projection"),
        "train_preset": settings.get("preset"),
    }
    for key, field in KNOBS.items():
        values[key] = settings.get(field)
    if values["train_logit_lr"] is None:  # None: the embeddings' learning rate
        values["train_logit_lr"] = settings.get("lr")
    return values


def _accepted(key: str, value) -> bool:
    if value is None:
        return False
    if key in RANGES:
        low, high = RANGES[key]
        return isinstance(value, (int, float)) and low <= value <= high
    choices = {
        "train_task": ("rating", "ranking"),
        "train_batch_size": BATCH_SIZES,
        "train_split": SPLITS,
        "train_device": ("auto", "cpu", "gpu") if torch.cuda.is_available() else ("auto", "cpu"),
    }
    return key not in choices or value in choices[key]


FLOATS = {"train_lr", "train_weight_decay", "train_temperature", "train_logit_lr"}
FLOATS |= {"train_entropy_weight", "train_init_std", "train_warm_start_sharpness"}


def _sync_form(dataset: Dataset, run: RunDir | None) -> None:
    """Before the form is drawn: when the run beside it changed (a reload with ?run=, a run
    picked in the list or the sidebar, a run just started), fill the form with that run's
    settings; else, when the dataset changed, choose that dataset's default split. A value the
    user changes afterwards is kept until then."""
    if run is not None and st.session_state.get("train_form_run") != run.name:
        st.session_state["train_form_run"] = run.name
        st.session_state["train_form_data"] = dataset.ratings
        try:
            settings = run.settings()
        except DamagedFile:
            return
        for key, value in _form_values(settings).items():
            if _accepted(key, value):
                st.session_state[key] = float(value) if key in FLOATS else value
        st.session_state["train_name"] = ""  # the form makes a new run: its own name
        st.session_state["train_note"] = ""
    elif st.session_state.get("train_form_data") != dataset.ratings:
        st.session_state["train_form_data"] = dataset.ratings
        try:
            st.session_state["train_split"] = split_choice(dataset).method
        except Exception:  # unreadable: _new_run says so
            pass


def _form_origin(dataset: Dataset, run: RunDir | None, settings: TrainSettings) -> None:
    """Under the Train button: where the form's values come from, what differs from the run
    shown beside it."""
    if run is None or st.session_state.get("train_form_run") != run.name:
        return
    try:
        shown = run.settings()
    except DamagedFile:
        return
    differs = [
        field
        for field in changed_settings(shown, asdict(settings))
        if field not in ("data", "items", "users", "columns")
    ]
    text = (
        f"The form opened with the settings of run **{literal(run.label)}** (beside it). "
        "Train starts a new run; "
        + (f"changed since: {', '.join(differs)}." if differs else "nothing is changed yet.")
    )
    if shown.get("data") and Path(shown["data"]).resolve() != Path(dataset.ratings).resolve():
        text += (
            f" That run trained on {literal(shown['data'])}; this one trains on the current "
            f"dataset, {literal(dataset.label)}."
        )
    st.caption(text)


def _start(key: str, **default) -> dict:
    """A widget's first value (value=, index=, default=) unless the session holds one already
    (set by `_sync_form` or by the user): Streamlit warns when a widget gets both."""
    return {} if key in st.session_state else default


def _new_run(dataset: Dataset, run: RunDir | None) -> None:
    st.subheader("New run")
    st.caption(f"Data: **{literal(dataset.label)}** (change it on the Data page)")
    try:
        data = loads.dataset_data(dataset)
    except Exception as error:
        st.error(literal(read_error_message(dataset.ratings, error)))
        return
    _sync_form(dataset, run)
    tasks = ["rating", "ranking"]
    task = st.segmented_control(
        "Task",
        tasks,
        required=True,
        key="train_task",
        **_start("train_task", default="ranking" if data.implicit else "rating"),
        format_func={"rating": "Rating (MSE)", "ranking": "Ranking (BPR)"}.get,
        help="Rating: predict the rating, test RMSE. Ranking: rank a held-out item among 99 "
        "unseen ones, HR@10 and MRR@10.",
        **KEEP,
    )
    threshold = None
    if task == "ranking" and not data.implicit:
        if st.checkbox(
            "Only high ratings are positives",
            key="train_use_threshold",
            **_start("train_use_threshold", value=True),
            **KEEP,
        ):
            threshold = st.number_input(
                "Positive if rating ≥",
                step=0.5,
                key="train_threshold",
                **_start("train_threshold", value=4.0),
                **KEEP,
            )

    left, right = st.columns(2)
    user_depth = left.slider(
        "User depth",
        0,
        4,
        key="train_user_depth",
        **_start("train_user_depth", value=DEFAULTS.user_depth),
        help="0 = plain MF on the user side",
        **KEEP,
    )
    item_depth = right.slider(
        "Item depth",
        0,
        4,
        key="train_item_depth",
        **_start("train_item_depth", value=DEFAULTS.item_depth),
        **KEEP,
    )
    user_text = left.text_input(
        "User clusters",
        key="train_user_clusters",
        **_start("train_user_clusters", value=_counts_text(DEFAULTS.user_clusters)),
        disabled=user_depth == 0,
        help="First-level count (halved per level) or one per level: 200,100",
        **KEEP,
    )
    item_text = right.text_input(
        "Item clusters",
        key="train_item_clusters",
        **_start("train_item_clusters", value=_counts_text(DEFAULTS.item_clusters)),
        disabled=item_depth == 0,
        **KEEP,
    )

    left, middle, right = st.columns(3)
    dim = left.number_input(
        "Dimension d", 1, 512, key="train_dim", **_start("train_dim", value=DEFAULTS.dim), **KEEP
    )
    lr = middle.number_input(
        "Learning rate",
        1e-6,
        1.0,
        step=1e-4,
        format="%.1e",
        key="train_lr",
        **_start("train_lr", value=DEFAULTS.lr),
        **KEEP,
    )
    weight_decay = right.number_input(
        "Weight decay",
        0.0,
        1.0,
        step=1e-5,
        format="%.1e",
        key="train_weight_decay",
        **_start("train_weight_decay", value=DEFAULTS.weight_decay),
        **KEEP,
    )
    batch_size = left.selectbox(
        "Batch size",
        BATCH_SIZES,
        key="train_batch_size",
        **_start("train_batch_size", index=BATCH_SIZES.index(DEFAULTS.batch_size)),
        **KEEP,
    )
    max_epochs = middle.number_input(
        "Max epochs",
        1,
        5000,
        key="train_max_epochs",
        **_start("train_max_epochs", value=DEFAULTS.max_epochs),
        **KEEP,
    )
    patience = right.number_input(
        "Patience",
        1,
        500,
        key="train_patience",
        **_start("train_patience", value=DEFAULTS.patience),
        help="Stop after this many epochs without a better "
        "validation metric; the best checkpoint is kept.",
        **KEEP,
    )
    choice = split_choice(dataset)
    split = left.selectbox(
        "Split",
        SPLITS,
        key="train_split",
        **_start("train_split", index=SPLITS.index(choice.method)),
        help=f"Default for this data: {choice.method}, since {choice.reason}. See split sizes "
        "on the Data page.",
        **KEEP,
    )
    seed = middle.number_input(
        "Seed", 0, 2**31 - 1, key="train_seed", **_start("train_seed", value=DEFAULTS.seed), **KEEP
    )
    devices = ["auto", "cpu"] + (["gpu"] if torch.cuda.is_available() else [])
    device = right.selectbox(
        "Device",
        devices,
        key="train_device",
        help="auto = the GPU when there is one"
        if len(devices) > 2
        else "No CUDA GPU found: training runs on the CPU.",
        **KEEP,
    )
    recipe = recipe_controls(float(lr))
    left, right = st.columns([2, 3])
    label = left.text_input(
        "Run name",
        key="train_name",
        max_chars=MAX_NAME,
        placeholder="optional, e.g. depth 2 baseline",
        help="Shown in the run list, the run pickers and the Compare page; editable later.",
        **KEEP,
    )
    note = right.text_area(
        "Note",
        key="train_note",
        max_chars=MAX_NOTE,
        height=68,
        placeholder="optional: what this run tries",
        **KEEP,
    )
    compare_mf = st.checkbox(
        "Also train plain MF on the same split, for comparison",
        key="train_compare_mf",
        **_start("train_compare_mf", value=False),
        **KEEP,
    )
    with st.expander("More settings"):
        temperature = st.number_input(
            "Softmax temperature",
            0.01,
            10.0,
            step=0.1,
            key="train_temperature",
            **_start("train_temperature", value=DEFAULTS.temperature),
            **KEEP,
        )
        threads = st.number_input(
            "CPU threads (0 = automatic)",
            0,
            64,
            key="train_threads",
            **_start("train_threads", value=0),
            **KEEP,
        )
        projection = st.checkbox(
            "Compute the UMAP map after training",
            key="train_projection",
            **_start("train_projection", value=DEFAULTS.projection),
            **KEEP,
        )

    try:
        settings = TrainSettings(
            data=dataset.ratings,
            items=dataset.items,
            users=dataset.users,
            columns=dataset.column_names(),
            task=task,
            positive_threshold=threshold,
            split=split,
            seed=int(seed),
            dim=int(dim),
            user_depth=user_depth,
            item_depth=item_depth,
            user_clusters=parse_cluster_counts(user_text, "User") if user_depth else [1],
            item_clusters=parse_cluster_counts(item_text, "Item") if item_depth else [1],
            temperature=float(temperature),
            **recipe,
            lr=float(lr),
            weight_decay=float(weight_decay),
            batch_size=int(batch_size),
            max_epochs=int(max_epochs),
            patience=int(patience),
            compare_mf=compare_mf,
            projection=projection,
            accelerator=device,
            threads=int(threads) or None,
        )
        user_levels, item_levels = settings.levels("user"), settings.levels("item")
    except ValueError as error:
        st.error(literal(error))
        return
    try:
        sizes = loads.dataset_split(dataset, split, int(seed))
    except Exception as error:  # the split itself refuses this data
        st.error(literal(f"The {split} split cannot be made: {error}"))
        return
    st.caption(
        f"{split} split: {sizes['train']:,} train · {sizes['val']:,} validation · "
        f"{sizes['test']:,} test ratings; {sizes['users']:,} users × "
        f"{sizes['items']:,} items."
    )
    try:
        settings.validate(data, sizes)
        problem = None
    except ValueError as error:
        problem = str(error)
    for warning in cluster_warnings(settings, sizes):
        st.warning(literal(warning))
    shape = (
        " → ".join(map(str, user_levels)) or "none (MF)",
        " → ".join(map(str, item_levels)) or "none (MF)",
    )
    config = settings.config_for(sizes["users"], sizes["items"])
    memory = training_memory_bytes(
        config, settings.optimizer, batch_size=settings.batch_size, n_ratings=sizes["train"]
    )
    st.caption(
        f"User clusters per level: {shape[0]}; item clusters per level: {shape[1]}. "
        f"{parameter_count(config):,} parameters; training needs about "
        f"{memory['total'] / 2**20:,.0f} MiB (estimate: weights, gradients, AdamW state, data)."
    )
    active = [other.label for other in runs() if run_status(other).active]
    if active:
        st.caption(
            f"Already training: {literal(', '.join(active))}. Runs share the CPU, so a second "
            "one slows both."
        )
    access = gate.current_access()
    if access.limits:
        _shared_limits(access.limits)
    if st.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        key="train_button",
        disabled=problem is not None,
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
    if problem:
        st.error(literal(problem))  # may quote a file name or a column
    _form_origin(dataset, run, settings)


def _shared_limits(limits: SharedLimits) -> None:
    """What a shared app allows, stated where it bites: trainings at once, disk for runs."""
    used = folder_bytes(runs_root())
    st.caption(
        f"This app is shared: at most {limits.trainings} training(s) run at once "
        "(HMF_SHARED_TRAININGS), more wait in line and start when one ends; a new training is "
        f"refused while runs use more than {size_text(limits.runs_bytes)} of disk "
        f"(HMF_SHARED_RUNS_GB; now {size_text(used)})."
    )


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
    metrics = {"HMF epochs": str(int(hmf.get("epoch") or 0))}
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
    from hmf_core.runs.evaluate import evaluate_checkpoint  # Lightning: imported when needed

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
            f"HMF Test {format_metrics(test)} (best epoch {test.get('best_epoch')})"
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
    rows = [
        loads.run_row(other, statuses.get(other.name) or run_status(other)) for other in available
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
