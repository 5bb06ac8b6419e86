"""A corpus of hostile and malformed rating files (issue 10), each with the outcome it must have.

CLEAN: a DataFormatError whose message names the file, the line (or None where no line applies)
and contains a fragment of what was expected. ACCEPTED: read, with the ids exactly the strings
the file has, in the given number of rows; where `problems` is given, the reader states exactly
that many problems, each containing its fragment (issue 19: ratings far outside any scale, all
ratings equal), and none for a clean file. `python tests/hostile_corpus.py` prints the counts.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import struct
import zipfile
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Clean:
    line: int | None
    fragment: str


@dataclass
class Accepted:
    users: list[str]  # every (user, item) row's ids as the file writes them, in file order
    items: list[str]
    ratings: list[float] | None = None
    timestamps: list[int] | None = None
    encoding: str | None = None
    problems: list[str] | None = None  # a fragment of each problem stated, in order


@dataclass
class Case:
    key: str  # short, unique: the test id
    name: str  # the file name the reader sees
    content: bytes
    outcome: Clean | Accepted
    env: dict = field(default_factory=dict)  # environment for the reader (limits)


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_headers(data: bytes, *, flag: int | None = None, method: int | None = None) -> bytes:
    """Set the general-purpose flag or the compression method in every local and central
    header of a zip (what an encrypting or exotic archiver writes)."""
    raw = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = raw.find(signature)
        while start != -1:
            if flag is not None:
                old = struct.unpack_from("<H", raw, start + flag_at)[0]
                struct.pack_into("<H", raw, start + flag_at, old | flag)
            if method is not None:
                struct.pack_into("<H", raw, start + method_at, method)
            start = raw.find(signature, start + 4)
    return bytes(raw)


def _bad_crc(data: bytes) -> bytes:
    raw = bytearray(data)
    at = raw.find(b"PK\x03\x04") + 14  # CRC-32 field of the local header
    raw[at] ^= 0xFF
    central = raw.find(b"PK\x01\x02") + 16
    raw[central] ^= 0xFF
    return bytes(raw)


def _bomb(rows: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("ml/ratings.csv", b"userId,movieId,rating\n" + b"1,1,5\n" * rows)
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


HEADER = b"user,item,rating,timestamp\n"
GOOD = "user,item,rating\n1,10,4\n2,10,3\n"


def _rows(n: int, start: int = 1_000_000_000) -> bytes:
    return b"".join(f"{i % 5},{i},4,{start + i}\n".encode() for i in range(n))


def corpus() -> list[Case]:
    ratings_csv = "ml-latest-small/ratings.csv"
    good_zip = _zip({ratings_csv: GOOD.encode()})
    cases = [
        # --- zips (crashed: RuntimeError / BadZipFile / NotImplementedError escaped) ---
        Case(
            "zip-encrypted",
            "ml.zip",
            _patch_headers(good_zip, flag=0x1),
            Clean(None, "unencrypted zip member"),
        ),
        Case("zip-bad-crc", "ml.zip", _bad_crc(good_zip), Clean(None, "an intact zip member")),
        Case(
            "zip-method-99",
            "ml.zip",
            _patch_headers(good_zip, method=99),
            Clean(None, "compressed with deflate"),
        ),
        Case(
            "zip-method-implode",
            "ml.zip",
            _patch_headers(good_zip, method=6),
            Clean(None, "compressed with deflate"),
        ),
        Case("zip-not-a-zip", "ml.zip", b"PK\x03\x04 not really", Clean(None, "a zip archive")),
        Case("zip-truncated", "ml.zip", good_zip[: len(good_zip) // 2], Clean(None, "zip")),
        Case(
            "zip-no-ratings",
            "ml.zip",
            _zip({"ml/README.txt": b"hello"}),
            Clean(None, "one of ratings.csv"),
        ),
        Case("zip-bomb", "ml.zip", _bomb(3_000_000), Clean(None, "expands at most")),
        Case(
            "zip-good",
            "ml.zip",
            good_zip,
            Accepted(["1", "2"], ["10", "10"], [4.0, 3.0]),
        ),
        Case(
            "zip-stored",
            "ml.zip",
            _zip({"ml-100k/u.data": b"7\t8\t5\t881250949\n"}, zipfile.ZIP_STORED),
            Accepted(["7"], ["8"], [5.0], [881250949]),
        ),
        # --- compressed files, read by their first bytes whatever their name (issue 21) ---
        Case(
            "compressed-gzip-good",
            "ratings.csv.gz",
            gzip.compress(b"userId,movieId,rating\n7,8,4.5\n9,8,3\n"),
            Accepted(["7", "9"], ["8", "8"], [4.5, 3.0]),
        ),
        Case(
            "compressed-xz-u.data",
            "u.data.xz",
            lzma.compress(b"196\t242\t3\t881250949\n"),
            Accepted(["196"], ["242"], [3.0], [881250949]),
        ),
        Case(
            "compressed-gzip-bomb",
            "r.csv.gz",
            gzip.compress(b"userId,movieId,rating\n" + b"1,1,5\n" * 3_000_000, 9),
            Clean(None, "a gzip file that expands at most 100x beyond 16 MiB"),
        ),
        Case(
            "compressed-gzip-over-file-limit",
            "r.csv.gz",
            gzip.compress(b"user,item,rating\n" + b"1,2,4\n" * 100),
            Clean(None, "HMF_MAX_FILE_BYTES"),
            env={"HMF_MAX_FILE_BYTES": "500"},
        ),
        Case(
            "compressed-gzip-truncated",
            "r.csv.gz",
            gzip.compress(GOOD.encode() * 50)[:30],
            Clean(None, "an intact gzip file"),
        ),
        Case(
            "compressed-bz2-damaged",
            "r.csv.bz2",
            bz2.compress(GOOD.encode())[:10] + b"\x00" * 40,
            Clean(None, "an intact bzip2 file"),
        ),
        Case(
            "compressed-twice",
            "r.csv.gz.gz",
            gzip.compress(gzip.compress(GOOD.encode())),
            Clean(None, "one layer of compression"),
        ),
        Case(
            "compressed-gzip-binary-inside",
            "r.csv.gz",
            gzip.compress(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01"),
            Clean(None, "binary"),
        ),
        # --- timestamps (crashed or were silently wrong) ---
        Case(
            "time-iso-9999",
            "r.csv",
            HEADER + b"1,2,4,2020-01-01\n1,3,4,9999-12-31\n",
            Clean(3, "a time between 1677-09-22 and 2262-04-11"),
        ),
        Case(
            "time-1e20",
            "r.csv",
            HEADER + b"1,2,4,1000000000\n1,3,4,1e20\n",
            Clean(3, "unix time in seconds"),
        ),
        Case(
            "time-1e20-alone",
            "r.csv",
            HEADER + b"1,3,4,1e20\n",
            Clean(2, "unix time in seconds, milliseconds or microseconds"),
        ),
        Case(
            "time-milliseconds",
            "r.csv",
            HEADER + b"1,2,4,1000000000123\n1,3,4,1000000001999\n",
            Accepted(["1", "1"], ["2", "3"], [4.0, 4.0], [1_000_000_000, 1_000_000_001]),
        ),
        Case(
            "time-seconds-with-one-ms",
            "r.csv",
            HEADER + _rows(25) + b"9,9,4,1000000000000\n",
            Clean(27, "unix time in seconds"),
        ),
        Case(
            "time-bad-at-line-27",
            "r.csv",
            HEADER + _rows(25) + b"9,9,4,yesterday\n" + _rows(3, 1_100_000_000),
            Clean(27, "a unix time in column 'timestamp', like the other rows"),
        ),
        Case(
            "time-before-1677",
            "r.csv",
            HEADER + b"1,2,4,1600-01-01\n",
            Clean(2, "a time between"),
        ),
        Case(
            "time-negative-seconds",
            "r.csv",
            HEADER + b"1,2,4,-86400\n",
            Accepted(["1"], ["2"], [4.0], [-86400]),
        ),
        Case(
            "time-dates",
            "r.csv",
            HEADER + b"a,x,5,2024-01-02\nb,x,3,2024-01-01T00:00:00Z\n",
            Accepted(["a", "b"], ["x", "x"], [5.0, 3.0], [1704153600, 1704067200]),
        ),
        Case("time-empty", "r.csv", HEADER + b"1,2,4,5\n1,3,4,\n", Clean(3, "unix time")),
        # --- ids (silently merged) ---
        Case(
            "ids-leading-zeros",
            "r.csv",
            b"user,item,rating\n007,1,4\n7,1,3\n07,2,1\n",
            Accepted(["007", "7", "07"], ["1", "1", "2"]),
        ),
        Case(
            "ids-exponent",
            "r.csv",
            b"user,item,rating\n1,1e1,4\n1,10,3\n1,1E1,2\n",
            Accepted(["1", "1", "1"], ["1e1", "10", "1E1"]),
        ),
        Case(
            "ids-beyond-2-64",
            "r.csv",
            b"user,item,rating\n18446744073709551616,1,4\n18446744073709551617,1,3\n"
            b"99999999999999999999999999,1,2\n",
            Accepted(
                ["18446744073709551616", "18446744073709551617", "99999999999999999999999999"],
                ["1", "1", "1"],
            ),
        ),
        Case(
            "ids-float-looking",
            "r.csv",
            b"user,item,rating\n1.0,2,4\n1,2,3\n",
            Accepted(["1.0", "1"], ["2", "2"]),
        ),
        Case(
            "ids-quoted-comma",
            "r.csv",
            b'user,item,rating\n"Smith, J",x,4\nSmith,x,3\n',
            Accepted(["Smith, J", "Smith"], ["x", "x"]),
        ),
        Case(
            "ids-markup",
            "r.csv",
            b"user,item,rating\n<img src=x onerror=alert(1)>,[Click](https://evil.example),4\n",
            Accepted(["<img src=x onerror=alert(1)>"], ["[Click](https://evil.example)"]),
        ),
        Case("ids-empty", "r.csv", b"user,item,rating\n1,,4\n", Clean(2, "column 'item'")),
        Case("ids-blank", "r.csv", b"user,item,rating\n1,2,4\n  ,2,4\n", Clean(3, "column 'user'")),
        # --- ratings ---
        Case(
            "rating-1e200",
            "r.csv",
            b"user,item,rating\n1,2,4\n1,3,1e200\n",
            Clean(3, "a finite number of at most 3.403e+38"),
        ),
        Case(
            "rating-minus-1e39",
            "r.csv",
            b"user,item,rating\n1,2,-1e39\n",
            Clean(2, "a finite number of at most"),
        ),
        Case("rating-inf", "r.csv", b"user,item,rating\n1,2,inf\n", Clean(2, "a finite number")),
        Case("rating-nan", "r.csv", b"user,item,rating\n1,2,4\n1,3,NaN\n", Clean(3, "finite")),
        Case("rating-word", "r.csv", b"user,item,rating\n1,2,4\n3,4,five\n", Clean(3, "a number")),
        Case("rating-empty", "r.csv", b"user,item,rating\n1,2,\n", Clean(2, "a number")),
        Case(
            "rating-1e30-is-read",
            "r.csv",
            b"user,item,rating\n1,2,1e30\n",
            Accepted(
                ["1"], ["2"], [1e30], problems=["1 rating is above 1e6 in size (from 1e+30 to"]
            ),
        ),
        # --- ratings that read but cannot be learned (issue 19) ---
        Case(
            "ratings-500-at-1e30",
            "r.csv",
            b"user,item,rating\n" + b"".join(b"%d,%d,1e30\n" % (i, i % 7) for i in range(500)),
            Accepted(
                [str(i) for i in range(500)],
                [str(i % 7) for i in range(500)],
                problems=[
                    "500 ratings are above 1e6 in size (from 1e+30 to 1e+30)",
                    "All 500 ratings are 1e+30: the model can only learn that constant",
                ],
            ),
        ),
        Case(
            "ratings-one-far-among-stars",
            "r.csv",
            b"user,item,rating\n1,1,4\n1,2,5\n2,1,-2.5e7\n2,2,3\n",
            Accepted(
                ["1", "1", "2", "2"],
                ["1", "2", "1", "2"],
                [4, 5, -2.5e7, 3],
                problems=["1 rating is above 1e6 in size (from -2.5e+07 to -2.5e+07)"],
            ),
        ),
        Case(
            "ratings-at-the-far-bound-are-fine",
            "r.csv",
            b"user,item,rating\n1,1,1000000\n1,2,-1000000\n",
            Accepted(["1", "1"], ["1", "2"], [1e6, -1e6], problems=[]),
        ),
        Case(
            "ratings-all-identical",
            "r.csv",
            HEADER + b"1,1,4,5\n1,2,4,6\n2,1,4.0,7\n",
            Accepted(
                ["1", "1", "2"],
                ["1", "2", "1"],
                [4, 4, 4],
                problems=["All 3 ratings are 4: the model can only learn that constant"],
            ),
        ),
        Case(
            "ratings-varied-no-problem",
            "r.csv",
            HEADER + b"1,1,4,5\n1,2,3,6\n2,1,5,7\n",
            Accepted(["1", "1", "2"], ["1", "2", "1"], [4, 3, 5], problems=[]),
        ),
        Case(
            "implicit-is-not-constant",
            "views.csv",
            b"user,item\n1,2\n1,3\n2,2\n",
            Accepted(["1", "1", "2"], ["2", "3", "2"], [1, 1, 1], problems=[]),
        ),
        # --- encodings ---
        Case(
            "utf8-one-latin1-line",
            "r.csv",
            "user,item,rating\nJosé,1,4\n".encode() + "Zoë,2,3\n".encode("latin-1"),
            Clean(3, "UTF-8 text like the rest of the file"),
        ),
        Case(
            "latin1-whole-file",
            "r.csv",
            "user,item,rating\nJosé,1,4\nZoë,2,3\n".encode("latin-1"),
            Accepted(["José", "Zoë"], ["1", "2"], encoding="latin-1"),
        ),
        Case(
            "utf8-bom",
            "r.csv",
            codecs.BOM_UTF8 + "user,item,rating\nJosé,1,4\n".encode(),
            Accepted(["José"], ["1"], encoding="UTF-8 with BOM"),
        ),
        Case(
            "utf16-le-bom",
            "r.csv",
            "user,item,rating\nJosé,1,4\n".encode("utf-16"),
            Accepted(["José"], ["1"], encoding="UTF-16 LE (with BOM)"),
        ),
        Case(
            "utf16-be-bom",
            "r.csv",
            codecs.BOM_UTF16_BE + "user,item,rating\nJosé,1,4\n".encode("utf-16-be"),
            Accepted(["José"], ["1"], encoding="UTF-16 BE (with BOM)"),
        ),
        Case(
            "utf16-no-bom",
            "r.csv",
            "user,item,rating\nJosé,1,4\n".encode("utf-16-le"),
            Clean(None, "UTF-16 without a byte-order mark"),
        ),
        Case(
            "binary-png",
            "r.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01",
            Clean(None, "binary"),
        ),
        Case(
            "binary-control-bytes",
            "r.csv",
            b"user,item,rating\n" + bytes(range(1, 9)) * 40,
            Clean(None, "binary"),
        ),
        # --- shape ---
        Case("empty", "r.csv", b"", Clean(None, "the file is empty")),
        Case("whitespace-only", "r.csv", b" \n\n \n", Clean(None, "the file is empty")),
        Case("header-only", "r.csv", b"user,item,rating\n", Clean(None, "at least one row")),
        Case(  # was pyarrow's "Could not skip initial 1 rows from CSV file"
            "header-only-no-final-newline",
            "r.csv",
            b"user,item,rating",
            Clean(None, "a header and at least one row, found no data rows"),
        ),
        Case(
            "header-only-crlf-no-final-newline",
            "r.csv",
            b"\r\n\r\nuser;item;rating;timestamp",
            Clean(None, "found no data rows"),
        ),
        Case(  # read the header as a data row ("line 4: expected a number ... 'rating'")
            "blank-lines-before-header",
            "r.csv",
            b"\n\nuser;item;rating\n1;2;3\n",
            Accepted(["1"], ["2"], [3.0]),
        ),
        Case(
            "blank-lines-before-header-ragged",
            "r.csv",
            b"\r\n\r\nuser,item,rating\r\n1,2,4\r\n1,3\r\n",
            Clean(5, "3 fields separated by ','"),
        ),
        Case(
            "ragged-short",
            "r.csv",
            b"user,item,rating\n1,2,4\n1,2\n",
            Clean(3, "3 fields separated by ','"),
        ),
        Case(
            "ragged-after-blank-lines",
            "r.csv",
            b"user,item,rating\n1,2,4\n\n\n1,3,4\n1,2,3,4\n",
            Clean(6, "3 fields"),
        ),
        Case(
            "blank-lines-skipped",
            "r.csv",
            b"user,item,rating\n1,2,4\n\n1,3,5\n\n",
            Accepted(["1", "1"], ["2", "3"], [4.0, 5.0]),
        ),
        Case(
            "crlf",
            "r.csv",
            b"userId,movieId,rating,timestamp\r\n1,10,4.0,5\r\n2,10,3.5,6\r\n",
            Accepted(["1", "2"], ["10", "10"], [4.0, 3.5], [5, 6]),
        ),
        Case(
            "cr-line-ends",
            "r.csv",
            b"user,item,rating\r1,2,4\r3,4,5\r",
            Accepted(["1", "3"], ["2", "4"], [4.0, 5.0]),
        ),
        Case(
            "cr-line-ends-ragged",
            "r.csv",
            b"user,item,rating\r1,2,4\r3,4\r",
            Clean(3, "3 fields separated by ','"),
        ),
        Case(
            "quoted-newline-in-id",
            "r.csv",
            b'user,item,rating\n"a\nb",2,4\n',
            Accepted(["a\nb"], ["2"], [4.0]),
        ),
        Case(
            "unterminated-quote",
            "r.csv",
            b'user,item,rating\n"a,2,4\n1,2,3\n',
            Clean(2, "3 fields"),
        ),
        Case(
            "duplicate-column-names",
            "r.csv",
            b"user,user,item,rating\n1,2,3,4\n",
            Clean(1, "distinct column names"),
        ),
        Case(
            "megabyte-cell",
            "r.csv",
            b"user,item,rating\n1,2," + b"9" * (2 << 20) + b"\n",
            Clean(2, "column 'rating'"),
        ),
        Case(
            "nul-byte-late-in-id",
            "r.csv",
            b"user,item,rating\n" + _rows(20_000).replace(b",4,", b",") + b"1,\x002,4\n",
            Accepted(
                [str(i % 5) for i in range(20_000)] + ["1"],
                [str(i) for i in range(20_000)] + ["\x002"],
            ),
        ),
        Case(
            "unknown-columns",
            "r.csv",
            b"a,b,c\n1,2,3\n",
            Clean(1, "a user column"),
        ),
        Case("one-column", "r.csv", b"user item rating\n1 2 4\n", Clean(1, "at least two columns")),
        Case(
            "u.data-ragged",
            "u.data",
            b"1\t2\t3\t4\n1\t2\t3\n",
            Clean(2, "4 fields separated by tab"),
        ),
        Case(
            "u.data-good",
            "u.data",
            b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
            Accepted(["196", "186"], ["242", "302"], [3.0, 3.0], [881250949, 891717742]),
        ),
        Case(  # a MovieLens layout without a header, known by its content (issue 21)
            "u.data-renamed",
            "small.data",
            b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
            Accepted(["196", "186"], ["242", "302"], [3.0, 3.0], [881250949, 891717742]),
        ),
        Case(
            "ratings.dat-renamed-no-timestamps",
            "ml1m.txt",
            b"1::1193::5\n1::661::3\n",
            Accepted(["1", "1"], ["1193", "661"], [5.0, 3.0]),
        ),
        Case(
            "ratings.dat-good",
            "ratings.dat",
            b"1::1193::5::978300760\n1::661::3::978302109\n",
            Accepted(["1", "1"], ["1193", "661"], [5.0, 3.0]),
        ),
        Case(
            "ratings.dat-ragged",
            "ratings.dat",
            b"1::1193::5::978300760\n1::661::3\n",
            Clean(2, "4 fields separated by '::'"),
        ),
        Case(
            "implicit",
            "views.csv",
            b"user,item\n1,2\n1,3\n",
            Accepted(["1", "1"], ["2", "3"], [1.0, 1.0]),
        ),
        Case(
            "duplicates-keep-last-by-time",
            "r.csv",
            HEADER + b"1,1,2,200\n1,1,5,100\n",
            Accepted(["1"], ["1"], [2.0], [200]),
        ),
        # --- parquet ---
        Case(
            "parquet-good",
            "r.parquet",
            _parquet(pd.DataFrame({"user": ["007", "7"], "item": [1, 1], "rating": [4.0, 3.0]})),
            Accepted(["007", "7"], ["1", "1"], [4.0, 3.0]),
        ),
        Case(
            "parquet-truncated",
            "r.parquet",
            _parquet(pd.DataFrame({"user": [1], "item": [1], "rating": [4.0]}))[:40],
            Clean(None, "a parquet file"),
        ),
        Case(
            "parquet-rating-inf",
            "r.parquet",
            _parquet(pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [4.0, float("inf")]})),
            Clean(None, "a finite number"),
        ),
        # --- limits ---
        Case(
            "over-byte-limit",
            "r.csv",
            b"user,item,rating\n" + b"1,2,4\n" * 100,
            Clean(None, "HMF_MAX_FILE_BYTES"),
            env={"HMF_MAX_FILE_BYTES": "500"},
        ),
        Case(
            "over-row-limit",
            "r.csv",
            b"user,item,rating\n" + b"1,2,4\n" * 100,
            Clean(None, "HMF_MAX_ROWS"),
            env={"HMF_MAX_ROWS": "50"},
        ),
    ]
    keys = [case.key for case in cases]
    assert len(keys) == len(set(keys)), "case keys must be unique"
    return cases


def counts(cases: list[Case]) -> dict[str, int]:
    return {
        "CLEAN": sum(isinstance(c.outcome, Clean) for c in cases),
        "ACCEPTED": sum(isinstance(c.outcome, Accepted) for c in cases),
    }


if __name__ == "__main__":
    print(counts(corpus()))
