"""Train page: configure a run, start it in a background process, watch it learn, stop it,
and reopen any earlier run."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
import torch

from dashboard import charts, loads, state, widgets
from dashboard.recipe import recipe_controls
from dashboard.text import literal
from hmf_core.datasets import Dataset, read_error_message
from hmf_core.errors import RunError
from hmf_core.files import DamagedFile
from hmf_core.memory import parameter_count, training_memory_bytes
from hmf_core.metrics import metric_names
from hmf_core.progress import step_of
from hmf_core.runs import RunStatus, describe, run_status, runs, runs_root, start_run, stop_run
from hmf_core.settings import TrainSettings, cluster_warnings, parse_cluster_counts
from hmf_core.split import SPLITS

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
    settings_column, run_column = st.columns([2, 3], gap="large")
    with settings_column:
        _new_run(state.current_dataset())
    with run_column:
        run = state.current_run()
        if run is None:
            st.info(
                "No run yet. Choose the settings on the left and press **Train**: training "
                "runs in a background process and its curves appear here."
            )
        else:
            _live_panel(run)
    st.divider()
    _run_list()


# --- the settings of a new run ---------------------------------------------------------------


def _counts_text(counts: list[int]) -> str:
    return ",".join(map(str, counts))


def _new_run(dataset: Dataset) -> None:
    st.subheader("New run")
    st.caption(f"Data: **{literal(dataset.label)}** (change it on the Data page)")
    try:
        data = loads.dataset_data(dataset)
    except Exception as error:
        st.error(literal(read_error_message(dataset.ratings, error)))
        return
    tasks = ["rating", "ranking"]
    task = st.segmented_control(
        "Task",
        tasks,
        default="ranking" if data.implicit else "rating",
        required=True,
        key="train_task",
        format_func={"rating": "Rating (MSE)", "ranking": "Ranking (BPR)"}.get,
        help="Rating: predict the rating, test RMSE. Ranking: rank a held-out item among 99 "
        "unseen ones, HR@10 and MRR@10.",
        **KEEP,
    )
    threshold = None
    if task == "ranking" and not data.implicit:
        if st.checkbox(
            "Only high ratings are positives", value=True, key="train_use_threshold", **KEEP
        ):
            threshold = st.number_input(
                "Positive if rating ≥", value=4.0, step=0.5, key="train_threshold", **KEEP
            )

    left, right = st.columns(2)
    user_depth = left.slider(
        "User depth",
        0,
        4,
        DEFAULTS.user_depth,
        key="train_user_depth",
        help="0 = plain MF on the user side",
        **KEEP,
    )
    item_depth = right.slider(
        "Item depth", 0, 4, DEFAULTS.item_depth, key="train_item_depth", **KEEP
    )
    user_text = left.text_input(
        "User clusters",
        _counts_text(DEFAULTS.user_clusters),
        key="train_user_clusters",
        disabled=user_depth == 0,
        help="First-level count (halved per level) or one per level: 200,100",
        **KEEP,
    )
    item_text = right.text_input(
        "Item clusters",
        _counts_text(DEFAULTS.item_clusters),
        key="train_item_clusters",
        disabled=item_depth == 0,
        **KEEP,
    )

    left, middle, right = st.columns(3)
    dim = left.number_input("Dimension d", 1, 512, DEFAULTS.dim, key="train_dim", **KEEP)
    lr = middle.number_input(
        "Learning rate", 1e-6, 1.0, DEFAULTS.lr, step=1e-4, format="%.1e", key="train_lr", **KEEP
    )
    weight_decay = right.number_input(
        "Weight decay",
        0.0,
        1.0,
        DEFAULTS.weight_decay,
        step=1e-5,
        format="%.1e",
        key="train_weight_decay",
        **KEEP,
    )
    batch_size = left.selectbox(
        "Batch size",
        BATCH_SIZES,
        BATCH_SIZES.index(DEFAULTS.batch_size),
        key="train_batch_size",
        **KEEP,
    )
    max_epochs = middle.number_input(
        "Max epochs", 1, 5000, DEFAULTS.max_epochs, key="train_max_epochs", **KEEP
    )
    patience = right.number_input(
        "Patience",
        1,
        500,
        DEFAULTS.patience,
        key="train_patience",
        help="Stop after this many epochs without a better "
        "validation metric; the best checkpoint is kept.",
        **KEEP,
    )
    split = left.selectbox(
        "Split",
        SPLITS,
        SPLITS.index("random" if dataset.demo else "temporal"),
        key="train_split",
        help="See split sizes on the Data page.",
        **KEEP,
    )
    seed = middle.number_input("Seed", 0, 2**31 - 1, DEFAULTS.seed, key="train_seed", **KEEP)
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
    compare_mf = st.checkbox(
        "Also train plain MF on the same split, for comparison",
        value=False,
        key="train_compare_mf",
        **KEEP,
    )
    with st.expander("More settings"):
        temperature = st.number_input(
            "Softmax temperature",
            0.01,
            10.0,
            DEFAULTS.temperature,
            step=0.1,
            key="train_temperature",
            **KEEP,
        )
        threads = st.number_input(
            "CPU threads (0 = automatic)", 0, 64, 0, key="train_threads", **KEEP
        )
        projection = st.checkbox(
            "Compute the UMAP map after training",
            value=DEFAULTS.projection,
            key="train_projection",
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
    active = [run.name for run in runs() if run_status(run).active]
    if active:
        st.caption(
            f"Already training: {', '.join(active)}. Runs share the CPU, so a second "
            "one slows both."
        )
    if st.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        key="train_button",
        disabled=problem is not None,
        width="stretch",
    ):
        run = start_run(settings, root=runs_root())
        state.open_run(run.name)
        st.rerun()
    if problem:
        st.error(problem)


# --- the current run, live -------------------------------------------------------------------


def _live_panel(run) -> None:
    status = run_status(run)

    @st.fragment(run_every=1.0 if status.active else None)
    def panel() -> None:
        now = run_status(run)
        if now.active != status.active:
            st.rerun()  # started or ended: redraw the page (and stop refreshing)
        try:
            _run_view(run, now)
        except DamagedFile as damage:  # a fragment's exception never reaches app.py
            st.error(literal(f"Run {run.name}: {damage}."), icon=":material/broken_image:")

    panel()


def _elapsed(run, status: RunStatus) -> tuple[str, str]:
    """While it runs: time since Train was pressed (settings.json is written then). After:
    the time spent fitting HMF (and MF)."""
    if status.active:
        label, seconds = "Elapsed", time.time() - run.created()
    else:
        label = "Training time"
        seconds = sum(float((part or {}).get("elapsed_s") or 0) for part in (status.hmf, status.mf))
    minutes, seconds = divmod(int(seconds), 60)
    return label, f"{minutes}:{seconds:02d}"


def _run_view(run, status: RunStatus) -> None:
    settings = run.settings()
    header, button = st.columns([4, 1], vertical_alignment="center")
    header.subheader(f"Run {literal(run.name)}")
    if status.active:
        if run.stop_requested():
            button.button("Stopping…", disabled=True, key="stop_pending")
        else:
            button.button(
                "Stop",
                icon=":material/stop:",
                key="stop_button",
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
        f"{settings.get('item_depth')}, d={settings.get('dim')}"
    )
    if status.phase.startswith("damaged"):
        st.error(literal(f"Run {run.name}: {status.error}."), icon=":material/broken_image:")
        return
    if status.phase == "failed":
        st.error(literal(f"Training failed: {status.error or 'see the log below'}"))
        with st.expander("Last lines of the training log"):
            st.code(run.log_tail() or "(empty)", language=None)

    _progress(run, status, settings)
    if not widgets.curve_row(run, settings.get("task", "rating"), "curve_") and status.active:
        st.caption("The first curve point appears when the first epoch ends.")
    _outcome(run, status)


def _progress(run, status: RunStatus, settings: dict) -> None:
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
        fraction, text = step_of(hmf) or (None, status.phase)
        st.progress(1.0 if fraction is None else fraction, text=f"{literal(text)}…")
    metrics = {"HMF epochs": str(int(hmf.get("epoch") or 0))}
    if status.mf is not None or settings.get("compare_mf"):
        metrics["MF epochs"] = str(int((status.mf or {}).get("epoch") or 0))
    label, elapsed = _elapsed(run, status)
    metrics[label] = elapsed
    metrics["Device"] = str(hmf.get("device") or settings.get("accelerator", "?"))
    last = hmf.get("last") or {}
    metric = metric_names(settings.get("task", "rating"), "val")[0]
    value = last.get(metric)
    metrics[charts.METRIC_NAMES[metric].split(" (")[0].replace("Validation", "Val.")] = (
        f"{value:.4f}" if value is not None else "–"
    )
    for cell, (name, value) in zip(st.columns(len(metrics)), metrics.items()):
        cell.metric(name, value)
    if hmf.get("threads") and metrics["Device"] == "cpu":
        st.caption(f"{hmf['threads']} CPU thread(s) for training.")


def _evaluate_kept(run) -> None:
    from hmf_core.training import evaluate_checkpoint  # Lightning: imported when needed

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
        mf_test = mf_run.test_metrics() if mf_run is not None else {}
        shown = ", ".join(
            f"{charts.METRIC_NAMES.get(k, k)} {v:.4f}"
            for k, v in test.items()
            if k.startswith("test_")
        )
        mf_shown = ", ".join(f"{v:.4f}" for k, v in mf_test.items() if k.startswith("test_"))
        st.success(
            f"HMF {shown} (best epoch {test.get('best_epoch')})"
            + (f" · MF {mf_shown}" if mf_shown else ""),
            icon=":material/check_circle:",
        )
    maps = run.maps_ready()
    if maps:
        st.caption(f"Maps ready: {', '.join(maps)}.")
    if run.has_model():
        cells = st.columns(len(EXPLORE_PAGES))
        for cell, (path, title, icon) in zip(cells, EXPLORE_PAGES):
            cell.page_link(path, label=title, icon=icon)


# --- every run on disk -----------------------------------------------------------------------


def _open_selected_run() -> None:
    rows = st.session_state["runs_table"].selection.rows
    names = st.session_state.get("runs_table_names", [])
    if rows and rows[0] < len(names):
        state.open_run(names[rows[0]])


def _run_list() -> None:
    available = runs()
    st.subheader(f"All runs ({len(available)})")
    if not available:
        st.caption(f"Runs are saved under {literal(runs_root())}.")
        return
    rows = [describe(run) for run in available]
    st.session_state["runs_table_names"] = [row["run"] for row in rows]
    st.dataframe(
        rows,
        hide_index=True,
        key="runs_table",
        on_select=_open_selected_run,
        selection_mode="single-row",
    )
    st.caption(
        f"Select a row to open that run. Runs are saved under `{runs_root()}` and "
        "listed again after the app restarts."
    )


train_page()
