"""`python -m hmf_core sweep` (runs.sweep): the grid and its random draw, the ranking in the
task's direction, the table of every trial, and the trials as ordinary runs the app opens."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from conftest import small_demo
from test_app import app, table, texts, visit

from hmf_core.cli import build_parser, main
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.sweep import grid_points, parse_axes, ranked

# "Files on this machine" reads the test's tmp_path (issue 19); the app reads HMF_RUNS_DIR
pytestmark = pytest.mark.usefixtures("data_in_tmp")


def converter():
    args = build_parser().parse_args(["sweep", "--data", "x", "--grid", "lr=1"])
    return args.grid_value


def test_grid_values_are_parsed_as_the_train_options_parse_them():
    convert = converter()
    axes = parse_axes(
        [
            "lr=0.01,0.003",
            "dim=20,40",
            "use-bias=true,no",
            "user_clusters=200:100,8",
            "preset=paper",
        ],
        convert,
    )
    assert axes == {
        "lr": [0.01, 0.003],
        "dim": [20, 40],
        "use_bias": [True, False],
        "user_clusters": [[200, 100], [8]],
        "preset": ["paper"],
    }
    assert len(grid_points(axes)) == 16
    assert grid_points(axes)[:2] == [
        {"lr": 0.01, "dim": 20, "use_bias": True, "user_clusters": [200, 100], "preset": "paper"},
        {"lr": 0.01, "dim": 20, "use_bias": True, "user_clusters": [8], "preset": "paper"},
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lr", "expected NAME=VALUE1,VALUE2"),
        ("lr=", "expected NAME=VALUE1,VALUE2"),
        ("lr=0.1,,0.2", "expected NAME=VALUE1,VALUE2"),
        ("speed=1,2", "--grid speed: not a setting a sweep can vary"),
        ("data=a.csv", "--grid data: not a setting a sweep can vary"),
        ("dim=20,abc", "--grid dim: 'abc' is not a valid int"),
        ("task=rating,cooking", "--grid task: 'cooking' is not one of rating, ranking"),
        ("use_bias=maybe", "--grid use_bias: expected true or false"),
        ("lr=0.1,0.1", "a value is given twice"),
    ],
)
def test_bad_grids_are_one_line_errors_before_any_training(tmp_path, capsys, spec, message):
    ratings, _ = small_demo(tmp_path / "data", users=20)
    code = main(["sweep", "--data", str(ratings), "--grid", spec, "--root", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # nothing written


def test_a_random_draw_is_seeded_and_distinct():
    axes = {"lr": [0.1, 0.01, 0.001], "dim": [4, 8, 16, 32]}
    drawn = grid_points(axes, draws=5, seed=3)
    assert drawn == grid_points(axes, draws=5, seed=3)
    assert drawn != grid_points(axes, draws=5, seed=4)
    assert len({json.dumps(point) for point in drawn}) == 5
    assert all(point in grid_points(axes) for point in drawn)
    assert grid_points(axes, draws=50) == grid_points(axes)  # more than there are: all
    with pytest.raises(ValueError, match="--random must be at least 1"):
        grid_points(axes, draws=0)


def test_ranking_follows_the_tasks_direction_and_leaves_failed_trials_last():
    rows = [
        {"trial": 1, "run": "a", "val_rmse": 1.10},
        {"trial": 2, "run": "b", "val_rmse": math.nan},  # failed before a validated epoch
        {"trial": 3, "run": "c", "val_rmse": 0.95},
    ]
    rating = ranked(rows, "rating")
    assert list(rating["run"]) == ["c", "a", "b"] and list(rating["rank"][:2]) == [1, 2]
    assert pd.isna(rating["rank"][2])
    hits = [
        {"trial": i, "run": r, "val_hr10": v}
        for i, (r, v) in enumerate([("a", 0.2), ("b", 0.5), ("c", 0.3)])
    ]
    assert list(ranked(hits, "ranking")["run"]) == ["b", "c", "a"]  # higher is better


def sweep(tmp_path, *extra: str, name: str = "s") -> pd.DataFrame:
    ratings, _ = small_demo(tmp_path / "data", users=40)
    code = main(
        [
            "sweep",
            "--data",
            str(ratings),
            "--split",
            "random",
            "--max-epochs",
            "1",
            "--no-projection",
            "--user-clusters",
            "4",
            "--item-clusters",
            "6",
            "--root",
            str(tmp_path / "runs"),
            "--name",
            name,
            *extra,
        ]
    )
    assert code == 0
    return pd.read_csv(tmp_path / "runs" / name / "sweep.csv")


def test_a_rating_sweep_ranks_its_trials_on_validation_rmse(tmp_path, capsys):
    found = sweep(tmp_path, "--grid", "lr=0.03,0.001", "dim=4,8", "--random", "3", "--seed", "1")
    printed = capsys.readouterr().out
    assert len(found) == 3 and set(found["run"]) == {"s-01", "s-02", "s-03"}
    assert list(found["rank"]) == [1, 2, 3]
    assert found["val_rmse"].is_monotonic_increasing  # lowest RMSE first
    for row in found.itertuples():
        run = RunDir(tmp_path / "runs" / row.run)
        assert run.progress()["state"] == "finished" and run.has_model()  # an ordinary run
        assert row.val_rmse == pytest.approx(run.metrics()["val_rmse"].min())
        test = run.test_metrics()
        assert row.test_rmse == pytest.approx(test["test_rmse"])
        assert found.loc[found["run"] == row.run, "test_ndcg@10_full"].item() == pytest.approx(
            test["test_ndcg@10_full"]
        )
        assert run.sweep() == {"sweep": "s", "trial": row.trial, "rank": row.rank}
        settings = run.settings()
        assert (settings["lr"], settings["dim"]) == (row.lr, row.dim)  # the point's settings
        assert settings["max_epochs"] == 1 and settings["user_clusters"] == [4]  # fixed ones
        assert run.meta()["name"] == f"s #{row.trial:02d} lr={row.lr:g} dim={row.dim}"
    assert "sweep s: 3 trials ranked on val_rmse (min)" in printed
    best = found.iloc[0]
    assert f"{best.val_rmse:.4f}" in printed and f"{best.test_rmse:.4f}" in printed
    spec = json.loads((tmp_path / "runs" / "s" / "sweep.json").read_text())
    assert spec["axes"] == {"lr": [0.03, 0.001], "dim": [4, 8]} and len(spec["trials"]) == 3


def test_a_ranking_sweep_ranks_highest_hit_ratio_first(tmp_path):
    found = sweep(
        tmp_path, "--task", "ranking", "--positive-threshold", "4", "--grid", "lr=0.05,0.001"
    )
    assert len(found) == 2 and found["val_hr10"].is_monotonic_decreasing
    assert {"test_hr10", "test_mrr10", "test_recall@10_full"} <= set(found.columns)


def test_the_compare_page_lists_a_sweeps_runs_by_rank(tmp_path, monkeypatch):
    found = sweep(tmp_path, "--grid", "lr=0.03,0.01,0.001")
    at = app(tmp_path / "runs", monkeypatch).run()
    assert not at.exception
    listed = at.sidebar.selectbox(key="run").options  # the run list shows every trial
    assert {"s #01 lr=0.03", "s #02 lr=0.01", "s #03 lr=0.001"} <= set(listed)
    visit(at, "compare")
    at.selectbox(key="compare_sweep").set_value("s").run()
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == list(found["run"])  # best first
    compared = table(at, "run", "sweep", "rank")
    assert list(compared["run"]) == list(found["run"]) and list(compared["rank"]) == [1, 2, 3]
    assert list(compared["test_rmse"]) == pytest.approx(list(found["test_rmse"]))
    assert "test_ndcg@10_full" in compared.columns
    at.sidebar.selectbox(key="run").set_value(found["run"][0]).run()
    visit(at, "metrics")  # a trial opens like any run, its full-ranking table included
    shown = table(at, "model", "NDCG@10 (all items)")
    assert shown["NDCG@10 (all items)"][0] == pytest.approx(
        RunDir(tmp_path / "runs" / found["run"][0]).test_metrics()["test_ndcg@10_full"]
    )
    assert "Users with no relevant test item are skipped" in texts(at)
