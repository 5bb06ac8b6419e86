"""The installed commands: `pip install .` (not editable) into a folder of its own, then `hmf`
and `hmf-explorer` run from another folder, with nothing of the clone on the path."""

from __future__ import annotations

import ast
import io
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEMO_MOVIES, REPO, small_demo

from dashboard.launch import config_flags
from hmf_dev.browser import CHROMIUM_ARGS, free_port, require_chromium, wait_until_serving


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project installed non-editable (`pip install --target`): the packages, the demo
    data and the app's settings as package data, and the two commands in bin/."""
    target = tmp_path_factory.mktemp("installed")
    build = tmp_path_factory.mktemp("source")
    # a copy of the tracked tree, so the build writes its build/ folder outside the clone
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (build / name).parent.mkdir(parents=True, exist_ok=True)
            (build / name).write_bytes(source.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), str(build)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def command_env(installed: Path) -> dict:
    """The installed copy first on the path (the clone's editable install stays behind it)."""
    return {**os.environ, "PYTHONPATH": str(installed), "PYTHONUNBUFFERED": "1"}


def test_hmf_is_the_cli_and_trains_into_runs_of_the_working_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    ratings, _ = small_demo(tmp_path / "data", users=30)
    elsewhere.mkdir()
    env = command_env(installed)
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hmf_core.data.datasets as d; print(d.__file__); print(d.DEMO)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(installed / "hmf_core")), where.stdout + where.stderr
    demo = installed / "hmf_core" / "demo" / "ml-latest-small"
    assert (demo / "ratings.csv").is_file() and (demo / "movies.csv").is_file()
    assert f"ratings='{demo / 'ratings.csv'}'" in where.stdout  # the demo of the installed copy

    hmf = installed / "bin" / "hmf"
    shown = subprocess.run([hmf, "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: hmf "), shown.stderr
    assert "train" in shown.stdout and "evaluate" in shown.stdout
    trained = subprocess.run(
        [hmf, "train", "--data", ratings, "--items", DEMO_MOVIES, "--max-epochs", "1"]
        + ["--no-projection", "--split", "random", "--user-clusters", "4", "--item-clusters", "4"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "hmf test: test_rmse=" in trained.stdout
    runs = list((elsewhere / "runs").glob("*/test_metrics.json"))
    assert len(runs) == 1  # ./runs of the folder it ran in

    # the installed `hmf recommend`: user 7's top 10 as original movie ids with their titles
    shown = subprocess.run(
        [hmf, "recommend", runs[0].parent, "--user", "7", "--k", "10", "--format", "csv"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    top = pd.read_csv(io.StringIO(shown.stdout))
    movies = pd.read_csv(DEMO_MOVIES).set_index("movieId")["title"]
    assert len(top) == 10 and top["rank"].tolist() == list(range(1, 11)), top
    assert top["item"].isin(movies.index).all()  # original ids, not row numbers
    assert (top["label"] == movies.loc[top["item"]].to_numpy()).all()  # each id's own title
    seen = pd.read_csv(ratings).query("userId == 7")["movieId"]
    assert not top["item"].isin(seen).any()  # seen items left out


def test_hmf_explorer_serves_the_app_from_another_folder(installed, tmp_path):
    page_text = serve_and_read(installed, tmp_path, browse=False)
    assert page_text.lstrip().startswith("<!--") and '<div id="root">' in page_text


@pytest.mark.browser
def test_hmf_explorer_opens_on_the_installed_demo_in_a_browser(installed, tmp_path):
    text = serve_and_read(installed, tmp_path, browse=True)
    assert "MovieLens latest-small (bundled demo)" in text
    assert "610" in text and "9,724" in text  # the demo's users and rated items, as read


def serve_and_read(installed: Path, tmp_path: Path, browse: bool) -> str:
    """Start `hmf-explorer` in an empty folder on a loopback port; wait for its health check;
    return the page's HTML, or with `browse` the Data page's text as chromium shows it. The
    server is ended (its process group) before returning; its log must hold no error."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    log_path = tmp_path / "explorer.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [installed / "bin" / "hmf-explorer", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1"],
            cwd=elsewhere,
            env=command_env(installed),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url, log_path)
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        if browse:
            text = browser_text(url)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    log = log_path.read_text()
    assert f"URL: {url}" in log
    for bad in ("Error", "Traceback", "not a valid config option", "Failed to parse"):
        assert bad not in log, log
    return text


def browser_text(url: str) -> str:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            page.get_by_text("Current dataset: MovieLens latest-small").wait_for()
            page.get_by_text("Users", exact=True).first.wait_for()
            return page.inner_text("body")
        finally:
            browser.close()


def test_the_installed_map_chart_has_its_script_and_plotly_js(installed, tmp_path):
    """The map's chart (dashboard.live_chart) from the installed copy: its script is package
    data, and the folder it serves plotly.js from holds the map's bundle (dashboard/plotly_js)."""
    script = (
        "import pathlib, dashboard.live_chart as chart\n"
        "print(chart.__file__)\n"
        "print(pathlib.Path(chart._PLOTLY_FILES.path, 'plotly-map.min.js').stat().st_size)\n"
        "print(chart.PLOTLY_URL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=command_env(installed),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, size, url = result.stdout.split()
    assert Path(module).is_relative_to(installed)  # the installed copy, not the clone
    assert int(size) > 1_000_000  # the bundle itself, not a pointer to it
    assert url.endswith("/plotly-map.min.js") and not url.startswith("/")  # any baseUrlPath


def test_the_apps_settings_become_streamlit_flags(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[server]\nheadless = true\nmaxUploadSize = 1024\n[theme]\nprimaryColor = "#3457d5"\n'
        'chartCategoricalColors = ["#3457d5", "#e8743b"]\n'
    )
    assert config_flags(config) == [
        "--server.headless=true",
        "--server.maxUploadSize=1024",
        "--theme.primaryColor=#3457d5",
        '--theme.chartCategoricalColors=["#3457d5", "#e8743b"]',
    ]
    # the project's own file: every setting of it is one flag
    project = config_flags(REPO / ".streamlit" / "config.toml")
    assert "--server.maxUploadSize=1024" in project and "--runner.postScriptGC=false" in project


def test_no_page_relies_on_magic():
    """The app runs with Streamlit's magic off (.streamlit/config.toml: runner.magicEnabled):
    a bare expression in a page (a value, a string past the docstring), which magic would
    write, would show nothing."""
    project = config_flags(REPO / ".streamlit" / "config.toml")
    assert "--runner.magicEnabled=false" in project
    pages = [REPO / "dashboard" / "app.py", *sorted((REPO / "dashboard" / "views").glob("*.py"))]
    assert len(pages) > 5
    bare = []
    for page in pages:
        tree = ast.parse(page.read_text())
        statements = [
            (parent, position, node)
            for parent in ast.walk(tree)
            for field in ("body", "orelse", "finalbody")
            if isinstance(getattr(parent, field, None), list)  # a lambda's body is one expression
            for position, node in enumerate(getattr(parent, field))
        ]
        for parent, position, node in statements:
            if not isinstance(node, ast.Expr) or isinstance(node.value, ast.Call):
                continue  # magic never writes a call's value either
            docstring = (
                position == 0
                and isinstance(parent, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef))
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            )
            if not docstring:
                bare.append(f"{page.name}:{node.lineno}")
    assert bare == [], f"bare expressions that magic would have written: {bare}"
