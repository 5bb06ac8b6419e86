"""Writing files that another process may be reading: the one atomic writer of the project."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(temporary)` beside `path`, then rename it over `path`: a reader sees the old
    file or the new one, never half of one. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, payload: dict) -> Path:
    text = json.dumps(payload, indent=2, default=str)
    return write_atomically(path, lambda temporary: temporary.write_text(text))


def read_json(path: str | Path) -> dict:
    """The file's object, or {} when it is absent or (being replaced) unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
