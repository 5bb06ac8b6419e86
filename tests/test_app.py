"""The dashboard under Streamlit's AppTest: every page on the demo data, on an uploaded ML-100K
file and on a finished run; bad files; the Train button and the Stop button; selections."""

from __future__ import annotations

import base64
import gc
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, shared_file, small_demo, wait_for
from streamlit.testing.v1 import AppTest

from dashboard import live_chart, prepare
from hmf_core.models.hmf import HMFConfig
from hmf_core.runs.manager import run_status
from hmf_core.runs.rundir import RunDir
from hmf_core.training.memory import parameter_count
from hmf_core.training.settings import DEFAULT_PRESET, parse_cluster_counts, with_preset

APP = REPO / "dashboard" / "app.py"
# "Files on this machine" reads the test's tmp_path and ../shared/data (issue 19)
pytestmark = pytest.mark.usefixtures("data_in_tmp")

PAGES = ("data", "train", "map", "affinity", "membership", "explain", "metrics", "compare")


def app(runs_dir: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("HMF_RUNS_DIR", str(runs_dir))
    return AppTest.from_file(str(APP), default_timeout=120)


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    return at


def chart_data(at: AppTest) -> dict:
    """What the Map page's chart was sent in the last run (dashboard.live_chart)."""
    (chart,) = [e for e in at.get("bidi_component") if e.proto.component_name == "hmf_live_chart"]
    return json.loads(chart.proto.json)


def named_pieces(data: dict) -> set[str]:
    """The pieces a chart's figure names (dashboard.charts.figure_parts)."""
    return set(re.findall(r'\{"piece":"([0-9a-f]+)"\}', data["figure"]))


def map_spec(at: AppTest) -> str:
    """The Map page's figure as the browser puts it together (plotly JSON): its parts sent,
    each piece in place of its name (live_chart.js). Where the last run named pieces sent
    in an earlier one, the page runs again with none kept (live_chart.HELD emptied, what
    the browser's "missing" asks for), so that it sends them all."""
    data = chart_data(at)
    if not named_pieces(data) <= set(data["pieces"]):
        at.session_state[live_chart.HELD] = {}
        at.run()
        data = chart_data(at)
    text = data["figure"]
    for piece in named_pieces(data):
        text = text.replace(f'{{"piece":"{piece}"}}', data["pieces"][piece])
    return text


def shown(markdown: str) -> str:
    """What a reader sees of markdown that escapes user text (dashboard.text.literal):
    the backslash escapes and the word joiners (U+2060, zero width) removed."""
    return re.sub(r"\\([^\sA-Za-z0-9])", r"\1", markdown).replace("\u2060", "")


def texts(at: AppTest) -> str:
    """Every piece of text the page shows (markdown, captions, alerts, metrics), joined, as the
    reader sees it (markdown escapes removed)."""
    parts = [
        e.value
        for kind in (
            "markdown",
            "caption",
            "error",
            "warning",
            "info",
            "success",
            "subheader",
            "title",
        )
        for e in getattr(at, kind)
    ]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return shown("\n".join(str(p) for p in parts))


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has all `columns` (AppTest keeps no dataframe keys)."""
    for element in at.dataframe:
        value = element.value
        if all(column in value.columns for column in columns):
            return value
    raise AssertionError(f"no table with columns {columns}")


def use_paths(at: AppTest, ratings: Path, users: Path | None = None) -> AppTest:
    """Data page, 'Files on this machine': type the paths, press 'Use these files'."""
    at.segmented_control(key="data_source").set_value("Files on this machine").run()
    at.text_input(key="path_ratings").input(str(ratings))
    if users is not None:
        at.text_input(key="path_users").input(str(users))
    at.run()
    return at.button(key="use_paths").click().run()


# --- every page, without a run, with a run ---------------------------------------------------


def test_every_page_runs_on_the_demo_data_before_any_run(tmp_path, monkeypatch):
    at = app(tmp_path / "runs", monkeypatch).run()
    assert not at.exception
    shown = texts(at)
    assert "MovieLens latest-small (bundled demo)" in shown
    assert "Users 610" in shown and "Items 9,724" in shown and "Ratings 100,836" in shown
    splits = table(at, "split", "dropped_cold_test")
    assert list(splits["split"]) == ["random"]  # only the split in use: the demo's default
    for page in PAGES[1:]:
        visit(at, page)
    visit(at, "train")
    assert at.button(key="train_button").disabled is False
    assert at.selectbox(key="train_split").value == "random"  # the demo's sensible default
    defaults = with_preset(DEFAULT_PRESET)  # the form opens on the library's default recipe
    assert at.number_input(key="train_max_epochs").value == defaults.max_epochs
    assert at.number_input(key="train_patience").value == defaults.patience
    assert at.text_input(key="train_user_clusters").value == "100,25"  # "stable": 25 to read
    assert defaults.user_clusters == [100, 25] and defaults.user_depth == 2
    visit(at, "map")
    assert "No run selected yet" in texts(at)


def test_the_first_page_takes_the_loaded_modules_out_of_full_collections(tmp_path, monkeypatch):
    """prepare.freeze_startup_objects: once a process has drawn its first page, the objects then
    alive (torch, pandas, streamlit, the app's modules) sit in the collector's permanent
    generation, so Python's own full collections no longer walk them; once per process."""
    gc.unfreeze()
    monkeypatch.setattr(prepare, "_FROZEN", False)
    try:
        at = app(tmp_path / "runs", monkeypatch).run()
        assert not at.exception
        frozen = gc.get_freeze_count()
        assert frozen > 100_000, frozen  # torch's objects alone are more
        started = len(gc.get_objects())  # what a full collection walks: not the frozen ones
        assert started < frozen / 4, (started, frozen)
        visit(at, "train")
        assert gc.get_freeze_count() <= frozen  # nothing frozen again (some freed since)
    finally:
        gc.unfreeze()


def test_the_data_page_splits_only_the_split_in_use_and_the_others_on_demand(tmp_path, monkeypatch):
    """Issue 23: a split of 20M ratings takes about 20 s, so the summary computes the Train
    page's split (its choice this session, else the data's default) and the other two only
    when asked."""
    at = app(tmp_path / "runs", monkeypatch).run()
    assert list(table(at, "split", "dropped_cold_test")["split"]) == ["random"]
    assert "Shown: the random split, the Train page's" in texts(at)
    at.toggle(key="data_all_splits").set_value(True).run()
    every = table(at, "split", "dropped_cold_test").set_index("split")
    assert list(every.index) == ["temporal", "random", "leave_last_out"]
    assert "Shown: the random split" not in texts(at)
    at.toggle(key="data_all_splits").set_value(False).run()
    visit(at, "train")
    at.selectbox(key="train_split").set_value("temporal").run()
    visit(at, "data")
    (temporal,) = table(at, "split", "dropped_cold_test").to_dict("records")
    assert temporal == {"split": "temporal", **every.loc["temporal"].to_dict()}
    assert at.toggle(key="data_all_splits").value is False


@pytest.mark.parametrize("run_name", ["tiny", "tiny-no-maps"])
def test_every_page_runs_on_a_finished_run(finished_runs, monkeypatch, run_name):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = run_name  # a reloaded tab finds its run through the URL
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="run").value == run_name
    for page in PAGES:
        visit(at, page)
    run = RunDir(finished_runs / run_name)

    visit(at, "train")
    assert "finished" in texts(at)
    listed = table(at, "run", "state")
    assert sorted(listed["run"]) == ["tiny", "tiny-no-maps", "tiny-ranking"]
    assert set(listed["state"]) == {"finished"}

    visit(at, "map")
    shown = texts(at)
    if run_name == "tiny":
        assert "UMAP of the best checkpoint" in shown
    else:
        assert "Showing PCA" in shown and at.button(key="compute_umap")

    visit(at, "affinity")
    shown = texts(at)  # how far to trust these clusters, beside the view (paper preset here)
    assert "User clusters, level 1: memberships are" in shown
    assert "Item clusters, level 1: memberships are" in shown
    ranked = table(at, "inner_product", "nearest")
    assert len(ranked) == 12 and ranked["inner_product"].is_monotonic_decreasing
    at.segmented_control[0].set_value("item").run()  # item cluster -> user clusters
    assert not at.exception
    assert len(table(at, "inner_product", "nearest")) == 8
    at.selectbox(key="affinity_attribute").set_value("gender").run()
    nearest = table(at, "inner_product", "nearest")["nearest"]
    assert set(", ".join(nearest).split(", ")) <= {"F", "M"}  # Table 4 (c): users' gender

    visit(at, "membership")
    members = table(at, "probability", "label")
    assert members["probability"].is_monotonic_decreasing and "gender" in members
    at.segmented_control[0].set_value("item").run()
    items = table(at, "probability", "label")  # item clusters list titles and the items' columns
    assert "genres" in items and "title" not in items  # the label is the title: not twice
    assert "flows into its parents" in texts(at)  # the depth-2 hierarchy as a sankey
    icicle = [c for c in at.get("plotly_chart") if "icicle" in c.proto.spec]
    assert icicle, "the named clusters as an icicle"
    assert at.multiselect(key="tree_parents_user").value  # the sankey of a selection

    visit(at, "explain")
    picks = table(at, "rank", "score")
    assert len(picks) == 10
    seen = run.interactions()
    trained = set(seen.loc[(seen["user"] == 0) & (seen["stage"] == "train"), "item"])
    assert not trained & set(picks["index"])  # only items the user did not rate in training
    assert picks["score"].is_monotonic_decreasing
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction"] == metrics["Sum of the contributions"]
    shown = texts(at)  # three views, each saying how much of the prediction its bars carry
    assert shown.count("parts shown; they carry") == 3
    assert [tab.label for tab in at.tabs][:3] == ["By user cluster", "By item cluster", "Top pairs"]

    visit(at, "metrics")
    assert table(at, "model")["model"].tolist() == ["HMF", "MF (same split)"]
    assert "Cluster quality" in texts(at) and "Item clusters, level 2:" in texts(at)
    agreement = table(at, "ami_model", "ami_mf_kmeans")
    assert set(agreement["column"]) >= {"genres"} and set(agreement["side"]) == {"user", "item"}


def test_every_page_runs_on_a_ranking_run_with_plain_mf_items(finished_runs, monkeypatch):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny-ranking"
    at.run()
    for page in PAGES:
        visit(at, page)
    visit(at, "train")
    assert {"Validation HR@10 (higher is better)", "Validation MRR@10 (higher is better)"} <= {
        json.loads(chart.proto.spec)["title"]["text"] for chart in at.get("echarts_chart")
    }
    visit(at, "affinity")
    assert "depth 0 on the item side" in texts(at)
    visit(at, "map")
    assert "Showing PCA" in texts(at)  # trained without maps: PCA of the checkpoint
    visit(at, "explain")
    assert len(table(at, "rank", "score")) == 10
    visit(at, "metrics")
    shown = texts(at)
    assert "HMF Test HR@10" in shown and "HMF Test MRR@10" in shown


def test_the_map_of_a_run_without_one_can_be_computed_from_the_page(
    finished_runs, tmp_path, monkeypatch
):
    shutil.copytree(finished_runs / "tiny-no-maps", tmp_path / "runs" / "no-maps")
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "map")
    assert "Showing PCA" in texts(at)
    at.button(key="compute_umap").click().run()
    assert "UMAP is being computed" in texts(at)
    umap_file = tmp_path / "runs" / "no-maps" / "map_umap.parquet"
    wait_for(lambda: umap_file.exists() and (umap_file.parent / "maps.json").exists())
    visit(at, "map")
    assert "UMAP of the best checkpoint" in texts(at)


def test_a_failed_map_computation_is_stated_on_the_map_page(finished_runs, tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "map-failed"
    shutil.copytree(finished_runs / "tiny-no-maps", run_dir)
    (run_dir / "maps.json").write_text('{"error": "RuntimeError: umap exploded"}')
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "map")
    assert "Computing the UMAP map failed: RuntimeError: umap exploded" in texts(at)


def test_a_map_selection_opens_in_the_other_pages(finished_runs, monkeypatch):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "map")
    at.session_state["selected_points"] = [{"kind": "user cluster", "level": 1, "index": 3}]
    at.session_state["selected_in_run"] = "tiny"
    at.session_state["selection_version"] = 1
    visit(at, "map")
    assert "User cluster 3 (level 1)" in texts(at)
    assert len(table(at, "probability")) > 0
    nearest = table(at, "cosine", "label")  # its nearest points in the shared space
    assert len(nearest) == 10 and nearest["cosine"].is_monotonic_decreasing
    at.segmented_control(key="map_neighbour_measure").set_value("inner product").run()
    assert table(at, "inner product", "label")["inner product"].is_monotonic_decreasing
    visit(at, "affinity")
    assert "against user cluster 3" in texts(at)
    visit(at, "membership")
    assert "User cluster 3" in texts(at)

    at.session_state["selected_points"] = [{"kind": "user", "level": 0, "index": 5}]
    at.session_state["selection_version"] = 2
    visit(at, "explain")
    assert at.selectbox(key="explain_user_2").value == 5

    # Another run: the selection (indices of the first run) no longer applies.
    at.sidebar.selectbox(key="run").set_value("tiny-ranking").run()
    visit(at, "map")
    assert "Nothing selected" in texts(at)
    visit(at, "explain")
    assert at.selectbox(key="explain_user_2").value == 0


# --- data: uploads, paths, bad files ---------------------------------------------------------


def upload(at: AppTest, ratings: tuple[str, bytes], items: tuple[str, bytes] | None = None):
    """Data page, 'Upload files': drop the files on the uploaders."""
    at.segmented_control(key="data_source").set_value("Upload files").run()
    at.file_uploader(key="upload_ratings").upload(*ratings)
    if items is not None:
        at.file_uploader(key="upload_items").upload(*items)
    return at.run()


def test_an_uploaded_ml100k_file_is_summarised_and_every_page_runs(tmp_path, monkeypatch):
    data = shared_file("ml-100k/u.data").read_bytes()
    items = shared_file("ml-100k/u.item").read_bytes()
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("u.data", data), ("u.item", items))
    assert not at.exception and not at.error
    shown = texts(at)
    assert "Current dataset: u.data (uploaded)" in shown
    assert "Users 943" in shown and "Items 1,682" in shown and "Ratings 100,000" in shown
    assert "1,682 of 1,682 rated items have an entry" in shown
    # The time histogram is sent binned: 60 counts, not 100,000 timestamps.
    (over_time,) = [c for c in at.get("plotly_chart") if "Ratings over time" in c.proto.spec]
    (bars,) = json.loads(over_time.proto.spec)["data"]
    counts = bars["y"]
    if isinstance(counts, dict):  # plotly's typed-array encoding
        counts = np.frombuffer(base64.b64decode(counts["bdata"]), dtype=counts["dtype"])
    assert bars["type"] == "bar" and len(counts) == 60
    assert np.asarray(counts, dtype=np.int64).sum() == 100_000
    assert len(over_time.proto.spec) < 20_000
    temporal = table(at, "split", "dropped_cold_test").set_index("split").loc["temporal"]
    assert (
        temporal["users"],
        temporal["items"],
        temporal["train"],
        temporal["val"],
        temporal["test"],
    ) == (625, 1561, 64000, 2775, 1932)  # the paper's Table 1
    # The training process reads the upload by path: it was saved under its own name.
    dataset = at.session_state["dataset"]
    assert Path(dataset.ratings).name == "u.data" and Path(dataset.ratings).read_bytes() == data
    assert Path(dataset.items).read_bytes() == items
    for page in PAGES[1:]:
        visit(at, page)
    visit(at, "train")
    assert "u.data (uploaded)" in texts(at)
    assert at.selectbox(key="train_split").value == "temporal"
    # The memory estimate, for the model these widgets describe on Table 1's 625 x 1,561 split.
    config = HMFConfig(
        625,
        1561,
        dim=at.number_input(key="train_dim").value,
        user_clusters=tuple(parse_cluster_counts(at.text_input(key="train_user_clusters").value)),
        item_clusters=tuple(parse_cluster_counts(at.text_input(key="train_item_clusters").value)),
        use_bias=at.checkbox(key="train_use_bias").value,  # the default preset's: on
    )
    assert config.user_clusters == (100, 25)  # the default's two levels, both counted
    assert at.checkbox(key="train_use_bias").value
    assert f"{parameter_count(config):,} parameters; training needs about" in texts(at)

    # A new session (a reloaded tab) finds the upload again under 'Earlier uploads'.
    again = app(tmp_path / "runs", monkeypatch).run()
    again.segmented_control(key="data_source").set_value("Earlier uploads").run()
    assert again.selectbox(key="earlier_upload").value.ratings == dataset.ratings
    again.button(key="use_earlier").click().run()
    assert "Users 943" in texts(again) and "1,682 of 1,682 rated items" in texts(again)


def test_files_on_this_machine_can_be_used_by_path_and_survive_a_reload(tmp_path, monkeypatch):
    ratings, people = small_demo(tmp_path / "data", users=30)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings, people)
    assert not at.exception and not at.error
    assert "Users 30" in texts(at)
    assert "30 of 30 rated users have an entry" in texts(at)
    visit(at, "train")
    assert "data" in at.query_params  # the URL names the dataset on every page

    reloaded = app(tmp_path / "runs", monkeypatch)  # a new session with the same URL
    reloaded.query_params["data"] = at.query_params["data"]
    reloaded.run()
    assert "Users 30" in texts(reloaded) and "30 of 30 rated users" in texts(reloaded)

    ratings.unlink()  # the file went away: the reloaded tab says so and falls back to the demo
    gone = app(tmp_path / "runs", monkeypatch)
    gone.query_params["data"] = at.query_params["data"]
    gone.run()
    assert not gone.exception
    assert [shown(e.value) for e in gone.error] == [
        f"ratings.csv: expected an existing file, found no file at {ratings}"
    ]
    assert "Users 610" in texts(gone)


BAD_FILES = {
    "bad.csv": (
        b"userId,movieId,rating\n1,10,4\n1,11,five\n",
        "bad.csv, line 3: expected a number in column 'rating', found 'five'",
    ),
    "short.tsv": (b"user\titem\trating\n1\t2\t3\n4\t5\n", "short.tsv, line 3: expected 3 fields"),
    "empty.csv": (b"", "empty.csv: expected rows of data, the file is empty"),
    "blob.bin": (bytes(range(256)) * 4, "blob.bin: expected a text file"),
    "nothing.csv": (b"a,b\n1,2\n", "nothing.csv, line 1: expected a user column"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_rating_file_shows_a_plain_error_and_the_app_keeps_working(
    tmp_path, monkeypatch, name
):
    content, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, path)
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert any(message in error for error in errors), errors
    assert "Nothing changed: still using **MovieLens latest-small" in texts(at)
    assert "Users 610" in texts(at)  # the demo is still the current dataset
    visit(at, "train")
    assert "MovieLens latest-small (bundled demo)" in texts(at)


def test_a_bad_uploaded_file_shows_its_line_and_the_app_keeps_working(tmp_path, monkeypatch):
    content, message = BAD_FILES["bad.csv"]
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("bad.csv", content))
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [message]
    assert "Users 610" in texts(at)
    visit(at, "map")  # the app still works


def test_a_bad_metadata_file_is_left_out_and_the_ratings_are_used(tmp_path, monkeypatch):
    ratings, _ = small_demo(tmp_path / "data", users=20)
    broken = tmp_path / "people.csv"
    broken.write_bytes(b"userId,gender\n1,F\n1,M\n")
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings, broken)
    assert not at.exception
    assert any("people.csv: expected one row per id" in shown(e.value) for e in at.error)
    assert "Users 20" in texts(at)
    assert at.session_state["dataset"].users is None  # used without the broken metadata


# --- training from the page ------------------------------------------------------------------


def test_the_train_button_starts_a_background_run_that_the_stop_button_ends(tmp_path, monkeypatch):
    ratings, _ = small_demo(tmp_path / "data", users=30)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    assert at.selectbox(key="train_split").value == "random"  # 30 users: temporal tests none
    at.selectbox(key="train_split").set_value("temporal").run()
    assert "The temporal split leaves no test rows" in texts(at)  # all its test rows are cold
    assert at.button(key="train_button").disabled
    at.selectbox(key="train_split").set_value("random")
    at.text_input(key="train_user_clusters").input("6")
    at.text_input(key="train_item_clusters").input("6")
    at.number_input(key="train_max_epochs").set_value(5000)
    at.number_input(key="train_patience").set_value(5000)
    at.checkbox(key="train_projection").uncheck()
    at.run()
    at.button(key="train_button").click().run()
    assert not at.exception
    runs = RunDir(tmp_path / "runs").path.iterdir()
    run = RunDir(next(p for p in runs if p.is_dir() and p.name != "uploads"))
    assert at.sidebar.selectbox(key="run").value == run.name  # the new run is opened
    assert run.settings()["user_clusters"] == [6] and run.settings()["max_epochs"] == 5000
    recorded = run.settings()  # the app's default recipe, recorded with every field
    assert (recorded["preset"], recorded["warm_start"], recorded["use_bias"]) == (
        "stable",
        "spectral-consensus",
        True,
    )
    assert recorded["user_depth"] == 2  # 6 clusters, then 3 (halved)
    wait_for(lambda: len(run.metrics()) >= 2)  # it trains while the page is idle
    at.run()
    assert len(at.get("echarts_chart")) == 2, "the live curves are drawn"
    at.button(key="stop_button").click().run()
    assert not at.exception
    final = wait_for(
        lambda: run.progress().get("state") in ("stopped", "failed") and run.progress()
    )
    assert final["state"] == "stopped", final
    assert run.has_model() and "test_rmse" in run.test_metrics()
    assert len(run.metrics()) < 5000
    # the cluster quality is computed after it (quality.json is written even on a failure)
    wait_for(lambda: run.file("quality").exists() and not run_status(run).active)
    at.run()
    assert "stopped" in texts(at)


def test_the_cluster_recipe_preset_sets_its_knobs_and_a_knob_can_override_it(tmp_path, monkeypatch):
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "train")
    shape = ("train_user_depth", "train_item_depth")
    assert at.segmented_control(key="train_preset").value == "stable"  # the default: issue 17's
    assert at.selectbox(key="train_warm_start").value == "spectral-consensus"
    assert at.number_input(key="train_entropy_weight").value == pytest.approx(0.1)
    assert at.number_input(key="train_logit_lr").value == pytest.approx(1e-2)
    assert at.checkbox(key="train_use_bias").value
    assert [at.slider(key=key).value for key in shape] == [2, 2]  # the preset's shape too
    assert at.text_input(key="train_user_clusters").value == "100,25"
    at.segmented_control(key="train_preset").set_value("paper").run()
    assert not at.exception
    assert at.selectbox(key="train_warm_start").value == "none"
    assert at.number_input(key="train_init_std").value == pytest.approx(1.0)
    assert at.number_input(key="train_logit_lr").value == pytest.approx(1e-3)
    assert not at.checkbox(key="train_use_bias").value
    assert at.slider(key="train_warm_start_sharpness").disabled
    at.checkbox(key="train_use_bias").check().run()  # a knob changed after the preset wins
    assert at.checkbox(key="train_use_bias").value
    at.segmented_control(key="train_preset").set_value("interpretable").run()
    assert at.selectbox(key="train_warm_start").value == "spectral"
    assert at.number_input(key="train_entropy_weight").value == 0.0
    assert [at.slider(key=key).value for key in shape] == [1, 1]
    assert at.text_input(key="train_user_clusters").value == "200"
    at.segmented_control(key="train_preset").set_value("stable").run()
    assert not at.exception
    assert at.selectbox(key="train_warm_start").value == "spectral-consensus"
    assert [at.slider(key=key).value for key in shape] == [2, 2]
    assert at.text_input(key="train_user_clusters").value == "100,25"


def test_the_compare_page_lays_runs_side_by_side(finished_runs, monkeypatch):
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "compare")
    at.multiselect(key="compare_runs").set_value(["tiny", "tiny-ranking"]).run()
    assert not at.exception
    compared = table(at, "run", "preset").set_index("run")
    assert set(compared.index) == {"tiny", "tiny-ranking"}  # newest first
    assert (
        compared.loc["tiny", "test_rmse"]
        == RunDir(finished_runs / "tiny").test_metrics()["test_rmse"]
    )
    assert compared.loc["tiny-ranking", "task"] == "ranking"
    assert compared.loc["tiny", "mf_test_rmse"] > 0  # its MF comparison, beside it
    assert at.selectbox(key="compare_metric").value == "val_rmse"
    assert at.get("plotly_chart"), "the curves are overlaid"


def test_the_train_page_warns_when_there_are_as_many_clusters_as_users(tmp_path, monkeypatch):
    ratings, _ = small_demo(tmp_path / "data", users=40)
    at = app(tmp_path / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    at.selectbox(key="train_split").set_value("random").run()
    assert not at.exception  # the default 100 fine user clusters, for 40 users:
    assert "100 user clusters for 40 users in the split" in texts(at)
    assert at.button(key="train_button").disabled is False  # a warning, not a refusal
    at.text_input(key="train_user_clusters").input("8").run()
    assert "user clusters for" not in texts(at)
