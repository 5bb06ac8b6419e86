"""Cached loads: files read and models built once, shared by every page and session.

`st.cache_resource` for models and read-only data objects, `st.cache_data` for tables; each
keyed by the file's path and modification stamp so a new file (a better checkpoint, an edited
upload) is read again. Everything is computed by `hmf_core`; this module only caches it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from hmf_core import (
    LABELS_VERSION,
    MAP_METHODS,
    Coverage,
    Dataset,
    RatingData,
    RunDir,
    RunStatus,
    by_side,
    describe,
    detect_types,
    make_split,
    metadata_coverage,
    open_dataset,
    pca_map,
    read_metadata,
    read_only,
    read_ratings,
    time_histogram,
)

Key = tuple[str, int]  # (run path, checkpoint mtime): the key of everything computed from a model


def stamp(path: str | Path | None) -> tuple:
    """(mtime, size) of a file outside a run (a dataset's), part of its cache key."""
    try:
        info = Path(path).stat() if path else None
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size) if info else ()


# --- datasets --------------------------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner="Reading the rating file…")
def rating_data(path: str, file_stamp: tuple, columns: tuple, _report=None) -> RatingData:
    """The parsed rating file (read-only: shared by every session). `_report` (no part of
    the key) hears the reading's progress (hmf_core.common.progress); it must call no st function:
    messages sent from inside a cached function are replayed on its next hit."""
    return read_ratings(path, **dict(columns), report=_report)


@st.cache_data(max_entries=8, show_spinner="Reading the metadata file…")
def metadata(path: str, file_stamp: tuple, kind: str) -> pd.DataFrame:
    return read_metadata(path, kind=kind)


@st.cache_data(max_entries=16, show_spinner="Splitting…")
def split_summary(
    path: str, file_stamp: tuple, columns: tuple, method: str, seed: int, _report=None
) -> dict:
    data = rating_data(path, file_stamp, columns)
    return make_split(data, method, seed, report=_report).summary()


def dataset_data(dataset: Dataset, report=None) -> RatingData:
    return rating_data(dataset.ratings, stamp(dataset.ratings), dataset.columns, report)


@st.cache_data(max_entries=8, show_spinner=False)
def _time_histogram(path: str, file_stamp: tuple, columns: tuple) -> pd.DataFrame:
    return time_histogram(rating_data(path, file_stamp, columns).table["timestamp"].to_numpy())


def dataset_time_histogram(dataset: Dataset) -> pd.DataFrame:
    """hmf_core.data.datasets.time_histogram of the dataset's timestamps, binned once per file."""
    return _time_histogram(dataset.ratings, stamp(dataset.ratings), dataset.columns)


@st.cache_data(max_entries=16, show_spinner=False)
def _coverage(
    path: str, file_stamp: tuple, columns: tuple, meta_path: str, meta_stamp: tuple, kind: str
) -> Coverage:
    data = rating_data(path, file_stamp, columns)
    ids = by_side(kind, data.user_ids, data.item_ids)
    return metadata_coverage(metadata(meta_path, meta_stamp, kind), ids)


def dataset_coverage(dataset: Dataset, kind: str) -> Coverage | None:
    """hmf_core.data.datasets.metadata_coverage of the dataset's `kind` ("item" or "user")
    metadata, computed once per pair of files (None: no such metadata file)."""
    meta_path = dataset.metadata_path(kind)
    if not meta_path:
        return None
    path = dataset.ratings
    return _coverage(path, stamp(path), dataset.columns, meta_path, stamp(meta_path), kind)


def dataset_metadata(dataset: Dataset, kind: str) -> pd.DataFrame | None:
    path = dataset.metadata_path(kind)
    return metadata(path, stamp(path), kind) if path else None


def dataset_column_types(dataset: Dataset, kind: str) -> dict | None:
    """hmf_core.detect_types of a dataset's metadata file (its index a column again), made once
    per file: 0.4 s of every Data page run at 26,744 items (every reload lands there)."""
    path = dataset.metadata_path(kind)
    return column_types(path, stamp(path), kind) if path else None


@st.cache_data(max_entries=8, show_spinner=False)
def column_types(path: str, file_stamp: tuple, kind: str) -> dict:
    return detect_types(metadata(path, file_stamp, kind).reset_index())


def dataset_split(dataset: Dataset, method: str, seed: int, report=None) -> dict:
    path, columns = dataset.ratings, dataset.columns
    return split_summary(path, stamp(path), columns, method, seed, report)


def check_dataset(candidate: Dataset, report=None) -> tuple[Dataset | None, list[str]]:
    """hmf_core.data.datasets.open_dataset through the caches (so the pages find the files read);
    `report` hears the reading's progress (see rating_data)."""
    return open_dataset(
        candidate,
        load_ratings=lambda dataset: dataset_data(dataset, report),
        load_metadata=lambda path, kind: metadata(path, stamp(path), kind),
    )


# --- runs ------------------------------------------------------------------------------------


@st.cache_data(max_entries=1024, show_spinner=False)
def _run_row(path: str, fingerprint: tuple, phase: str, elapsed_s: float, _status) -> dict:
    return describe(RunDir(path), _status)


def run_row(run: RunDir, status: RunStatus) -> dict:
    """hmf_core.runs.manager.describe(run, status), a run list's line. A run whose state and elapsed
    time no longer change is described once for every session (a reload too), until one of
    its files changes (its fingerprint): describe checks every file of a run for damage."""
    if status.active or (status.started is not None and status.ended is None):
        return describe(run, status)  # its elapsed time grows with the clock
    return _run_row(str(run.path), run.fingerprint(), status.phase, status.elapsed_s, status)


def model_key(run: RunDir) -> Key | None:
    checkpoint = run.checkpoint_stamp()
    return None if checkpoint is None else (str(run.path), checkpoint)


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def load_model(path: str, checkpoint_mtime: int):
    """The run's model, read-only: its groupings computed once (hmf_core.read_only)."""
    return read_only(RunDir(path).load_model())


@st.cache_data(max_entries=24, show_spinner=False)
def run_table(path: str, name: str, file_stamp: tuple) -> pd.DataFrame:
    return RunDir(path).table(name)


def table(run: RunDir, name: str) -> pd.DataFrame:
    """users.csv, items.csv or interactions.parquet of a run (cached)."""
    return run_table(str(run.path), name, run.stamp(name))


@st.cache_data(max_entries=12, show_spinner=False)
def saved_map(path: str, method: str, file_stamp: tuple) -> pd.DataFrame | None:
    return RunDir(path).map(method)


@st.cache_data(max_entries=6, show_spinner="Projecting the embeddings (PCA)…")
def live_pca_map(path: str, checkpoint_mtime: int) -> pd.DataFrame:
    run = RunDir(path)
    return pca_map(load_model(path, checkpoint_mtime), table(run, "users"), table(run, "items"))


def map_labels(key: Key, name: str) -> pd.DataFrame | None:
    """map_names or map_metadata as the run's maps job saved them (RunDir.map_labels), read
    once per file; None when there is nothing usable to read (the caller computes them)."""
    run = RunDir(key[0])
    return _map_labels(key, name, run.stamp(name), run.stamp("maps"))


@st.cache_data(max_entries=16, show_spinner=False)
def _map_labels(key: Key, name: str, file_stamp: tuple, maps_stamp: tuple) -> pd.DataFrame | None:
    return RunDir(key[0]).map_labels(name, LABELS_VERSION)


def run_map(run: RunDir, key: Key) -> tuple[pd.DataFrame, str]:
    """The best map there is: UMAP if written, else the saved PCA map, else PCA now."""
    method = run_map_method(run)
    frame = saved_map(str(run.path), method, run.stamp(f"map_{method}"))
    return (frame if frame is not None else live_pca_map(*key)), method


def run_map_method(run: RunDir) -> str:
    """The method of run_map's map ("umap" or "pca"), without copying the map out of the
    cache as run_map does (16 ms at 165,000 points; each Map rerun asks)."""
    stamps = tuple(run.stamp(f"map_{method}") for method in MAP_METHODS)
    return _best_map_method(str(run.path), stamps)


@st.cache_data(max_entries=32, show_spinner=False)
def _best_map_method(path: str, stamps: tuple) -> str:
    # written after training, from the best checkpoint: the last of MAP_METHODS that reads
    for method, stamp in reversed(list(zip(MAP_METHODS, stamps, strict=True))):
        if saved_map(path, method, stamp) is not None:
            return method
    return "pca"  # none saved: run_map computes PCA now
