"""A test that needs ../shared/data skips where the files are absent, saying why, and fails
instead with HMF_REQUIRE_DATA=1 (as .ci/run sets): CI cannot pass without the real data."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

MISSING = "no-such-folder/u.data"
TEST = f"""
from conftest import shared_file


def test_on_real_data():
    shared_file({MISSING!r})
"""


def run_pytest(tmp_path, require: str | None) -> subprocess.CompletedProcess:
    """pytest in a fresh process on one test asking for a missing shared file."""
    (tmp_path / "test_needs_data.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if k != "HMF_REQUIRE_DATA"}
    path = [str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, path))
    if require is not None:
        env["HMF_REQUIRE_DATA"] = require
    command = [sys.executable, "-m", "pytest", "-rsf", "-p", "no:cacheprovider", "-q"]
    return subprocess.run(
        [*command, "--rootdir", str(tmp_path), str(tmp_path / "test_needs_data.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_shared_data_skips_by_default_and_fails_when_required(tmp_path):
    absent = f"{MISSING} is absent: the real MovieLens files live in ../shared/data"
    skipped = run_pytest(tmp_path, None)
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "1 skipped" in skipped.stdout and absent in skipped.stdout, skipped.stdout[-2000:]

    failed = run_pytest(tmp_path, "1")
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "1 failed" in failed.stdout, failed.stdout[-2000:]
    assert f"{absent} (HMF_REQUIRE_DATA=1 makes this a failure)" in failed.stdout

    other = run_pytest(tmp_path, "0")  # only "1" requires the data
    assert other.returncode == 0 and "1 skipped" in other.stdout, other.stdout[-2000:]
