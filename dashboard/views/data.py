"""Data page: choose the ratings to train on (bundled demo, upload, a path, an earlier upload)
and see what is in them: sizes, rating histogram, time range, split sizes, problems."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import gate, loads, state
from dashboard.text import literal
from dashboard.train_form import split_choice
from hmf_core import (
    COLUMN_TYPES,
    DATA_DIR_VARIABLE,
    DEMO,
    SPLITS,
    Dataset,
    Report,
    app_folders,
    apply_overrides,
    column_type_table,
    confine,
    coverage_message,
    data_folders,
    earlier_uploads,
    max_file_bytes,
    max_rows,
    parse_positions,
    parse_separator,
    read_error_message,
    span,
    store_uploads,
    uploads_root,
)

SOURCES = ("Bundled demo", "Upload files", "Files on this machine", "Earlier uploads")
COLUMN_ROLES = ("user", "item", "rating", "timestamp")


def data_page() -> None:
    st.title("Data")
    st.caption(
        "Ratings to train on: any file `hmf_core` reads (MovieLens `u.data`, `ratings.dat`, "
        "`ratings.csv`, a MovieLens `.zip`, or a CSV / TSV / parquet with user, item and "
        "optionally rating and timestamp columns), plus optional item and user metadata "
        "(`u.item`, `movies.csv`, `u.user`, `users.dat`, or a CSV keyed by id). MovieLens "
        "files are recognised by their content whatever they are called, and any of these "
        "may be compressed (`.gz`, `.bz2`, `.xz`, `.zst`)."
    )
    source = st.segmented_control(
        "Source", SOURCES, default=SOURCES[0], required=True, key="data_source"
    )
    _show_errors("url")  # a reloaded tab whose files can no longer be read
    columns = _column_overrides()
    if source == SOURCES[0]:
        _demo_source()
    elif source == SOURCES[1]:
        _upload_source(columns)
    elif source == SOURCES[2]:
        _path_source(columns)
    else:
        _earlier_source(columns)
    st.divider()
    _summary(state.current_dataset())


def _column_overrides() -> tuple[tuple[str, str], ...]:
    with st.expander("Column names (only when a header is not recognised)"):
        st.caption(
            "Recognised automatically: user / userId / customer…, item / movieId / "
            "product…, rating / score / stars…, timestamp / time / date…. "
            "Leave empty to detect."
        )
        cells = st.columns(len(COLUMN_ROLES))
        names = [
            cell.text_input(f"{role} column", key=f"column_{role}").strip()
            for cell, role in zip(cells, COLUMN_ROLES)
        ]
        st.caption(
            "A file without a header (e.g. `1::1193::5`): name its columns by position, and "
            "its separator if it is not one of , tab ; | :: (the CLI's `--columns`, `--sep`)."
        )
        left, right = st.columns(2)
        positions = left.text_input(
            "Columns by position (no header)",
            key="column_positions",
            placeholder="user,item,rating",
            help="user and item required; rating and timestamp optional, in the file's order",
        ).strip()
        separator = right.text_input(
            "Separator", key="column_sep", placeholder="guessed", help=":: ; | , or tab"
        )
    chosen = [(f"{role}_col", name) for role, name in zip(COLUMN_ROLES, names) if name]
    try:
        if positions:
            chosen.append(("positions", ",".join(parse_positions(positions))))
        if separator.strip() or separator == " ":
            chosen.append(("sep", parse_separator(separator.strip() or separator)))
    except ValueError as error:
        st.error(literal(f"Column options: {error}"), icon=":material/error:")
    return tuple(chosen)


POLL_S = 0.2  # how often a progress bar is redrawn while hmf_core works


def _with_progress(place, work: Callable[[Report], object], last: bool = False):
    """`work(report)` in a thread while this script draws its reports as a progress bar in
    `place` (an st.empty) every POLL_S seconds, and with `last` its last report once done;
    nothing is drawn when it is done sooner and never reported (a cached result). The cached
    loaders run in that thread and the bar is drawn here: an st call made inside a cached
    function would be replayed on its next cache hit."""
    latest = []

    def report(fraction: float, text: str) -> None:
        latest[:] = [(fraction, text)]

    def draw() -> None:
        if latest:
            fraction, text = latest[0]
            place.progress(fraction, text=f"{fraction:.0%} · {literal(text)}")

    pool = ThreadPoolExecutor(1, thread_name_prefix="hmf-data")
    try:
        future = pool.submit(work, report)
        while True:
            try:
                result = future.result(timeout=POLL_S)
                break
            except TimeoutError:
                draw()
    finally:
        pool.shutdown(wait=False)  # a rerun leaves the work to finish into the cache
    if last:
        draw()
    return result


def _apply(candidate: Dataset, origin: str) -> None:
    """Check `candidate`, showing how far its reading is; make it current if its rating file
    reads. Errors are kept in the session (shown under `origin`) until the next attempt."""
    name = literal(Path(candidate.ratings).name)
    started = time.perf_counter()
    with st.status(f"Reading {name}…", expanded=True) as box:
        bar = st.empty()
        dataset, errors = _with_progress(
            bar, lambda report: loads.check_dataset(candidate, report=report), last=True
        )
        seconds = time.perf_counter() - started
        if dataset is None:
            box.update(label=f"Could not read {name}", state="error", expanded=False)
        else:
            rows = len(loads.dataset_data(dataset).table)
            box.update(label=f"Read {name}: {rows:,} ratings in {seconds:.1f} s", state="complete")
    st.session_state["data_errors"] = {"origin": origin, "errors": errors, "kept": dataset is None}
    if dataset is not None:
        state.use_dataset(dataset)


def _show_errors(origin: str) -> None:
    report = st.session_state.get("data_errors")
    if not report or report["origin"] != origin:
        return
    for message in report["errors"]:
        st.error(literal(message), icon=":material/error:")
    if report["kept"] and report["errors"]:
        st.info(f"Nothing changed: still using **{literal(state.current_dataset().label)}**.")


def _demo_source() -> None:
    st.markdown(
        "**MovieLens latest-small** (610 users, 9,742 movies, 100,836 ratings, 1996-2018), "
        "bundled in `assets/ml-latest-small/` by permission of its licence. "
        "Data © GroupLens Research, University of Minnesota (F. M. Harper and J. A. Konstan, "
        "*The MovieLens Datasets: History and Context*, ACM TiiS 5(4), 2015)."
    )
    if state.current_dataset() == DEMO:
        st.success(
            "The demo is the current dataset: go to **Train** and press Train.",
            icon=":material/check_circle:",
        )
    elif st.button("Use the demo data", type="primary"):
        state.use_dataset(DEMO)
        st.rerun()


def _limits() -> str:
    """The size limits a file meets, as stated to the user."""
    return (
        f"The reader takes files of up to {max_file_bytes() / 2**30:,.1f} GiB "
        f"(HMF_MAX_FILE_BYTES) and {max_rows():,} rows (HMF_MAX_ROWS)."
    )


def _upload_source(columns: tuple) -> None:
    shared = gate.current_access().limits  # None while the app is local
    limit = shared.upload_mb if shared else st.get_option("server.maxUploadSize")
    where = (
        "while the app is shared (`HMF_SHARED_UPLOAD_MB`)"
        if shared
        else "(`server.maxUploadSize` in `.streamlit/config.toml`)"
    )
    st.caption(
        f"Uploads of up to {limit:,} MB per file {where}; the browser sends the whole file "
        "and the app holds it in memory once. For larger files, or to skip that copy, use "
        "**Files on this machine**. " + _limits()
    )
    left, middle, right = st.columns(3)
    sized = {"max_upload_size": limit} if shared else {}
    ratings = left.file_uploader(
        "Rating file",
        key="upload_ratings",
        help="u.data, ratings.dat, ratings.csv, a .zip, CSV/TSV/parquet; .gz .bz2 .xz .zst too",
        **sized,
    )
    items = middle.file_uploader(
        "Item metadata (optional)",
        key="upload_items",
        help="u.item, movies.dat, movies.csv, or a CSV keyed by item id",
        **sized,
    )
    users = right.file_uploader(
        "User metadata (optional)",
        key="upload_users",
        help="u.user, users.dat, or a CSV keyed by user id",
        **sized,
    )
    if ratings is None:  # none, or removed: its error goes with it
        report = st.session_state.get("data_errors")
        if report and report["origin"] == "upload":
            del st.session_state["data_errors"]
        st.session_state.pop("upload_signature", None)  # the same file again is read again
        if items is not None or users is not None:
            st.info("Add the rating file: metadata alone cannot be trained on.")
        return
    too_large = [f for f in (ratings, items, users) if f is not None and f.size > limit * 2**20]
    for upload in too_large:  # a client that ignored the uploader's own limit
        st.error(
            literal(
                f"{upload.name}: {upload.size / 2**20:,.1f} MB, above the {limit:,} MB per "
                "file this shared app takes (HMF_SHARED_UPLOAD_MB); nothing was kept."
            )
        )
    if too_large:
        return
    signature = tuple((f.file_id if f else None) for f in (ratings, items, users)) + columns
    if st.session_state.get("upload_signature") != signature:
        st.session_state["upload_signature"] = signature
        candidate = store_uploads(
            (ratings.name, ratings.getvalue()),
            items=(items.name, items.getvalue()) if items is not None else None,
            users=(users.name, users.getvalue()) if users is not None else None,
            columns=columns,
        )
        _apply(candidate, "upload")
    _show_errors("upload")
    st.caption(
        f"Uploads are kept under `{uploads_root()}` so runs can read them and you "
        "can reopen them later (Earlier uploads)."
    )


def _path_source(columns: tuple) -> None:
    folders = data_folders()
    listed = ", ".join(literal(folder) for folder in folders)
    absent = [folder for folder in folders if not folder.is_dir()]
    st.caption(
        "For files too large to upload through the browser: paths on the machine that "
        "runs this app, read in place (no copy). " + _limits()
    )
    st.markdown(
        f"Files on this machine reads files under: {listed} (links and `..` followed, "
        f"nothing outside is opened). To allow another folder, start the app with "
        f"`{DATA_DIR_VARIABLE}=<folder>` (several separated by `{os.pathsep}`)."
        + (" That folder does not exist yet." if absent and len(folders) == 1 else "")
    )
    ratings = st.text_input("Rating file path", key="path_ratings").strip()
    items = st.text_input("Item metadata path (optional)", key="path_items").strip()
    users = st.text_input("User metadata path (optional)", key="path_users").strip()
    if st.button("Use these files", key="use_paths", type="primary", disabled=not ratings):
        typed = Dataset(
            label=Path(ratings).name, ratings=ratings, items=items or None, users=users or None
        )
        candidate, refused = confine(replace(typed, columns=columns), folders)
        if candidate is None:  # refused before anything is opened
            st.session_state["data_errors"] = {"origin": "path", "errors": refused, "kept": True}
        else:
            _apply(candidate, "path")
    _show_errors("path")


def _earlier_source(columns: tuple) -> None:
    earlier = earlier_uploads()
    if not earlier:
        st.info("No earlier uploads yet.")
        return
    choice = st.selectbox(
        "Earlier upload", earlier, format_func=lambda d: d.label, key="earlier_upload"
    )
    st.caption(", ".join(f"{role}: {literal(Path(path).name)}" for role, path in choice.files()))
    if st.button("Use this dataset", type="primary", key="use_earlier"):
        candidate, refused = confine(replace(choice, columns=columns), app_folders())
        if candidate is None:  # a link someone left in the uploads folder
            st.session_state["data_errors"] = {"origin": "earlier", "errors": refused, "kept": True}
        else:
            _apply(candidate, "earlier")
    _show_errors("earlier")


def _summary(dataset: Dataset) -> None:
    st.subheader(f"Current dataset: {literal(dataset.label)}")
    try:
        data = loads.dataset_data(dataset)
    except Exception as error:  # e.g. the file was deleted since it was chosen
        st.error(literal(read_error_message(dataset.ratings, error)))
        if st.button("Go back to the demo data"):
            state.use_dataset(DEMO)
            st.rerun()
        return
    summary = data.summary()
    st.caption(" · ".join(f"{role}: {literal(path)}" for role, path in dataset.files()))

    cells = st.columns(5)
    cells[0].metric("Users", f"{summary['users']:,}")
    cells[1].metric("Items", f"{summary['items']:,}")
    cells[2].metric(
        "Ratings" if not summary["implicit"] else "Interactions", f"{summary['interactions']:,}"
    )
    cells[3].metric("Density", f"{summary['density']:.2%}", help="ratings / (users x items)")
    if summary["implicit"]:
        cells[4].metric("Feedback", "implicit")
    else:
        cells[4].metric(
            "Mean rating",
            f"{summary['rating_mean']:.2f}",
            help=f"from {summary['rating_min']:g} to {summary['rating_max']:g}",
        )

    _problems(dataset, summary)

    left, right = st.columns(2)
    table = data.table
    if summary["implicit"]:
        left.info(
            "No rating column: every row counts as a positive interaction, so the "
            "rating task is not available; train with the ranking task."
        )
    else:
        counts = table["rating"].value_counts().sort_index()
        figure = px.bar(
            x=counts.index.astype(str),
            y=counts.to_numpy(),
            labels={"x": "rating", "y": "ratings"},
            title="Rating histogram",
        )
        figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
        left.plotly_chart(figure, key="rating_histogram")
    if "time_min" in summary:
        start = pd.to_datetime(summary["time_min"], unit="s")
        end = pd.to_datetime(summary["time_max"], unit="s")
        figure = _time_figure(loads.dataset_time_histogram(dataset))
        figure.update_layout(
            title=f"Ratings over time: {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            xaxis_title="time",
            yaxis_title="ratings",
        )
        right.plotly_chart(figure, key="time_histogram")
    else:
        right.info("No timestamp column: the temporal split uses the file's row order.")

    _splits(dataset)
    _metadata_coverage(dataset)
    _column_types(dataset)
    with st.expander("First rows as read"):
        preview = table.head(20).assign(
            user_id=data.user_ids[table["user"].head(20)],
            item_id=data.item_ids[table["item"].head(20)],
        )[["user_id", "item_id", "rating", "timestamp"]]
        st.dataframe(preview, hide_index=True)
    st.page_link(
        "views/train.py", label="Next: train a model on this data", icon=":material/arrow_forward:"
    )


def _time_figure(bins: pd.DataFrame) -> go.Figure:
    """The ratings per time bin (hmf_core.data.datasets.time_histogram) as touching bars: the
    browser gets one count a bin, not every timestamp."""
    width = bins["end"] - bins["start"]
    return go.Figure(
        go.Bar(
            x=bins["start"] + width / 2,
            y=bins["ratings"],
            width=width.dt.total_seconds() * 1000,  # ms: a date axis's unit
            customdata=np.stack([bins["start"].astype(str), bins["end"].astype(str)], axis=1),
            hovertemplate="%{customdata[0]} to %{customdata[1]}: %{y:,} ratings<extra></extra>",
        )
    )


def _problems(dataset: Dataset, summary: dict) -> None:
    """How the files were read (information: units, encoding), then what is wrong or suspect in
    them (a warning). The notes come first, in their own box: under the warning a caption such
    as "Timestamps read as unix seconds." read as one more problem."""
    if summary["notes"]:
        st.info(
            "**How the file was read:** " + " ".join(literal(note) for note in summary["notes"]),
            icon=":material/info:",
        )
    problems = list(dataset.problems) + list(summary.get("problems", []))
    if summary["users"] < 2 or summary["items"] < 2:
        problems.append("Fewer than two users or items: there is nothing to factorise.")
    if problems:
        st.warning(
            "**Problems found**\n\n" + "\n".join(f"- {literal(p)}" for p in problems),
            icon=":material/warning:",
        )
    else:
        st.success("No problems found in the rating file.", icon=":material/check_circle:")


def _split_in_use(dataset: Dataset) -> str:
    """The Train page's split: the one chosen there this session, else the data's default."""
    chosen = st.session_state.get("train_split")
    if chosen in SPLITS:
        return chosen
    try:
        return split_choice(dataset).method
    except Exception:  # no temporal split to judge: its row in the table says why
        return "random"


def _splits(dataset: Dataset) -> None:
    """The sizes of the split in use; the other two only on demand (a split of 20M ratings
    takes about 20 s of CPU)."""
    in_use = _split_in_use(dataset)
    st.markdown(
        "**Split sizes** (validation and test rows whose user or item never occurs "
        "in training are dropped, as in the paper)"
    )
    every = st.toggle(
        "All three splits",
        key="data_all_splits",
        help=f"Off: only the {in_use} split, the one the Train page will use. On: the other "
        "two as well (each takes about 20 s at 20M ratings).",
    )
    methods = SPLITS if every else (in_use,)
    rows = []
    place = st.empty()  # a progress bar while a split is computed (not when cached)
    for number, method in enumerate(methods):

        def work(report, method=method, number=number):
            shown = span(report, number / len(methods), (number + 1) / len(methods))
            in_words = lambda fraction, text: shown(fraction, f"{method} split: {text}")  # noqa: E731
            return loads.dataset_split(dataset, method, 0, report=in_words)

        rows.append(_split_row(method, place, work))
    place.empty()
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="split_table",
        column_config={
            "dropped_cold_val": st.column_config.NumberColumn("dropped (val)"),
            "dropped_cold_test": st.column_config.NumberColumn("dropped (test)"),
        },
    )
    for row in rows:
        if row.get("test", 1000) < 1000:
            st.caption(
                f"The {row['split']} split leaves only {row['test']:,} test ratings: "
                "test metrics on it will be noisy."
            )
    st.caption(
        "temporal: the paper's protocol (oldest 64% train, next 16% validation, newest "
        "20% test); random: the same proportions shuffled (seed 0 here; the Train page "
        "sets the seed); leave_last_out: each user's last rating is test, the one "
        "before validation."
        + (
            ""
            if every
            else f" Shown: the {in_use} split, the Train page's; the others with "
            "'All three splits'."
        )
    )


def _split_row(method: str, place, work) -> dict:
    """One row of the split table: the split's sizes, or the problem that stopped it."""
    try:
        summary = _with_progress(place, work)
    except Exception as error:
        return {"split": method, "problem": str(error)}
    columns = ("users", "items", "train", "val", "test", "dropped_cold_val", "dropped_cold_test")
    return {"split": method, **{k: summary[k] for k in columns}}


def _metadata_coverage(dataset: Dataset) -> None:
    for kind in ("item", "user"):
        path = dataset.metadata_path(kind)
        try:
            coverage = loads.dataset_coverage(dataset, kind)
        except Exception as error:
            st.error(literal(read_error_message(path, error)))
            continue
        if coverage is None:
            continue
        message = literal(coverage_message(coverage, path, kind))
        if coverage.complete:
            st.caption(message)
        else:
            st.warning(message)


TYPE_HELP = (
    "categorical: a few values (colours, agreement, names) · multi: several values joined by "
    "a separator · numeric: numbers in ranges · text: shown in tables only · id: skipped"
)


def _column_types(dataset: Dataset) -> None:
    """Per metadata file, the type of each column (detected, or the user's choice: a type
    changed in the table travels with the dataset into the runs trained on it)."""
    chosen = dataset.type_overrides()
    kept = []
    for kind in ("item", "user"):
        try:
            meta = loads.dataset_metadata(dataset, kind)
        except Exception:  # its error is shown by _metadata_coverage
            continue
        if meta is None:
            continue
        name = literal(Path(dataset.metadata_path(kind)).name)
        st.markdown(f"**Columns of {name}** ({kind} metadata): how each view uses them")
        st.caption(
            "Detected from the values; change a column's type in the table, and the runs "
            "trained on this data use it. " + TYPE_HELP + "."
        )
        frame = meta.reset_index()
        detected = loads.dataset_column_types(dataset, kind)  # both override sets start here
        types, _ = apply_overrides(frame, chosen.get(kind), detected)
        edited = st.data_editor(
            column_type_table(frame, types),
            key=f"column_types_{kind}",
            hide_index=True,
            disabled=["column", "separator", "buckets", "examples", "distinct", "why"],
            column_config={
                "type": st.column_config.SelectboxColumn(
                    "type", options=list(COLUMN_TYPES), required=True, help=TYPE_HELP
                )
            },
        )
        wanted = {
            row["column"]: row["type"]
            for row in edited.to_dict("records")
            if row["type"] != detected[row["column"]].kind
        }
        _, errors = apply_overrides(frame, wanted, detected)
        for error in errors.values():
            st.error(literal(f"{name}: {error}"), icon=":material/error:")
        kept += [(kind, c, t) for c, t in sorted(wanted.items()) if c not in errors]
    if tuple(kept) != dataset.types:
        state.use_dataset(replace(dataset, types=tuple(kept)))


data_page()
