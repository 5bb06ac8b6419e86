"""Read rating files into one clean table with id maps back to the original ids.

Knows MovieLens 100K (`u.data`), 1M (`ratings.dat`), latest (`ratings.csv`), a MovieLens
`.zip` as downloaded, and any CSV/TSV/parquet with a header whose columns can be recognised
(or are named explicitly). Knows nothing about models.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.errors import DataFormatError
from hmf_core.textfiles import decode_text, file_bytes, guess_delimiter, read_delimited

# Column names we recognise, compared after lower-casing and dropping '_', '-' and spaces.
USER_NAMES = ("user", "userid", "uid", "users", "customer", "customerid", "reviewer", "reviewerid")
ITEM_NAMES = ("item", "itemid", "iid", "movie", "movieid", "product", "productid", "asin", "song")
RATING_NAMES = ("rating", "ratings", "score", "stars", "value", "preference")
TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime", "unixreviewtime", "created")

# MovieLens files without a header: file name -> (separator, column names).
MOVIELENS_RAW = {
    "u.data": ("\t", ["user", "item", "rating", "timestamp"]),
    "ratings.dat": ("::", ["user", "item", "rating", "timestamp"]),
}
ZIP_RATING_FILES = ("ratings.csv", "u.data", "ratings.dat")


@dataclass
class RatingData:
    """One clean interaction table.

    `table` has columns user, item (int codes 0..n-1), rating (float; NaN-free, 1.0 for implicit
    feedback) and timestamp (int64; the row order when the file has none).
    `user_ids[code]` / `item_ids[code]` give back the ids as written in the file.
    """

    table: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    source: str
    implicit: bool
    has_timestamp: bool
    duplicates_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def as_implicit(self, threshold: float) -> RatingData:
        """Keep rows rated >= threshold as positives (rating 1.0): explicit -> implicit."""
        keep = self.table["rating"].to_numpy() >= threshold
        table = self.table[keep].assign(rating=np.float32(1.0)).reset_index(drop=True)
        note = f"Implicit feedback: {int(keep.sum())} of {len(keep)} ratings >= {threshold} kept."
        return replace(self, table=table, implicit=True, notes=[*self.notes, note])

    def summary(self) -> dict:
        """Plain numbers for a report: sizes, density, rating range, time range, problems."""
        table = self.table
        summary = {
            "source": self.source,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": len(table),
            "density": len(table) / max(1, self.n_users * self.n_items),
            "implicit": self.implicit,
            "duplicates_dropped": self.duplicates_dropped,
            "notes": list(self.notes),
        }
        if not self.implicit:
            summary["rating_min"] = float(table["rating"].min())
            summary["rating_max"] = float(table["rating"].max())
            summary["rating_mean"] = float(table["rating"].mean())
        if self.has_timestamp:
            summary["time_min"] = int(table["timestamp"].min())
            summary["time_max"] = int(table["timestamp"].max())
        return summary


def _normalise(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch not in "_- ")


def find_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first column whose normalised name is one of `candidates`."""
    by_name = {_normalise(col): col for col in columns}
    for candidate in candidates:
        if candidate in by_name:
            return by_name[candidate]
    return None


def read_ratings(
    path: str | Path,
    *,
    data: bytes | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
) -> RatingData:
    """Read a rating file. `data` lets a caller pass the bytes of an upload named `path`."""
    name, data = file_bytes(path, data)
    if name.lower().endswith(".zip"):
        name, data = _member_of_zip(name, data)
    frame, line_offset = _read_frame(name, data)
    return _clean(frame, name, line_offset, user_col, item_col, rating_col, timestamp_col)


def _member_of_zip(zip_name: str, data: bytes) -> tuple[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataFormatError(
            zip_name, None, "a zip archive", "the file is not a valid zip"
        ) from None
    members = {Path(info.filename).name: info.filename for info in archive.infolist()}
    for wanted in ZIP_RATING_FILES:
        if wanted in members:
            return f"{zip_name}/{members[wanted]}", archive.read(members[wanted])
    raise DataFormatError(
        zip_name,
        None,
        f"one of {', '.join(ZIP_RATING_FILES)} inside the zip",
        f"found only {', '.join(sorted(members)) or 'nothing'}",
    )


def _read_frame(name: str, data: bytes) -> tuple[pd.DataFrame, int]:
    """Parse bytes into a frame of strings; returns (frame, line number of the first row)."""
    base = Path(name).name.lower()
    if base.endswith(".parquet"):
        try:
            return pd.read_parquet(io.BytesIO(data)).astype(str), 1
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataFormatError(
                name, None, "a parquet file", f"could not read it ({exc})"
            ) from None
    text = decode_text(name, data)
    if base in MOVIELENS_RAW:
        separator, columns = MOVIELENS_RAW[base]
        return read_delimited(name, text, separator, header=False, columns=columns), 1
    separator = guess_delimiter(name, text)
    return read_delimited(name, text, separator, header=True), 2


def _clean(
    frame: pd.DataFrame,
    name: str,
    first_line: int,
    user_col: str | None,
    item_col: str | None,
    rating_col: str | None,
    timestamp_col: str | None,
) -> RatingData:
    columns = [str(c) for c in frame.columns]
    user_col = _pick(name, columns, user_col, USER_NAMES, "user")
    item_col = _pick(name, columns, item_col, ITEM_NAMES, "item")
    rating_col = _pick(name, columns, rating_col, RATING_NAMES, "rating", required=False)
    timestamp_col = _pick(name, columns, timestamp_col, TIME_NAMES, "timestamp", required=False)

    lines = np.arange(len(frame)) + first_line  # file line of each row, for error messages
    users = _required_ids(frame[user_col], name, lines, user_col)
    items = _required_ids(frame[item_col], name, lines, item_col)
    implicit = rating_col is None
    ratings = (
        np.ones(len(frame)) if implicit else _numbers(frame[rating_col], name, lines, rating_col)
    )
    has_timestamp = timestamp_col is not None
    timestamps = (
        _timestamps(frame[timestamp_col], name, lines, timestamp_col)
        if has_timestamp
        else np.arange(len(frame), dtype=np.int64)
    )
    table = pd.DataFrame(
        {"user_id": users, "item_id": items, "rating": ratings, "timestamp": timestamps}
    )
    notes = []
    if implicit:
        notes.append("No rating column: every row is treated as a positive (implicit feedback).")
    if not has_timestamp:
        notes.append("No timestamp column: file order is used as time for temporal splits.")

    # Duplicated (user, item) pairs: keep the last by timestamp (file order breaks ties).
    table = table.sort_values("timestamp", kind="stable")
    duplicated = table.duplicated(["user_id", "item_id"], keep="last")
    n_duplicates = int(duplicated.sum())
    if n_duplicates:
        notes.append(
            f"{n_duplicates} duplicated (user, item) pairs: kept the last rating by timestamp."
        )
        table = table[~duplicated]
    table = table.sort_index(kind="stable")  # back to file order

    user_codes, user_ids = pd.factorize(table["user_id"], sort=True)
    item_codes, item_ids = pd.factorize(table["item_id"], sort=True)
    clean = pd.DataFrame(
        {
            "user": user_codes.astype(np.int64),
            "item": item_codes.astype(np.int64),
            "rating": table["rating"].to_numpy(np.float32),
            "timestamp": table["timestamp"].to_numpy(np.int64),
        }
    )
    return RatingData(
        table=clean,
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        source=name,
        implicit=implicit,
        has_timestamp=has_timestamp,
        duplicates_dropped=n_duplicates,
        notes=notes,
    )


def _pick(
    name: str,
    columns: list[str],
    explicit: str | None,
    candidates: tuple[str, ...],
    role: str,
    required: bool = True,
) -> str | None:
    if explicit is not None:
        if explicit not in columns:
            raise DataFormatError(
                name,
                1,
                f"a column named {explicit!r} for the {role}",
                f"the columns are {', '.join(map(repr, columns))}",
            )
        return explicit
    found = find_column(columns, candidates)
    if found is None and required:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";|:,\t"):
            hint = " (the header has one column only: is the delimiter one we know: , tab ; | ?)"
        raise DataFormatError(
            name,
            1,
            f"a {role} column (named like {', '.join(candidates[:3])}) in the header",
            f"the columns are {', '.join(map(repr, columns))}{hint}; "
            f"name it explicitly with --{role}-col",
        )
    return found


def _first_bad(mask: np.ndarray, values: pd.Series, lines: np.ndarray) -> tuple[int, str]:
    position = int(np.flatnonzero(mask)[0])
    return int(lines[position]), str(values.iloc[position])


def _required_ids(values: pd.Series, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        line, _ = _first_bad(missing, values, lines)
        raise DataFormatError(name, line, f"a value in column {column!r}", "it is empty")
    cleaned = values.astype(str).str.strip()
    numeric = pd.to_numeric(cleaned, errors="coerce")
    if numeric.notna().all() and (numeric % 1 == 0).all():
        return numeric.to_numpy(np.int64)  # integer ids stay integers (sorts 2 before 10)
    return cleaned.to_numpy(object)


def _numbers(values: pd.Series, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    numeric = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    bad = numeric.isna().to_numpy() | ~np.isfinite(numeric.to_numpy(np.float64, na_value=np.nan))
    if bad.any():
        line, value = _first_bad(bad, values, lines)
        raise DataFormatError(name, line, f"a number in column {column!r}", f"found {value!r}")
    return numeric.to_numpy(np.float64)


def _timestamps(values: pd.Series, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    text = values.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(np.float64).astype(np.int64)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        line, value = _first_bad(bad, values, lines)
        raise DataFormatError(
            name, line, f"a unix time or a date in column {column!r}", f"found {value!r}"
        )
    seconds = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)  # any resolution
    return seconds.to_numpy(np.int64)
