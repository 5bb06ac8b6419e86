"""MFDMC in the app (issue 20): the Train page shows MFDMC's own knobs in place of HMF's depth
and cluster counts, applies MFDMC's presets, refuses bad settings in one line and trains a run
whose settings.json holds the knobs; the Metrics page draws its loss terms and its pruning
timeline (hmf_core.runs.curves), and an HMF run shows neither."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import small_demo, wait_for
from test_app import app, texts, use_paths, visit

from hmf_core.runs.curves import loss_term_curves, pruning_timeline
from hmf_core.runs.rundir import RunDir

MFDMC_NUMBERS = (
    "train_views",
    "train_user_centres",
    "train_item_centres",
    "train_spread_weight",
    "train_spread_margin",
    "train_proximity_weight",
    "train_view_entropy_weight",
    "train_prune_from",
    "train_prune_threshold",
    "train_min_centres",
)
CHART_KEYS = {"Pruning timeline", "Loss terms"}


def chart_titles(at) -> list[str]:
    return [json.loads(chart.proto.spec)["title"]["text"] for chart in at.get("echarts_chart")]


def family_charts(at) -> dict[str, dict]:
    """The Metrics page's loss-terms and pruning charts, by the start of their title."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("echarts_chart")]
    return {
        start: spec
        for spec in specs
        for start in CHART_KEYS
        if spec["title"]["text"].startswith(start)
    }


# --- the frames the page draws (hmf_core.runs.curves) ---------------------------------------


def test_the_curves_are_tidy_frames_of_the_logged_columns_and_empty_for_hmf():
    metrics = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.3, 1.1, 1.0],
            "train_spread": [0.01, 0.0, float("nan")],  # a diverged epoch: left out
            "active_item_view1": [10.0, 10.0, 7.0],
            "active_user_view2": [10.0, 6.0, 6.0],
            "active_user_view1": [10.0, 9.0, 8.0],
            "val_rmse": [1.2, 1.1, 1.05],
        }
    )
    timeline = pruning_timeline(metrics)
    assert list(timeline.columns) == ["epoch", "side", "view", "active"]
    assert list(zip(timeline["side"], timeline["view"]))[::3] == [
        ("user", 1),
        ("user", 2),
        ("item", 1),
    ]
    assert timeline["active"].tolist() == [10, 9, 8, 10, 6, 6, 10, 10, 7]
    terms = loss_term_curves(metrics)
    assert terms.groupby("term")["epoch"].apply(list).to_dict() == {
        "loss": [1, 2, 3],
        "spread": [1, 2],
    }
    hmf = metrics[["epoch", "train_loss", "val_rmse"]]
    assert pruning_timeline(hmf).empty and loss_term_curves(hmf).empty


# --- the Train page, then the Metrics page of the run it trained ------------------------------


@pytest.mark.usefixtures("data_in_tmp")
def test_mfdmc_on_the_train_page_then_its_curves_on_the_metrics_page(tmp_path, monkeypatch):
    ratings, _ = small_demo(tmp_path / "data", users=40)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    at.selectbox(key="train_split").set_value("random").run()
    assert at.slider(key="train_user_depth").value == 2  # HMF's knobs (the default preset's)...
    at.selectbox(key="train_family").set_value("mfdmc").run()
    assert not at.exception and not at.error
    for hidden in ("train_user_depth", "train_item_depth"):  # ...are gone for MFDMC
        with pytest.raises(KeyError):
            at.slider(key=hidden)
    for hidden in ("train_user_clusters", "train_item_clusters"):
        with pytest.raises(KeyError):
            at.text_input(key=hidden)
    assert at.selectbox(key="train_warm_start").value == "spectral"  # read: a block per view
    with pytest.raises(KeyError):
        at.number_input(key="train_entropy_weight")
    for key in MFDMC_NUMBERS:  # MFDMC's own, each with a help text
        assert at.number_input(key=key).help.strip(), key
    assert at.segmented_control(key="train_view_combine").help.strip()
    assert at.checkbox(key="train_prune").help.strip()
    assert "4 views per side, each starting with 10 user and 10 item centres" in texts(at)
    assert "user clusters for" not in texts(at)  # HMF's cluster warning is not MFDMC's

    # the presets are MFDMC's own (hmf_core.training.settings.FAMILY_PRESETS)
    assert at.segmented_control(key="train_preset").value == "stable"  # MFDMC's interpretable
    assert at.selectbox(key="train_warm_start").value == "spectral"
    assert at.number_input(key="train_view_entropy_weight").value == pytest.approx(0.01)
    assert (
        at.checkbox(key="train_prune").value and at.number_input(key="train_prune_from").value == 5
    )
    assert at.checkbox(key="train_use_bias").value
    assert at.number_input(key="train_logit_lr").value == pytest.approx(1e-2)
    at.segmented_control(key="train_preset").set_value("paper").run()
    assert at.number_input(key="train_view_entropy_weight").value == pytest.approx(0.01)
    assert at.number_input(key="train_prune_from").value == 40
    assert not at.checkbox(key="train_use_bias").value
    assert at.number_input(key="train_init_std").value == pytest.approx(1.0)

    # a refusal is one line, and Train is off
    at.number_input(key="train_views").set_value(3).run()
    errors = [e.value.replace("\\", "") for e in at.error]  # literal() escapes
    assert errors == [
        "MFDMC: with concatenated views the dimension must be a multiple of the number of "
        "views: dim 20 is not divisible by 3 views"
    ]
    assert at.button(key="train_button").disabled

    at.number_input(key="train_views").set_value(2)
    at.number_input(key="train_prune_from").set_value(0)  # prune from the first epoch
    at.number_input(key="train_prune_threshold").set_value(0.9)
    at.number_input(key="train_max_epochs").set_value(3)
    at.checkbox(key="train_projection").uncheck()
    at.run()
    assert not at.error and not at.button(key="train_button").disabled
    at.button(key="train_button").click().run()
    run = RunDir(next((tmp_path / "runs").glob("2*")))
    wait_for(
        lambda: run.progress().get("state") in ("finished", "failed") and not run.process_alive()
    )
    assert run.progress()["state"] == "finished", run.log_tail()
    saved = run.settings()
    assert (saved["family"], saved["preset"], saved["views"]) == ("mfdmc", "paper", 2)
    assert (saved["prune_from"], saved["prune_threshold"], saved["min_centres"]) == (0, 0.9, 2)
    assert (saved["view_entropy_weight"], saved["spread_weight"], saved["use_bias"]) == (
        0.01,
        0.01,
        False,
    )
    assert (saved["user_depth"], saved["warm_start"]) == (1, "none")  # HMF's: their defaults

    at.run()
    visit(at, "train")  # the form, filled from the run beside it, shows its MFDMC knobs
    assert at.selectbox(key="train_family").value == "mfdmc"
    assert at.number_input(key="train_views").value == 2
    assert at.number_input(key="train_prune_from").value == 0

    visit(at, "metrics")
    labels = [metric.label for metric in at.metric]
    assert "MFDMC Test RMSE" in labels and "HMF Test RMSE" not in labels  # the family's name
    drawn = family_charts(at)
    assert set(drawn) == CHART_KEYS, chart_titles(at)
    timeline = pruning_timeline(run.metrics())
    lines = {s["name"]: s["data"] for s in drawn["Pruning timeline"]["series"]}
    assert list(lines) == ["user view 1", "user view 2", "item view 1", "item view 2"]
    user_one = timeline[(timeline["side"] == "user") & (timeline["view"] == 1)]
    assert lines["user view 1"] == user_one[["epoch", "active"]].values.tolist()
    assert {s["name"] for s in drawn["Loss terms"]["series"]} == {
        "train loss",
        "spread (weighted)",
        "proximity (weighted)",
        "entropy (weighted)",
    }


def test_an_hmf_run_shows_no_loss_terms_and_no_pruning_timeline(finished_runs, monkeypatch):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "metrics")
    titles = chart_titles(at)
    assert any(title.startswith("Train loss") for title in titles)  # the curves are drawn...
    assert not family_charts(at), titles  # ...but nothing of MFDMC's, not even empty
