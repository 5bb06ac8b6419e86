"""Suggest sizes (issue 17, hmf_core.interpret.sizes): the known answer on planted blocks of who
rated what, the rule on hand-made tables, the CLI's table and flags, and the Train page's
Suggest sizes / Use these sizes buttons."""

from __future__ import annotations

import re

import pytest
from conftest import small_demo
from test_app import app, texts, use_paths, visit

from hmf_core.cli import main
from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.interpret.sizes import (
    candidate_counts,
    size_flags,
    size_table,
    suggest_sizes,
    suggested_shape,
    suggestion,
    suggestion_lines,
)

TRIED = (2, 3, 4, 5, 6, 8, 10, 12, 16)


def planted(groups: int, liked_density: float | None = 0.5, seed: int = 0):
    """240 users x 160 items in `groups` groups per side; a user rates its group's items with
    probability `liked_density` (the others 0.05): who rated what carries the groups."""
    return planted_ratings(
        user_groups=groups,
        item_groups=groups,
        density=0.05,
        liked_density=liked_density,
        seed=seed,
    ).data


def ari_by_k(found: dict, side: str) -> dict[int, float]:
    return {row["k"]: row["mean_ari"] for row in found["sides"][side]["rows"]}


@pytest.mark.parametrize("groups", [4, 6])
def test_the_suggestion_is_the_planted_count_where_the_ari_peaks(groups):
    data = planted(groups)
    found = suggest_sizes(data.table, data.n_users, data.n_items, candidates=TRIED)
    for side in ("user", "item"):
        aris = ari_by_k(found, side)
        assert aris[groups] > 0.95, (side, aris)  # every seed finds the planted blocks
        others = [ari for k, ari in aris.items() if k != groups]
        assert max(others) < aris[groups] - 0.1, (side, aris)  # merged or split: less stable
        assert aris[2 * groups] < 0.9, (side, aris)
        assert found["sides"][side]["readable"] == groups
        assert found["sides"][side]["readable_meets"]
    shape = suggested_shape(found)
    assert [counts[-1] for _, counts in shape.values()] == [groups, groups]  # the top level


def test_without_planted_raters_no_count_is_stable():
    """The same groups in the rating values only (every pair equally likely to be rated): the
    spectral vectors read who rated what, which is noise here, so no count comes back."""
    data = planted(4, liked_density=None)
    found = suggest_sizes(data.table, data.n_users, data.n_items, seeds=3, candidates=(2, 4, 8))
    for side in ("user", "item"):
        assert max(ari_by_k(found, side).values()) < 0.5
        assert found["sides"][side]["stable"] is None


def rows(aris: dict[int, float]) -> list[dict]:
    return [{"k": k, "mean_ari": ari} for k, ari in aris.items()]


def test_the_rule_on_hand_made_tables():
    # the most stable readable count; the largest count that reaches the target beyond it
    found = suggestion(rows({5: 0.7, 10: 0.9, 20: 0.85, 50: 0.82, 100: 0.5}), 0.8)
    assert (found["stable"], found["readable"], found["readable_meets"]) == (50, 10, True)
    # within TIE (0.01) of the best: the larger count
    assert suggestion(rows({5: 0.905, 10: 0.9, 20: 0.7}), 0.8)["readable"] == 10
    # nothing reaches the target: the most stable readable count, said to miss it
    found = suggestion(rows({5: 0.5, 10: 0.6, 50: 0.3}), 0.8)
    assert (found["stable"], found["readable"], found["readable_meets"]) == (None, 10, False)
    # no readable count at all
    assert suggestion(rows({50: 0.9}), 0.8, readable=30)["readable"] is None


def test_the_flags_and_the_lines_follow_the_suggestion():
    found = {
        "sides": {
            "user": {"rows": rows({5: 0.7, 10: 0.65}), **suggestion(rows({5: 0.7, 10: 0.65}), 0.6)},
            "item": {"rows": rows({5: 0.7, 15: 0.85}), **suggestion(rows({5: 0.7, 15: 0.85}), 0.8)},
        }
    }
    assert size_flags(found) == (
        "--user-depth 2 --user-clusters 10,5 --item-depth 1 --item-clusters 15"
    )
    lines = suggestion_lines(found)
    assert lines[0].startswith("users: 5 clusters at the top (mean ARI 0.70 >= 0.6); 10 is")
    assert lines[1] == "items: 15 clusters at the top (mean ARI 0.85 >= 0.8)"


def test_candidates_are_capped_by_the_objects_and_two_seeds_are_needed():
    assert candidate_counts(943) == [5, 10, 15, 20, 30, 50, 100, 200]
    assert candidate_counts(41) == [5, 10, 15, 20]  # at most half the objects
    assert candidate_counts(3) == []
    data = planted(4)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        suggest_sizes(data.table, data.n_users, data.n_items, seeds=1)


def test_the_table_has_a_row_per_side_and_count():
    data = planted(4)
    found = suggest_sizes(data.table, data.n_users, data.n_items, seeds=2, candidates=(2, 4))
    table = size_table(found)
    assert table[["side", "k"]].values.tolist() == [["user", 2], ["user", 4]] + [
        ["item", 2],
        ["item", 4],
    ]
    assert (table["smallest"] >= 1).all() and (table["seconds"] >= 0).all()
    assert table.set_index(["side", "k"]).loc[("user", 4), "meets_target"]


def run_main(capsys, *args) -> tuple[int, str, str]:
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_cli_prints_the_table_and_the_train_flags(tmp_path, capsys):
    to_csv(
        planted_ratings(user_groups=4, item_groups=4, density=0.05, liked_density=0.5),
        tmp_path / "ratings.csv",
    )
    status, out, _ = run_main(
        capsys, "suggest-sizes", "--data", tmp_path / "ratings.csv", "--split", "random",
        "--candidates", "2,3,4,6,8", "--seeds", "3",
    )  # fmt: skip
    assert status == 0
    assert re.search(r"^user\s+4\s+1\.000\s+1\.000", out, re.M), out  # the planted count's row
    assert re.search(r"^item\s+4\s+1\.000\s+1\.000", out, re.M), out
    flags = re.search(r"^train with: --split random --seed 0 --dim 20 (.*)$", out, re.M)
    shape = r"--user-depth \d --user-clusters (\d+,)?4 --item-depth \d --item-clusters (\d+,)?4"
    assert flags and re.fullmatch(shape, flags.group(1)), out


def test_the_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    status, _, err = run_main(capsys, "suggest-sizes", "--data", tmp_path / "none.csv")
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "none.csv" in err
    to_csv(planted_ratings(seed=0), tmp_path / "ratings.csv")
    status, _, err = run_main(
        capsys, "suggest-sizes", "--data", tmp_path / "ratings.csv", "--seeds", "1"
    )
    assert status == 2 and "at least 2 seeds" in err and err.count("\n") == 1


def test_the_train_page_suggests_sizes_and_puts_them_in_the_form(data_in_tmp, monkeypatch):
    ratings, _ = small_demo(data_in_tmp / "data", users=40)
    at = app(data_in_tmp / "runs", monkeypatch).run()
    use_paths(at, ratings)
    visit(at, "train")
    at.selectbox(key="train_split").set_value("random").run()
    before = [at.slider(key=f"train_{side}_depth").value for side in ("user", "item")]
    before += [at.text_input(key=f"train_{side}_clusters").value for side in ("user", "item")]
    assert not any(b.key == "train_use_sizes" for b in at.button)  # nothing measured yet

    at.button(key="train_suggest_sizes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    data = read_ratings(ratings)
    split = make_split(data, "random", 0)
    expected = suggest_sizes(split.train, split.n_users, split.n_items)  # what hmf_core says
    shown = texts(at)
    for line in suggestion_lines(expected):
        assert line in shown
    (table,) = [frame.value for frame in at.dataframe if "mean_ari" in frame.value.columns]
    assert (
        table[["side", "k"]].values.tolist() == size_table(expected)[["side", "k"]].values.tolist()
    )
    assert len(at.get("vega_lite_chart")) == 1  # the ARI per count, per side

    at.button(key="train_use_sizes").click().run()
    shape = suggested_shape(expected)
    after = [at.slider(key=f"train_{side}_depth").value for side in ("user", "item")]
    after += [at.text_input(key=f"train_{side}_clusters").value for side in ("user", "item")]
    assert after == [shape["user"][0], shape["item"][0]] + [
        ",".join(map(str, shape[side][1])) for side in ("user", "item")
    ]
    assert after != before
    assert "changed since:" in texts(at)  # the form says the sizes are no longer the defaults
