"""The benchmark scripts' smoke modes run end to end and write the tables we commit."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import shared_file

from benchmarks.harness import temporal_split
from benchmarks.time_to_best import selected_settings
from hmf_dev.browser import require_chromium
from hmf_dev.clicks import KINDS

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k" / "u.data"


def run_study(module: str, *args: str) -> None:
    """`python -m benchmarks.<module> ...` from the repository root, as the README says."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
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
    run_study("accuracy", "--quick", "--data", data, "--out", str(tmp_path))
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
    run_study("speed", "--quick", "--out", str(tmp_path))
    report = tmp_path / "speed.md"
    text = report.read_text()
    assert "Versions: python" in text
    assert f"Command: `python -m benchmarks.speed --quick --out {tmp_path}`" in text
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
    # benchmarks.overhead reports into speed.md (rejected.py, retired, no longer does)
    assert [row["model"] for row in table_with(report, "paired ratio min")] == ["MF", "HMF depth 1"]
    assert "speed-up of sparse" not in text and "(NOT adopted)" not in text
    ddp = table_with(report, "speed-up vs 1 process, 1 thread")
    assert [row["layout"] for row in ddp] == [
        "1 process, 1 thread",
        "2 processes (DDP), 1 thread each",
    ]
    for row in ddp:
        assert number(row["epoch s (median)"]) > 0 and number(row["epochs timed"]) == 2, row
    if not torch.cuda.is_available():
        gpu = text.split("## GPU:")[1]
        assert gpu.split("\n\n")[1].startswith("Skipped: no CUDA device on this machine")
    for name in ("speed.csv", "overhead.csv", "time_to_best.csv"):
        assert len(pd.read_csv(tmp_path / name)) > 0, name
    assert len(pd.read_csv(tmp_path / "ddp.csv")) == 2


def test_overhead_quick(tmp_path):
    """`python -m benchmarks.overhead`: the bare loop and the Lightning path (HMFModule with
    FastSteps) alternately in one process; Lightning / bare is the figure."""
    run_study("overhead", "--quick", "--out", str(tmp_path))
    report = tmp_path / "overhead.md"
    assert (
        f"Command: `python -m benchmarks.overhead --quick --out {tmp_path}`" in report.read_text()
    )
    rows = table_with(report, "Lightning / bare (CPU)")
    assert [row["model"] for row in rows] == ["MF", "HMF depth 1"]
    assert {row["optimizer"] for row in rows} == {"AdamW(fused=True)"}
    table = pd.read_csv(tmp_path / "overhead.csv")
    assert len(table) == 2
    bare, ours = table["bare CPU s/epoch"], table["Lightning CPU s/epoch"]
    assert (bare > 0).all() and (ours > 0).all()
    assert table["Lightning / bare (CPU)"].tolist() == pytest.approx((ours / bare).tolist())


def test_maps_quick(tmp_path):
    run_study("maps", "--quick", "--out", str(tmp_path))
    (row,) = table_with(tmp_path / "maps.md", "maps ready s (fresh process)")
    assert row["data"] == "ML-100K size"
    assert row["UMAP fitted on"] == row["rows (users + items + clusters)"] == "2,925"  # no sample
    assert 0 < number(row["UMAP + placement s"]) < number(row["maps ready s (fresh process)"])


@pytest.mark.browser
def test_latency_quick_on_an_mfdmc_run(tmp_path):
    """Issue 20: `benchmarks.latency --family mfdmc --quick` picks MFDMC on the Train page,
    times every kind of click on the run (the pages' "view" where HMF's say "level") and writes
    latency_mfdmc.md, never HMF's latency.md, naming the family and the seconds from the Train
    click to the run's best epoch (~80 s on 2 cores)."""
    require_chromium()
    data = shared_file("ml-100k/u.data")
    run_study(
        "latency", "--family", "mfdmc", "--quick", "--data", str(data), "--out", str(tmp_path)
    )
    report = tmp_path / "latency_mfdmc.md"
    assert not (tmp_path / "latency.md").exists()
    assert "Family: mfdmc." in report.read_text() and "preset interpretable" in report.read_text()
    kinds = table_with(report, "under_1s_p95")
    assert [row["kind"] for row in kinds] == list(KINDS)
    assert all(number(row["p50_s"]) > 0 for row in kinds)
    (run,) = table_with(report, "click_to_best_s")
    assert (run["family"], run["preset"], run["epochs_run"]) == ("mfdmc", "interpretable", "2")
    assert run["best_epoch"] in ("1", "2") and run["stopped_early"] == "no"
    started, best = number(run["click_to_started_s"]), number(run["click_to_best_s"])
    assert 0 < started < best < number(run["click_to_finished_shown_s"])
    assert number(run["click_to_finished_shown_s"]) <= number(run["click_to_map_shown_s"])
    assert best == pytest.approx(started + number(run["train_s_to_best"]), abs=2e-3)
    clicks = pd.read_csv(tmp_path / "latency_mfdmc_clicks.csv")
    assert set(clicks["kind"]) == set(KINDS) and (clicks["seconds"] > 0).all()


def test_time_to_best_reads_the_clusters_accuracy_selected(tmp_path):
    """accuracy_runs.csv stores cluster lists as text ("[600]"); they are parsed, not eval'd."""
    runs = pd.DataFrame(
        {
            "model": ["HMF depth 1", "MF", "HMF depth 1"],
            "stage": ["seeds", "seeds", "grid"],
            "task": "rating",
            "seed": 0,
            "lr": [0.01, 0.001, 0.1],
            "weight_decay": [0.001, 0.01, 0.5],
            "init_std": [1.0, 0.1, 1.0],
            "user_clusters": ["[600]", "[]", "[1000]"],
            "item_clusters": ["[300]", "[]", "[500]"],
        }
    )
    runs.to_csv(tmp_path / "accuracy_runs.csv", index=False)
    chosen = selected_settings(tmp_path)
    assert chosen["HMF depth 1"] == {
        "lr": 0.01,
        "weight_decay": 0.001,
        "init_std": 1.0,
        "user_clusters": [600],
        "item_clusters": [300],
    }
    assert chosen["MF (tuned)"]["weight_decay"] == 0.01
    assert "user_clusters" not in chosen["MF (tuned)"]  # MF's "[]" leaves its depth 0 alone
    defaults = selected_settings(tmp_path / "no-accuracy-run")
    assert defaults["HMF depth 1"] == {"lr": 1e-3, "weight_decay": 1e-4}


def test_sparse_optim_speed_quick(tmp_path):
    """benchmarks.sparse_optim times the same two loops as speed.py (benchmarks.loops), with
    either optimizer; batch 64 on tiny data takes the lazy runs past the 100 warm-up steps."""
    run_study("sparse_optim", "speed", "--quick", "--out", str(tmp_path))
    speed = table_with(tmp_path / "sparse_optim.md", "Lightning / bare (CPU)")
    assert {(row["model"], row["optimizer"]) for row in speed} == {
        (model, optimizer) for model in ("MF", "HMF depth 1") for optimizer in ("dense", "lazy")
    }
    for row in speed:
        for column in ("bare CPU s", "Lightning CPU s", "bare step ms", "Lightning step ms"):
            value = number(row[column])
            assert math.isfinite(value) and value > 0, (column, row)
        if row["optimizer"] == "lazy":  # only LazyAdamW catches up at an epoch end
            assert number(row["bare epoch-end catch-up CPU s"]) > 0, row
    assert len(pd.read_csv(tmp_path / "sparse_optim_speed.csv")) == 4


def test_floor_quick(tmp_path):
    """benchmarks.floor times MF's step, HMF's step and HMF's arithmetic alone in one run, on
    uniform batches and on batches of a rating file's ratings, and its ratios and bound are
    those of its step times."""
    ratings = tmp_path / "u.data"  # 40 users and 30 items; user 0 and item 0 in half the rows
    lines = [
        f"{0 if i % 2 else i // 2 % 40}\t{0 if i % 2 else i // 2 % 30}\t4\t{i}" for i in range(400)
    ]
    ratings.write_text("\n".join(lines) + "\n")
    run_study("floor", "--quick", "--data", str(ratings), "--out", str(tmp_path))
    shown = table_with(tmp_path / "floor.md", "arithmetic alone / MF")
    rows = pd.read_csv(tmp_path / "floor.csv").to_dict("records")
    assert [row["batches"] for row in rows] == ["uniform", "the file's ratings"]
    split = temporal_split(ratings)  # the second row's batches: its training ratings
    assert [(row["users"], row["items"]) for row in rows] == [
        (300, 200),
        (split.n_users, split.n_items),
    ]
    for row, table_row in zip(rows, shown, strict=True):
        assert number(table_row["HMF / MF"]) == pytest.approx(row["HMF / MF"], abs=1e-4)
        steps = [row[c] for c in ("MF step ms", "HMF depth 1 step ms", "HMF arithmetic alone ms")]
        assert all(math.isfinite(v) and v > 0 for v in steps), row
        assert row["HMF / MF"] == pytest.approx(steps[1] / steps[0])
        assert row["HMF - MF ms"] == pytest.approx(steps[1] - steps[0])
        assert row["arithmetic alone / MF"] == pytest.approx(steps[2] / steps[0])
        bound = row["HMF / MF at least (1 + arithmetic / MF)"]
        assert bound == pytest.approx(1 + steps[2] / steps[0])
        assert row["MF optimizer"] == row["HMF optimizer"] == "AdamW(fused=True)", row  # auto


def test_recommend_smoke(tmp_path):
    """benchmarks.recommend on tiny data: a trained run, the API and the CLI both answer for
    every user (10 rows each), and the report says where and how it was measured."""
    run_study("recommend", "--smoke", "--out", str(tmp_path))
    report = tmp_path / "recommend.md"
    text = report.read_text()
    assert "Versions: python" in text and "Machine:" in text and "Date:" in text
    assert f"Command: `python -m benchmarks.recommend --smoke --out {tmp_path}`" in text
    rows = table_with(report, "per user ms")
    assert [row["path"].split(":")[0] for row in rows] == ["API", "CLI"]
    for row in rows:
        assert row["users"] == "120" and row["rows"] == "1,200", row
        assert number(row["seconds"]) > 0, row


def test_full_ranking_smoke(tmp_path):
    """benchmarks/full_ranking.py --smoke: its section lands in accuracy.md between markers,
    the rest of the file kept, one row per model with every metric a fraction."""
    from benchmarks.full_ranking import MARKERS, write_into

    (tmp_path / "accuracy.md").write_text("# Accuracy\n\nkept text\n")
    run_study("full_ranking", "--smoke", "--out", str(tmp_path))
    report = tmp_path / "accuracy.md"
    text = report.read_text()
    assert text.startswith("# Accuracy\n\nkept text\n") and text.count(MARKERS[0]) == 1
    assert (
        "Versions: python" in text and "Command: `python -m benchmarks.full_ranking --smoke" in text
    )
    rating = table_with(report, "rmse")
    assert [row["model"] for row in rating] == [
        "HMF depth 1",
        "MF",
        "Surprise SVD (biased MF, SGD)",
    ]
    ranking = [t for t in tables(report) if t and "rmse" not in t[0] and "hr10" in t[0]][0]
    assert [row["model"] for row in ranking] == ["BPR-HMF depth 1", "BPR-MF"]
    for row in rating + ranking:
        for column in ("hr10", "mrr10", "ndcg@10_full", "recall@20_full", "precision@10_full"):
            assert 0.0 <= number(row[column]) <= 1.0, (row["model"], column)
        assert int(row["users evaluated"]) > 0
    runs = pd.read_csv(tmp_path / "full_ranking_runs.csv")
    assert len(runs) == 5 and runs["test_ndcg@10_full"].between(0, 1).all()
    write_into(report, "again\n")  # a rerun replaces its section
    again = report.read_text()
    assert again.count(MARKERS[0]) == 1 and "again" in again and "kept text" in again


def test_surprise_svd_scores_every_item_as_its_predict_does():
    from benchmarks.harness import synthetic_ratings
    from benchmarks.peers import best_fitted, svd_scorer
    from hmf_core.data.split import make_split

    split = make_split(synthetic_ratings(60, 80, 1500, seed=1), "random")
    algorithm, _, _ = best_fitted(split, "Surprise SVD (biased MF, SGD)", quick=True)
    scores = svd_scorer(algorithm, split.n_users, split.n_items)(torch.arange(split.n_users))
    for user, item in ((0, 0), (5, 17), (split.n_users - 1, split.n_items - 1)):
        expected = algorithm.predict(user, item, clip=False).est
        assert scores[user, item].item() == pytest.approx(expected, rel=1e-9)
