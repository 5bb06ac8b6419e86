"""Read rating files into one clean table with id maps back to the original ids.

Knows MovieLens 100K (`u.data`), 1M (`ratings.dat`), latest (`ratings.csv`), a MovieLens
`.zip` as downloaded, and any CSV/TSV/parquet with a header whose columns can be recognised
(or are named explicitly); MovieLens files without a header by their name or their content,
whatever they are called; any of these compressed (gzip, bzip2, xz, zstandard). Knows
nothing about models.
"""

from __future__ import annotations

import io
import os
import shlex
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hmf_core.common.errors import DataFormatError
from hmf_core.common.progress import Report, monotone, span
from hmf_core.data.compressed import (
    HEAD,
    PARQUET_MAGIC,
    ZIP_MAGIC,
    bomb_refusal,
    expansion_allowed,
    unpacked,
)
from hmf_core.data.layouts import RATING_LAYOUTS, recognised, sample_lines
from hmf_core.data.textfiles import (
    TextSource,
    guess_delimiter,
    header_names,
    max_file_bytes,
    missing,
    open_text,
    os_refusal,
    read_table,
    size_refusal,
)

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
ROLES = ("user", "item", "rating", "timestamp")
SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "space": " "}  # --sep tab, --sep '\t'


def parse_positions(text: str | list | tuple) -> list[str]:
    """The columns of a headerless file by position, like Surprise's Reader(line_format=...):
    'user,item,rating' or 'user,item,rating,timestamp' (spaces also separate). Each role at most
    once; user and item required. A ValueError saying what was expected otherwise."""
    names = text if isinstance(text, (list, tuple)) else str(text).replace(",", " ").split()
    names = [str(name).strip().lower() for name in names]
    expected = (
        "column roles by position among user, item, rating, timestamp, separated by commas "
        "(user and item required), e.g. user,item,rating"
    )
    unknown = [name for name in names if name not in ROLES]
    if unknown or not names:
        raise ValueError(f"expected {expected}; found {unknown[0] if unknown else 'nothing'!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"expected {expected}; {repeated[0]!r} appears twice")
    if "user" not in names or "item" not in names:
        raise ValueError(
            f"expected {expected}; found no {'user' if 'user' not in names else 'item'}"
        )
    return names


def parse_separator(text: str) -> str:
    """A field separator as typed: one or more characters ('::', ';', '|'), or tab / space by
    name ('\\t' too). A ValueError for an empty one or a line break."""
    separator = SEPARATOR_NAMES.get(str(text).lower(), str(text))
    if not separator or "\n" in separator or "\r" in separator or '"' in separator:
        raise ValueError(
            "expected a field separator such as , ; | :: or tab, found " + repr(str(text))
        )
    return separator


def shown_separator(separator: str) -> str:
    """A separator as a shell argument: tab by name, quoted where the shell would need it."""
    if separator == "\t":
        return "tab"
    if separator == " ":
        return "space"
    return shlex.quote(separator)


@dataclass
class RatingData:
    """One clean interaction table.

    `table` has columns user, item (int codes 0..n-1), rating (float; NaN-free, 1.0 for implicit
    feedback) and timestamp (int64; the row order when the file has none).
    `user_ids[code]` / `item_ids[code]` give back the ids as written in the file, as strings
    ('007' and '7' are two users), in natural order (canonical integers by value first).
    `encoding` is the file's text encoding as detected (stated in the summary).
    """

    table: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    source: str
    implicit: bool
    has_timestamp: bool
    duplicates_dropped: int = 0
    notes: list[str] = field(default_factory=list)  # how the file was read (units, encoding)
    encoding: str = "UTF-8"
    problems: list[str] = field(default_factory=list)  # what is wrong or suspect in the data

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
        constant = constant_ratings(self.table["rating"].to_numpy())  # moot: all are positives
        problems = [problem for problem in self.problems if problem != constant]
        return replace(
            self, table=table, implicit=True, notes=[*self.notes, note], problems=problems
        )

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
            "encoding": self.encoding,
            "duplicates_dropped": self.duplicates_dropped,
            "notes": list(self.notes),
            "problems": list(self.problems),
        }
        if not self.implicit:
            ratings = table["rating"].to_numpy()
            summary["rating_min"] = float(ratings.min())
            summary["rating_max"] = float(ratings.max())
            summary["rating_mean"] = float(ratings.mean(dtype=np.float64))  # float32 overflows
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


# Bounds, stated in every refusal. Ratings are stored as float32; times as datetime64[ns] by
# every reader of a run (pandas), so both are checked in those ranges.
FLOAT32_MAX = float(np.finfo(np.float32).max)
TIME_MIN_S = int(pd.Timestamp.min.ceil("s").timestamp())  # 1677-09-21
TIME_MAX_S = int(pd.Timestamp.max.floor("s").timestamp())  # 2262-04-11
TIME_RANGE = "1677-09-22 and 2262-04-11"
# Unix time units by magnitude: seconds below 1e11 (year 5138), milliseconds below 1e14, ...
TIME_UNITS = (("seconds", 1, 1e11), ("milliseconds", 1_000, 1e14), ("microseconds", 10**6, 1e17))
DEFAULT_MAX_ROWS = 50_000_000  # $HMF_MAX_ROWS
ID_TYPE = pa.dictionary(pa.int32(), pa.string())  # ids as text, stored once per block
# Where each part of a reading starts, as a fraction of it (progress reports): parsing the text
# takes PARSED, then the columns are checked. From the phases' times on a generated 20M-row
# CSV (benchmarks/read_speed.py), two readings: opening 3-5%, parsing 38-41%, user ids 11-15%,
# item ids 2-3%, ratings and times 3%, duplicated pairs 35-39%.
PARSED = 0.45
CLEAN_STEPS = {"users": 0.45, "items": 0.6, "values": 0.63, "duplicates": 0.66}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


def max_rows() -> int:
    return _env_int("HMF_MAX_ROWS", DEFAULT_MAX_ROWS)


def read_ratings(
    path: str | Path,
    *,
    data: bytes | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    positions: str | list | None = None,
    sep: str | None = None,
    report: Report | None = None,
) -> RatingData:
    """Read a rating file. `data` lets a caller pass the bytes of an upload named `path`.
    Every failure of the file is a DataFormatError naming the file, the line, the expectation.
    A gzip, bzip2, xz or zstandard file is unpacked first (hmf_core.data.compressed); a zip or
    parquet file is known by its name or its first bytes, a MovieLens file without a header by
    its name or its content (hmf_core.data.layouts).
    `positions` names the columns of a file without a header by position ('user,item,rating',
    parse_positions); `sep` is its field separator (any text; guessed when not given), or that
    of a file with a header the guess gets wrong.
    `report(fraction, text)` hears how far the reading is (hmf_core.common.progress): the text
    parsed, then each column checked; its last fraction is 1.0."""
    path = Path(path)
    positions = parse_positions(positions) if positions else None
    sep = parse_separator(sep) if sep else None
    report = monotone(report)
    explicit = {
        "user": user_col,
        "item": item_col,
        "rating": rating_col,
        "timestamp": timestamp_col,
    }
    packed = unpacked(path, data)
    data, base, head = packed.data, packed.format_name.lower(), packed.head
    if base.endswith(".zip") or head.startswith(ZIP_MAGIC):
        name, data = _member_of_zip(path, data)
        path, base, head = Path(name), Path(name).name.lower(), data[:HEAD]
    if base.endswith(".parquet") or head.startswith(PARQUET_MAGIC):
        return _from_parquet(path, data, explicit, report)
    source = open_text(path, data)
    return _from_text(source, base, explicit, positions, sep, report, packed.notes)


def _from_text(
    source: TextSource,
    base: str,
    explicit: dict,
    positions: list[str] | None,
    sep: str | None,
    report: Report,
    notes: list[str],
    hints: bool = True,
) -> RatingData:
    """The ratings of an opened text file whose format name is `base` (see read_ratings);
    `hints`: a header not understood says which options would read the file."""
    separator, columns, header, explicit, how = _layout(
        source, base, explicit, positions, sep, hints
    )
    roles = _roles(source.name, columns, explicit)
    types = {roles["user"]: ID_TYPE, roles["item"]: ID_TYPE}
    if roles["rating"]:
        types[roles["rating"]] = pa.float32()
    if roles["timestamp"]:
        types[roles["timestamp"]] = pa.int64()

    def line_of(row: int) -> tuple[int | None, str]:
        return source.line_of_row(row + 1 + int(header)), ""

    while True:  # a typed column with a bad value is read again as text, to quote it exactly
        held = [
            read_table(
                source,
                separator,
                header=header,
                columns=None if header else columns,
                types=dict(types),
                include=[c for c in roles.values() if c],
                report=span(report, 0.0, PARSED),
            )
        ]
        stated = [*notes, *how]
        if source.encoding != "UTF-8":
            stated.append(f"Encoding: {source.encoding}.")
        try:  # a list, so that _clean holds the only reference and frees columns as it goes
            return _clean(held, source.name, roles, line_of, stated, source.encoding, report=report)
        except _AsText as again:
            types[again.column] = pa.string()


def _layout(source, base, explicit, positions, sep, hints) -> tuple:
    """(separator, column names, whether the file has a header, the roles named explicitly,
    notes on how it was recognised) of a text file: by position when asked, by name
    (MOVIELENS_RAW), by content (a MovieLens layout without a header), else by its header."""
    if positions:
        separator = sep or MOVIELENS_RAW.get(base, (None,))[0] or guess_delimiter(source)
        named = {role: role if role in positions else None for role in ROLES}
        return separator, positions, False, named, []
    if base in MOVIELENS_RAW:
        separator, columns = MOVIELENS_RAW[base]
        return sep or separator, columns, False, explicit, []
    layout = None if any(explicit.values()) else recognised(source, RATING_LAYOUTS, sep)
    if layout is not None:
        note = (
            f"Read as {layout.title} (recognised by its content): no header, columns "
            f"{', '.join(layout.columns)} separated by {shown_separator(layout.separator)}."
        )
        return layout.separator, list(layout.columns), False, explicit, [note]
    try:
        separator = sep or guess_delimiter(source)
        columns = header_names(source, separator)
        _roles(source.name, columns, explicit)  # a header not understood: the hint below
    except DataFormatError as error:
        raise (_with_hint(error, source, sep, explicit) if hints else error) from None
    return separator, columns, True, explicit, []


HINT_SEPARATORS = (",", "\t", ";", "|", "::", " ", ":")


def _with_hint(error: DataFormatError, source, sep: str | None, explicit: dict):
    """`error` (a header not understood) with the options that read the file, when some do:
    its columns by position (a file without a header, whose first line looks like data) or
    another separator. Each remedy is tried on the file's first lines and named only if they
    read with it; it then replaces the --user-col advice (a header would be a data row)."""
    first = source.first_line()
    for separator in (sep,) if sep else HINT_SEPARATORS:
        fields = [field.strip() for field in first.split(separator)]
        shown = shown_separator(separator)
        if 2 <= len(fields) <= 4 and any(_is_number(field) for field in fields):
            roles = ",".join(ROLES[: len(fields)])
            remedy = (
                f"if the file has no header, name its {len(fields)} columns by position: "
                f"--columns {roles} --sep {shown} (Data page: Columns by position, Separator)"
            )
            if _reads(source, {}, roles, separator):
                return _hinted(error, remedy)
        elif len(fields) >= 2 and not sep and _reads(source, explicit, None, separator):
            remedy = f"it reads with --sep {shown} (Data page: Separator)"
            return _hinted(error, remedy)
    return error


def _hinted(error: DataFormatError, remedy: str) -> DataFormatError:
    found = getattr(error, "listing", error.found)
    return DataFormatError(error.file, error.line, error.expected, f"{found}; {remedy}")


def _reads(source, explicit: dict, positions: str | None, separator: str) -> bool:
    """Whether the first lines of `source` read with these options (a remedy to name)."""
    sample = "\n".join(sample_lines(source)).encode("utf-8")
    lines = TextSource(source.name, "UTF-8", buffer=sample)
    options = parse_positions(positions) if positions else None
    try:
        _from_text(lines, "", explicit, options, separator, monotone(None), [], hints=False)
    except (DataFormatError, ValueError):
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _roles(name: str, columns: list[str], explicit: dict) -> dict:
    unnamed = [
        role
        for role, candidates in (("user", USER_NAMES), ("item", ITEM_NAMES))
        if explicit[role] is None and find_column(columns, candidates) is None
    ]
    return {
        "user": _pick(name, columns, explicit["user"], USER_NAMES, "user", unnamed=unnamed),
        "item": _pick(name, columns, explicit["item"], ITEM_NAMES, "item", unnamed=unnamed),
        "rating": _pick(name, columns, explicit["rating"], RATING_NAMES, "rating", required=False),
        "timestamp": _pick(
            name, columns, explicit["timestamp"], TIME_NAMES, "timestamp", required=False
        ),
    }


def _member_of_zip(path: Path, data: bytes | None) -> tuple[str, bytes]:
    """The ratings member of a zip, decompressed with bounds: no more than the file limit, and
    no member that expands more than HMF_MAX_ZIP_RATIO times past 16 MiB (a zip bomb)."""
    zip_name = path.name
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except FileNotFoundError:
        raise missing(zip_name, path) from None
    except IsADirectoryError:
        raise DataFormatError(zip_name, None, "a file", f"{path} is a directory") from None
    except OSError as exc:
        raise os_refusal(zip_name, path, exc) from None
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise DataFormatError(
            zip_name, None, "a zip archive", "the file is not a valid zip"
        ) from None
    with archive:
        members = {Path(info.filename).name: info for info in archive.infolist()}
        info = next((members[w] for w in ZIP_RATING_FILES if w in members), None)
        if info is None:
            raise DataFormatError(
                zip_name,
                None,
                f"one of {', '.join(ZIP_RATING_FILES)} inside the zip",
                f"found only {', '.join(sorted(members)) or 'nothing'}",
            )
        name = f"{zip_name}/{info.filename}"
        if info.flag_bits & 0x1:
            raise DataFormatError(name, None, "an unencrypted zip member", "it is encrypted")
        limit = max_file_bytes()
        allowed = expansion_allowed(info.compress_size)
        if info.file_size > limit:
            raise size_refusal(name, info.file_size)
        if info.file_size > allowed:
            raise _bomb(name, info.compress_size, info.file_size)
        parts, total = [], 0
        try:
            with archive.open(info) as member:
                while chunk := member.read(1 << 22):
                    total += len(chunk)
                    if total > allowed:  # the declared size lied
                        if total > limit:
                            raise size_refusal(name, total)
                        raise _bomb(name, info.compress_size, total)
                    parts.append(chunk)
        except NotImplementedError as exc:
            raise DataFormatError(
                name, None, "a zip member compressed with deflate, bzip2 or lzma", f"{exc}"
            ) from None
        except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
            raise DataFormatError(name, None, "an unencrypted zip member", f"{exc}") from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError) as exc:
            raise DataFormatError(
                name, None, "an intact zip member", f"it is damaged ({exc})"
            ) from None
    return name, b"".join(parts)


def _bomb(name: str, packed: int, size: int) -> DataFormatError:
    return bomb_refusal(name, "a zip member", f"it expands {packed:,} bytes to {size:,}")


def _from_parquet(path: Path, data: bytes | None, explicit: dict, report: Report) -> RatingData:
    name = path.name
    report(0.0, "reading the parquet file")
    try:
        if data is None:
            if path.stat().st_size > max_file_bytes():
                raise size_refusal(name, path.stat().st_size)
            parquet = pq.ParquetFile(path)
        else:
            if len(data) > max_file_bytes():
                raise size_refusal(name, len(data))
            parquet = pq.ParquetFile(pa.BufferReader(data))
        rows = parquet.metadata.num_rows
        if rows > max_rows():
            raise _rows_refusal(name, rows)
        roles = _roles(name, parquet.schema_arrow.names, explicit)
        table = parquet.read(columns=[c for c in roles.values() if c])
    except DataFormatError:
        raise
    except FileNotFoundError:
        raise missing(name, path) from None
    except OSError as exc:
        if exc.errno is not None:
            raise os_refusal(name, path, exc) from None
        raise DataFormatError(name, None, "a parquet file", f"could not read it ({exc})") from None
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        raise DataFormatError(name, None, "a parquet file", f"could not read it ({exc})") from None
    where = lambda row: (None, f" (row {row + 1})")  # noqa: E731
    report(PARSED, "reading the parquet file")
    return _clean([table], name, roles, where, [], "parquet", retry=False, report=report)


def _rows_refusal(name: str, rows: int) -> DataFormatError:
    return DataFormatError(
        name,
        None,
        f"at most {max_rows():,} rows (set HMF_MAX_ROWS to raise the limit)",
        f"it has {rows:,}",
    )


def _clean(
    held: list[pa.Table],
    name: str,
    roles: dict,
    line_of,
    notes: list[str],
    encoding: str,
    retry: bool = True,
    report: Report | None = None,
) -> RatingData:
    """Arrow columns -> the clean table: ids as strings -> codes, checked ratings and times.
    `line_of(row)` gives (line, extra text) of data row `row` for messages; `held` is a
    one-item list holding the only reference to the table. `report` hears each column's turn
    (from PARSED to 1.0 of the whole reading)."""
    report = report or monotone(None)
    table = held.pop()
    if table.num_rows == 0:
        raise DataFormatError(name, None, "a header and at least one row", "found no data rows")
    if table.num_rows > max_rows():
        raise _rows_refusal(name, table.num_rows)

    def fail(row: int, expected: str, found: str) -> DataFormatError:
        line, extra = line_of(row)
        return DataFormatError(name, line, expected, found + extra)

    n_rows = table.num_rows
    # One column at a time, each dropped once converted: peak memory stays near the result's.
    columns = {role: table.column(column) for role, column in roles.items() if column}
    del table
    user_codes, user_ids, item_codes, item_ids, ratings, timestamps = _converted(
        columns, roles, n_rows, fail, notes, retry, report
    )
    del columns
    _release()
    implicit = roles["rating"] is None

    # Duplicated (user, item) pairs: keep the last by timestamp (file order breaks ties).
    report(CLEAN_STEPS["duplicates"], "finding duplicated (user, item) pairs")
    keep, n_duplicates = _last_of_pairs(user_codes, item_codes, len(item_ids), timestamps)
    problems = []
    if n_duplicates:
        user_codes, item_codes = user_codes[keep], item_codes[keep]
        ratings, timestamps = ratings[keep], timestamps[keep]
        problems.append(
            f"{n_duplicates} duplicated (user, item) pairs: kept the last rating by timestamp."
        )
    if not implicit:
        problems += [p for p in (far_ratings(ratings), constant_ratings(ratings)) if p]
    clean = pd.DataFrame(
        {"user": user_codes, "item": item_codes, "rating": ratings, "timestamp": timestamps},
        copy=False,
    )
    report(1.0, f"read {len(clean):,} ratings")
    return RatingData(
        table=clean,
        user_ids=user_ids,
        item_ids=item_ids,
        source=name,
        implicit=implicit,
        has_timestamp=roles["timestamp"] is not None,
        duplicates_dropped=n_duplicates,
        notes=notes,
        encoding=encoding,
        problems=problems,
    )


def _converted(
    columns: dict, roles: dict, n_rows: int, fail, notes: list[str], retry: bool, report: Report
) -> tuple:
    """(user codes, user ids, item codes, item ids, ratings, timestamps) of the Arrow
    `columns`, each popped from the dict once converted (so it is freed); ones for ratings
    without a rating column, file order for times without a timestamp column (said in
    `notes`)."""
    report(CLEAN_STEPS["users"], "coding the user ids")
    user_codes, user_ids = _id_codes(columns.pop("user"), roles["user"], fail)
    _release()
    report(CLEAN_STEPS["items"], "coding the item ids")
    item_codes, item_ids = _id_codes(columns.pop("item"), roles["item"], fail)
    _release()
    report(CLEAN_STEPS["values"], "checking the ratings and times")
    if roles["rating"] is None:
        ratings = np.ones(n_rows, dtype=np.float32)
        notes.append("No rating column: every row is treated as a positive (implicit feedback).")
    else:
        ratings = _ratings(columns.pop("rating"), roles["rating"], fail, retry)
    if roles["timestamp"] is not None:
        timestamps, unit = _timestamps(columns.pop("timestamp"), roles["timestamp"], fail)
        notes.append(f"Timestamps read as {unit}.")
    else:
        timestamps = np.arange(n_rows, dtype=np.int64)
        notes.append("No timestamp column: file order is used as time for temporal splits.")
    return user_codes, user_ids, item_codes, item_ids, ratings, timestamps


# A rating scale (1-5 stars, 1-10, 0-100 points) stays far below a million. A rating of a
# larger magnitude is most likely a slip (a time, an id or a price in the rating column, an
# exponent): its squared error alone is 1e12 or more, the learning rates tuned for rating
# scales overshoot on it, and from about 1.8e19 on the square overflows float32, the type
# training runs in. So the reader states every such rating (how many, their range) and a
# fit that diverges on them names them as the cause.
FAR_RATING = 1e6


def far_ratings(ratings: np.ndarray) -> str | None:
    """The problem of ratings beyond +-FAR_RATING, with their count and range; None if none."""
    far = ratings[np.abs(ratings) > FAR_RATING]  # (F,)
    if not far.size:
        return None
    return (
        f"{far.size:,} rating{'s are' if far.size > 1 else ' is'} above 1e6 in size (from "
        f"{float(far.min()):.4g} to {float(far.max()):.4g}): far outside any rating scale (a "
        "time, an id or a unit in the rating column?); check the rating column"
    )


def constant_ratings(ratings: np.ndarray) -> str | None:
    """The problem of a file whose ratings (two or more) all have one value; None otherwise."""
    if ratings.size < 2 or ratings.min() != ratings.max():
        return None
    return (
        f"All {ratings.size:,} ratings are {float(ratings[0]):g}: the model can only learn "
        "that constant (nothing tells users or items apart)"
    )


class _AsText(Exception):
    """A typed column holds a bad value: read it again as text to name and quote it."""

    def __init__(self, column: str):
        self.column = column


def _release() -> None:
    """Give pyarrow's freed buffers back to the system (its pool keeps them otherwise)."""
    pa.default_memory_pool().release_unused()


def _last_of_pairs(
    users: np.ndarray, items: np.ndarray, n_items: int, timestamps: np.ndarray
) -> tuple[np.ndarray | None, int]:
    """Rows to keep (file order) so each (user, item) pair keeps its last row by timestamp,
    file order breaking ties; None when no pair repeats. Only repeated pairs are sorted by
    time, so a file without duplicates costs one sort of the pair keys."""
    pair = users * np.int64(n_items) + items  # (R,) one key per pair
    sorted_pair = np.sort(pair)
    repeated = sorted_pair[1:] == sorted_pair[:-1]  # (R-1,)
    n_duplicates = int(np.count_nonzero(repeated))
    if not n_duplicates:
        return None, 0
    repeated_keys = np.unique(sorted_pair[1:][repeated])  # (K,) pairs that repeat
    del sorted_pair, repeated
    position = pd.Index(repeated_keys).get_indexer(pair)  # (R,) -1 where the pair is single
    rows = np.flatnonzero(position >= 0)  # (D,) rows of repeated pairs
    del position
    by_pair_time_row = rows[np.lexsort((rows, timestamps[rows], pair[rows]))]
    later = pair[by_pair_time_row][1:] == pair[by_pair_time_row][:-1]
    drop = by_pair_time_row[:-1][later]  # all but the last of each pair
    keep = np.ones(len(pair), dtype=bool)
    keep[drop] = False
    return np.flatnonzero(keep), n_duplicates


def _pick(
    name: str,
    columns: list[str],
    explicit: str | None,
    candidates: tuple[str, ...],
    role: str,
    required: bool = True,
    unnamed: list[str] | None = None,
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
        unnamed = unnamed or [role]
        listing = f"the columns are {', '.join(repr(c[:40]) for c in columns[:12])}{hint}"
        flags = " and ".join(f"--{each}-col" for each in unnamed)
        error = DataFormatError(
            name,
            1,
            f"{'an' if role == 'item' else 'a'} {role} column (named like "
            f"{', '.join(candidates[:3])}) in the header",
            f"{listing}; name {'them' if len(unnamed) > 1 else 'it'} with {flags} "
            "(Data page: Column names)",
        )
        error.listing = listing  # what _with_hint keeps when another remedy reads the file
        raise error
    return found


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _id_codes(column: pa.ChunkedArray, name: str, fail) -> tuple[np.ndarray, np.ndarray]:
    """Ids as the strings the file has ('007' is not '7', '1e1' is not '10'), stripped of
    surrounding spaces, coded 0..n-1 in natural order (canonical integers by value first, so
    '2' sorts before '10'; then every other id by its text). Arrow compute throughout."""
    if column.null_count:
        row = _first_row(column.is_null().to_numpy(zero_copy_only=False))
        raise fail(row, f"a value in column {name!r}", "it is empty")
    if pa.types.is_dictionary(column.type):  # per-block dictionaries -> one
        dictionary = pa.chunked_array(
            [chunk.dictionary for chunk in column.chunks], column.type.value_type
        ).unique()
        indices = np.concatenate(
            [
                pc.index_in(chunk.dictionary, value_set=dictionary)
                .to_numpy(zero_copy_only=False)
                .astype(np.int32)[chunk.indices.to_numpy(zero_copy_only=False)]
                for chunk in column.chunks
            ]
        )  # (R,) int32 code into `dictionary`
        dictionary = pc.utf8_trim_whitespace(dictionary)
    else:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        encoded = column.dictionary_encode()  # one memo for all chunks: the last has all
        dictionary = pc.utf8_trim_whitespace(encoded.chunk(encoded.num_chunks - 1).dictionary)
        indices = np.concatenate(
            [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
        )  # (R,) int32 code into `dictionary`
        del encoded
    del column
    empty = pc.equal(dictionary, "").to_numpy(zero_copy_only=False)
    if empty.any():
        row = _first_row(np.isin(indices, np.flatnonzero(empty)))
        raise fail(row, f"a value in column {name!r}", "it is empty")
    merged = dictionary.dictionary_encode()  # stripping may merge two entries
    local, unique = merged.indices.to_numpy(zero_copy_only=False), merged.dictionary
    canonical = pc.match_substring_regex(unique, r"^(0|[1-9][0-9]*)$")
    keys = pa.table(
        {
            "other": pc.invert(canonical),
            "length": pc.if_else(canonical, pc.utf8_length(unique), 0),
            "text": unique,
        }
    )
    order = pc.sort_indices(
        keys, sort_keys=[("other", "ascending"), ("length", "ascending"), ("text", "ascending")]
    ).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[local][indices]  # (R,) int64
    return codes, unique.take(pa.array(order)).to_numpy(zero_copy_only=False).astype(object)


def _ratings(column: pa.ChunkedArray, name: str, fail, retry: bool) -> np.ndarray:
    """float32 ratings; a value that is not a number, not finite or beyond float32 is an error
    naming its line (arrow's min/max first: a good column costs no temporary array)."""
    expected = f"a number in column {name!r}"
    in_range = f"a finite number of at most {FLOAT32_MAX:.4g} in size in column {name!r}"
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        extremes = pc.min_max(column)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        nan = pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py()
        if (
            not column.null_count
            and not nan
            and low is not None
            and -FLOAT32_MAX <= low
            and high <= FLOAT32_MAX
        ):
            return pc.cast(column, pa.float32(), safe=False).to_numpy()
        if retry:
            raise _AsText(name)
        values = column.to_numpy().astype(np.float64)  # nulls (empty cells) become NaN
        text = None
    else:
        text = column.to_pandas().astype(object)
        values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= FLOAT32_MAX)  # NaN, inf and beyond float32
    if bad.any():
        row = _first_row(bad)
        shown = text.iloc[row] if text is not None else _shown_value(column, row)
        number = np.isnan(values[row]) and shown.strip().lower() not in ("nan", "+nan", "-nan")
        raise fail(row, expected if number else in_range, f"found {shown!r}")
    return values.astype(np.float32)


def _shown_value(column: pa.ChunkedArray, row: int) -> str:
    value = column[row].as_py()
    return "" if value is None else str(value)


def _timestamps(column: pa.ChunkedArray, name: str, fail) -> tuple[np.ndarray, str]:
    """Unix seconds (int64). Numbers: the unit (seconds, milliseconds, microseconds) by
    magnitude, the same for every row, stated; dates: parsed. Both within datetime64[ns]."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("s", tz=column.type.tz))
        seconds = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
        return _in_range(seconds, None, name, fail), "dates"
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if column.null_count:
            raise fail(
                _first_row(column.is_null().to_numpy(zero_copy_only=False)),
                f"a unix time or a date in column {name!r}",
                "it is empty",
            )
        return _unix(column.to_numpy(), None, name, fail)  # one copy when chunked
    text = column.to_pandas().astype(object).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        return _unix(numeric.to_numpy(np.float64), text, name, fail)
    if numeric.notna().mean() >= 0.5:  # mostly unix times: the rows that are not are wrong
        row = _first_row(numeric.isna().to_numpy())
        raise fail(
            row, f"a unix time in column {name!r}, like the other rows", f"found {text.iloc[row]!r}"
        )
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = _first_row(bad)
        raise fail(row, f"a unix time or a date in column {name!r}", f"found {text.iloc[row]!r}")
    seconds = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    return _in_range(seconds, text, name, fail), "dates"


def _unix(values: np.ndarray, text, name: str, fail) -> tuple[np.ndarray, str]:
    low, high = values.min(), values.max()
    if values.dtype.kind == "i" and -1e11 < low and high < 1e11:  # all unix seconds: no copy
        return _in_range(values, text, name, fail), "unix seconds"
    magnitude = np.abs(values.astype(np.float64))
    band = np.searchsorted([limit for _, _, limit in TIME_UNITS], magnitude, side="right")
    # (R,) 0 seconds, 1 ms, 2 us, 3 beyond; the most common band is the file's unit (ties: the
    # smaller unit), so a single odd row is the one named
    usual = int(np.bincount(band).argmax())
    if usual >= len(TIME_UNITS):
        row = _first_row(band == usual)
        raise fail(
            row,
            f"a unix time in seconds, milliseconds or microseconds in column {name!r}",
            f"found {_text(values, text, row)!r}",
        )
    unit, factor, _ = TIME_UNITS[usual]
    odd = band != usual
    if odd.any():
        row = _first_row(odd)
        raise fail(
            row,
            f"a unix time in {unit} in column {name!r}, like the other rows",
            f"found {_text(values, text, row)!r}, which is not in {unit}",
        )
    if values.dtype.kind == "f":
        seconds = np.floor(values / factor).astype(np.int64)
    else:
        seconds = values.astype(np.int64) // factor
    shown = f"unix {unit}" if factor == 1 else f"unix {unit} (converted to seconds)"
    return _in_range(seconds, text, name, fail, values), shown


def _text(values, text, row) -> str:
    if text is not None:
        return str(text.iloc[row])
    value = values[row]
    return str(int(value)) if float(value).is_integer() else str(value)


def _in_range(seconds: np.ndarray, text, name: str, fail, values=None) -> np.ndarray:
    if TIME_MIN_S <= seconds.min() and seconds.max() <= TIME_MAX_S:
        return seconds
    bad = (seconds < TIME_MIN_S) | (seconds > TIME_MAX_S)
    if bad.any():
        row = _first_row(bad)
        shown = _text(values if values is not None else seconds, text, row)
        raise fail(row, f"a time between {TIME_RANGE} in column {name!r}", f"found {shown!r}")
    return seconds
