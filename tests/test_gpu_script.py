"""benchmarks/gpu.sh and benchmarks.gpu (issue 23 item 4): the dry run on the CPU writes the
report a GPU run writes, rows and header; without a GPU a real run is refused in one line; on a
CUDA device (the GPU tests gpu.sh runs first) training and the timings run there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu
from benchmarks.harness import synthetic_ratings
from hmf_core.runs.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def tables(path: Path) -> list[list[dict[str, str]]]:
    """Every markdown table in a file, as lists of {column: cell}."""
    found, header = [], None
    for line in path.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if header is None:
            header = cells
            found.append([])
        elif not set("".join(cells)) <= set("- "):
            found[-1].append(dict(zip(header, cells, strict=True)))
    return found


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "benchmarks/gpu.sh", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )


def test_dry_run_writes_the_report_with_every_row_and_the_header(tmp_path):
    out = tmp_path / "report" / "gpu.md"
    result = script("--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    header = text.split("\n## ")[0]
    assert header.startswith("# GPU run: MF, HMF and MFDMC epochs on the GPU beside the CPU")
    for field in ("- Date: ", "- Machine: ", "- Versions: python ", "- Command: `python -m "):
        assert field in header, field
    assert "--dry-run" in header and "torch " in header
    # where a GPU figure would be, the report says there is none
    assert "- GPU: No GPU figure: DRY RUN" in header
    assert text.count("No GPU figure: DRY RUN") == 3  # header, the timings, the targets
    # the GPU tests ran first and skipped here (no device)
    (tests_line,) = [line for line in header.splitlines() if line.startswith("- GPU tests")]
    assert "2 skipped" in tests_line, tests_line
    timings, goals = tables(out)
    assert [row["model"] for row in timings] == list(gpu.MODELS)
    for row in timings:
        assert row["data"] == "synthetic tiny"
        cpu, on_gpu = number(row["CPU epoch s"]), number(row["GPU epoch s"])
        assert cpu > 0 and on_gpu > 0, row
        assert number(row["CPU / GPU"]) == pytest.approx(cpu / on_gpu, rel=0.02)
        assert row["optimizer"] == "AdamW(fused=True)"
    assert number(timings[0]["model / MF (CPU)"]) == 1.0
    assert number(timings[0]["model / MF (GPU)"]) == 1.0
    assert [row["measured"] for row in goals] == ["not measured (dry run)"] * 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_a_real_run_without_a_gpu_is_refused_in_one_line(tmp_path):
    out = tmp_path / "gpu.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("no CUDA device here") and result.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="nvidia-smi is here")
def test_the_script_without_an_nvidia_gpu_stops_before_touching_torch(tmp_path):
    """No `--dry-run` and no NVIDIA GPU: one line, and no uninstall of the CPU build."""
    before = torch.__version__
    result = script("--out", str(tmp_path / "gpu.md"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("gpu.sh: no NVIDIA GPU here") and result.stderr.count("\n") == 1
    check = [sys.executable, "-c", "import torch; print(torch.__version__)"]
    assert subprocess.run(check, capture_output=True, text=True).stdout.strip() == before


@NEEDS_CUDA
@pytest.mark.parametrize("family", ["hmf", "mfdmc"])
def test_cuda_training_and_gpu_timings(tmp_path, family):
    """On the GPU: the CLI trains each family there to the end, and the timings' GPU pass ran
    on CUDA (a tiny size, not the dry run)."""
    ratings = synthetic_ratings(300, 200, 6_000, seed=0).table
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "hmf_core", "train", "--data", str(tmp_path / "ratings.csv")]
        + ["--family", family, "--split", "random", "--max-epochs", "2", "--no-projection"]
        + ["--accelerator", "gpu", "--devices", "1", "--run-dir", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert RunDir(run_dir).metrics()["epoch"].tolist() == [1, 2]
    assert RunDir(run_dir).progress()["state"] == "finished"
    if family == "mfdmc":
        return
    out = tmp_path / "gpu.md"
    assert gpu.main(["--sizes", "tiny", "--skip-tests", "--out", str(out)]) == 0
    text = out.read_text()
    assert "DRY RUN" not in text and f"- GPU: {torch.cuda.get_device_name(0)}" in text
    timings = tables(out)[0]
    assert all(number(row["GPU epoch s"]) > 0 for row in timings)
