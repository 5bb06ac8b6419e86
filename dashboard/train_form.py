"""The Train page's form: the widgets that collect a new run's fields, the values that
reproduce an earlier run's settings in them, and the TrainSettings the fields make.

Widget keys start with ``train_``; every widget keeps its value while the user visits other
pages (KEEP), and `sync_form` fills them from the run shown beside the form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import streamlit as st
import torch

from dashboard import loads, mfdmc_form
from dashboard.recipe import DEFAULT_PRESET, KNOBS, apply_preset, preset_knobs, recipe_controls
from dashboard.sizes_panel import sizes_panel
from dashboard.text import literal
from hmf_core import (
    FAMILIES,
    MAX_NAME,
    MAX_NOTE,
    RANKING_NEGATIVES,
    SPLITS,
    TASKS,
    DamagedFile,
    Dataset,
    RunDir,
    SplitChoice,
    TrainSettings,
    changed_settings,
    default_split,
    parse_cluster_counts,
    task_metric_text,
    with_preset,
    without_unused,
)

DEFAULTS = TrainSettings()
BATCH_SIZES = [128, 256, 512, 1024, 2048, 4096, 8192, 16384]
KEEP = {"persist_state": "session"}  # keep the form's values when the user visits other pages


def _counts_text(counts: list[int]) -> str:
    return ",".join(map(str, counts))


@st.cache_data(max_entries=8, show_spinner="Choosing the split…")
def _split_choice(path: str, file_stamp: tuple, columns: tuple) -> SplitChoice:
    return default_split(loads.rating_data(path, file_stamp, columns))


def split_choice(dataset: Dataset) -> SplitChoice:
    """hmf_core.data.datasets.default_split of the dataset, cached by its file."""
    return _split_choice(dataset.ratings, loads.stamp(dataset.ratings), dataset.columns)


# --- an earlier run's settings, back in the form ----------------------------------------------

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
    **mfdmc_form.RANGES,
}
FLOATS = {"train_lr", "train_weight_decay", "train_temperature", "train_logit_lr"}
FLOATS |= {"train_entropy_weight", "train_init_std", "train_warm_start_sharpness"}
FLOATS |= mfdmc_form.FLOATS


def _form_values(settings: dict) -> dict:
    """The Train form's widget values that reproduce a run's settings.json."""
    threshold = settings.get("positive_threshold")
    values = {
        "train_task": settings.get("task"),
        "train_family": settings.get("family", "hmf"),
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
    return values | mfdmc_form.knob_values(settings)


def _accepted(key: str, value) -> bool:
    if value is None:
        return False
    if key in RANGES:
        low, high = RANGES[key]
        return isinstance(value, (int, float)) and low <= value <= high
    choices = {
        "train_task": TASKS,
        "train_family": tuple(FAMILIES),
        "train_view_combine": mfdmc_form.COMBINES,
        "train_prune": (True, False),
        "train_batch_size": BATCH_SIZES,
        "train_split": SPLITS,
        "train_device": ("auto", "cpu", "gpu") if torch.cuda.is_available() else ("auto", "cpu"),
    }
    return key not in choices or value in choices[key]


def _run_settings(run: RunDir | None) -> dict | None:
    """The run's settings.json, None for no run or a damaged one."""
    if run is None:
        return None
    try:
        return run.settings()
    except DamagedFile:
        return None


def _same_data(settings: dict, dataset: Dataset) -> bool:
    """Whether settings.json's data file is the dataset's rating file."""
    data = settings.get("data")
    return bool(data) and Path(data).resolve() == Path(dataset.ratings).resolve()


def default_values(dataset: Dataset, implicit: bool) -> dict:
    """The form's values before any run: the app's defaults (the first family with the default
    preset's recipe, MFDMC's knobs at its own), the task the data suits, the dataset's split."""
    family = next(iter(FAMILIES))
    values = _form_values(asdict(with_preset(DEFAULT_PRESET, family=family)))
    values |= preset_knobs(DEFAULT_PRESET, family)
    values |= mfdmc_form.knob_values(vars(with_preset(DEFAULT_PRESET, family="mfdmc")))
    values |= {
        "train_family": family,
        "train_task": "ranking" if implicit else "rating",
        "train_use_threshold": True,
        "train_threshold": 4.0,
        "train_device": "auto",
        "train_threads": 0,
        "train_compare_mf": False,
    }
    try:
        values["train_split"] = split_choice(dataset).method
    except Exception:  # unreadable: the Train page says so
        values["train_split"] = DEFAULTS.split
    return values


def _fill(values: dict) -> None:
    """Put `values` (widget key -> value) in the form; the new run gets its own name."""
    for key, value in values.items():
        if _accepted(key, value):
            st.session_state[key] = float(value) if key in FLOATS else value
    st.session_state["train_name"] = ""
    st.session_state["train_note"] = ""


def reset_form(dataset: Dataset, implicit: bool) -> None:
    """The "Reset to defaults" button (and a new dataset): the app's defaults in every field."""
    values = {
        key: float(value) if key in FLOATS else value
        for key, value in default_values(dataset, implicit).items()
        if _accepted(key, value)
    }
    _fill(values)
    st.session_state["train_form_origin"] = None  # the defaults, not a run
    st.session_state["train_form_defaults"] = values


def sync_form(dataset: Dataset, run: RunDir | None, implicit: bool) -> None:
    """Before the form is drawn. When the run beside it changed (a reload with ?run=, a run
    picked in the list or the sidebar, a run just started) and it trained on the current
    dataset: that run's settings. Else, when the dataset changed: the app's defaults and the
    dataset's split (`default_values`), never the settings of a run on other data. A value the
    user changes afterwards is kept until then."""
    run_changed = run is not None and st.session_state.get("train_form_run") != run.name
    data_changed = st.session_state.get("train_form_data") != dataset.ratings
    if not (run_changed or data_changed):
        return
    st.session_state["train_form_data"] = dataset.ratings
    if run is not None:
        st.session_state["train_form_run"] = run.name
    settings = _run_settings(run)
    if settings is not None and _same_data(settings, dataset):
        _fill(_form_values(settings))
        st.session_state["train_form_origin"] = run.name
    elif data_changed:
        reset_form(dataset, implicit)


def form_origin(
    place, dataset: Dataset, run: RunDir | None, settings: TrainSettings | None
) -> None:
    """In `place` (above the form), a visible line: which run the form's values came from and
    what differs since, or that they are the app's defaults for this dataset (and why the run
    beside, on other data, was not copied)."""
    origin = st.session_state.get("train_form_origin")
    shown = _run_settings(run)
    if run is not None and origin == run.name and shown is not None:
        differs = [
            field
            for field in changed_settings(shown, asdict(settings) if settings else shown)
            if field not in ("data", "items", "users", "columns", "column_types")
        ]
        text = (
            f"The form opened with the settings of run **{literal(run.label)}** (beside it"
            + (f", directory {literal(run.name)}" if run.label != run.name else "")
            + "). Train starts a new run; "
            + (f"changed since: {', '.join(differs)}." if differs else "nothing is changed yet.")
        )
    elif origin:
        text = (
            f"The form opened with the settings of run directory **{literal(origin)}**, "
            "trained on this dataset."
        )
    else:
        defaults = st.session_state.get("train_form_defaults") or {}
        differs = [
            key.removeprefix("train_")
            for key, value in defaults.items()
            if key in st.session_state and st.session_state[key] != value
        ]
        text = (
            f"The form holds the app's defaults for **{literal(dataset.label)}** (split "
            f"{literal(defaults.get('train_split'))}, this dataset's default); "
            + (f"changed since: {', '.join(differs)}." if differs else "nothing is changed yet.")
        )
    if run is not None and shown is not None and not _same_data(shown, dataset):
        text += (
            f" The run beside, **{literal(run.label)}**, trained on "
            f"{literal(Path(shown.get('data') or '?').name)}: its settings were not copied."
        )
    place.info(text, icon=":material/tune:")


# --- the widgets ------------------------------------------------------------------------------


@dataclass
class TrainForm:
    """The form's values as its widgets return them (text, not yet parsed or checked)."""

    task: str
    threshold: float | None
    family: str
    user_depth: int
    item_depth: int
    user_text: str
    item_text: str
    dim: int
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    split: str
    seed: int
    device: str
    recipe: dict  # TrainSettings fields from dashboard.recipe, the preset's name included
    mfdmc: dict  # MFDMC's TrainSettings fields (dashboard.mfdmc_form); {} for another family
    label: str
    note: str
    compare_mf: bool
    temperature: float
    threads: int
    projection: bool


def _start(key: str, **default) -> dict:
    """A widget's first value (value=, index=, default=) unless the session holds one already
    (set by `sync_form` or by the user): Streamlit warns when a widget gets both."""
    return {} if key in st.session_state else default


def _task_fields(implicit: bool) -> dict:
    """The task and, for ranking on explicit ratings, the threshold of a positive."""
    task = st.segmented_control(
        "Task",
        TASKS,
        required=True,
        key="train_task",
        **_start("train_task", default="ranking" if implicit else "rating"),
        format_func={"rating": "Rating (MSE)", "ranking": "Ranking (BPR)"}.get,
        help=f"Rating: predict the rating, test {task_metric_text('rating')}. Ranking: rank a "
        f"held-out item among {RANKING_NEGATIVES} unseen ones, {task_metric_text('ranking')}.",
        **KEEP,
    )
    threshold = None
    if task == "ranking" and not implicit:
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
    return {"task": task, "threshold": threshold}


def _cluster_fields(dataset: Dataset) -> dict:
    """The model family, then its shape: MFDMC's views and centres (dashboard.mfdmc_form), or
    depth and cluster counts of each side, in two columns."""
    family = st.selectbox(
        "Model family",
        list(FAMILIES),
        key="train_family",
        format_func=lambda name: FAMILIES[name].label,
        on_change=apply_preset,  # the recipe is the family's own (MFDMC's differs)
        help="hmf: clusters of clusters, depth levels per side. twostage: one k-means grouping "
        "per side (depth 0 or 1); it uses the recipe's biases and init std only. mfdmc: several "
        "parallel views per side, each a clustering whose weak centres are pruned as it "
        "trains; it has its own knobs and recipe.",
        **KEEP,
    )
    if family == "mfdmc":  # HMF's depth and counts are not read (and would be refused)
        shape = {"user_depth": DEFAULTS.user_depth, "item_depth": DEFAULTS.item_depth}
        shape |= {"user_text": _counts_text(DEFAULTS.user_clusters)}
        shape |= {"item_text": _counts_text(DEFAULTS.item_clusters)}
        return {"family": family, **shape, "mfdmc": mfdmc_form.mfdmc_fields()}
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
    if family == "hmf":  # the spectral warm start's sizes (hmf_core.interpret.sizes)
        sizes_panel(dataset)
    return {
        "family": family,
        "mfdmc": {},
        "user_depth": user_depth,
        "item_depth": item_depth,
        "user_text": user_text,
        "item_text": item_text,
    }


def _optimiser_fields(left, middle, right) -> dict:
    """Dimension, learning rate, weight decay, batch size, epochs and patience: two rows of the
    three columns given."""
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
    return {
        "dim": dim,
        "lr": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "max_epochs": max_epochs,
        "patience": patience,
    }


def _split_fields(dataset: Dataset, left, middle, right) -> dict:
    """Split, seed and device: one row of the three columns given."""
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
    return {"split": split, "seed": seed, "device": device}


def _name_fields() -> dict:
    """The new run's name and note, and whether plain MF trains beside it."""
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
    return {"label": label, "note": note, "compare_mf": compare_mf}


def _more_settings() -> dict:
    """The "More settings" expander: temperature, CPU threads, the UMAP map."""
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
    return {"temperature": temperature, "threads": threads, "projection": projection}


def train_form(dataset: Dataset, implicit: bool) -> TrainForm:
    """Every widget of the form, in the page's order; `implicit`: the data has no ratings."""
    fields = _task_fields(implicit) | _cluster_fields(dataset)
    left, middle, right = st.columns(3)
    fields |= _optimiser_fields(left, middle, right) | _split_fields(dataset, left, middle, right)
    fields["recipe"] = recipe_controls(float(fields["lr"]), fields["family"])
    fields |= _name_fields() | _more_settings()
    return TrainForm(**fields)


# --- the form's values as settings ------------------------------------------------------------


def form_settings(dataset: Dataset, form: TrainForm) -> TrainSettings:
    """The TrainSettings of the form's values on the dataset; ValueError names a field the
    settings refuse (a cluster count that is not a number, a threshold on implicit data...)."""
    settings = TrainSettings(
        family=form.family,
        data=dataset.ratings,
        items=dataset.items,
        users=dataset.users,
        columns=dataset.column_names(),
        column_types=dataset.type_overrides(),
        task=form.task,
        positive_threshold=form.threshold,
        split=form.split,
        seed=int(form.seed),
        dim=int(form.dim),
        user_depth=form.user_depth,
        item_depth=form.item_depth,
        user_clusters=parse_cluster_counts(form.user_text, "User") if form.user_depth else [1],
        item_clusters=parse_cluster_counts(form.item_text, "Item") if form.item_depth else [1],
        temperature=float(form.temperature),
        **form.recipe,
        **form.mfdmc,
        lr=float(form.lr),
        weight_decay=float(form.weight_decay),
        batch_size=int(form.batch_size),
        max_epochs=int(form.max_epochs),
        patience=int(form.patience),
        compare_mf=form.compare_mf,
        projection=form.projection,
        accelerator=form.device,
        threads=int(form.threads) or None,
    )
    return without_unused(settings)  # the recipe's HMF-only knobs, for another family
