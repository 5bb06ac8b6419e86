"""What the pages share through the session and the URL: the current dataset (?data=), the
current run (?run=), the map selection, and the run a page explores.

Files are read through `dashboard.loads` (cached) and everything is computed by `hmf_core`;
this module keeps the user's choices in `st.session_state` and the URL.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import loads, queries
from dashboard.text import literal
from hmf_core import (
    DEMO,
    SIDES,
    DamagedFile,
    Dataset,
    RunDir,
    RunStatus,
    app_folders,
    check_side,
    child_folder,
    confine,
    data_folders,
    parse_point_kind,
    run_labels,
    run_status,
    runs_root,
)
from hmf_core import list_runs as runs

# --- the dataset ------------------------------------------------------------------------------


def current_dataset() -> Dataset:
    return st.session_state.get("dataset", DEMO)


def use_dataset(dataset: Dataset) -> None:
    """Make `dataset` current for this session, and put it in the URL (?data=...) so that a
    reloaded tab or a shared link opens the same files."""
    st.session_state["dataset"] = dataset
    if dataset.demo:
        st.query_params.pop("data", None)
    else:
        text = json.dumps(dataset.to_dict(), separators=(",", ":"))
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
        candidate = Dataset.from_dict(json.loads(base64.urlsafe_b64decode(token.encode())))
    except (ValueError, KeyError, TypeError):
        st.query_params.pop("data", None)  # not ours: ignore it
        return
    # A link may name any path: only files inside the allowed folders are opened.
    confined, refused = confine(candidate, data_folders() + app_folders())
    dataset, errors = loads.check_dataset(confined) if confined else (None, refused)
    if dataset is None:
        st.session_state["data_errors"] = {"origin": "url", "errors": errors, "kept": True}
        st.query_params.pop("data", None)
        return
    use_dataset(dataset)


# --- the run ----------------------------------------------------------------------------------


def open_run(name: str) -> None:
    """Make `name` the current run on the next script run (the sidebar selectbox owns the
    value, and a widget's value can only be set before the widget is drawn)."""
    st.session_state["open_run"] = name


def run_selector() -> RunDir | None:
    """The sidebar's run picker, shared by every page. Runs are their directories: the picker's
    value and the URL's ?run= are the directory's name (a name people gave may repeat: the
    picker shows "name · directory" then), so a reload or a shared link opens the same run."""
    found = runs()  # runs() also reaps the processes this app started
    names = [run.name for run in found]
    pending = st.session_state.pop("open_run", None)
    if pending in names:
        st.session_state["run"] = pending
    elif st.session_state.get("run") not in names:  # a new session (a reload): the URL's run
        st.session_state.pop("run", None)
        if st.query_params.get("run") in names:
            st.session_state["run"] = st.query_params["run"]
    if not names:
        st.sidebar.caption("No runs yet: train one on the Train page.")
        return None
    labels = run_labels(found)  # the user's name, else the directory's; twins get both
    name = st.sidebar.selectbox(
        "Run",
        names,
        key="run",
        format_func=lambda name: labels.get(name, name),
        help=f"Runs live in run directories under {runs_root()}; newest first.",
    )
    if name:
        st.query_params["run"] = name  # the directory, never the name shown
    folder = child_folder(runs_root(), name) if name else None
    if folder is None:
        return None
    run = RunDir(folder)
    try:
        settings = run.settings()
    except DamagedFile as damage:
        st.sidebar.caption(literal(f"damaged ({damage.short})"))
        return run
    st.sidebar.caption(
        f"{literal(settings.get('task', '?'))} task on "
        f"{literal(Path(settings.get('data') or '?').name)}"
    )
    return run


def current_run() -> RunDir | None:
    folder = child_folder(runs_root(), st.session_state.get("run") or "")
    if folder is None:  # none chosen, or a name from the URL that is not one folder's
        return None
    run = RunDir(folder)
    return run if run.exists() else None


@dataclass
class Explored:
    """A run with a model, as the Explore pages need it."""

    run: RunDir
    key: loads.Key
    status: RunStatus
    model: object = None

    @property
    def users(self) -> pd.DataFrame:
        return loads.table(self.run, "users")

    def table(self, side: str) -> pd.DataFrame:
        """The users' or the items' table."""
        return loads.table(self.run, f"{check_side(side)}s")

    @property
    def items(self) -> pd.DataFrame:
        return loads.table(self.run, "items")

    def levels(self, side: str) -> list[int]:
        """The cluster levels of one side: [] for depth 0 (plain MF there)."""
        return list(range(1, queries.level_counts(self.key)[side] + 1))


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
    key = loads.model_key(run)
    if key is None:
        if status.active:
            st.info(
                f"Run **{literal(run.name)}** is {literal(status.phase)}: the first checkpoint "
                "is written "
                "after the first validated epoch. This page fills in then."
            )
        else:
            st.error(
                literal(
                    f"Run {run.name} has no checkpoint ({status.phase}"
                    f"{': ' + status.error if status.error else ''})."
                )
            )
        st.stop()
    try:
        model = loads.load_model(*key)
    except Exception as error:  # a damaged or half-written checkpoint
        st.error(
            literal(f"The checkpoint of run {run.name} could not be loaded: {error}"),
            icon=":material/broken_image:",
        )
        st.stop()
    if status.active:
        st.caption(
            f"Run **{literal(run.name)}** is still {literal(status.phase)}: showing its best "
            "checkpoint so far."
        )
    return Explored(run=run, key=key, status=status, model=model)


# --- the selection made on the map (drives the other pages) ----------------------------------


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


def selection_side(points: list[dict]) -> str | None:
    """The side ('user' or 'item') that most selected points are on, users and clusters alike;
    a tie goes to the first point's side; None for no selection."""
    sides = [parse_point_kind(point["kind"])[0] for point in points]
    if not sides:
        return None
    return max(SIDES, key=lambda side: (sides.count(side), side == sides[0]))


def selected(kinds: tuple[str, ...]) -> dict | None:
    """The first selected point of one of `kinds` ('user', 'item', 'user cluster'...), on the
    selection's side (`selection_side`) when `kinds` has kinds of that side: a lasso over users
    that also caught an item cluster opens user clusters elsewhere, never that item cluster.
    (The map lists clusters first and the largest first, so before this a lasso over users
    with one item cluster in it opened Cluster affinity on the item side.) Asked for a cluster
    of that side when the selection has none, the level-1 cluster that most of its selected
    objects have as their top cluster (the map records it)."""
    points = selected_points()
    side = selection_side(points)
    on_side = tuple(kind for kind in kinds if parse_point_kind(kind)[0] == side)
    for point in points:
        if point.get("kind") in (on_side or kinds):
            return point
    cluster_kind = next((kind for kind in on_side if parse_point_kind(kind)[1]), None)
    if cluster_kind is not None:
        objects = [p for p in points if parse_point_kind(p["kind"]) == (side, False)]
        tops = [p.get("top_cluster", -1) for p in objects]
        tops = [top for top in tops if top is not None and top >= 0]
        if tops:  # top_cluster is of grouping top_level (the map's colouring view), else 1
            level = objects[0].get("top_level", 1)
            return {"kind": cluster_kind, "level": level, "index": max(tops, key=tops.count)}
    return None


def clear_selection() -> None:
    select([])


SAME_SPOT = 1e-3  # of the map's extent: a cluster marker at an object's spot (under a pixel)


def click_choice(points: list[dict], spots: list[dict], tolerance: float) -> list[dict]:
    """What a click on the map selects, from the points plotly picked (dicts with kind, level,
    index, size, top_cluster, x, y) and the cluster markers drawn (`spots`, the same keys): a
    crisp cluster collapses its members onto its vector, so objects lie under its marker and
    the click may pick one of them. A click that picked a cluster together with objects keeps
    the clusters; one that picked only objects of which one lies within `tolerance` (map
    units) of a cluster marker of its side selects that cluster. Otherwise `points` as they
    are. (Box and lasso selections never come here: they select what they enclose.)"""
    clusters = [point for point in points if parse_point_kind(point["kind"])[1]]
    if clusters:
        return clusters
    for point in points:
        side = parse_point_kind(point["kind"])[0]
        under = [
            spot
            for spot in spots
            if parse_point_kind(spot["kind"]) == (side, True)
            and abs(spot["x"] - point["x"]) <= tolerance
            and abs(spot["y"] - point["y"]) <= tolerance
        ]
        if under:  # the nearest marker, the lowest level first
            return [
                min(
                    under,
                    key=lambda s: (
                        s["level"],
                        (s["x"] - point["x"]) ** 2 + (s["y"] - point["y"]) ** 2,
                    ),
                )
            ]
    return points
