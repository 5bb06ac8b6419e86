"""Safe to share (issue 19): the app listens on this machine only unless it is shared; shared,
it shows nothing but a password prompt until the password is given, and nothing but how to set
one when it has none; a shared app limits uploads, trainings at once and disk for runs.

The real server is started as README says (`streamlit run dashboard/app.py` from the
repository root, its .streamlit/config.toml) and only ever reached on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import asdict

import pytest
from conftest import wait_for
from streamlit import config
from test_app import app, shown, texts, upload, visit
from test_runs import settings_for

from dashboard.sharing import (
    Access,
    SharedLimits,
    configured_password,
    fingerprint,
    is_loopback,
    password_matches,
)
from hmf_core.runs.limits import RunLimits
from hmf_core.runs.manager import run_status, start_run, stop_run
from hmf_dev.browser import (
    CHROMIUM_ARGS,
    Screenshots,
    listening_addresses,
    require_chromium,
    streamlit_process,
)

PASSWORD = "correct horse battery staple"


# --- the decisions, alone ----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "127.0.0.2", "::1", "[::1]"])
def test_loopback_addresses_keep_the_app_local(address):
    assert is_loopback(address)


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "unix:///tmp/s", "x.invalid"]
)
def test_every_other_address_shares_the_app(address):
    assert not is_loopback(address)  # unset: Streamlit listens on every interface


def test_the_password_comes_from_the_environment_else_the_secrets_file():
    assert configured_password({"HMF_PASSWORD": "env"}, {"password": "file"}) == "env"
    assert configured_password({}, {"password": "file"}) == "file"
    assert configured_password({"HMF_PASSWORD": "  "}, {"password": ""}) is None  # blank: unset
    assert configured_password({}, {"password": 1234}) is None  # not text
    assert password_matches(PASSWORD, PASSWORD) and not password_matches("correct", PASSWORD)
    assert password_matches("pässwörd", "pässwörd")
    assert fingerprint(PASSWORD) != fingerprint(PASSWORD + "!")
    assert PASSWORD not in fingerprint(PASSWORD)


def test_shared_limits_have_defaults_and_refuse_nonsense():
    assert SharedLimits.from_env({}) == SharedLimits(200, 2, 20 * 10**9)
    limits = SharedLimits.from_env(
        {"HMF_SHARED_UPLOAD_MB": "50", "HMF_SHARED_TRAININGS": "1", "HMF_SHARED_RUNS_GB": "0.5"}
    )
    assert limits == SharedLimits(50, 1, 500_000_000)
    assert limits.run_limits() == RunLimits(1, 500_000_000, "HMF_SHARED_RUNS_GB")
    for variable, value in (
        ("HMF_SHARED_TRAININGS", "1.5"),
        ("HMF_SHARED_TRAININGS", "0"),
        ("HMF_SHARED_UPLOAD_MB", "lots"),
        ("HMF_SHARED_RUNS_GB", "-1"),
        ("HMF_SHARED_RUNS_GB", "inf"),
    ):
        with pytest.raises(ValueError, match=f"^{variable} must be .*, found"):
            SharedLimits.from_env({variable: value})
    local = Access.decide("localhost", {}, {})
    assert not local.shared and local.limits is None and local.run_limits() == RunLimits()
    shared = Access.decide("0.0.0.0", {"HMF_PASSWORD": "x"}, {})
    assert shared.shared and shared.password == "x" and shared.limits == SharedLimits.from_env({})


# --- the real server: closed by default ---------------------------------------------------------


def test_the_app_started_as_the_readme_says_listens_on_loopback_only(tmp_path):
    log = tmp_path / "streamlit.log"
    with streamlit_process(tmp_path / "runs", log) as (server, url):
        port = int(url.rsplit(":", 1)[1])
        sockets = listening_addresses(server.pid)
        printed = wait_for(lambda: "URL:" in log.read_text() and log.read_text(), timeout=30)
    assert port in {port for _, port in sockets}, sockets
    assert all(ipaddress.ip_address(address).is_loopback for address, _ in sockets), sockets
    assert f"URL: http://localhost:{port}" in printed
    assert "Network URL" not in printed and "External URL" not in printed


# --- a shared app under AppTest ------------------------------------------------------------------


@pytest.fixture
def shared(monkeypatch):
    """The app as `streamlit run dashboard/app.py --server.address 0.0.0.0` runs it: Streamlit's
    own option set (restored afterwards, with the upload cap sharing lowers), no password from
    this machine's environment."""
    saved = {
        key: (config.get_option(key), config.get_where_defined(key))
        for key in ("server.address", "server.maxUploadSize")
    }
    config.set_option("server.address", "0.0.0.0", "command-line argument or environment variable")
    monkeypatch.delenv("HMF_PASSWORD", raising=False)
    yield
    for key, (value, where) in saved.items():
        config.set_option(key, value, where)


def a_listed_run(runs_dir):
    """A finished run's directory as the run list shows it (settings and progress)."""
    folder = runs_dir / "someone-elses-run"
    folder.mkdir(parents=True)
    settings = asdict(settings_for(runs_dir.parent))
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "progress.json").write_text(json.dumps({"state": "finished"}))


def nothing_of_the_app(at) -> None:
    assert not at.exception
    assert [title.value for title in at.title] == ["HMF Explorer"]
    assert not at.get("file_uploader") and not at.dataframe and not at.segmented_control
    assert not at.sidebar.selectbox  # no run list
    shown = texts(at)
    assert "Current dataset" not in shown and "someone-elses-run" not in shown


def sign_in(at, password: str):
    at.text_input(key="sign_in_password").input(password)
    (button,) = at.button
    return button.click().run()


def test_shared_the_app_shows_only_the_password_prompt_until_the_password_is_given(
    shared, tmp_path, monkeypatch
):
    a_listed_run(tmp_path / "runs")
    monkeypatch.setenv("HMF_PASSWORD", PASSWORD)
    at = app(tmp_path / "runs", monkeypatch).run()
    nothing_of_the_app(at)
    assert [field.key for field in at.text_input] == ["sign_in_password"]
    assert at.text_input(key="sign_in_password").proto.type == 1  # PASSWORD: typing is hidden

    sign_in(at, "correct horse")
    nothing_of_the_app(at)
    assert [error.value for error in at.error] == ["Wrong password: the app stays closed."]

    sign_in(at, PASSWORD)
    assert not at.exception and not at.error
    shown = texts(at)
    assert "Current dataset: MovieLens latest-small (bundled demo)" in shown
    assert at.sidebar.selectbox(key="run").options == ["someone-elses-run"]
    visit(at, "train")  # the session stays signed in from page to page
    assert "This app is shared: at most 2 training(s) run at once" in texts(at)


def test_the_password_can_live_in_the_secrets_file(shared, tmp_path, monkeypatch):
    at = app(tmp_path / "runs", monkeypatch)
    at.secrets["password"] = PASSWORD  # what .streamlit/secrets.toml's password = "..." gives
    nothing_of_the_app(at.run())
    sign_in(at, PASSWORD)
    assert "Current dataset: MovieLens latest-small (bundled demo)" in texts(at)


def test_shared_without_a_password_the_app_serves_only_how_to_set_one(
    shared, tmp_path, monkeypatch
):
    a_listed_run(tmp_path / "runs")
    at = app(tmp_path / "runs", monkeypatch)
    at.secrets["unrelated"] = "x"  # a secrets file without a password
    nothing_of_the_app(at.run())
    assert not at.text_input  # not even a prompt: no password could open it
    (message,) = [shown(error.value) for error in at.error]
    assert "served beyond this machine (server.address 0.0.0.0) but no password" in message
    assert 'password = "..."' in message and "HMF_PASSWORD" in message


def test_a_shared_app_with_a_nonsense_limit_serves_only_the_reason(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("HMF_PASSWORD", PASSWORD)
    monkeypatch.setenv("HMF_SHARED_TRAININGS", "many")
    at = app(tmp_path / "runs", monkeypatch).run()
    nothing_of_the_app(at)
    assert [shown(error.value) for error in at.error] == [
        "This shared app cannot start: HMF_SHARED_TRAININGS must be a whole number of "
        "trainings, 1 or more, found 'many'."
    ]


# --- the limits, where they bite ----------------------------------------------------------------


def test_a_shared_app_refuses_an_upload_above_its_limit_with_the_figures(
    shared, tmp_path, monkeypatch
):
    monkeypatch.setenv("HMF_PASSWORD", PASSWORD)
    monkeypatch.setenv("HMF_SHARED_UPLOAD_MB", "1")
    at = sign_in(app(tmp_path / "runs", monkeypatch).run(), PASSWORD)
    assert config.get_option("server.maxUploadSize") == 1  # Streamlit's own endpoint too
    rows = "".join(f"{u},{i},4\n" for u in range(400) for i in range(300))
    big = ("ratings.csv", ("user,item,rating\n" + rows).encode())  # about 1.1 MiB
    at = upload(at, big)
    size = len(big[1]) / 2**20
    assert size > 1
    assert [shown(error.value) for error in at.error] == [
        f"ratings.csv: {size:,.1f} MB, above the 1 MB per file this shared app takes "
        "(HMF_SHARED_UPLOAD_MB); nothing was kept."
    ]
    assert "Uploads of up to 1 MB per file while the app is shared" in texts(at)
    assert "Current dataset: MovieLens latest-small (bundled demo)" in texts(at)
    assert not (tmp_path / "runs" / "uploads").exists()


def test_a_shared_app_refuses_a_training_when_runs_use_too_much_disk(shared, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "old").mkdir(parents=True)
    (runs / "old" / "best.ckpt").write_bytes(b"\0" * 2_000_000)
    monkeypatch.setenv("HMF_PASSWORD", PASSWORD)
    monkeypatch.setenv("HMF_SHARED_RUNS_GB", "0.001")
    at = sign_in(app(runs, monkeypatch).run(), PASSWORD)
    visit(at, "train")
    assert "refused while runs use more than 1.0 MB of disk (HMF_SHARED_RUNS_GB; now 2.0 MB)" in (
        texts(at)
    )
    at.button(key="train_button").click().run()
    (refusal,) = [shown(error.value) for error in at.error]
    assert f"Refused: no new training: the runs folder {runs} uses 2.0 MB, above the limit of" in (
        refusal
    )
    assert "above the limit of 1.0 MB (HMF_SHARED_RUNS_GB); whoever runs the app" in refusal
    assert sorted(path.name for path in runs.iterdir()) == ["old"]  # nothing started


def test_a_queued_run_says_its_place_on_the_train_page_and_stop_takes_it_out(
    shared, tmp_path, monkeypatch
):
    root = tmp_path / "runs"
    first = start_run(
        settings_for(tmp_path, max_epochs=10_000),
        root=root,
        name="first",
        limits=RunLimits(trainings=1),
    )
    second = start_run(
        settings_for(tmp_path, max_epochs=1),
        root=root,
        name="second",
        limits=RunLimits(trainings=1),
    )
    try:
        wait_for(lambda: run_status(second).phase == "queued, position 1", timeout=60)
        monkeypatch.setenv("HMF_PASSWORD", PASSWORD)
        monkeypatch.setenv("HMF_SHARED_TRAININGS", "1")
        at = app(root, monkeypatch)
        at.query_params["run"] = "second"
        sign_in(at.run(), PASSWORD)
        visit(at, "train")
        shown = texts(at)
        assert "Queued, position 1: this shared app trains a limited number of runs" in shown
        assert "at most 1 training(s) run at once (HMF_SHARED_TRAININGS)" in shown
        (listed,) = [e.value for e in at.dataframe if "state" in e.value.columns]
        states = dict(zip(listed["run"], listed["state"]))
        assert states["second"] == "queued, position 1"
        at.button(key="stop_button").click().run()  # Stop while queued
        wait_for(lambda: run_status(second).phase == "stopped" and not second.process_alive())
        assert second.progress()["error"] == "stopped while queued"
        time.sleep(0.5)
        assert run_status(first).active  # the first trains on
    finally:
        stop_run(first)
        wait_for(lambda: not first.process_alive())


# --- the real server, shared, in a browser -------------------------------------------------------


@pytest.mark.browser
def test_a_shared_server_asks_a_browser_for_the_password_first(tmp_path):
    chromium = require_chromium()
    from playwright.sync_api import expect, sync_playwright

    log = tmp_path / "streamlit.log"
    options = ("--server.address", "0.0.0.0")  # README's way to share
    with streamlit_process(tmp_path / "runs", log, options, {"HMF_PASSWORD": PASSWORD}) as (
        server,
        url,
    ):
        sockets = listening_addresses(server.pid)
        assert any(not ipaddress.ip_address(address).is_loopback for address, _ in sockets)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(60_000)
            shot = Screenshots(page)
            try:
                page.goto(url)  # 127.0.0.1: this machine, yet no way in without the password
                field = page.get_by_label("Password", exact=True)
                expect(field).to_be_visible(timeout=90_000)
                expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
                expect(page.get_by_text("Current dataset")).to_have_count(0)
                shot("shared-password-prompt")
                field.fill("guess")
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_text("Wrong password: the app stays closed.")).to_be_visible()
                expect(page.get_by_text("Current dataset")).to_have_count(0)
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                demo = "Current dataset: MovieLens latest-small (bundled demo)"
                expect(page.get_by_text(demo)).to_be_visible(timeout=90_000)
                expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
                shot("shared-signed-in")
            finally:
                browser.close()
