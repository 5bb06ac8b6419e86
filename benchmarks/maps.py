"""Maps at scale: how long after training the dashboard's maps are ready. `python -m hmf_core
maps RUN` runs in a fresh process (as the training worker does after training, so the UMAP
import and numba's cached code count) on a run directory holding a randomly initialised HMF of
the given size (depth 1, 200/100 clusters, d 20: the projection's cost depends on the shape,
not on the training). Above `projection.UMAP_SAMPLE` rows UMAP is fitted on a stratified
sample and every other point placed from its nearest fitted points; umap-learn's own
`transform` for those points is timed beside it for comparison.

    python -m benchmarks.maps                 # writes benchmarks/results/maps.md, maps.csv
    python -m benchmarks.maps --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.harness import RESULTS, ROOT, Section, machine_header, write_report
from benchmarks.loops import model_config
from hmf_core.interpret import projection
from hmf_core.models.hmf import initial_model
from hmf_core.runs.rundir import RunDir

SIZES = {  # name: (users, items)
    "ML-100K size": (943, 1_682),
    "ML-1M size": (6_040, 3_706),
    "ML-20M size": (138_493, 26_744),
}


def fake_run(path: Path, n_users: int, n_items: int, seed: int = 0) -> None:
    """A run directory with what `hmf_core maps` reads: best.ckpt and the two id tables."""
    path.mkdir(parents=True, exist_ok=True)
    config = model_config(n_users, n_items, depth=1)
    model = initial_model(config, seed)
    state = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint = {"hyper_parameters": {"config": config.to_dict()}, "state_dict": state}
    torch.save(checkpoint, path / "best.ckpt")
    for kind, count in (("user", n_users), ("item", n_items)):
        labels = [f"{kind} {row}" for row in range(count)]  # as every run's tables have
        pd.DataFrame({"index": range(count), "id": range(count), "label": labels}).to_csv(
            path / f"{kind}s.csv", index=False
        )


def maps_after_training(run_dir: Path) -> dict:
    """`python -m hmf_core maps` in a fresh process: its wall time and its maps.json."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "hmf_core", "maps", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"hmf_core maps {run_dir} failed:\n{output}")
    return {"wall_s": wall, **json.loads((run_dir / "maps.json").read_text())}


def umap_transform_s(run_dir: Path) -> dict:
    """The alternative NOT adopted: fit UMAP on the same sample with its own search index
    (pynndescent, which `transform` needs), then `transform` every other point."""
    model = RunDir(run_dir).load_model()
    table, vectors = projection.embedding_table(model, None, None)
    fitted = projection.umap_sample(table)
    placed = np.setdiff1d(np.arange(len(vectors)), fitted)
    umap = projection.import_umap()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        started = time.perf_counter()
        reducer = umap.UMAP(n_components=2, random_state=0, n_jobs=1).fit(vectors[fitted])
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        reducer.transform(vectors[placed])
    return {"fit with index s": fit_s, "transform s": time.perf_counter() - started}


def measure(sizes: dict[str, tuple[int, int]], with_transform: bool) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="hmf-maps-") as work:
        for name, (users, items) in sizes.items():
            run_dir = Path(work) / name.replace(" ", "_")
            fake_run(run_dir, users, items)
            maps = maps_after_training(run_dir)
            row = {
                "data": name,
                "rows (users + items + clusters)": maps["umap_rows"],
                "UMAP fitted on": maps["umap_fitted_rows"],
                "maps ready s (fresh process)": maps["wall_s"],
                "PCA s": maps["pca_s"],
                "umap import s": maps["umap_import_s"],
                "UMAP + placement s": maps["umap_s"],
            }
            if with_transform and maps["umap_fitted_rows"] < maps["umap_rows"]:
                alternative = umap_transform_s(run_dir)
                row["NOT adopted: umap fit with index s"] = alternative["fit with index s"]
                row["NOT adopted: umap transform s"] = alternative["transform s"]
            rows.append(row)
            print(row, flush=True)
    return pd.DataFrame(rows)


TEXT = (
    "Maps ready = wall time of `python -m hmf_core maps RUN` in a fresh process: loading the "
    "checkpoint, the PCA map, importing umap, the UMAP map, writing both parquet files and "
    "maps.json (its timings are the next columns). Up to {limit:,} rows UMAP is fitted on "
    "every row; above, on every cluster plus users and items stratified by top cluster "
    "(`projection.umap_sample`), and every other point is placed at the inverse-distance-"
    "weighted mean of the map positions of its {k} nearest fitted points in the latent space "
    "(`projection.place_from_neighbours`; UMAP's own `transform` starts from the same mean "
    "and then optimises). The NOT adopted columns time umap-learn's route to the same result "
    "on the same sample: a fit that builds the pynndescent index `transform` needs (numba "
    "compiles pynndescent on first use), then `transform` of every other point. Target: maps "
    "ready within 60 s at ML-20M size. Load average (1 min) before measuring: {load:.2f} on "
    "{cores} cores shared with other jobs."
)


def section(quick: bool, with_transform: bool) -> Section:
    sizes = {"ML-100K size": SIZES["ML-100K size"]} if quick else SIZES
    load = os.getloadavg()[0]
    table = measure(sizes, with_transform and not quick)
    return Section(
        "Maps at scale: ready after training",
        TEXT.format(
            limit=projection.UMAP_SAMPLE,
            k=projection.PLACEMENT_NEIGHBOURS,
            load=load,
            cores=os.cpu_count(),
        ),
        table,
        csv="maps.csv",
    )


def page_work(run_dir: Path) -> dict:
    """The Map page's own work on a run, in this process (each cached by the page after the
    first time): the names in its hovers, their hover texts, the comparable layout, and one
    figure."""
    from dashboard import charts, map_figure

    run = RunDir(run_dir)
    model = run.load_model()
    users, items = run.users(), run.items()
    times = {}
    started = time.perf_counter()
    table, vectors = projection.embedding_table(model, users, items)
    shared = projection.shared_map(table, vectors)
    projection.side_offsets(table, vectors)
    times["comparable layout s (embeddings, shared_map, side_offsets)"] = (
        time.perf_counter() - started
    )
    started = time.perf_counter()
    names = projection.map_names(model, users, items)
    times["cluster names for hovers s (map_names)"] = time.perf_counter() - started
    frame = shared.merge(names, on=["kind", "level", "index"], how="left")
    started = time.perf_counter()
    frame = frame.assign(hover=map_figure.hover_texts(frame))
    times["hover texts s"] = time.perf_counter() - started
    started = time.perf_counter()
    figure = map_figure.figure(frame, "top_cluster", cluster_names={})
    times["figure s (top-cluster colours)"] = time.perf_counter() - started
    times["figure JSON MB"] = len(charts.figure_json(figure)) / 1e6  # as the map sends it
    times["points drawn with hovers"] = int(map_figure.drawn_rows(frame).sum())
    return times


def page_section(quick: bool) -> Section:
    sizes = {"ML-100K size": SIZES["ML-100K size"]} if quick else SIZES
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hmf-map-page-") as work:
        for name, (users, items) in sizes.items():
            run_dir = Path(work) / name.replace(" ", "_")
            fake_run(run_dir, users, items)
            row = {"data": name, **page_work(run_dir)}
            rows.append(row)
            print(row, flush=True)
    return Section(
        "The Map page's work when asked (not in the maps job)",
        "Measured in one process on the same runs (ids as labels, no other metadata): the "
        "comparable layout (`projection.shared_map`: each side's mean and each point's "
        "length removed, then PCA) is computed when a user picks it, and the cluster names "
        "of the hovers (`projection.map_names`) when the map is first drawn; the page caches "
        "both per checkpoint, so the maps job after training is unchanged. Hover texts and "
        "the figure are what a redraw costs before the browser draws it; the JSON is what "
        "the map chart sends (plotly.io.to_json, dashboard.live_chart). Above "
        "`map_figure.hover_limit` points (10,000, fewer for long hovers) the figure draws "
        "every cluster and a seeded sample of "
        "users and items stratified by top cluster (`hmf_core.hover_rows`) with hovers, over a "
        "density layer of all of them (issue 23). Load average (1 min) "
        f"before measuring: {load:.2f} on {os.cpu_count()} cores shared with other jobs.",
        pd.DataFrame(rows),
        csv="map_page.csv",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="ML-100K size only")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--skip-transform", action="store_true", help="do not time umap-learn's transform"
    )
    args = parser.parse_args(argv)
    header = machine_header("2-D maps at scale", [0])
    sections = [section(args.quick, not args.skip_transform), page_section(args.quick)]
    print(f"wrote {write_report(Path(args.out), 'maps.md', header, sections)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
