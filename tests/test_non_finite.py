"""Issue 19: non-finite values never reach a page or a JSON file. A diverged fit's metrics are
inf or NaN: JSON files hold null and a "diverged" list instead (strict JSON), metrics.csv's
"inf" / "nan" read as diverged epochs, and every page that shows them says "diverged"."""

from __future__ import annotations

import base64
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_app import app, table, texts, visit

from hmf_core.common.files import DIVERGED, finite_json, read_json, write_json
from hmf_core.runs.compare import compare_curves, compare_table
from hmf_core.runs.manager import describe, format_metrics
from hmf_core.runs.rundir import RunDir, diverged_rows


def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as every strict JSON reader does."""

    def refuse(word):
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def test_write_json_writes_null_and_a_diverged_list_never_infinity(tmp_path):
    payload = {
        "state": "failed",
        "last": {"epoch": 1.0, "train_loss": math.inf, "val_rmse": np.float32("nan")},
        "test": {"test_rmse": -math.inf, "best_epoch": 2},
        "series": [1.0, math.nan],
        "count": np.int64(3),
    }
    path = write_json(tmp_path / "progress.json", payload)
    written = _strict(path.read_text())  # raises on NaN / Infinity
    assert written["last"] == {
        "epoch": 1.0,
        "train_loss": None,
        "val_rmse": None,
        DIVERGED: ["train_loss", "val_rmse"],
    }
    assert written["test"] == {"test_rmse": None, "best_epoch": 2, DIVERGED: ["test_rmse"]}
    assert written["series"] == [1.0, None] and written["count"] == 3
    assert "diverged" not in written  # the top level held nothing non-finite


def test_a_file_written_with_infinity_reads_as_diverged(tmp_path):
    """Files written before writes were strict (json.dumps' default) hold Infinity and NaN."""
    path = tmp_path / "test_metrics.json"
    path.write_text('{"test_rmse": Infinity, "test_mae": NaN, "best_epoch": 1}')
    assert read_json(path) == {
        "test_rmse": None,
        "test_mae": None,
        "best_epoch": 1,
        DIVERGED: ["test_mae", "test_rmse"],
    }
    assert finite_json({"a": 1.5}) == {"a": 1.5}  # nothing added where all is finite


DIVERGED_METRICS = (  # as Lightning's CSVLogger writes a fit that diverged at epoch 3
    "elapsed_s,epoch,step,train_loss,val_rmse\n"
    "1.2,1,9,1.5,\n"
    "1.3,1,9,,1.2\n"
    "2.2,2,19,1.1,1.0\n"
    "3.1,3,29,nan,inf\n"
)


def test_metrics_csv_inf_and_nan_read_as_diverged_epochs(tmp_path):
    run = RunDir(tmp_path)
    run.file("metrics").write_text(DIVERGED_METRICS)
    metrics = run.metrics()
    assert metrics["epoch"].tolist() == [1, 2, 3]  # the validated rows
    assert np.isfinite(metrics[["train_loss", "val_rmse"]].to_numpy()[:2, 1]).all()
    assert metrics[["train_loss", "val_rmse"]].iloc[2].isna().all()  # no inf left
    assert not np.isinf(metrics.select_dtypes("number").to_numpy()).any()
    assert diverged_rows(metrics, "val_rmse").tolist() == [False, False, True]
    assert diverged_rows(metrics, "train_loss").tolist() == [False, False, True]
    assert metrics["diverged"].tolist() == ["", "", "train_loss, val_rmse"]
    # an empty cell is not a divergence: epoch 1's train_loss is on another row, unvalidated
    assert not diverged_rows(metrics, "train_loss")[0]


def test_metrics_csv_with_a_word_is_still_damaged(tmp_path):
    run = RunDir(tmp_path)
    run.file("metrics").write_text("epoch,val_rmse\n1,low\n")
    assert run.damage() is not None and "metrics.csv" in str(run.damage())


def diverged_run(finished_runs: Path, root: Path) -> RunDir:
    """A copy of the finished run `tiny` as a diverged run leaves it, in the files an older
    writer left (Infinity and NaN in the JSON files) and Lightning's metrics.csv."""
    shutil.copytree(finished_runs / "tiny", root / "blown")
    run = RunDir(root / "blown")
    for part in (run, run.comparison()):
        part.file("metrics").write_text(DIVERGED_METRICS)
        progress = json.loads(part.file("progress").read_text())
        progress.update(
            state="failed",
            error="diverged at epoch 3 (try a lower learning rate)",
            last={"epoch": 3.0, "train_loss": math.nan, "val_rmse": math.inf},
        )
        part.file("progress").write_text(json.dumps(progress))  # Infinity, NaN: not JSON
        test = json.loads(part.file("test_metrics").read_text())
        part.file("test_metrics").write_text(json.dumps({**test, "test_rmse": math.inf}))
    assert "Infinity" in run.file("progress").read_text()
    return run


def test_a_diverged_run_reads_as_diverged_in_hmf_core(finished_runs, tmp_path):
    run = diverged_run(finished_runs, tmp_path)
    assert run.damage() is None  # diverged is not damaged
    assert run.test_metrics()["test_rmse"] is None
    assert format_metrics(run.test_metrics()) == "RMSE diverged"
    assert describe(run)["test"] == "RMSE diverged"
    row = compare_table([run]).iloc[0]
    assert row["test_rmse"] == "diverged" and row["mf_test_rmse"] == "diverged"
    curves = compare_curves([run])
    marked = curves[curves["diverged"]]
    assert sorted(marked["metric"]) == ["train_loss", "val_rmse"]
    assert marked["epoch"].tolist() == [3, 3] and marked["value"].isna().all()


def _echarts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("echarts_chart")]


def test_every_page_that_shows_a_diverged_run_renders_and_says_diverged(
    finished_runs, tmp_path, monkeypatch
):
    """Before: "The provided ECharts spec is not JSON-serializable ... inf" on Train and
    Metrics, and the run list and Compare showed inf."""
    root = tmp_path / "runs"
    run = diverged_run(finished_runs, root)
    shutil.copytree(finished_runs / "tiny", root / "tiny")
    at = app(root, monkeypatch)
    at.query_params["run"] = run.name
    at.run()
    assert not at.exception, [e.value for e in at.exception]

    visit(at, "train")
    figures = {m.label: m.value for m in at.metric}
    assert figures["Val. RMSE"] == "diverged"
    charts = _echarts(at)
    assert charts, "no curves drawn"
    for chart in charts:
        text = json.dumps(chart)
        assert "Infinity" not in text and "NaN" not in text
    markers = [
        series
        for chart in charts
        for series in chart["series"]
        if series["name"].endswith("diverged")
    ]
    assert {s["name"] for s in markers} == {"HMF diverged", "MF diverged"}
    assert all(s["label"]["formatter"] == "diverged" for s in markers)
    assert all([3, _top(s, charts)] in s["data"] for s in markers)
    listed = table(at, "run", "test").set_index("run")
    assert listed.loc["blown", "test"] == "RMSE diverged"
    assert (
        listed.loc["tiny", "test"].startswith("RMSE 0.") or "RMSE 1." in listed.loc["tiny", "test"]
    )
    assert "HMF Test RMSE diverged" in texts(at)

    visit(at, "metrics")
    figures = {m.label: m.value for m in at.metric}
    assert figures["HMF Test RMSE"] == "diverged"
    metrics = table(at, "model", "test_rmse")
    assert metrics["test_rmse"].tolist() == ["diverged", "diverged"]
    assert any(s["name"] == "HMF diverged" for c in _echarts(at) for s in c["series"])

    at.session_state["compare_runs"] = ["blown", "tiny"]
    visit(at, "compare")
    compared = table(at, "name", "test_rmse").set_index("run")
    assert compared.loc["blown", "test_rmse"] == "diverged"
    assert compared.loc["tiny", "test_rmse"] != "diverged"
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    marks = [t for t in figure["data"] if t.get("name") == "diverged (not a finite number)"]
    assert marks and marks[0]["text"] == ["diverged"] and _values(marks[0]["x"]) == [3]
    assert "blown" in marks[0]["customdata"][0]


def _values(encoded) -> list:
    """A plotly spec's array: a list, or {"dtype", "bdata"} (base64 of a numpy array)."""
    if isinstance(encoded, list):
        return encoded
    return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"]).tolist()


def _top(series: dict, charts: list[dict]) -> float:
    """The y of a chart's diverged markers: the chart's top (the largest finite value, or the
    log axis's upper bound)."""
    chart = next(c for c in charts if series in c["series"])
    if chart["yAxis"].get("type") == "log" and "max" in chart["yAxis"]:
        return chart["yAxis"]["max"]
    return max(y for s in chart["series"] if s["type"] == "line" for _, y in s["data"])


def test_the_training_loop_writes_strict_json_when_it_diverges(tmp_path):
    """A real diverged fit (ratings of 1e30): progress.json and data.json are strict JSON."""
    from dataclasses import replace

    from hmf_core.common.errors import RunError
    from hmf_core.runs.train_run import train_run
    from hmf_core.training.settings import TrainSettings

    rng = np.random.default_rng(0)
    rows = ["user,item,rating"] + [
        f"{u},{i},1e30" for u in range(30) for i in rng.choice(30, size=10, replace=False)
    ]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    settings = TrainSettings(
        data=str(tmp_path / "r.csv"),
        split="random",
        user_clusters=[2],
        item_clusters=[2],
        max_epochs=2,
        projection=False,
    )
    with pytest.raises(RunError, match="diverged"):
        train_run(replace(settings), tmp_path / "run")
    run = RunDir(tmp_path / "run")
    for name in ("progress", "data", "settings"):
        _strict(run.file(name).read_text())
    progress = run.progress()
    assert set(progress["last"][DIVERGED]) >= {"val_rmse"}
    assert diverged_rows(run.metrics(), "val_rmse").any()
