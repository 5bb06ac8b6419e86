"""What the pages share: the current dataset, the current run, the map selection, cached loads.

Everything heavy is computed by `hmf_core`; this module only decides what to load, caches it
(`st.cache_data` for tables, `st.cache_resource` for models and read-only data objects, both
keyed by the file's path and modification time so a new checkpoint is picked up) and keeps the
user's choices in `st.session_state`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import streamlit as st

from hmf_core.errors import DataFormatError
from hmf_core.metadata import read_metadata
from hmf_core.projection import load_map, pca_map
from hmf_core.ratings import RatingData, read_ratings
from hmf_core.rundir import RunDir, read_json
from hmf_core.runs import runs, runs_root
from hmf_core.split import make_split

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / "assets" / "ml-latest-small"
FINAL_STATES = ("finished", "stopped", "failed")


# --- datasets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """The files a run would train on: a rating file and optional item / user metadata."""

    label: str
    ratings: str  # absolute path (the training process reads it by path)
    items: str | None = None
    users: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # explicit (user_col, name), (item_col, name)...
    demo: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)  # metadata files refused

    def column_names(self) -> dict:
        return dict(self.columns)


DEMO = Dataset(
    label="MovieLens latest-small (bundled demo)",
    ratings=str(DEMO_DIR / "ratings.csv"),
    items=str(DEMO_DIR / "movies.csv"),
    demo=True,
)


def uploads_root() -> Path:
    return runs_root() / "uploads"


def current_dataset() -> Dataset:
    return st.session_state.get("dataset", DEMO)


def stamp(path: str | Path | None) -> tuple:
    """(mtime, size) of a file, part of every cache key so an edited file is read again."""
    if not path:
        return ()
    try:
        info = Path(path).stat()
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size)


def store_uploads(
    ratings: tuple[str, bytes],
    items: tuple[str, bytes] | None = None,
    users: tuple[str, bytes] | None = None,
    columns: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """Save uploaded files as `<runs>/uploads/<sha256 of the ratings>/<role>/<original name>`
    and return the dataset made of them (not yet checked: see `open_dataset`).

    The training runs in another process and reads files by path; the original name is kept
    because it decides the format (`u.data`, `ratings.dat`...). Same bytes -> same path, so an
    upload is stored once and can be reopened later (`earlier_uploads`)."""
    folder = uploads_root() / hashlib.sha256(ratings[1]).hexdigest()[:16]
    paths = {}
    for role, upload in (("ratings", ratings), ("items", items), ("users", users)):
        if upload is None:
            continue
        name, data = upload
        safe_name = Path(name.replace("\\", "/")).name.strip() or "upload"
        path = folder / role / safe_name
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{safe_name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        paths[role] = str(path)
    return Dataset(label=f"{Path(paths['ratings']).name} (uploaded)", columns=columns, **paths)


def earlier_uploads() -> list[Dataset]:
    """Datasets saved by earlier uploads (newest first), so nothing uploaded is lost."""
    root = uploads_root()
    if not root.exists():
        return []
    found = []
    for folder in root.iterdir():
        rating_files = sorted((folder / "ratings").glob("*")) if folder.is_dir() else []
        rating_files = [p for p in rating_files if not p.name.startswith(".")]
        if not rating_files:
            continue
        extras = {}
        for role in ("items", "users"):
            files = sorted(p for p in (folder / role).glob("*") if not p.name.startswith("."))
            extras[role] = str(files[-1]) if files else None
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rating_files[0].stat().st_mtime))
        found.append(
            (
                rating_files[0].stat().st_mtime,
                Dataset(
                    label=f"{rating_files[0].name} (uploaded {when})",
                    ratings=str(rating_files[0]),
                    **extras,
                ),
            )
        )
    return [dataset for _, dataset in sorted(found, key=lambda pair: -pair[0])]


def describe_error(path: str | Path, error: Exception) -> str:
    """A sentence for st.error: DataFormatError already names file and line; others get the
    file name and the exception type, never a traceback."""
    if isinstance(error, DataFormatError):
        return str(error)
    return f"{Path(path).name}: could not be read ({type(error).__name__}: {error})"


def open_dataset(candidate: Dataset) -> tuple[Dataset | None, list[str]]:
    """Check a dataset before it becomes current: the rating file must read; a metadata file
    that does not read is dropped (its error returned) and the ratings are still used.

    Returns (dataset or None when the rating file is unusable, error messages)."""
    try:
        rating_data(candidate.ratings, stamp(candidate.ratings), candidate.columns)
    except Exception as error:  # any failure to read is the file's problem, shown plainly
        return None, [describe_error(candidate.ratings, error)]
    errors = []
    changes = {}
    for kind, path in (("item", candidate.items), ("user", candidate.users)):
        if not path:
            continue
        try:
            metadata(path, stamp(path), kind)
        except Exception as error:
            errors.append(
                f"{describe_error(path, error)} — the {kind} metadata is left out; "
                "the ratings are used without it."
            )
            changes[f"{kind}s"] = None
    dataset = replace(candidate, problems=tuple(errors), **changes)
    return dataset, errors


def use_dataset(dataset: Dataset) -> None:
    """Make `dataset` current for this session, and put it in the URL (?data=...) so that a
    reloaded tab or a shared link opens the same files."""
    st.session_state["dataset"] = dataset
    if dataset.demo:
        st.query_params.pop("data", None)
    else:
        fields = {
            "ratings": dataset.ratings,
            "items": dataset.items,
            "users": dataset.users,
            "columns": dataset.columns,
            "label": dataset.label,
        }
        text = json.dumps({k: v for k, v in fields.items() if v}, separators=(",", ":"))
        st.query_params["data"] = base64.urlsafe_b64encode(text.encode()).decode()


def restore_dataset() -> None:
    """At the start of every script run: a new session takes its dataset from the URL (a
    reloaded tab), checked again as on the Data page; the URL follows the session after a
    page switch (which clears it)."""
    if "dataset" in st.session_state:
        use_dataset(st.session_state["dataset"])
        return
    token = st.query_params.get("data")
    if not token:
        return
    try:
        fields = json.loads(base64.urlsafe_b64decode(token.encode()))
        candidate = Dataset(
            label=fields.get("label", Path(fields["ratings"]).name),
            ratings=fields["ratings"],
            items=fields.get("items"),
            users=fields.get("users"),
            columns=tuple(tuple(pair) for pair in fields.get("columns", ())),
        )
    except (ValueError, KeyError, TypeError):
        st.query_params.pop("data", None)  # not ours: ignore it
        return
    dataset, errors = open_dataset(candidate)
    if dataset is None:
        st.session_state["data_errors"] = {"origin": "url", "errors": errors, "kept": True}
        st.query_params.pop("data", None)
        return
    use_dataset(dataset)


@st.cache_resource(max_entries=4, show_spinner="Reading the rating file…")
def rating_data(path: str, file_stamp: tuple, columns: tuple) -> RatingData:
    """The parsed rating file (read-only: shared by every session)."""
    names = dict(columns)
    return read_ratings(path, **names)


@st.cache_data(max_entries=8, show_spinner="Reading the metadata file…")
def metadata(path: str, file_stamp: tuple, kind: str) -> pd.DataFrame:
    return read_metadata(path, kind=kind)


@st.cache_data(max_entries=16, show_spinner="Splitting…")
def split_summary(path: str, file_stamp: tuple, columns: tuple, method: str, seed: int) -> dict:
    data = rating_data(path, file_stamp, columns)
    return make_split(data, method, seed).summary()


def dataset_data(dataset: Dataset) -> RatingData:
    return rating_data(dataset.ratings, stamp(dataset.ratings), dataset.columns)


def dataset_metadata(dataset: Dataset, kind: str) -> pd.DataFrame | None:
    path = dataset.items if kind == "item" else dataset.users
    return metadata(path, stamp(path), kind) if path else None


# --- runs -----------------------------------------------------------------------------------


def all_runs() -> list[RunDir]:
    return runs()  # also reaps the training processes this app started


def open_run(name: str) -> None:
    """Make `name` the current run on the next script run (the sidebar selectbox owns the
    value, and a widget's value can only be set before the widget is drawn)."""
    st.session_state["open_run"] = name


def run_selector() -> RunDir | None:
    """The sidebar's run picker, shared by every page; the choice is kept in the URL."""
    available = all_runs()
    names = [run.name for run in available]
    pending = st.session_state.pop("open_run", None)
    if pending in names:
        st.session_state["run"] = pending
    if not names:
        st.sidebar.caption("No runs yet: train one on the Train page.")
        return None
    name = st.sidebar.selectbox(  # the URL holds the name: ?run=<name>
        "Run",
        names,
        key="run",
        bind="query-params",
        help=f"Runs live in run directories under {runs_root()}; newest first.",
    )
    if not name:
        return None
    run = RunDir(runs_root() / name)
    settings = run.settings()
    st.sidebar.caption(
        f"{settings.get('task', '?')} task on `{Path(settings.get('data', '?')).name}`"
    )
    return run


def current_run() -> RunDir | None:
    name = st.session_state.get("run")
    if not name:
        return None
    run = RunDir(runs_root() / name)
    return run if run.exists() else None


@dataclass
class RunStatus:
    phase: str  # preparing data, training HMF, training MF, computing maps, finished...
    active: bool  # the training process is still working
    hmf: dict
    mf: dict | None
    error: str | None = None


def run_status(run: RunDir) -> RunStatus:
    """Where a run stands: from its files, and whether its process is alive for the steps
    that follow HMF's training (the MF comparison, then the maps)."""
    hmf = run.progress()  # reports a dead process that was training as failed
    mf_run = run.comparison()
    mf = mf_run.progress() if mf_run is not None else None
    state = hmf.get("state", "queued")
    error = hmf.get("error")
    alive = run.process_alive()
    if state == "queued":
        if alive:
            return RunStatus("preparing data", True, hmf, mf)
        return RunStatus(
            "failed", False, hmf, mf, error or "the training process ended before training started"
        )
    if state == "running":
        return RunStatus("training HMF", True, hmf, mf)
    if state not in ("finished", "stopped"):
        return RunStatus(state, False, hmf, mf, error)
    settings = run.settings()
    if (
        settings.get("compare_mf")
        and state == "finished"
        and (mf is None or mf.get("state") not in FINAL_STATES)
    ):
        next_step = "training MF"
    elif (
        settings.get("projection", True)
        and run.has_model()
        and not (run.path / "maps.json").exists()
    ):
        next_step = "computing maps"
    else:
        return RunStatus(state, False, hmf, mf, error)
    if alive:
        return RunStatus(next_step, True, hmf, mf)
    return RunStatus(state, False, hmf, mf, error)


def log_tail(run: RunDir, lines: int = 30) -> str:
    path = run.path / "log.txt"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def model_key(run: RunDir) -> tuple[str, int] | None:
    """(run path, checkpoint mtime): the cache key of everything computed from the model."""
    checkpoint = run.path / "best.ckpt"
    if not checkpoint.exists():
        return None
    return (str(run.path), checkpoint.stat().st_mtime_ns)


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def load_model(path: str, checkpoint_mtime: int):
    return RunDir(path).load_model()


@st.cache_data(max_entries=24, show_spinner=False)
def run_table(path: str, name: str, file_stamp: tuple) -> pd.DataFrame:
    run = RunDir(path)
    if name == "users":
        return run.users()
    if name == "items":
        return run.items()
    return run.interactions()


def table(run: RunDir, name: str) -> pd.DataFrame:
    """users.csv, items.csv or interactions.parquet of a run (cached)."""
    files = {"users": "users.csv", "items": "items.csv", "interactions": "interactions.parquet"}
    return run_table(str(run.path), name, stamp(run.path / files[name]))


@dataclass
class Explored:
    """A run with a model, as the Explore pages need it."""

    run: RunDir
    key: tuple[str, int]
    status: RunStatus
    model: object = None

    @property
    def users(self) -> pd.DataFrame:
        return table(self.run, "users")

    @property
    def items(self) -> pd.DataFrame:
        return table(self.run, "items")


def require_model() -> Explored:
    """The current run and its model, or a plain explanation and st.stop()."""
    run = current_run()
    if run is None:
        st.info(
            "No run selected yet. Train one on the **Train** page (the bundled demo "
            "trains in about a minute on a CPU), or pick a run in the sidebar."
        )
        st.page_link("views/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    status = run_status(run)
    key = model_key(run)
    if key is None:
        if status.active:
            st.info(
                f"Run **{run.name}** is {status.phase}: the first checkpoint is written "
                "after the first validated epoch. This page fills in then."
            )
        else:
            st.error(
                f"Run **{run.name}** has no checkpoint ({status.phase}"
                f"{': ' + status.error if status.error else ''})."
            )
        st.stop()
    try:
        model = load_model(*key)
    except Exception as error:  # a damaged or half-written checkpoint
        st.error(
            f"The checkpoint of run {run.name} could not be loaded: {type(error).__name__}: {error}"
        )
        st.stop()
    if status.active:
        st.caption(
            f"Run **{run.name}** is still {status.phase}: showing its best checkpoint so far."
        )
    return Explored(run=run, key=key, status=status, model=model)


def levels(model, side: str) -> list[int]:
    config = model.config
    depth = config.user_depth if side == "user" else config.item_depth
    return list(range(1, depth + 1))


# --- maps -----------------------------------------------------------------------------------


@st.cache_data(max_entries=12, show_spinner=False)
def saved_map(path: str, method: str, file_stamp: tuple) -> pd.DataFrame | None:
    return load_map(path, method)


@st.cache_data(max_entries=6, show_spinner="Projecting the embeddings (PCA)…")
def live_pca_map(path: str, checkpoint_mtime: int) -> pd.DataFrame:
    run = RunDir(path)
    return pca_map(load_model(path, checkpoint_mtime), table(run, "users"), table(run, "items"))


def read_map_timings(run: RunDir) -> dict:
    return read_json(run.path / "maps.json")


@st.cache_resource
def _map_jobs() -> dict:
    """Map computations started from this app, by run path (one per run at a time)."""
    return {}


def map_job_running(run: RunDir) -> bool:
    job = _map_jobs().get(str(run.path))
    return job is not None and job.poll() is None


def start_map_job(run: RunDir) -> None:
    """Compute a finished run's maps in a separate process (`python -m hmf_core maps`): UMAP
    takes seconds to tens of seconds on a CPU, and a process keeps the app responsive."""
    if map_job_running(run):
        return
    with open(run.path / "maps_log.txt", "w") as log:
        _map_jobs()[str(run.path)] = subprocess.Popen(
            [sys.executable, "-m", "hmf_core", "maps", str(run.path)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def run_map(explored: Explored) -> tuple[pd.DataFrame, str]:
    """The best map there is: UMAP if written, else the saved PCA map, else PCA now."""
    run = explored.run
    for method in ("umap", "pca"):  # written after training, from the final best checkpoint
        frame = saved_map(str(run.path), method, stamp(run.path / f"map_{method}.parquet"))
        if frame is not None:
            return frame, method
    return live_pca_map(*explored.key), "pca"


# --- selection made on the map (drives the other pages) --------------------------------------


def select(points: list[dict]) -> None:
    """Remember what the user picked in the current run: dicts with kind, level, index
    (first = primary)."""
    st.session_state["selected_points"] = points
    st.session_state["selected_in_run"] = st.session_state.get("run")
    st.session_state["selection_version"] = st.session_state.get("selection_version", 0) + 1


def selected_points() -> list[dict]:
    """The selection, if it was made in the run that is current now (indices are per run)."""
    if st.session_state.get("selected_in_run") != st.session_state.get("run"):
        return []
    return st.session_state.get("selected_points", [])


def selection_version() -> int:
    return st.session_state.get("selection_version", 0)


def selected(kinds: tuple[str, ...]) -> dict | None:
    """The first selected point of one of `kinds` ('user', 'item', 'user cluster'...)."""
    for point in selected_points():
        if point.get("kind") in kinds:
            return point
    return None


def clear_selection() -> None:
    select([])
