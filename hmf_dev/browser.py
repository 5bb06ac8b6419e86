"""Browser driving for the browser tests and the latency benchmark: a real `streamlit run` on a
free port, Debian's chromium driven by Playwright, screenshots, and the few Streamlit widgets
that need more than a click."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from hmf_dev import REPO

CHROMIUM = Path(os.environ.get("HMF_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("HMF_SCREENSHOTS", REPO / "test-artifacts" / "screenshots"))


def require_chromium() -> Path:
    """Debian's chromium, or a skip saying why (a failure when HMF_REQUIRE_BROWSER=1, as CI).
    Called from tests only: pytest is imported here."""
    import pytest

    if CHROMIUM.exists():
        return CHROMIUM
    reason = (
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) "
        "to run the browser test"
    )
    if os.environ.get("HMF_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (HMF_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def streamlit_server(runs_dir: Path, log_path: Path, data_dirs: tuple[Path, ...] = ()):
    """`streamlit run dashboard/app.py` on a free port; yields its URL; kills it (and any
    training process its runs left alive) on exit. `data_dirs`: the folders "Files on this
    machine" may read ($HMF_DATA_DIR; by default the server inherits this process's)."""
    env = (
        {"HMF_DATA_DIR": os.pathsep.join(str(folder) for folder in data_dirs)} if data_dirs else {}
    )
    with streamlit_process(runs_dir, log_path, env=env) as (_, url):
        yield url


@contextmanager
def streamlit_process(
    runs_dir: Path, log_path: Path, options: tuple[str, ...] = (), env: dict | None = None
):
    """README's command, `streamlit run dashboard/app.py` from the repository root (so with the
    repository's .streamlit/config.toml: localhost only), on a free port, plus `options`
    (e.g. ("--server.address", "0.0.0.0")) and `env`; yields (process, URL on 127.0.0.1)
    once it answers; kills it and the training processes its runs left alive on exit."""
    port = free_port()
    env = {**os.environ, "HMF_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard/app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                *options,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url, log_path)
        yield server, url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        stop_training_processes(runs_dir)


def wait_until_serving(server: subprocess.Popen, url: str, log_path: Path) -> None:
    """Wait up to 90 s for a streamlit server's health check at `url` to answer "ok"; a
    RuntimeError with the end of its log when it exits first or does not answer in time."""
    deadline = time.time() + 90
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200 and answer.read() == b"ok":
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, from /proc/net/tcp and
    /proc/net/tcp6 (the LISTEN rows whose inode is one of the process's open sockets)."""
    inodes = set()
    for link in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: TCP_LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)  # the kernel's 32-bit words, in host byte order
            if sys.byteorder == "little":
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            found.add((str(ipaddress.ip_address(raw)), int(port, 16)))
    return found


def stop_training_processes(runs_dir: Path) -> None:
    """Training runs in its own process group (it outlives the app on purpose): end the ones
    this test started."""
    for progress in runs_dir.glob("*/progress.json"):
        try:
            pid = int(json.loads(progress.read_text()).get("pid"))
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (ValueError, TypeError, json.JSONDecodeError, OSError):
            continue  # no pid, or the process has ended
        if str(progress.parent) in command:  # still the worker of this run, not a reused pid
            os.killpg(pid, signal.SIGTERM)


_CLEARED: set[Path] = set()  # folders emptied of an earlier session's screenshots


class Screenshots:
    """Numbered full-window screenshots of each step, kept as test artifacts. The folder is
    emptied once per test session, so every browser test's screenshots are kept side by side."""

    def __init__(self, page, folder: Path = SCREENSHOTS):
        self.page = page
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in _CLEARED:
            for old in folder.glob("*.png"):
                old.unlink()
            _CLEARED.add(folder)
        self.taken: list[Path] = []

    def __call__(self, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        return path


@contextmanager
def chromium_tab(url: str, width: int = 1440, height: int = 900):
    """A headless chromium tab (Debian's chromium, driven by Playwright) for the app at `url`;
    on exit, the last state is saved as a screenshot (for a failure) and the browser closed."""
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "last-state.png"))
            browser.close()


def open_page(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for its title."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    heading = {"Cluster affinity": "Cluster affinity"}.get(title, title)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=60_000)


def commit_text(page, label: str, value: str) -> None:
    """Type into a Streamlit text or number input and commit it (Enter) like a user."""
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")


def table_rows(frame_locator) -> list[list[str]]:
    """The rows a Streamlit dataframe shows, read from the grid's accessibility table (the
    cells themselves are drawn on a canvas)."""
    rows = []
    for row in frame_locator.locator("tr").all():
        cells = [cell.inner_text() for cell in row.locator("td").all()]
        if cells:
            rows.append(cells)
    return rows


def column_names(frame_locator) -> list[str]:
    return [
        header.inner_text()
        for header in frame_locator.locator("th").all()
        if header.get_attribute("role") == "columnheader"
    ]


# --- the Train page's live curves (keyed echarts charts, drawn on a canvas) -------------------

CURVE_EPOCHS = """(key) => {
  // Epochs per model in one curve chart, read from its accessible name
  // ("Train loss: HMF 3 epochs, MF 0 epochs"); {} while the chart is absent.
  const root = document.querySelector('.st-key-' + key);
  const named = root && [...root.querySelectorAll('[aria-label]')]
    .map((node) => node.getAttribute('aria-label')).find((label) => / epochs/.test(label));
  const counts = {};
  for (const [, model, n] of (named || '').matchAll(/(\\w+) (\\d+) epochs/g)) counts[model] = +n;
  return counts;
}"""


def curve_epochs(page, key: str = "curve_train_loss") -> dict[str, int]:
    """{"HMF": epochs drawn, "MF": ...} of one Train-page curve chart."""
    return page.evaluate(CURVE_EPOCHS, key)


def wait_for_curve_points(page, more_than: int, key: str = "curve_train_loss", timeout=240_000):
    """Wait until the chart draws more than `more_than` points (all models together)."""
    page.wait_for_function(
        f"(key) => Object.values(({CURVE_EPOCHS})(key)).reduce((a, b) => a + b, 0) > {more_than}",
        arg=key,
        timeout=timeout,
    )
