"""Where the product keeps its runs: one home for the folder every layer may need to name."""

from __future__ import annotations

import os
from pathlib import Path


def runs_root() -> Path:
    """Where runs live: $HMF_RUNS_DIR (read at each call), else ./runs; always absolute, since
    the worker process runs with another working directory."""
    return Path(os.environ.get("HMF_RUNS_DIR", "runs")).resolve()
