"""Helpers shared by the tests (tests/) and the benchmarks (benchmarks/), so that neither
imports the other: the browser driving (a real `streamlit run`, Debian's chromium through
Playwright, the timed clicks), synthetic data files, and the environment of a child Python
process that must import this checkout.

Not part of the installed wheel (pyproject lists its packages): it is imported from the
repository root, where pytest (`pythonpath = ["."]`) and `python -m benchmarks.<study>` run.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repo_env(root: Path = REPO, **extra: str) -> dict[str, str]:
    """This process's environment with `root` first on PYTHONPATH (and `extra` set): a child
    Python process started with it imports `root`'s packages (hmf_core, benchmarks, hmf_dev)
    before any installed copy."""
    path = [str(root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), **extra}
