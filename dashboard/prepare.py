"""Work done ahead, in background threads, so that a first visit or a first click reads what it
needs instead of computing it: what a page reads is cached (dashboard.loads, queries, map_data),
and a thread here fills those caches while a reader is still on another page. Also, once per
process, the imported modules taken out of the garbage collector's full passes
(`freeze_startup_objects`).

Each job runs once per process and key, in a daemon thread at the lowest priority. A page that
needs a value before its thread has made it waits for it (Streamlit computes a cached value once
per key) or computes what the thread has not started; a thread that fails only logs it (the page
shows its own error)."""

from __future__ import annotations

import gc
import logging
import os
import threading

from dashboard import loads, map_data, queries
from hmf_core import MAP_METHODS, RunDir, run_status

_LOGGER = logging.getLogger(__name__)
_JOBS: dict = {}  # (name, key...) -> its thread
_LOCK = threading.Lock()
_FROZEN = False  # freeze_startup_objects has run in this process


def freeze_startup_objects() -> None:
    """Once per process, after its first page: move every object alive now (the imported
    modules: torch, pandas, streamlit and the app's own, about 400,000 objects) into the
    garbage collector's permanent generation, so that a full collection no longer walks them.
    Python starts one on its own now and then, holding every thread meanwhile, so a click it
    lands in waits: 190 ms with these modules loaded, 0.6 ms frozen (benchmarks/results/
    latency.md). Frozen objects are still freed when no reference is left; only a reference
    cycle among them would stay, and they are the app's modules, kept for its whole life."""
    global _FROZEN
    with _LOCK:
        if not _FROZEN:
            gc.freeze()
            _FROZEN = True


def run_pages(run: RunDir | None) -> threading.Thread | None:
    """Start making the first view of `run` on the Map (its drawn frame: the map, names,
    metadata, cluster verdicts and hover texts; 0.5-0.6 s of a first Map visit with 165,000
    points) and what Explain reads for any user (the run's tables, the pickers' labels):
    app.py calls it once a page is drawn. Once per checkpoint, map and stability file; nothing
    while the run trains (each epoch a new checkpoint) or before it has a model."""
    if run is None or not run.exists() or run_status(run).active:
        return None
    key = loads.model_key(run)
    if key is None:
        return None
    stamp = (*(run.stamp(f"map_{method}") for method in MAP_METHODS), run.stamp("stability"))
    return _in_background(("run-pages", key, stamp), _run_pages, run, key)


def _run_pages(run: RunDir, key: loads.Key) -> None:
    map_data.drawn(run, key, "model")
    queries.level_sizes(key)
    for name in ("users", "items", "interactions"):
        loads.table(run, name)
    for side in ("user", "item"):
        queries.labels(key, side)


def map_clicks(key: loads.Key, levels: list[int]) -> threading.Thread:
    """Start making what a first cluster click on the Map reads besides the cluster's own
    rows: the embedding table its neighbours are found in, each side's top clusters at the
    `levels` shown, and the users' and items' tables (0.5 s with 138,000 users, which the first
    click of a session paid). The Map page calls it once drawn; once per run and levels."""
    return _in_background(("map-clicks", key, tuple(levels)), _map_clicks, key, levels)


def _map_clicks(key: loads.Key, levels: list[int]) -> None:
    queries.embedding_table(key)
    for side, depth in queries.level_counts(key).items():
        for level in (level for level in levels if 1 <= level <= depth):
            queries.top_clusters_of(key, side, level)
    for name in ("users", "items"):
        loads.table(RunDir(key[0]), name)


def _in_background(job: tuple, work, *args) -> threading.Thread:
    """`work(*args)` in a daemon thread, once per `job` in this process: the thread, started
    now or before."""
    with _LOCK:
        if job not in _JOBS:
            _JOBS[job] = threading.Thread(
                target=_lowest_priority, args=(work, *args), name=f"hmf-{job[0]}", daemon=True
            )
            _JOBS[job].start()
        return _JOBS[job]


def _lowest_priority(work, *args) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
    except (AttributeError, OSError):  # not Linux: the thread keeps the app's priority
        pass
    try:
        work(*args)
    except Exception:  # e.g. the run was deleted meanwhile: the page shows its own error
        _LOGGER.warning("Preparing %s failed", work.__name__, exc_info=True)
