"""Writing files that another process may be reading: the one atomic writer of the project."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hmf_core.common.errors import RunError


class DamagedFile(RunError):
    """A file of a run directory is there but cannot be used: `str()` names the file, what is
    wrong with it and how to recover."""

    def __init__(self, path: str | Path, reason: str, recovery: str = ""):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())[:300]
        self.recovery = recovery
        where = f"{self.path.parent.name}/{self.path.name}"
        super().__init__(
            f"{where} is damaged ({self.reason})" + (f": {recovery}" if recovery else "")
        )

    @property
    def short(self) -> str:
        """ "<file>: <reason>", as the run list shows it."""
        return f"{self.path.name}: {self.reason}"


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


DIVERGED = "diverged"  # the key that lists a JSON object's fields that were not finite


def finite_json(value):
    """`value` as strict JSON can hold it: every NaN or infinity (a Python or numpy float)
    becomes null, and an object that held one gets "diverged": [the names of those fields]
    (a diverged fit's metrics are infinite or NaN: the pages say "diverged", never "inf");
    numpy numbers become Python numbers. Lists keep their length (null in place)."""
    if isinstance(value, dict):
        clean, diverged = {}, []
        for key, item in value.items():
            if _non_finite(item):
                clean[key] = None
                diverged.append(str(key))
            else:
                clean[key] = finite_json(item)
        if diverged and _flag_free(clean):
            earlier = clean.get(DIVERGED) if isinstance(clean.get(DIVERGED), list) else []
            clean[DIVERGED] = sorted({*map(str, earlier), *diverged})
        return clean
    if isinstance(value, (list, tuple)):
        return [None if _non_finite(item) else finite_json(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _flag_free(value: dict) -> bool:
    """Whether `value`'s "diverged" field is free for the list of non-finite fields."""
    return not isinstance(value.get(DIVERGED), (int, float, str, dict))


def _non_finite(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


def diverged_fields(value: dict) -> set[str]:
    """The fields of a JSON object read back that were NaN or infinite when written."""
    listed = value.get(DIVERGED) if isinstance(value, dict) else None
    return {str(name) for name in listed} if isinstance(listed, list) else set()


def write_json(path: str | Path, payload: dict) -> Path:
    """Write `payload` as strict JSON (no NaN or Infinity, which JSON does not have: see
    `finite_json`), atomically."""
    text = json.dumps(finite_json(payload), indent=2, default=str, allow_nan=False)
    return write_atomically(path, lambda temporary: temporary.write_text(text))


def read_json(path: str | Path, recovery: str = "") -> dict:
    """The file's JSON object, or {} when it is absent. A file that is there but is not UTF-8
    JSON text holding an object (every writer here writes atomically, so never half a file)
    raises DamagedFile naming it, with `recovery` as the advice."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DamagedFile(path, f"cannot be read: {exc.strerror}", recovery) from None
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedFile(path, f"not UTF-8 text at byte {exc.start}", recovery) from None
    except json.JSONDecodeError as exc:
        raise DamagedFile(path, f"not JSON: {exc.msg} at line {exc.lineno}", recovery) from None
    if not isinstance(value, dict):
        raise DamagedFile(path, f"expected a JSON object, found {_kind(value)}", recovery)
    return finite_json(value)  # a file written before writes were strict may hold Infinity


def _kind(value) -> str:
    names = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")
