"""Shared fixtures: where the real MovieLens files are, and a skip when they are not (a failure
with HMF_REQUIRE_DATA=1, as in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from hmf_core.common.allowed import DATA_DIR_VARIABLE
from hmf_core.runs.manager import start_run
from hmf_core.training.settings import TrainSettings

REPO = Path(__file__).resolve().parents[1]
DEMO_RATINGS = REPO / "assets" / "ml-latest-small" / "ratings.csv"
DEMO_MOVIES = REPO / "assets" / "ml-latest-small" / "movies.csv"
SHARED_DATA = REPO.parent / "shared" / "data"

# Python run as the unprivileged user 'nobody' (home /nonexistent), which root's tests need
# to meet a permission error or a folder it may not write.
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
needs_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv to run Python as the unprivileged user 'nobody'",
)


# The CLI in a subprocess, this checkout's packages first on its path.
CLI_PATH = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(CLI_PATH), "PYTHONUNBUFFERED": "1"}


def hmf_cli(*args, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m hmf_core ARGS` (each argument as text), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "hmf_core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=CLI_ENV,
        timeout=timeout,
    )


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
    """A file under ../shared/data, or a skip that says why (a failure when HMF_REQUIRE_DATA=1,
    as in CI: there a missing file must not pass unseen)."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"{path} is absent: the real MovieLens files live in ../shared/data"
        if os.environ.get("HMF_REQUIRE_DATA") == "1":
            pytest.fail(reason + " (HMF_REQUIRE_DATA=1 makes this a failure)")
        pytest.skip(reason)
    return path


@pytest.fixture
def data_in_tmp(tmp_path, monkeypatch) -> Path:
    """The Data page's "Files on this machine" may read the test's own tmp_path and
    ../shared/data ($HMF_DATA_DIR, read at each call, as a server started with it)."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, os.pathsep.join([str(tmp_path), str(SHARED_DATA)]))
    return tmp_path


def small_demo(folder: Path, users: int = 40) -> tuple[Path, Path]:
    """The first `users` users of the bundled demo, and a user metadata file for them."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = pd.read_csv(DEMO_RATINGS)
    ratings[ratings["userId"] <= users].to_csv(folder / "ratings.csv", index=False)
    ids = range(1, users + 1)
    pd.DataFrame(
        {
            "userId": ids,
            "gender": ["F" if i % 3 == 0 else "M" for i in ids],
            "age": [20 + i % 40 for i in ids],
        }
    ).to_csv(folder / "people.csv", index=False)
    return folder / "ratings.csv", folder / "people.csv"


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory) -> Path:
    """A runs directory with a finished depth-2 rating run (MF comparison, maps) trained for two
    epochs on a slice of the demo data, a copy of it without maps (PCA computed live), and a
    ranking run with item depth 0 (plain MF on the item side)."""
    root = tmp_path_factory.mktemp("finished-runs")
    ratings, people = small_demo(root / "data")
    settings = TrainSettings(
        data=str(ratings),
        items=str(DEMO_MOVIES),
        users=str(people),
        split="random",
        user_depth=2,
        item_depth=2,
        user_clusters=[8],
        item_clusters=[12],
        max_epochs=2,
        lr=1e-2,
        compare_mf=True,
        projection=True,
    )
    ranking = replace(
        settings,
        task="ranking",
        positive_threshold=4.0,
        item_depth=0,
        user_clusters=[6],
        compare_mf=False,
        projection=False,
    )
    started = [
        start_run(settings, root=root, name="tiny"),  # background processes, as the app
        start_run(ranking, root=root, name="tiny-ranking"),
    ]
    for run in started:
        wait_for(
            lambda run=run: (
                run.progress().get("state") in ("finished", "failed") and not run.process_alive()
            )
        )
        assert run.progress()["state"] == "finished", run.log_tail()
    assert (started[0].path / "maps.json").exists()
    shutil.copytree(
        root / "tiny", root / "tiny-no-maps", ignore=shutil.ignore_patterns("map_*", "maps.json")
    )
    return root
