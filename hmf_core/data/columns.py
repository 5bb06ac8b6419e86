"""The categorical metadata columns of users / items that clusters are compared with (cluster
quality, cluster names): which columns count, and their values as (object row, class) samples.

Multi-valued columns (genres "Comedy|Drama"): each object is expanded into one sample per value
it has; objects without a value are left out. Numeric ages are bucketed into ML-1M's groups.
Columns named `planted*` hold planted labels of synthetic data (planted_columns).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_CLASSES = 50  # a column with more distinct values is an id, a title or free text
SKIPPED_COLUMNS = {"index", "id", "label", "title", "name", "url", "zip", "zipcode", "zip_code"}
PLANTED_PREFIX = "planted"
MULTI_SEPARATOR = "|"
NO_VALUE = {"", "(no genres listed)"}  # movies.csv's marker for an item without genres
AGE_EDGES = [18, 25, 35, 45, 50, 56]  # ML-1M's age groups: <18, 18-24, ..., 50-55, 56+
AGE_BUCKETS = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]


def expand_values(values: pd.Series, multi_valued: bool) -> tuple[np.ndarray, np.ndarray]:
    """(object rows, class labels) of one metadata column, as strings. Missing values are left
    out; a multi-valued value "A|B" gives two samples of the same row (the module's rule)."""
    rows, labels = [], []
    for row, value in enumerate(values.tolist()):
        if pd.isna(value):
            continue
        parts = str(value).split(MULTI_SEPARATOR) if multi_valued else [str(value)]
        for part in parts:
            part = part.strip()
            if part not in NO_VALUE:
                rows.append(row)
                labels.append(part)
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=object)


def age_buckets(ages: pd.Series) -> pd.Series:
    """Numeric ages into ML-1M's groups (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+); ML-1M's
    own codes (1, 18, 25, ...) land in their own group."""
    numbers = pd.to_numeric(ages, errors="coerce")
    bins = [-np.inf, *AGE_EDGES, np.inf]
    return pd.cut(numbers, bins=bins, labels=AGE_BUCKETS, right=False).astype(object)


def categorical_columns(frame: pd.DataFrame) -> dict[str, dict]:
    """The categorical metadata columns of an aligned users.csv / items.csv frame (row k =
    object k): {name: {"rows", "labels", "multi_valued"}}.

    Categorical = 2..MAX_CLASSES distinct values, and at most half as many as there are rows
    with a value; ids, labels, titles, urls and zip codes are skipped by name, `genre` (first
    genre, for colouring) when `genres` is there, and `planted*` columns (see planted_columns).
    A column whose values contain "|" is multi-valued; an `age` column of numbers is bucketed."""
    columns = {}
    for name in frame.columns:
        lowered = str(name).lower()
        if lowered in SKIPPED_COLUMNS or lowered.startswith(PLANTED_PREFIX):
            continue
        if lowered == "genre" and "genres" in frame.columns:
            continue
        values = frame[name]
        if lowered == "age" and _mostly_numeric(values):
            values = age_buckets(values)
        multi = not pd.api.types.is_numeric_dtype(values) and bool(
            values.dropna().astype(str).str.contains(MULTI_SEPARATOR, regex=False).any()
        )
        rows, labels = expand_values(values, multi)
        distinct = len(set(labels.tolist()))
        objects = len(np.unique(rows))
        if 2 <= distinct <= MAX_CLASSES and distinct <= objects / 2:
            columns[str(name)] = {"rows": rows, "labels": labels, "multi_valued": bool(multi)}
    return columns


def _mostly_numeric(values: pd.Series) -> bool:
    """Numbers, or text that reads as numbers (generic metadata files are read as text)."""
    present = values.notna().sum()
    return present > 0 and pd.to_numeric(values, errors="coerce").notna().sum() == present


def planted_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns named `planted*` (planted labels of synthetic data): {name: labels (M,)}."""
    return {
        str(name): frame[name].astype(str).to_numpy()
        for name in frame.columns
        if str(name).lower().startswith(PLANTED_PREFIX) and frame[name].notna().all()
    }
