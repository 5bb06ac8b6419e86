"""Shared fixtures: where the real MovieLens files are, and a skip when they are not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def wait_for(condition, timeout: float = 180.0, every: float = 0.25):
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout:.0f} s")


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or a skip that says why."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: the real MovieLens files live in ../shared/data")
    return path
