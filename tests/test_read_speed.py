"""benchmarks/read_speed.py's smoke mode runs end to end: it reads a generated file, refuses the
zip bomb before decompressing it, and writes its table."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_read_speed_quick(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.read_speed", "--rows", "20000"]
        + ["--bomb-rows", "1100000", "--compare-rows", "0", "--repeats", "1"]
        + ["--tmp", str(tmp_path / "files"), "--out", str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "out" / "read_speed.md").read_text()
    assert "| generated ML-20M-like CSV |" in report
    assert "zip of 1,100,000 identical rows" in report and "| refused |" in report
    assert "expands at most 100x" in report
