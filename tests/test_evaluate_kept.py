"""A killed worker's kept checkpoint is evaluated afterwards (issue 10): hmf_core's
evaluate_checkpoint, `python -m hmf_core evaluate RUN_DIR --compute`, and the Train page's
button. On finished runs the recomputed metrics equal the ones training wrote."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import REPO, wait_for
from test_app import app, texts, visit
from test_runs import settings_for

from hmf_core.runs.evaluate import evaluate_checkpoint
from hmf_core.runs.manager import describe, start_run
from hmf_core.runs.rundir import RunDir


@pytest.mark.parametrize("name", ["tiny", "tiny-ranking"])
def test_the_recomputed_test_metrics_equal_those_training_wrote(finished_runs, tmp_path, name):
    shutil.copytree(finished_runs / name, tmp_path / name)
    run = RunDir(tmp_path / name)
    parts = {"hmf": run, "mf": run.comparison()}
    written = {label: part.test_metrics() for label, part in parts.items() if part is not None}
    for part in parts.values():
        if part is not None:
            part.file("test_metrics").unlink()
    computed = evaluate_checkpoint(run.path)
    assert set(computed) == set(written) == ({"hmf", "mf"} if name == "tiny" else {"hmf"})
    for label, metrics in written.items():
        assert computed[label].keys() == metrics.keys()
        for key, value in metrics.items():
            assert computed[label][key] == pytest.approx(value, rel=1e-5), (label, key)
        assert parts[label].test_metrics() == computed[label]  # written to test_metrics.json
    assert evaluate_checkpoint(run.path) == {}  # nothing left to compute


def killed_run(tmp_path) -> RunDir:
    """A run whose worker is SIGKILLed once best.ckpt has been written."""
    run = start_run(settings_for(tmp_path, max_epochs=10_000), root=tmp_path / "runs")
    wait_for(lambda: run.has_model() and run.progress().get("state") == "running")
    os.kill(run.progress()["pid"], signal.SIGKILL)
    wait_for(lambda: run.progress()["state"] == "failed")
    assert run.test_metrics() == {} and run.has_model()
    return run


def evaluate_cli(run: RunDir, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hmf_core", "evaluate", str(run.path), *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )


def test_a_killed_workers_checkpoint_is_evaluated_from_the_cli(tmp_path):
    run = killed_run(tmp_path)
    before = evaluate_cli(run)
    assert before.returncode == 0
    assert "HMF: no test metrics (state: failed; compute them from best.ckpt with --compute)" in (
        before.stdout
    )
    done = evaluate_cli(run, "--compute")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(run.file("test_metrics").read_text())
    assert 0 < metrics["test_rmse"] < 5 and metrics["epochs_run"] == len(run.metrics())
    assert f"HMF (failed): test_rmse={metrics['test_rmse']}" in done.stdout
    assert describe(run)["state"] == "failed" and describe(run)["test"].startswith("RMSE ")


def test_a_killed_workers_checkpoint_is_evaluated_from_the_train_page(tmp_path, monkeypatch):
    run = killed_run(tmp_path)
    at = app(tmp_path / "runs", monkeypatch)
    at.query_params["run"] = run.name
    at.run()
    visit(at, "train")
    assert "has no test metrics" in texts(at)
    at.button(key="evaluate_button").click().run()
    assert not at.exception
    assert 0 < run.test_metrics()["test_rmse"] < 5
    shown = texts(at)
    assert "has no test metrics" not in shown and "HMF Test RMSE" in shown
