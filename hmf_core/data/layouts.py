"""The MovieLens files without a header, recognised by their content whatever they are called:
the separator, the number of fields and what each field holds, on each of the first
SAMPLE_LINES lines (a renamed `u.data`, a `ratings.dat` saved as `small.dat`, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from hmf_core.data.textfiles import TextSource

SAMPLE_LINES = 50  # the lines a layout must fit, from the first non-empty one
_INTEGER = re.compile(r"^\s*\d+\s*$")


@dataclass(frozen=True)
class Layout:
    name: str  # the MovieLens file name that has this layout (u.data, movies.dat, ...)
    title: str  # as stated in a note: "MovieLens 100K u.data"
    separator: str
    columns: tuple[str, ...]
    fits: Callable[[list[str]], bool]  # whether one line's fields fit it


def _integer(text: str) -> bool:
    return bool(_INTEGER.match(text))


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _rating_row(fields: list[str]) -> bool:
    """user and item ids as integers, a rating, and a unix time when there is a fourth field."""
    return (
        _integer(fields[0])
        and _integer(fields[1])
        and _number(fields[2])
        and all(_integer(f) for f in fields[3:])
    )


def _gender(text: str) -> bool:
    return text.strip().upper() in ("M", "F")


RATING_COLUMNS = ("user", "item", "rating", "timestamp")
RATING_LAYOUTS = (
    Layout("u.data", "MovieLens 100K u.data", "\t", RATING_COLUMNS, _rating_row),
    Layout("ratings.dat", "MovieLens 1M ratings.dat", "::", RATING_COLUMNS, _rating_row),
    Layout(
        "ratings.dat",
        "MovieLens 1M ratings.dat without timestamps",
        "::",
        RATING_COLUMNS[:3],
        _rating_row,
    ),
)
METADATA_LAYOUTS = (
    Layout(
        "u.item",
        "MovieLens 100K u.item",
        "|",
        tuple(f"field{i}" for i in range(24)),
        lambda f: _integer(f[0]) and all(flag.strip() in ("0", "1") for flag in f[5:]),
    ),
    Layout(
        "u.user",
        "MovieLens 100K u.user",
        "|",
        ("id", "age", "gender", "occupation", "zip"),
        lambda f: _integer(f[0]) and _integer(f[1]) and _gender(f[2]),
    ),
    Layout(
        "movies.dat",
        "MovieLens 1M movies.dat",
        "::",
        ("id", "title", "genres"),
        lambda f: _integer(f[0]) and not _number(f[2]),
    ),
    Layout(
        "users.dat",
        "MovieLens 1M users.dat",
        "::",
        ("id", "gender", "age", "occupation", "zip"),
        lambda f: _integer(f[0]) and _gender(f[1]) and _integer(f[2]) and _integer(f[3]),
    ),
)


def sample_lines(source: TextSource, count: int = SAMPLE_LINES) -> list[str]:
    """The first `count` non-empty lines of the text (a BOM dropped)."""
    lines = []
    for line in source.lines():
        if line.strip():
            lines.append(line.lstrip("\ufeff") if not lines else line)
            if len(lines) == count:
                break
    return lines


def recognised(
    source: TextSource, layouts: tuple[Layout, ...], separator: str | None = None
) -> Layout | None:
    """The first of `layouts` (with `separator`, when given) that every sample line fits."""
    lines = sample_lines(source)
    for layout in layouts:
        if separator is not None and separator != layout.separator:
            continue
        rows = [line.split(layout.separator) for line in lines]
        width = len(layout.columns)
        if rows and all(len(row) == width and layout.fits(row) for row in rows):
            return layout
    return None
