"""The metadata columns of users / items that clusters are compared with and coloured by
(cluster quality, names, the map): their values as (object row, class) samples, by each
column's type (hmf_core.data.column_types: categorical, multi-valued, numeric in buckets).

A frame's types are its `attrs[TYPES_ATTR]` ({column: type as JSON}: a run's column_types.json,
attached by RunDir when it reads users.csv / items.csv) where given, detected otherwise.
Multi-valued columns (genres "Comedy|Drama"): each object is expanded into one sample per value
it has; objects without a value are left out. Columns named `planted*` hold planted labels of
synthetic data (planted_columns), compared apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hmf_core.data.column_types import (
    NO_VALUE,
    ColumnType,
    bucket_values,
    detect_types,
    numeric_buckets,
    types_from_json,
    types_json,
)

TYPES_ATTR = "column_types"  # DataFrame.attrs key of a frame's {column: ColumnType}
PLANTED_PREFIX = "planted"
MULTI_SEPARATOR = "|"
TYPED = ("categorical", "multi", "numeric")  # the types compared, coloured and named by
AGE_EDGES = [18, 25, 35, 45, 50, 56]  # ML-1M's age groups: <18, 18-24, ..., 50-55, 56+


def expand_values(
    values: pd.Series, multi_valued: bool, separator: str = MULTI_SEPARATOR
) -> tuple[np.ndarray, np.ndarray]:
    """(object rows, class labels) of one metadata column, as strings. Missing values are left
    out; a multi-valued value "A|B" gives two samples of the same row (the module's rule)."""
    rows, labels = [], []
    for row, value in enumerate(values.tolist()):
        if pd.isna(value):
            continue
        parts = str(value).split(separator) if multi_valued else [str(value)]
        for part in parts:
            part = part.strip()
            if part not in NO_VALUE:
                rows.append(row)
                labels.append(part)
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=object)


def age_buckets(ages: pd.Series) -> pd.Series:
    """Numbers in ML-1M's age groups (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+): the ranges
    column_types gives ML-1M's own age codes (1, 18, 25, ...)."""
    edges = [float(edge) for edge in AGE_EDGES]
    found = ColumnType("numeric", edges=tuple(edges), labels=numeric_buckets(edges, True))
    return bucket_values(ages, found)


def with_types(frame: pd.DataFrame, types: dict[str, ColumnType] | None) -> pd.DataFrame:
    """`frame` carrying `types` (a run's column_types.json) for types_of; None: detection.
    Kept as JSON (what Streamlit can serialise when it shows the frame)."""
    if types is not None:
        frame.attrs[TYPES_ATTR] = types_json(types)
    return frame


def types_of(frame: pd.DataFrame) -> dict[str, ColumnType]:
    """The frame's column types: those it carries (with_types), detected for any other column."""
    given = types_from_json(frame.attrs.get(TYPES_ATTR) or {}, "the frame's column types")
    missing = [c for c in frame.columns if str(c) not in given]
    detected = detect_types(frame[missing]) if missing else {}
    return {str(c): given.get(str(c)) or detected[str(c)] for c in frame.columns}


def typed_columns(frame: pd.DataFrame, types: dict[str, ColumnType]) -> dict[str, dict]:
    """{name: {"rows", "labels", "multi_valued"}} of every categorical, multi-valued and numeric
    column of an aligned frame (row k = object k; numeric values as their bucket labels) that
    has at least two classes (one value tells no cluster apart)."""
    columns = {}
    for name in frame.columns:
        found = types.get(str(name))
        if found is None or found.kind not in TYPED:
            continue
        values = frame[name]
        if found.kind == "numeric":
            values = bucket_values(values, found)
        multi = found.kind == "multi"
        rows, labels = expand_values(values, multi, found.separator or MULTI_SEPARATOR)
        if len(set(labels.tolist())) >= 2:
            columns[str(name)] = {"rows": rows, "labels": labels, "multi_valued": multi}
    return columns


def categorical_columns(frame: pd.DataFrame) -> dict[str, dict]:
    """typed_columns of the frame by its types (types_of), `planted*` columns left out (see
    planted_columns)."""
    types = types_of(frame)
    kept = {k: v for k, v in types.items() if not k.lower().startswith(PLANTED_PREFIX)}
    return typed_columns(frame, kept)


def shown_columns(frame: pd.DataFrame) -> list[str]:
    """The columns a table of the frame's objects shows: every one but those typed `id`."""
    types = types_of(frame)
    return [str(c) for c in frame.columns if types[str(c)].kind != "id"]


def planted_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns named `planted*` (planted labels of synthetic data): {name: labels (M,)}."""
    return {
        str(name): frame[name].astype(str).to_numpy()
        for name in frame.columns
        if str(name).lower().startswith(PLANTED_PREFIX) and frame[name].notna().all()
    }
