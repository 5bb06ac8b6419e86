"""The Train page under AppTest: the form shows the run beside it, one state and time for the
panel and the run list, formatted metrics, per-dataset split defaults, names and notes."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from conftest import shared_file, small_demo, wait_for
from test_app import app, table, texts, upload, use_paths, visit

from dashboard.text import literal
from hmf_core.common.allowed import DATA_DIR_VARIABLE
from hmf_core.runs.manager import run_status, stop_run
from hmf_core.runs.rundir import RunDir

pytestmark = pytest.mark.usefixtures("data_in_tmp")  # "Files on this machine" reads tmp_path


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def run_data_url(finished_runs, tmp_path, monkeypatch) -> str:
    """?data= of the finished runs' data (the files they trained on), as a tab that used it
    holds it: the form copies a run's settings only onto the data that run trained on."""
    allowed = os.pathsep.join([str(tmp_path), str(finished_runs)])
    monkeypatch.setenv(DATA_DIR_VARIABLE, allowed)
    at = visit(app(finished_runs, monkeypatch).run(), "data")
    use_paths(at, finished_runs / "data" / "ratings.csv", finished_runs / "data" / "people.csv")
    token = at.query_params["data"]
    return token[0] if isinstance(token, list) else token


def test_the_form_shows_the_settings_of_the_run_beside_it_after_a_reload(
    finished_runs, tmp_path, monkeypatch
):
    at = app(finished_runs, monkeypatch)
    at.query_params["data"] = run_data_url(finished_runs, tmp_path, monkeypatch)
    at.query_params["run"] = "tiny"  # a reloaded tab: a new session, the run from the URL
    at.run()
    visit(at, "train")
    settings = RunDir(finished_runs / "tiny").settings()
    assert at.segmented_control(key="train_task").value == settings["task"] == "rating"
    assert at.slider(key="train_user_depth").value == settings["user_depth"] == 2
    assert at.slider(key="train_item_depth").value == settings["item_depth"] == 2
    assert at.text_input(key="train_user_clusters").value == "8"
    assert at.text_input(key="train_item_clusters").value == "12"
    for key, field in (
        ("train_dim", "dim"),
        ("train_lr", "lr"),
        ("train_max_epochs", "max_epochs"),
        ("train_patience", "patience"),
        ("train_seed", "seed"),
        ("train_logit_lr", "logit_lr"),
        ("train_init_std", "init_std"),
    ):
        assert at.number_input(key=key).value == pytest.approx(
            settings[field] if settings[field] is not None else settings["lr"]
        ), key
    assert at.selectbox(key="train_split").value == settings["split"] == "random"
    assert at.checkbox(key="train_compare_mf").value is settings["compare_mf"] is True
    assert at.segmented_control(key="train_preset").value == settings["preset"]
    assert at.selectbox(key="train_warm_start").value == settings["warm_start"]
    shown = texts(at)
    assert "The form opened with the settings of run **tiny** (beside it)" in shown
    assert "nothing is changed yet" in shown

    at.number_input(key="train_dim").set_value(7).run()  # the user's change is kept...
    assert "changed since: dim." in texts(at)
    visit(at, "map")
    visit(at, "train")
    assert at.number_input(key="train_dim").value == 7
    at.sidebar.selectbox(key="run").set_value("tiny-ranking").run()  # ...until another run
    visit(at, "train")
    ranking = RunDir(finished_runs / "tiny-ranking").settings()
    assert at.segmented_control(key="train_task").value == "ranking"
    assert at.slider(key="train_item_depth").value == ranking["item_depth"] == 0
    assert at.text_input(key="train_user_clusters").value == "6"
    assert at.number_input(key="train_dim").value == ranking["dim"]
    assert at.checkbox(key="train_compare_mf").value is False
    assert at.number_input(key="train_threshold").value == ranking["positive_threshold"]


def test_the_panel_and_the_run_list_show_one_state_one_time_and_formatted_metrics(
    finished_runs, monkeypatch
):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "train")
    listed = table(at, "name", "state", "elapsed", "test").set_index("run")
    status = run_status(RunDir(finished_runs / "tiny"))
    assert listed.loc["tiny", "state"] == status.phase == "finished"
    assert ":green-badge[finished]" in texts(at)
    assert metric(at, "Elapsed") == listed.loc["tiny", "elapsed"]
    test_rmse = RunDir(finished_runs / "tiny").test_metrics()["test_rmse"]
    assert listed.loc["tiny", "test"] == f"RMSE {test_rmse:.4f}"  # formatted, not JSON
    assert re.fullmatch(r"HR@10 \d\.\d{4} · MRR@10 \d\.\d{4}", listed.loc["tiny-ranking", "test"])
    assert not any("{" in text for text in listed["test"])
    assert re.fullmatch(r"\d\.\d{4}", metric(at, "Val. RMSE"))  # 4 decimals, its own label
    assert f"HMF Test RMSE {test_rmse:.4f}" in texts(at)


def test_a_live_run_has_one_state_and_a_clock_that_runs_from_train(tmp_path, monkeypatch):
    ratings, _ = small_demo(tmp_path / "data", users=40)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    at.selectbox(key="train_split").set_value("random")
    at.number_input(key="train_max_epochs").set_value(5000)
    at.number_input(key="train_patience").set_value(5000)
    at.checkbox(key="train_projection").uncheck()
    at.run()
    at.button(key="train_button").click().run()
    run = RunDir(next((tmp_path / "runs").glob("2*")))
    try:
        wait_for(lambda: len(run.metrics()) >= 1)
        at.run()
        listed = table(at, "name", "state", "elapsed").set_index("run")
        assert listed.loc[run.name, "state"] == "training HMF"
        assert ":blue-badge[training HMF]" in texts(at)
        assert metric(at, "Elapsed") == listed.loc[run.name, "elapsed"]
        minutes, seconds = map(int, metric(at, "Elapsed").split(":"))
        assert 60 * minutes + seconds >= int(run.metrics()["elapsed_s"].iloc[-1])
    finally:
        stop_run(run)
        wait_for(lambda: not run_status(run).active)
    at.run()
    assert table(at, "state").set_index("run").loc[run.name, "state"] == "stopped"


def test_an_uploaded_ml100k_switches_the_form_to_the_temporal_split(tmp_path, monkeypatch):
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "train")
    assert at.selectbox(key="train_split").value == "random"  # the demo: temporal tests 174
    data = shared_file("ml-100k/u.data").read_bytes()
    visit(at, "data")
    upload(at, ("u.data", data))
    visit(at, "train")
    assert at.selectbox(key="train_split").value == "temporal"  # 1,932 ratings of 89 users
    assert "1,932 test ratings from 89 of 625 users" in at.selectbox(key="train_split").help


def test_a_run_named_on_the_form_is_named_in_the_list_the_pickers_and_compare(
    tmp_path, monkeypatch
):
    ratings, _ = small_demo(tmp_path / "data", users=40)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    at.selectbox(key="train_split").set_value("random")
    at.number_input(key="train_max_epochs").set_value(1)
    at.checkbox(key="train_projection").uncheck()
    at.text_input(key="train_name").input("**Small** [run](http://x)")
    at.text_area(key="train_note").input("first try\n$x^2$")
    at.run()
    at.button(key="train_button").click().run()
    run = RunDir(next((tmp_path / "runs").glob("2*")))
    assert (run.label, run.meta()["note"]) == ("**Small** [run](http://x)", "first try\n$x^2$")
    wait_for(lambda: not run_status(run).active)
    at.run()
    assert at.text_input(key="train_name").value == ""  # the form is for the next run
    assert at.sidebar.selectbox(key="run").value == run.name
    assert "**Small** [run](http://x)" in at.sidebar.selectbox(key="run").options
    assert f"Run {literal(run.label)}" in [s.value for s in at.subheader]
    listed = table(at, "name", "note").set_index("run")
    assert listed.loc[run.name, ["name", "note"]].tolist() == [run.label, "first try\n$x^2$"]

    at.text_input(key=f"meta_name_{run.name}").input("renamed")  # edited after training
    next(b for b in at.button if b.label == "Save name and note").click().run()
    assert run.label == "renamed" and run.meta()["note"] == "first try\n$x^2$"
    assert "renamed" in at.sidebar.selectbox(key="run").options
    # The run list's line of a finished run is cached for every session until a file of the
    # run changes: the rename (a file written) shows in this session and in a new one.
    assert table(at, "name", "note").set_index("run").loc[run.name, "name"] == "renamed"
    again = app(tmp_path / "runs", monkeypatch).run()
    visit(again, "train")
    assert table(again, "name", "note").set_index("run").loc[run.name, "name"] == "renamed"

    visit(at, "compare")
    assert at.multiselect(key="compare_runs").format_func(run.name) == "renamed"
    compared = table(at, "name", "note")
    assert compared["name"].tolist() == ["renamed"]


def test_names_shown_in_compare_for_twins_carry_their_directory(
    finished_runs, tmp_path, monkeypatch
):
    root = tmp_path / "runs"
    for name in ("tiny", "tiny-ranking"):
        shutil.copytree(finished_runs / name, root / name)
        RunDir(root / name).update_meta(name="same")
    at = app(root, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "compare")
    at.multiselect(key="compare_runs").set_value(["tiny", "tiny-ranking"]).run()
    assert sorted(table(at, "name", "note")["name"]) == ["same · tiny", "same · tiny-ranking"]


def test_a_curve_option_names_its_points_and_spans_its_data_on_a_log_axis():
    import pandas as pd

    from dashboard.charts import curve_option

    frame = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [8.6, 1.3, 0.74]})
    option, alt = curve_option({"HMF": frame, "MF": None}, "train_loss", log_y=True)
    assert alt == "Train loss: HMF 3 epochs, MF 0 epochs"  # what the browser test reads
    assert (option["yAxis"]["min"], option["yAxis"]["max"]) == (0.5, 10.0)
    assert option["series"][0]["data"] == [[1, 8.6], [2, 1.3], [3, 0.74]]
    assert option["series"][1]["data"] == []  # MF drawn empty until it trains: same elements
