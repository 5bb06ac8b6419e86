"""Errors a user can act on: which file, which line, what was expected, what was found."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file could not be read as expected.

    `str(err)` reads: "ratings.csv, line 7: expected a number in column 'rating', found 'abc'".
    """

    def __init__(self, file: str, line: int | None, expected: str, found: str):
        self.file = file
        self.line = line
        self.expected = expected
        if len(found) > 300:  # a user's megabyte-long cell is not a message
            found = found[:300] + "..."
        self.found = found
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(f"{where}: expected {expected}, {found}")


class RunError(RuntimeError):
    """A run directory is missing, incomplete or inconsistent."""
