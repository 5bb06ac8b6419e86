"""Compressed files (gzip, bzip2, xz, zstandard), recognised by their first bytes whatever they
are called, and unpacked in memory within the limits a zip member has: at most
HMF_MAX_FILE_BYTES of text, and no more than HMF_MAX_ZIP_RATIO times the packed size past
16 MiB (a decompression bomb is refused in one line naming the limit). The text inside is then
read as if the file had not been compressed (its format recognised by its name without the
compression suffix, or by its content).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from hmf_core.common.errors import DataFormatError
from hmf_core.data.textfiles import max_file_bytes

DEFAULT_MAX_ZIP_RATIO = 100  # $HMF_MAX_ZIP_RATIO: a larger expansion (above 16 MiB) is a bomb
EXPANSION_FLOOR = 16 << 20  # any file may unpack to 16 MiB, whatever its ratio
READ = 1 << 22  # 4 MiB of unpacked text per read
HEAD = 16  # bytes enough to tell every kind below
SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstandard"}
_BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")  # a block or the end of the stream
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstandard"),
)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
PARQUET_MAGIC = b"PAR1"


def expansion_ratio() -> int:
    value = os.environ.get("HMF_MAX_ZIP_RATIO", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_ZIP_RATIO


def expansion_allowed(packed: int) -> int:
    """The most bytes `packed` compressed bytes may unpack to (file limit and ratio)."""
    return min(max_file_bytes(), max(EXPANSION_FLOOR, expansion_ratio() * max(1, packed)))


def bomb_refusal(name: str, what: str, found: str) -> DataFormatError:
    """`what` ("a zip member", "a gzip file") expanded past the ratio: a decompression bomb."""
    return DataFormatError(
        name,
        None,
        f"{what} that expands at most {expansion_ratio()}x beyond 16 MiB (set HMF_MAX_ZIP_RATIO)",
        found,
    )


def compression(head: bytes) -> str | None:
    """The compression whose magic bytes start `head` ("gzip", "bzip2", "xz", "zstandard")."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "bzip2" if _BZIP2.match(head) else None


def file_head(path: Path, data: bytes | None) -> bytes:
    """The first bytes of an upload or a file; b"" when the file cannot be opened (the text
    reader then says why, in its words)."""
    if data is not None:
        return data[:HEAD]
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD)
    except OSError:
        return b""


def format_name(name: str) -> str:
    """The name whose suffix tells the format: `ratings.csv.gz` -> `ratings.csv`."""
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in SUFFIXES and len(name) > len(suffix) else name


@dataclass
class Unpacked:
    """A file as its reader should see it: `data` None means "read `path` itself"."""

    format_name: str  # the name whose suffix decides the format (compression suffix dropped)
    data: bytes | None
    head: bytes  # the first bytes of the (unpacked) content
    notes: list[str] = field(default_factory=list)


def unpacked(path: Path, data: bytes | None) -> Unpacked:
    """The file at `path` (or an upload's `data`), unpacked when its content is compressed."""
    head = file_head(path, data)
    kind = compression(head)
    if kind is None:
        return Unpacked(path.name, data, head)
    name = path.name or str(path)
    packed = len(data) if data is not None else path.stat().st_size
    text = _unpack(name, kind, path, data, packed)
    inner = compression(text[:HEAD])
    if inner is not None:
        raise DataFormatError(
            name, None, "one layer of compression", f"it is {inner} inside {kind}: unpack it once"
        )
    note = f"Compressed ({kind}): {packed:,} bytes unpacked to {len(text):,}."
    return Unpacked(format_name(path.name), text, text[:HEAD], [note])


def _unpack(name: str, kind: str, path: Path, data: bytes | None, packed: int) -> bytes:
    allowed = expansion_allowed(packed)
    errors = _damage_errors()
    parts, total = [], 0
    try:
        source = io.BytesIO(data) if data is not None else open(path, "rb")
        with source, _reader(name, kind, source) as reader:
            while chunk := reader.read(min(READ, allowed + 1 - total)):
                total += len(chunk)
                if total > allowed:  # read no further: the rest is never held
                    if allowed == max_file_bytes():
                        raise _size_refusal(name, allowed)
                    found = f"it expands {packed:,} bytes to more than {allowed:,}"
                    raise bomb_refusal(name, f"a {kind} file", found)
                parts.append(chunk)
    except DataFormatError:
        raise
    except errors as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataFormatError(
            name, None, f"an intact {kind} file", f"it is damaged ({reason})"
        ) from None
    return b"".join(parts)


def _size_refusal(name: str, limit: int) -> DataFormatError:
    return DataFormatError(
        name,
        None,
        f"a file of at most {limit:,} bytes unpacked (set HMF_MAX_FILE_BYTES to raise the limit)",
        f"it unpacks to more than {limit:,}",
    )


def _reader(name: str, kind: str, source):
    """A file-like reader of the unpacked bytes of `source` (closing it leaves `source` open)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=source)
    if kind == "bzip2":
        return bz2.BZ2File(source)
    if kind == "xz":
        return lzma.LZMAFile(source)
    zstandard = _zstandard()
    if zstandard is None:
        raise DataFormatError(
            name,
            None,
            "a file compressed with gzip, bzip2 or xz",
            "it is zstandard, which needs the zstandard package: pip install zstandard",
        )
    return _ZstdReader(zstandard, source)


class _ZstdReader:
    """zstandard's stream reader over every frame of the file."""

    def __init__(self, zstandard, source):
        self.stream = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)

    def read(self, size: int) -> bytes:
        return self.stream.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stream.close()


def _zstandard():
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def _damage_errors() -> tuple[type[BaseException], ...]:
    errors = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)
    zstandard = _zstandard()
    return errors + ((zstandard.ZstdError,) if zstandard is not None else ())
