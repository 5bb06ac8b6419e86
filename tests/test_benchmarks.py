"""The benchmark scripts' smoke modes run end to end and write the tables we commit."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k" / "u.data"


def run_script(script: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def tables(path: Path) -> list[list[dict[str, str]]]:
    """Every markdown table in a file, as lists of {column: cell}."""
    found, current, header = [], None, None
    for line in path.read_text().splitlines():
        if not line.startswith("|"):
            current = header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if header is None:
            header, current = cells, []
            found.append(current)
        elif not set("".join(cells)) <= set("- "):
            current.append(dict(zip(header, cells, strict=True)))
    return found


def number(cell: str) -> float:
    return float(cell.split(" ± ")[0].replace(",", ""))


def table_with(path: Path, column: str) -> list[dict[str, str]]:
    matches = [t for t in tables(path) if t and column in t[0]]
    assert matches, f"{path.name}: no table with a {column!r} column"
    return matches[0]


def test_accuracy_quick(tmp_path):
    data = str(DATA) if DATA.exists() else "synthetic"  # never skips: synthetic without data
    run_script("accuracy.py", "--quick", "--data", data, "--out", str(tmp_path))
    report = tmp_path / "accuracy.md"
    text = report.read_text()
    assert "Versions: python" in text and "Seeds: 0" in text and "Machine:" in text
    rating = table_with(report, "test_rmse mean ± std")
    assert [row["model"] for row in rating] == [
        "MF",
        "MF + biases",
        "HMF depth 1",
        "HMF depth 2",
        "HMF depth 3",
        "HMF depth 4",
        "HMF depth 1 + biases",
    ]
    for row in rating:
        assert math.isfinite(number(row["test_rmse mean ± std"])), row
    assert rating[2]["paper"].startswith("1.066")
    ranking = table_with(report, "test_hr10 mean ± std")
    assert [row["model"] for row in ranking] == ["BPR-MF", "BPR-HMF depth 1"]
    for row in ranking:
        for column in ("test_hr10 mean ± std", "test_mrr10 mean ± std"):
            assert 0.0 <= number(row[column]) <= 1.0, row
    if data != "synthetic":
        split = table_with(report, "train")
        assert split[0]["train"] == "64,000" and split[0]["users"] == "625"
    assert (tmp_path / "convergence.html").exists()
    assert (tmp_path / "accuracy_runs.csv").exists()


def test_speed_quick(tmp_path):
    run_script("speed.py", "--quick", "--out", str(tmp_path))
    report = tmp_path / "speed.md"
    assert "Versions: python" in report.read_text()
    speed = table_with(report, "Lightning / bare")
    assert {row["model"] for row in speed} == {"MF", "HMF depth 1"}
    for row in speed:
        for column in (
            "bare epoch s",
            "Lightning epoch s",
            "Lightning / bare",
            "ratings/s (Lightning)",
            "estimate MiB (excl. data)",
        ):
            value = number(row[column])
            assert math.isfinite(value) and value > 0, (column, row)
    ttb = table_with(report, "time to best s")
    assert any(row["model"] == "HMF depth 1" for row in ttb)
    memory = table_with(report, "total MiB")
    assert any(row["data"] == "ml-20m-size" for row in memory)
    threads = (
        table_with(tmp_path / "threads.md", "2 vs 1 threads")
        if "2 threads" in (tmp_path / "threads.md").read_text()
        else table_with(tmp_path / "threads.md", "1 thread epoch s")
    )
    assert {row["load"] for row in threads} == {"idle", "1 busy core"}
