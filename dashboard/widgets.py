"""Widgets several pages share: the level picker, the cluster picker, the user / item picker,
the row of curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.text import literal
from hmf_core import (
    REAPPEAR_JACCARD,
    RunDir,
    find_points,
    metric_names,
    parse_point_kind,
    readable_level,
)


def level_picker(
    cell, label: str, sizes: list[int], key: str, default: int | None = None, word: str = "level"
) -> int:
    """A side's cluster level, or view (`word`: queries.grouping_word), 1..depth, given each
    level's number of clusters (`sizes`: queries.level_sizes, finest first); it opens on
    `default`, else on the readable level (hmf_core.readable_level: the finest with at most 30
    clusters). With a single choice (depth 0 or 1) a caption."""
    depth = len(sizes)
    if depth <= 1:
        if word != "level":  # parallel groupings have no depth
            cell.caption(f"{label}: {depth} (the only {word})")
            return depth
        cell.caption(f"{label}: {depth} (depth {depth}{', plain MF' if depth == 0 else ''})")
        return depth
    levels = list(range(1, depth + 1))
    default = readable_level(sizes) if default is None else default
    return cell.selectbox(label, levels, index=levels.index(default), key=key)


def cluster_picker(
    cell,
    label: str,
    side: str,
    level: int,
    sizes: np.ndarray,
    picked: dict | None,
    key: str,
    help: str | None = None,
    names: dict[int, str] | None = None,
    stability=None,
    only_stable: bool = False,
) -> int | None:
    """One cluster of `side` at `level`, listed with its name (`names`: queries.cluster_names,
    where it has one), size and stability (`stability`: queries.cluster_stability, when
    measured); opens on the cluster selected on the map (`picked`) when it is of this side and
    level, else on the largest. `only_stable`: only the clusters found in every run are
    offered (None when there is none)."""
    options = list(range(len(sizes)))
    verdicts = {} if stability is None else dict(zip(stability["cluster"], stability["verdict"]))
    if stability is not None and only_stable:
        options = [int(c) for c in stability.loc[stability["stable"], "cluster"]]
        if not options:
            return None
    default = max(options, key=lambda c: sizes[c])
    if picked and parse_point_kind(picked["kind"]) == (side, True) and picked["level"] == level:
        default = int(picked["index"]) if int(picked["index"]) in options else default
    return cell.selectbox(
        label,
        options,
        index=options.index(default),
        format_func=lambda c: _cluster_option(
            side, c, sizes[c], (names or {}).get(c), verdicts.get(c)
        ),
        key=key,
        help=help,
    )


PICKER_OPTIONS = 2_000  # users or items a picker lists at once; above, a search narrows them


def object_picker(
    label: str, labels: dict[int, str], default: int, key: str, noun: str, help: str
) -> int:
    """One user or item (`noun`) of `labels` ({model index: label}, queries.labels), opening on
    `default`. Up to PICKER_OPTIONS a selectbox of all of them (type to search); above, a
    search field first (part of a label, or #index) and a selectbox of the first
    PICKER_OPTIONS matches: a selectbox sends every option to the browser on every rerun, and
    large rating files have over 100,000 users."""
    options = list(labels)
    if len(options) > PICKER_OPTIONS:
        query = st.text_input(
            f"Find a {noun} ({len(options):,})",
            key=f"{key}_find",
            placeholder="part of a name, or #index",
            help=f"The list below shows at most {PICKER_OPTIONS:,} {noun}s: those whose "
            "name contains this text (any case), or the one with this #index.",
        )
        found = matching(labels, query)
        if query.strip() and not found:
            st.caption(f"No {noun} matches '{literal(query.strip())}': the list is unchanged.")
        if query.strip() and found:
            st.caption(
                f"{len(found):,} {noun}s match"
                + (
                    f"; the first {PICKER_OPTIONS:,} are listed."
                    if len(found) > PICKER_OPTIONS
                    else "."
                )
            )
            options = found[:PICKER_OPTIONS]
        else:
            options = [default, *(o for o in options[:PICKER_OPTIONS] if o != default)]
    return int(
        st.selectbox(
            label,
            options,
            index=options.index(default) if default in options else 0,
            format_func=lambda i: f"{labels[i]} (#{i})",
            key=key,
            help=help,
        )
    )


def matching(labels: dict[int, str], query: str) -> list[int]:
    """The indices whose label contains `query` (any case, plain text), or the one `#index`
    names; [] for an empty query."""
    query = query.strip()
    if not query:  # before the table: 0.05 s a rerun at 137,000 users
        return []
    if query.startswith("#") and query[1:].isdigit():
        return [int(query[1:])] if int(query[1:]) in labels else []
    table = pd.DataFrame({"label": list(labels.values())}, index=list(labels))
    return find_points(table, query).index.tolist()  # the map's search: the same rule


def _cluster_option(
    side: str, cluster: int, size: float, name: str | None, verdict: str | None = None
) -> str:
    """A cluster picker's option (plain text): "item cluster 2 · Drama, Comedy · size 447.9",
    then its stability when measured (" · reappears in 3 of 3 runs")."""
    name = name if isinstance(name, str) and name else None
    if name and len(name) > 60:
        name = name[:59].rstrip() + "…"
    middle = f" · {name}" if name else ""
    end = f" · {verdict}" if verdict else ""
    return f"{side} cluster {cluster}{middle} · size {size:.1f}{end}"


def stable_filter(cell, stability, key: str) -> bool:
    """The "Only stable clusters" toggle (clusters found in every run), shown only where the
    stability is measured (`stability`: queries.cluster_stability); False elsewhere."""
    if stability is None:
        return False
    runs = int(stability["of_runs"].iloc[0]) if len(stability) else 0
    return cell.toggle(
        "Only stable clusters",
        key=key,
        help=f"Keep only the clusters that reappear in all {runs} runs of the stability "
        f"measurement (the same members, Jaccard ≥ {REAPPEAR_JACCARD:g}, with every other "
        "seed).",
    )


def curve_row(run: RunDir, task: str, key_prefix: str, mf: bool = False) -> bool:
    """Train loss and the task's validation metrics against epoch, HMF and MF (when it has
    been, or will be, trained: `mf`), side by side. The same elements with the same keys on
    every call, before the first epoch too: a live panel re-running each second updates them
    in place (keyed echarts charts), never removes or re-creates one. Returns whether HMF has
    a curve point yet."""
    frames = {"HMF": run.metrics()}
    mf_run = run.comparison()
    if mf_run is not None or mf:
        frames["MF"] = mf_run.metrics() if mf_run is not None else None
    columns = ["train_loss", *metric_names(task, "val")]
    for cell, column in zip(st.columns(len(columns)), columns):
        option, alt = charts.curve_option(frames, column, log_y=column == "train_loss")
        cell.echarts_chart(option, key=f"{key_prefix}{column}", height=300, alt=alt)
    return not frames["HMF"].empty


def csv_download(label: str, frame: pd.DataFrame, file_name: str, key: str, index=False) -> None:
    """A download button for a table as CSV, written when the button is clicked (Streamlit's
    deferred download: a page with a 138,000-row table no longer writes it on every run)."""
    st.download_button(
        label,
        lambda: frame.to_csv(index=index).encode(),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
    )


def text_where_diverged(table: pd.DataFrame, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """A column holding "diverged" (a metric that was NaN or infinite) beside numbers becomes
    text, the numbers written to 4 decimals: one type per column, as a table needs."""
    table = table.copy()
    for column in table.columns:
        if column not in skip and table[column].map(lambda value: value == "diverged").any():
            table[column] = table[column].map(
                lambda v: f"{v:.4f}" if isinstance(v, (int, float)) and v == v else v
            )
    return table


def table_of(frame: pd.DataFrame, wanted: tuple[str, ...], **options) -> None:
    """st.dataframe of the `wanted` columns that `frame` has, in that order."""
    st.dataframe(frame[[c for c in wanted if c in frame.columns]], hide_index=True, **options)
