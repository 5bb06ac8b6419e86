"""Bytes -> text -> a columnar table, with errors that name the file and the line.

A file is opened once (`open_text`): its size is checked against a stated limit, its encoding
detected and stated (UTF-8, UTF-8 with BOM, UTF-16 with BOM, or latin-1 when no line of it is
UTF-8), and binary data refused. Parsing is pyarrow's CSV reader (`read_table`), whose parse and
conversion errors are mapped to our messages with the file's line number. The per-line work
below (finding a line number) runs only after an error, never on a good file.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from hmf_core.common.errors import DataFormatError
from hmf_core.common.progress import Report, monotone

DELIMITERS = (",", "\t", ";", "|", "::")
UNIT_SEPARATOR = b"\x1f"  # '::' (MovieLens 1M), any longer separator, becomes this one byte
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of text (about 35M rating rows); HMF_MAX_FILE_BYTES
CHUNK = 1 << 24  # 16 MiB: streaming checks read this much at a time
BLOCK = 1 << 24  # 16 MiB: pyarrow parses one block at a time (fewer per-block id dictionaries)

# A well-formed multi-byte UTF-8 sequence: if a file that is not valid UTF-8 has one, it is
# UTF-8 with a bad line (refused, naming the line), not a latin-1 file.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")


def max_file_bytes() -> int:
    """The largest text file (or zip member, uncompressed) we read: $HMF_MAX_FILE_BYTES."""
    value = os.environ.get("HMF_MAX_FILE_BYTES", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_BYTES


def size_refusal(name: str, size: int) -> DataFormatError:
    limit = max_file_bytes()
    return DataFormatError(
        name,
        None,
        f"a file of at most {limit:,} bytes (set HMF_MAX_FILE_BYTES to raise the limit)",
        f"it has {size:,} bytes",
    )


def shown_path(path: str | Path) -> str:
    """A path for a message: whole up to 200 characters, else its start and end."""
    text = str(path)
    return text if len(text) <= 200 else text[:100] + "..." + text[-60:]


def os_refusal(name: str, path: Path, exc: OSError) -> DataFormatError:
    """An OS error on a user's path, as one line (no traceback)."""
    reason = exc.strerror or type(exc).__name__
    return DataFormatError(name[:80], None, "a readable file", f"{reason} ({shown_path(path)})")


def missing(name: str, path: Path, expected: str = "an existing file") -> DataFormatError:
    return DataFormatError(name[:80], None, expected, f"found no file at {shown_path(path)}")


@dataclass
class TextSource:
    """An opened text file: UTF-8 bytes in memory (`buffer`) or a UTF-8 file on disk (`path`)."""

    name: str
    encoding: str  # as stated to the user: "UTF-8", "UTF-8 with BOM", "latin-1", ...
    buffer: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        """Bytes of UTF-8 text (what the parser reads)."""
        return len(self.buffer) if self.buffer is not None else self.path.stat().st_size

    def arrow_input(self):
        if self.buffer is not None:
            return pa.BufferReader(self.buffer)
        return str(self.path)  # read in blocks: no mapped file pages in the resident set

    def chunks(self) -> Iterator[bytes]:
        if self.buffer is not None:
            view = memoryview(self.buffer)
            for start in range(0, len(view), CHUNK):
                yield bytes(view[start : start + CHUNK])
            return
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def lines(self) -> Iterator[str]:
        """Physical lines without their end, ended by \\n, \\r\\n or \\r as pyarrow ends
        them (error path only)."""
        stream = io.BytesIO(self.buffer) if self.buffer is not None else open(self.path, "rb")
        with io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None) as text:
            for line in text:
                yield line.rstrip("\n")

    def first_line(self) -> str:
        for line in self.lines():
            if line.strip():
                return line.lstrip("\ufeff")
        return ""

    def line_of_row(self, row: int) -> int:
        """Physical line number (1-based) of the `row`-th non-empty line (1-based), the way
        pyarrow counts rows: it skips empty lines."""
        seen = 0
        for number, line in enumerate(self.lines(), start=1):
            if line:
                seen += 1
                if seen == row:
                    return number
        return number if seen else 1

    def line_text(self, number: int) -> str:
        for current, line in enumerate(self.lines(), start=1):
            if current == number:
                return line
        return ""

    def with_separator(self, separator: str) -> TextSource:
        """A separator of several characters ('::', MovieLens 1M) as the one byte pyarrow
        needs; one-character separators unchanged."""
        if len(separator) == 1:
            return self
        data = self.buffer if self.buffer is not None else self.path.read_bytes()
        replaced = data.replace(separator.encode("utf-8"), UNIT_SEPARATOR)
        return TextSource(self.name, self.encoding, buffer=replaced)


def open_text(path: str | Path, data: bytes | None = None) -> TextSource:
    """Open a user's text file: `data` is an upload's bytes named `path`, else read `path`."""
    path = Path(path)
    name = path.name or str(path)
    if data is None:
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise DataFormatError(name, None, "a file", f"{path} is a directory")
            with open(path, "rb") as handle:
                head = handle.read(65536)
        except FileNotFoundError:
            raise missing(name, path) from None
        except OSError as exc:
            raise os_refusal(name, path, exc) from None
        if size > max_file_bytes():
            raise size_refusal(name, size)
        return _decoded(name, head, size, path=path)
    if len(data) > max_file_bytes():
        raise size_refusal(name, len(data))
    return _decoded(name, data[:65536], len(data), buffer=data)


def _decoded(
    name: str, head: bytes, size: int, *, path: Path | None = None, buffer: bytes | None = None
) -> TextSource:
    if size == 0 or (len(head) == size and not head.strip()):
        raise DataFormatError(name, None, "rows of data", "the file is empty")
    for bom, codec, label in (
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
    ):
        if head.startswith(bom) and not head.startswith(codecs.BOM_UTF32_LE):
            raw = buffer if buffer is not None else path.read_bytes()
            try:
                text = raw[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].decode(codec, errors="replace").count("\n") + 1
                raise DataFormatError(
                    name,
                    line,
                    f"{label} text (the file starts with its byte-order mark)",
                    "found bytes that are not " + label,
                ) from None
            return TextSource(name, f"{label} (with BOM)", buffer=text.encode("utf-8"))
    if b"\x00" in head:
        zeros_odd = head[1::2].count(0) / max(1, len(head[1::2]))
        zeros_even = head[0::2].count(0) / max(1, len(head[0::2]))
        if max(zeros_odd, zeros_even) > 0.4 and min(zeros_odd, zeros_even) < 0.1:
            raise DataFormatError(
                name,
                None,
                "UTF-8 or latin-1 text, or UTF-16 with a byte-order mark",
                "it looks like UTF-16 without a byte-order mark: save it as UTF-8",
            )
        raise DataFormatError(
            name,
            None,
            "a text file (CSV, TSV or MovieLens format)",
            "it looks like binary data (NUL bytes found)",
        )
    if _control_share(head) > 0.01:
        raise DataFormatError(
            name,
            None,
            "a text file (CSV, TSV or MovieLens format)",
            "it looks like binary data (control bytes found)",
        )
    source = TextSource(name, "UTF-8", buffer=buffer, path=path)
    if head.startswith(codecs.BOM_UTF8):
        source.encoding = "UTF-8 with BOM"
    bad_at = _first_invalid_utf8(source)
    if bad_at is None:
        return source
    if any(_UTF8_MULTIBYTE.search(chunk) for chunk in source.chunks()):
        line, text = _line_at(source, bad_at)
        raise DataFormatError(
            name,
            line,
            "UTF-8 text like the rest of the file",
            f"found bytes that are not UTF-8 in {text[:80]!r} (save the file as UTF-8)",
        )
    raw = buffer if buffer is not None else path.read_bytes()
    return TextSource(name, "latin-1", buffer=raw.decode("latin-1").encode("utf-8"))


def _first_invalid_utf8(source: TextSource) -> int | None:
    """Byte offset of the first byte that is not UTF-8, or None (streamed, no copy kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    for chunk in source.chunks():
        if not chunk.isascii():
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + max(0, exc.start)
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return max(0, offset - 1)
    return None


def _line_at(source: TextSource, offset: int) -> tuple[int, str]:
    seen = 0
    for number, line in enumerate(_raw_lines(source), start=1):
        seen += len(line)
        if seen > offset:
            return number, line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    return 1, ""


def _raw_lines(source: TextSource) -> Iterator[bytes]:
    stream = io.BytesIO(source.buffer) if source.buffer is not None else open(source.path, "rb")
    with stream:
        yield from stream


def _control_share(data: bytes) -> float:
    control = (
        len(data)
        - len(data.translate(None, bytes(range(32))))
        - sum(data.count(byte) for byte in (b"\t", b"\n", b"\r"))
    )
    return control / max(1, len(data))


def guess_delimiter(source: TextSource) -> str:
    """The delimiter of a file with a header: the candidate that splits the first line most."""
    first_line = source.first_line()
    counts = {sep: first_line.count(sep) for sep in DELIMITERS}
    if counts["::"]:
        return "::"
    best = max((",", "\t", ";", "|"), key=lambda sep: counts[sep])
    if counts[best] == 0:
        raise DataFormatError(
            source.name,
            1,
            "a header with at least two columns separated by , tab ; or |",
            f"found {first_line[:80]!r}",
        )
    return best


def header_names(source: TextSource, separator: str) -> list[str]:
    """The header's column names, split the way the body is parsed."""
    line = source.first_line()
    if separator == ",":
        try:
            names = [name.strip() for name in next(csv.reader([line]))]
        except csv.Error as exc:
            raise DataFormatError(
                source.name, 1, "a CSV header", f"{exc} in {line[:80]!r}"
            ) from None
    else:
        names = [name.strip() for name in line.split(separator)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataFormatError(
            source.name, 1, "a header with distinct column names", f"{repeated[0]!r} appears twice"
        )
    return names


def _shown(separator: str) -> str:
    return "tab" if separator == "\t" else repr(separator)


def read_table(
    source: TextSource,
    separator: str,
    *,
    header: bool,
    columns: list[str] | None = None,
    types: dict[str, pa.DataType] | None = None,
    include: list[str] | None = None,
    report: Report | None = None,
) -> pa.Table:
    """Parse delimited text with pyarrow: `columns` names a headerless file's fields, `types`
    gives a type per column (string by default), `include` keeps only those columns. A column
    whose values do not convert to its type is read again as strings, so that the caller's own
    check names the line; a row with the wrong number of fields is an error naming its line.
    `report(fraction, text)` hears the share of the text parsed after each block (16 MiB)."""
    names = columns if columns is not None else header_names(source, separator)
    if header and len(names) < 2:
        guess_delimiter(source)  # raises the "one column only" error
    wanted = include or names
    types = {name: (types or {}).get(name, pa.string()) for name in wanted}
    parsed = source.with_separator(separator)
    while True:
        try:
            return _arrow_stream(parsed, separator, names, header, types, wanted, report)
        except pa.ArrowInvalid as exc:
            message = str(exc)
            conversion = _CONVERSION.search(message)
            if conversion and int(conversion.group(1)) < len(wanted):
                column = wanted[int(conversion.group(1))]
                if types[column] != pa.string():
                    types[column] = pa.string()
                    continue
            raise _mapped(parsed, source.name, separator, names, header, message) from None


def _arrow_stream(source, separator, names, header, types, wanted, report) -> pa.Table:
    """pyarrow's streaming reader, block by block (as fast as read_csv here: 3.3-3.6 s
    against 4.2 s for 20M rows), so that the share of the file parsed can be reported."""
    report = monotone(report)
    total = max(1, source.size)
    megabytes = f"{total / 1e6:,.0f} MB"
    reader = pacsv.open_csv(
        source.arrow_input(), **_options(source, separator, names, header, types, wanted)
    )
    batches = []
    report(0.0, f"parsing: 0 of {megabytes}")
    for batch in reader:  # one block (BLOCK bytes, cut at a line end) per batch
        batches.append(batch)
        done = min(total, len(batches) * BLOCK)
        report(done / total, f"parsing: {done / 1e6:,.0f} of {megabytes}")
    report(1.0, f"parsing: {megabytes} of {megabytes}")
    return pa.Table.from_batches(batches, schema=reader.schema)


def _arrow_read(source, separator, names, header, types, wanted, handler=None) -> pa.Table:
    return pacsv.read_csv(
        source.arrow_input(), **_options(source, separator, names, header, types, wanted, handler)
    )


def _header_lines(source) -> int:
    """Physical lines up to and including the header (blank lines before it count: pyarrow
    skips rows by physical line, so skipping one would read the header as data)."""
    for number, line in enumerate(source.lines(), start=1):
        if line.strip():
            return number
    return 1


def _options(source, separator, names, header, types, wanted, handler=None) -> dict:
    return dict(
        read_options=pacsv.ReadOptions(
            column_names=names,
            skip_rows=_header_lines(source) if header else 0,
            use_threads=handler is None,
            block_size=BLOCK,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter="\x1f" if len(separator) > 1 else separator,
            quote_char='"' if separator == "," else False,
            invalid_row_handler=handler,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=wanted,
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _mapped(source, name, separator, names, header, message) -> DataFormatError:
    if "Expected" in message and "columns" in message:
        invalid = []

        def record(row):
            invalid.append(row)
            return "error"

        try:
            _arrow_read(source, separator, names, header, {}, names, handler=record)
        except pa.ArrowInvalid:
            pass
        if invalid and invalid[0].number is not None:
            row = invalid[0]
            line = source.line_of_row(row.number)
            text = source.line_text(line).replace("\x1f", separator)
            if not text.strip():
                return DataFormatError(name, line, f"{len(names)} fields", "found an empty line")
            return DataFormatError(
                name,
                line,
                f"{len(names)} fields separated by {_shown(separator)}",
                f"found {row.actual_columns} in {text[:80]!r}",
            )
    if "Could not skip initial" in message and _lines_at_most(source, 1):
        # a header without a line end and nothing after it: pyarrow cannot skip the header
        return DataFormatError(name, None, "a header and at least one row", "found no data rows")
    if "invalid UTF8" in message:
        return DataFormatError(name, None, "UTF-8 text", "found bytes that are not UTF-8")
    return DataFormatError(
        name,
        None,
        f"text separated by {_shown(separator)}",
        f"could not parse it ({message[:200]})",
    )


def _lines_at_most(source, count: int) -> bool:
    """Whether the text has at most `count` non-empty lines (error path only)."""
    lines = 0
    for line in source.lines():
        lines += bool(line.strip())
        if lines > count:
            return False
    return True


def read_delimited(
    source: TextSource, separator: str, *, header: bool, columns: list[str] | None = None
) -> pd.DataFrame:
    """All columns as strings in a DataFrame (metadata files: small)."""
    table = read_table(source, separator, header=header, columns=columns)
    if table.num_rows == 0:
        raise DataFormatError(
            source.name, None, "a header and at least one row", "found no data rows"
        )
    frame = table.to_pandas()
    frame.columns = [str(c) for c in table.column_names]
    return frame.astype(object)
