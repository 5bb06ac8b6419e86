"""The 2-D maps of a run folder: map_pca.parquet, map_umap.parquet and maps.json, computed from
its checkpoint and tables (hmf_core.interpret.projection computes the maps from a model); and
map_names.parquet / map_metadata.parquet, the names and metadata values the Map's hovers show,
so that a first visit reads them instead of computing them."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from hmf_core.common.progress import Report, silent
from hmf_core.interpret.projection import (
    LABELS_VERSION,
    import_umap,
    map_metadata,
    map_names,
    map_sample,
    pca_map,
    umap_map,
)
from hmf_core.runs.rundir import RunDir


def _write_map(run: RunDir, method: str, frame: pd.DataFrame) -> None:
    run.write_table(f"map_{method}", frame)  # the run's id in the parquet metadata


def save_projections(run_dir: str | Path, seed: int = 0, report: Report | None = None) -> dict:
    """Compute and write the PCA map, the map's names and metadata values, then the UMAP map,
    then maps.json: the timings, `map_sample`'s fields (how many rows UMAP was fitted on, of how
    many) and the labels' version (projection.LABELS_VERSION), or why they could not be saved
    (`labels_error`: the maps are written all the same, and the pages compute the labels).
    Returns maps.json.
    `report(fraction, text)` hears each part (hmf_core.common.progress)."""
    report = report or silent
    report(0.0, "computing the maps: PCA")
    run = RunDir(run_dir)
    model = run.load_model()
    users, items = run.users(), run.items()
    timings = {}
    started = time.perf_counter()
    _write_map(run, "pca", pca_map(model, users, items))
    timings["pca_s"] = round(time.perf_counter() - started, 3)
    report(0.03, "computing the maps: cluster names")
    started = time.perf_counter()
    labels = {"labels_version": LABELS_VERSION}
    try:
        run.write_table("map_names", map_names(model, users, items))
        run.write_table("map_metadata", map_metadata(model, users, items))
    except Exception as exc:  # a cache the pages can do without: they compute them instead
        labels = {"labels_error": f"{type(exc).__name__}: {exc}"}
    timings["labels_s"] = round(time.perf_counter() - started, 3)
    report(0.05, "computing the maps: importing UMAP")
    started = time.perf_counter()
    import_umap()  # timed apart from the fit: the import alone takes seconds
    timings["umap_import_s"] = round(time.perf_counter() - started, 3)
    report(0.2, "computing the maps: UMAP")
    started = time.perf_counter()
    umap_frame = umap_map(model, users, items, seed=seed)
    _write_map(run, "umap", umap_frame)
    timings["umap_s"] = round(time.perf_counter() - started, 3)
    summary = {**timings, **map_sample(umap_frame), **labels}
    run.write("maps", summary)
    report(1.0, "computing the maps: written")
    return summary
