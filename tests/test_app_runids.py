"""Runs are their directories (issue 21, items 4 and 5) under AppTest: two runs with one name are
both reachable and told apart, the URL holds the directory and a reload opens the same run;
Compare names each run's data, warns when they differ and keeps their curves apart; the Train
form starts from the app's defaults on new data, resets to them, and says where its values
came from."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import small_demo
from test_app import app, shown, table, texts, upload, visit
from test_app_train import run_data_url

from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import DEFAULT_PRESET, with_preset

pytestmark = pytest.mark.usefixtures("data_in_tmp")  # "Files on this machine" reads tmp_path

DEFAULTS = with_preset(DEFAULT_PRESET)  # what the Train form opens on


def twins(finished_runs, root):
    """Copies of the two finished runs, both named "baseline" (tiny-ranking is the newer)."""
    for name in ("tiny", "tiny-ranking"):
        shutil.copytree(finished_runs / name, root / name)
        RunDir(root / name).update_meta(name="baseline")


def url_run(at) -> str:
    value = at.query_params["run"]
    return value[0] if isinstance(value, list) else value


def test_two_runs_with_one_name_are_both_reachable_and_a_reload_opens_the_same_one(
    finished_runs, tmp_path, monkeypatch
):
    root = tmp_path / "runs"
    twins(finished_runs, root)
    at = app(root, monkeypatch).run()
    picker = at.sidebar.selectbox(key="run")
    assert picker.value == "tiny-ranking"  # the newest
    assert sorted(picker.options) == ["baseline · tiny", "baseline · tiny-ranking"]
    assert url_run(at) == "tiny-ranking"  # the directory, not the name shown
    assert "ranking task on" in texts(at)

    picker.set_value("tiny").run()  # the older twin, though it has the same name
    assert at.sidebar.selectbox(key="run").value == "tiny"
    assert url_run(at) == "tiny"
    assert "rating task on ratings.csv" in texts(at)
    visit(at, "train")
    assert url_run(at) == "tiny"  # a page switch keeps it
    listed = table(at, "name", "data", "state").set_index("run")
    assert listed.loc["tiny", "name"] == "baseline · tiny"
    assert listed.loc["tiny-ranking", "name"] == "baseline · tiny-ranking"
    assert set(listed["data"]) == {"ratings.csv"}

    reloaded = app(root, monkeypatch)  # a reloaded tab: a new session, the URL kept
    reloaded.query_params["run"] = url_run(at)
    reloaded.run()
    assert reloaded.sidebar.selectbox(key="run").value == "tiny"  # not the newest twin
    assert "rating task on ratings.csv" in texts(reloaded)


def fake_run(root, folder: str, data: str, fingerprint: str, rmse: float, created: float):
    """A finished run as Compare reads one (no model): settings, meta, test metrics, curves."""
    path = root / folder
    path.mkdir(parents=True)
    settings = {"task": "rating", "data": data, "split": "random", "seed": 0}
    (path / "settings.json").write_text(json.dumps(settings))
    meta = {"name": folder, "created": created, "data_fingerprint": fingerprint}
    (path / "meta.json").write_text(json.dumps(meta))
    (path / "progress.json").write_text(json.dumps({"state": "finished", "pid": 999_999_999}))
    (path / "test_metrics.json").write_text(json.dumps({"test_rmse": rmse, "best_epoch": 2}))
    curve = f"epoch,train_loss,val_rmse\n1,1.2,{rmse + 0.1}\n2,1.0,{rmse}\n"
    (path / "metrics.csv").write_text(curve)


def test_compare_names_each_runs_data_warns_when_it_differs_and_keeps_their_curves_apart(
    tmp_path, monkeypatch
):
    root = tmp_path / "runs"
    fake_run(root, "movies", "/d/ml-100k/u.data", "aaaa1111aaaa1111", 1.13, 1000.0)
    fake_run(root, "products", "/d/shop/products.csv", "bbbb2222bbbb2222", 0.96, 2000.0)
    fake_run(root, "movies-2", "/d/ml-100k/u.data", "aaaa1111aaaa1111", 1.10, 500.0)
    at = app(root, monkeypatch).run()
    visit(at, "compare")
    at.multiselect(key="compare_runs").set_value(["movies", "movies-2"]).run()
    assert not at.warning  # one dataset and split: comparable, overlaid
    (chart,) = at.get("plotly_chart")
    assert '"yaxis2"' not in chart.proto.spec
    assert not [box for box in at.checkbox if box.key == "compare_overlay"]

    at.multiselect(key="compare_runs").set_value(["movies", "products"]).run()
    compared = table(at, "name", "data").set_index("run")
    assert compared["data"].to_dict() == {"movies": "u.data", "products": "products.csv"}
    assert compared.loc["products", "test_rmse"] == pytest.approx(0.96)
    (warning,) = at.warning
    assert shown(warning.value) == (  # the runs newest first
        "These runs were trained on 2 different datasets or splits (products.csv: products; "
        "u.data: movies): their metrics are not comparable."
    )
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert "yaxis2" in spec["layout"]  # one panel per dataset, not overlaid
    assert {trace["yaxis"] for trace in spec["data"]} == {"y", "y2"}
    at.checkbox(key="compare_overlay").check().run()  # overlaid anyway, when asked
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert {trace.get("yaxis", "y") for trace in spec["data"]} == {"y"}


def test_the_train_form_on_new_data_starts_from_the_defaults_and_resets_to_them(
    finished_runs, tmp_path, monkeypatch
):
    at = app(finished_runs, monkeypatch)
    at.query_params["data"] = run_data_url(finished_runs, tmp_path, monkeypatch)
    at.query_params["run"] = "tiny"  # tiny: max 2 epochs, lr 0.01, 8/12 clusters, MF beside
    at.run()
    visit(at, "train")
    assert at.number_input(key="train_max_epochs").value == 2  # tiny's, on tiny's data
    (origin,) = [box.value for box in at.info if "The form opened with" in box.value]
    assert "settings of run **tiny**" in origin  # a visible line (an info box), not a caption

    other, _ = small_demo(tmp_path / "upload", users=30)
    visit(at, "data")
    upload(at, ("shop.csv", other.read_bytes()))  # a new dataset: nothing of tiny's is copied
    visit(at, "train")
    assert at.number_input(key="train_max_epochs").value == DEFAULTS.max_epochs != 2
    assert at.number_input(key="train_lr").value == pytest.approx(DEFAULTS.lr) != 0.01
    counts = ",".join(map(str, DEFAULTS.user_clusters))
    assert at.text_input(key="train_user_clusters").value == counts != "8"
    assert at.checkbox(key="train_compare_mf").value is False
    assert at.selectbox(key="train_split").value == "random"  # this dataset's default
    (origin,) = [box.value for box in at.info if "The form holds" in box.value]
    assert shown(origin) == (
        f"The form holds the app's defaults for **{shown_label(at)}** (split random, this "
        "dataset's default); nothing is changed yet. The run beside, **tiny**, trained on "
        "ratings.csv: its settings were not copied."
    )

    at.number_input(key="train_dim").set_value(7).run()
    at.sidebar.selectbox(key="run").set_value("tiny-ranking").run()  # on other data too:
    visit(at, "train")
    assert at.number_input(key="train_dim").value == 7  # the form is not overwritten
    assert at.segmented_control(key="train_task").value == "rating"  # tiny-ranking's is not
    assert "changed since: dim." in texts(at)
    assert "The run beside, **tiny-ranking**, trained on ratings.csv" in texts(at)
    at.button(key="train_reset").click().run()  # Reset to defaults
    assert at.number_input(key="train_dim").value == DEFAULTS.dim != 7
    assert "The form holds the app's defaults" in texts(at) and "nothing is changed" in texts(at)


def shown_label(at) -> str:
    return shown(at.session_state["dataset"].label)
