"""The type of every column of a users / items metadata frame, detected once from its values and
overridable: what each view does with the column.

- `categorical`: a few distinct values (2..MAX_CLASSES, each seen at least twice on average):
  colours, agreement, names, tables.
- `multi`: several values per object joined by a separator ("Comedy|Drama"; "|", ";" or ","
  where splitting gives a small vocabulary of parts that repeat): like categorical, one sample
  per value an object has.
- `numeric`: numbers, bucketed into ranges ("18-24"). A column with at most MAX_BUCKETS distinct
  values that are not the codes 0..k / 1..k gets one range per value up to the next (ML-1M's
  age codes 1, 18, 25, ... give <18, 18-24, 25-34, ..., 56+); else ranges between quantiles
  rounded to round numbers. The edges are stored with the type, so a run buckets as detected.
- `text`: free text (titles, dates, names): shown in tables, never a colour or an agreement.
- `id`: skipped everywhere: ids and codes (mostly distinct values without spaces, zero-padded
  numbers like zip codes), the run tables' own `index`, `id` and `label`, and a column that
  repeats the first value of a multi-valued one (`genre` beside `genres`).

A type is {"type", "separator", "edges", "labels", "note"} in JSON (a run's column_types.json);
`note` says why it was detected.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

TYPES = ("categorical", "multi", "numeric", "text", "id")
SEPARATORS = ("|", ";", ",")
MAX_CLASSES = 50  # a column with more distinct values (or parts) is free text or an id
MAX_BUCKETS = 8  # a numeric column with at most this many values: one range per value
QUANTILE_BUCKETS = 5  # else about this many ranges between quantiles
STRUCTURAL = ("index", "id", "label")  # a run table's own columns: model row, id, display label
NO_VALUE = {"", "(no genres listed)"}  # movies.csv's marker for an item without genres


@dataclass(frozen=True)
class ColumnType:
    """One column's type: `kind` (one of TYPES), the `separator` of a multi-valued column, the
    bucket `edges` (ascending; bucket i holds edges[i-1] <= x < edges[i]) and their `labels`
    (len(edges) + 1) of a numeric one, and a `note` on why it was detected."""

    kind: str
    separator: str = ""
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    note: str = ""

    def to_json(self) -> dict:
        found = asdict(self)
        found["type"] = found.pop("kind")
        found["edges"], found["labels"] = list(self.edges), list(self.labels)
        return found

    @classmethod
    def from_json(cls, found: dict, where: str) -> ColumnType:
        """Inverse of to_json; ValueError naming `where` when `found` is not a type."""
        try:
            kind = found["type"]
            made = cls(
                kind=str(kind),
                separator=str(found.get("separator", "")),
                edges=tuple(float(edge) for edge in found.get("edges", ())),
                labels=tuple(str(label) for label in found.get("labels", ())),
                note=str(found.get("note", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            expected = "expected a column type like {'type': 'categorical'}"
            raise ValueError(f"{where}: {expected}") from None
        return made.checked(where)

    def checked(self, where: str) -> ColumnType:
        if self.kind not in TYPES:
            raise ValueError(f"{where}: type must be one of {', '.join(TYPES)}, got {self.kind!r}")
        if self.kind == "multi" and self.separator not in SEPARATORS:
            raise ValueError(f"{where}: a multi-valued column's separator is one of | ; ,")
        if self.kind == "numeric" and (
            len(self.labels) != len(self.edges) + 1 or list(self.edges) != sorted(self.edges)
        ):
            raise ValueError(f"{where}: a numeric column needs ascending edges and one label more")
        return self


def detect_types(frame: pd.DataFrame) -> dict[str, ColumnType]:
    """{column: ColumnType} of every column of a metadata frame (see the module docstring)."""
    types = {
        str(name): ColumnType("id", note="the objects' own id, label or row")
        if str(name).lower() in STRUCTURAL  # not read: 0.2 s a column at 138,000 rows
        else detect_column(frame[name])
        for name in frame.columns
    }
    for name, found in list(types.items()):
        source = _first_value_of(frame, name, types)
        if found.kind == "categorical" and source is not None:
            types[name] = ColumnType("id", note=f"repeats the first value of {source}")
    return types


def detect_column(values: pd.Series) -> ColumnType:
    """The type of one column from its values (missing values left out)."""
    present = values.dropna()
    texts = present.astype(str).str.strip()
    texts = texts[~texts.isin(NO_VALUE)]
    distinct = texts.nunique()
    if distinct == 0:
        return ColumnType("id", note="no values")
    if _numbers(texts):
        return _numeric_type(pd.to_numeric(texts).to_numpy(np.float64))
    for separator in SEPARATORS:
        if _splits(texts, separator):
            return ColumnType("multi", separator=separator, note=f"values joined by {separator}")
    if distinct <= MAX_CLASSES and distinct <= len(texts) / 2:
        return ColumnType("categorical", note=f"{distinct} distinct values")
    spaced = texts.str.contains(r"\s", regex=True).any()
    if distinct > len(texts) / 2 and not spaced:
        return ColumnType("id", note="mostly distinct values without spaces")
    return ColumnType("text", note=f"{distinct} distinct values: free text")


def type_as(values: pd.Series, kind: str, name: str) -> ColumnType:
    """The column typed as `kind` (a user's override): the detected type when it is that kind,
    else one built from the values; ValueError (one line, naming the column) when the values
    cannot be that kind (numeric on text, multi without a separator)."""
    if kind not in TYPES:
        raise ValueError(f"column {name!r}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    detected = detect_column(values)
    if detected.kind == kind:
        return detected
    texts = values.dropna().astype(str).str.strip()
    texts = texts[~texts.isin(NO_VALUE)]
    if kind == "numeric":
        if not _numbers(texts, codes=True):
            bad = pd.to_numeric(texts, errors="coerce").isna()
            example = texts[bad].iloc[0] if bad.any() else ""
            raise ValueError(f"column {name!r} cannot be numeric: {example!r} is not a number")
        return _numeric_type(pd.to_numeric(texts).to_numpy(np.float64), few=False)
    if kind == "multi":
        found = [s for s in SEPARATORS if texts.str.contains(s, regex=False).any()]
        if not found:
            raise ValueError(f"column {name!r} cannot be multi-valued: no value holds | ; or ,")
        return ColumnType("multi", separator=found[0], note="chosen on the Data page")
    return ColumnType(kind, note="chosen on the Data page")


def resolve_types(
    frame: pd.DataFrame, overrides: dict | None, source: str = "the metadata"
) -> dict[str, ColumnType]:
    """detect_types with the user's `overrides` ({column: type name}) applied; ValueError
    naming `source` for the first override the column's values refuse or a column it does not
    have (apply_overrides's error)."""
    types, errors = apply_overrides(frame, overrides)
    if errors:
        raise ValueError(f"{source}: {next(iter(errors.values()))}")
    return types


def apply_overrides(
    frame: pd.DataFrame, overrides: dict | None, detected: dict[str, ColumnType] | None = None
) -> tuple[dict[str, ColumnType], dict[str, str]]:
    """(types, errors): the frame's types (`detected`, its detect_types when given: a caller
    that applies several sets of overrides detects once) with each override ({column: type
    name}) the column's values allow; {column: one line} for each refused one (it keeps its
    detected type)."""
    types, errors = dict(detected or detect_types(frame)), {}
    for name, kind in (overrides or {}).items():
        if name not in types:
            errors[name] = f"no column {name!r} (it has {', '.join(types)})"
            continue
        try:
            types[name] = type_as(frame[name], str(kind), name)
        except ValueError as error:
            errors[name] = str(error)
    return types, errors


EXAMPLES = 3  # values shown per column on the Data page
EXAMPLE_CHARACTERS = 40


def column_type_table(frame: pd.DataFrame, types: dict[str, ColumnType]) -> pd.DataFrame:
    """One row per column of a metadata frame, as the Data page shows it: column, type,
    separator (a multi-valued column's), buckets (a numeric one's), examples (its first
    distinct values), distinct (how many), why (the detection's note)."""
    rows = []
    for name in frame.columns:
        found = types[str(name)]
        values = frame[name].dropna().astype(str)
        examples = [v[:EXAMPLE_CHARACTERS] for v in values.drop_duplicates().head(EXAMPLES)]
        rows.append(
            {
                "column": str(name),
                "type": found.kind,
                "separator": found.separator,
                "buckets": ", ".join(found.labels),
                "examples": " · ".join(examples),
                "distinct": int(values.nunique()),
                "why": found.note,
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


TABLE_COLUMNS = ["column", "type", "separator", "buckets", "examples", "distinct", "why"]


def types_json(types: dict[str, ColumnType]) -> dict:
    return {name: found.to_json() for name, found in types.items()}


def types_from_json(found: object, where: str) -> dict[str, ColumnType]:
    if not isinstance(found, dict):
        raise ValueError(f"{where}: expected a mapping of column names to types")
    return {str(k): ColumnType.from_json(v, f"{where}, column {k!r}") for k, v in found.items()}


# --- numbers and buckets -----------------------------------------------------------------------


def bucket_values(values: pd.Series, found: ColumnType) -> pd.Series:
    """A numeric column's values as their bucket labels (missing and non-numbers: NaN)."""
    numbers = pd.to_numeric(values, errors="coerce")
    bins = [-np.inf, *found.edges, np.inf]
    return pd.cut(numbers, bins=bins, labels=list(found.labels), right=False).astype(object)


def numeric_buckets(edges: list[float], integer: bool) -> tuple[str, ...]:
    """Labels of the ranges between `edges`: "<18", "18-24" (whole numbers: up to the next edge
    less one), "0.5-1" (else: [0.5, 1)), "56+"."""
    if not edges:
        return ("all",)
    text = [_number(edge) for edge in edges]
    middle = [
        f"{text[i]}-{_number(edges[i + 1] - 1) if integer else text[i + 1]}"
        for i in range(len(edges) - 1)
    ]
    return (f"<{text[0]}", *middle, f"{text[-1]}+")


def _numeric_type(numbers: np.ndarray, few: bool = True) -> ColumnType:
    """Numbers as a type: codes 0..k / 1..k are categorical (with `few`, i.e. when detecting);
    a few distinct values one range each; all-distinct whole numbers an id; else quantile
    ranges on round numbers."""
    distinct = np.unique(numbers)
    integer = bool(np.all(numbers == np.round(numbers)))
    if few and integer and len(distinct) <= MAX_BUCKETS:
        if distinct[0] in (0, 1) and np.all(np.diff(distinct) == 1):
            return ColumnType("categorical", note=f"codes {_number(distinct[0])}..")
    if few and integer and len(distinct) == len(numbers) and len(distinct) > MAX_CLASSES:
        return ColumnType("id", note="a distinct whole number per row")
    if len(distinct) <= MAX_BUCKETS:
        edges = [float(v) for v in distinct[1:]]
        note = "numbers: one range per value"
    else:
        edges = round_edges(numbers)
        note = "numbers: ranges between quantiles"
    labels = numeric_buckets(edges, integer)
    return ColumnType("numeric", edges=tuple(edges), labels=labels, note=note)


def round_edges(numbers: np.ndarray, buckets: int = QUANTILE_BUCKETS) -> list[float]:
    """Edges near the quantiles 1/buckets, 2/buckets, ... of `numbers`, rounded to a round step
    (1, 2 or 5 times a power of ten, about a tenth of the 5-95% range), inside its range."""
    low, high = np.quantile(numbers, [0.05, 0.95])
    step = _round_step((high - low) / 10 if high > low else abs(high) or 1.0)
    quantiles = np.quantile(numbers, np.arange(1, buckets) / buckets)
    digits = max(0, -math.floor(math.log10(step)))  # 0.6, not 0.6000000000000001
    edges = sorted({round(float(round(q / step) * step), digits) for q in quantiles})
    return [e for e in edges if numbers.min() < e <= numbers.max()]


def _round_step(width: float) -> float:
    power = 10.0 ** math.floor(math.log10(width))
    for factor in (1, 2, 5, 10):
        if factor * power >= width:
            return factor * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else str(value)


def _numbers(texts: pd.Series, codes: bool = False) -> bool:
    """Every value reads as a number, and (unless `codes`) none is a zero-padded code ("02139",
    a zip code: an id, not a quantity)."""
    if texts.empty or pd.to_numeric(texts, errors="coerce").isna().any():
        return False
    return codes or not texts.str.match(r"^[+-]?0\d").any()


def _splits(texts: pd.Series, separator: str) -> bool:
    """`separator` joins several values consistently: at least two values hold it, no part is
    empty, and the parts are few (<= MAX_CLASSES) and repeat (free text has many parts)."""
    holding = texts.str.contains(separator, regex=False)
    if holding.sum() < 2:
        return False
    parts = texts.str.split(separator, regex=False).explode().str.strip()
    if (parts == "").any():
        return False
    distinct = parts.nunique()
    return distinct <= MAX_CLASSES and distinct <= len(parts) / 2


def _first_value_of(frame: pd.DataFrame, name: str, types: dict) -> str | None:
    """The multi-valued column whose first value `name` repeats in every row, if any."""
    mine = frame[name]
    for other, found in types.items():
        if other == name or found.kind != "multi":
            continue
        first = frame[other].astype("string").str.split(found.separator, regex=False).str[0]
        present = mine.notna()
        if present.any() and (first[present].str.strip() == mine[present].astype(str)).all():
            return other
    return None
