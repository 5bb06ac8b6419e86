"""Bytes -> text -> a frame of strings, with errors that name the file and the line."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from hmf_core.errors import DataFormatError

DELIMITERS = (",", "\t", ";", "|", "::")


def file_bytes(path: str | Path, data: bytes | None = None) -> tuple[str, bytes]:
    """(file name for messages, contents): `data` is an upload's bytes, else read `path`."""
    path = Path(path)
    if data is None:
        if not path.exists():
            raise DataFormatError(path.name, None, "an existing file", f"found no file at {path}")
        data = path.read_bytes()
    return path.name, data


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else latin-1; refuse empty and binary files."""
    if not data.strip():
        raise DataFormatError(name, None, "rows of data", "the file is empty")
    head = data[:65536]
    if b"\x00" in head or _control_share(head) > 0.01:
        raise DataFormatError(
            name,
            None,
            "a text file (CSV, TSV or MovieLens format)",
            "it looks like binary data (control bytes found)",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # MovieLens u.item / movies.dat are latin-1
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _control_share(data: bytes) -> float:
    allowed = {9, 10, 13}
    control = sum(1 for byte in data if byte < 32 and byte not in allowed)
    return control / max(1, len(data))


def guess_delimiter(name: str, text: str) -> str:
    """The delimiter of a file with a header: the candidate that splits the first line most."""
    first_line = text.lstrip("\n").split("\n", 1)[0]
    counts = {sep: first_line.count(sep) for sep in DELIMITERS}
    if counts["::"]:
        return "::"
    best = max((",", "\t", ";", "|"), key=lambda sep: counts[sep])
    if counts[best] == 0:
        raise DataFormatError(
            name,
            1,
            "a header with at least two columns separated by , tab ; or |",
            f"found {first_line[:80]!r}",
        )
    return best


def read_delimited(
    name: str, text: str, separator: str, *, header: bool, columns: list[str] | None = None
) -> pd.DataFrame:
    """Parse delimited text into strings; every row must have the header's number of fields."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or (header and len(lines) < 2):
        raise DataFormatError(name, None, "a header and at least one row", "found no data rows")
    n_fields = len(columns) if columns else _fields(lines[0], separator)
    series = pd.Series(lines)
    counts = (series.str.count(re.escape(separator)) + 1).to_numpy(copy=True)  # vectorised
    if separator == ",":  # quoted commas ("Matrix, The"): count those lines one by one
        quoted = series.str.contains('"', regex=False).to_numpy()
        counts[quoted] = [_fields(line, separator) for line in series[quoted]]
    wrong = counts != n_fields
    if wrong.any():
        position = int(wrong.argmax())
        line, fields = lines[position], int(counts[position])
        if not line.strip():
            raise DataFormatError(name, position + 1, f"{n_fields} fields", "found an empty line")
        shown = "tab" if separator == "\t" else repr(separator)
        raise DataFormatError(
            name,
            position + 1,
            f"{n_fields} fields separated by {shown}",
            f"found {fields} in {line[:80]!r}",
        )
    return pd.read_csv(
        io.StringIO("\n".join(lines)),
        sep=re.escape(separator) if len(separator) > 1 else separator,
        engine="python" if len(separator) > 1 else "c",
        header=0 if header else None,
        names=None if header else columns,
        dtype=str,
        keep_default_na=False,
        quoting=0 if separator == "," else 3,  # QUOTE_MINIMAL for CSV, QUOTE_NONE otherwise
    )


def _fields(line: str, separator: str) -> int:
    """Fields in one line; for CSV, commas inside double quotes ("Matrix, The") do not count."""
    if separator != "," or '"' not in line:
        return line.count(separator) + 1
    fields, quoted = 1, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields += 1
    return fields
