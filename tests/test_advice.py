"""Issue 19: advice that works. Ratings far outside any rating scale are named (on read, in the
CLI, on the Data page, and as the cause when training diverges on them); a split that leaves
no validation or test rows says what it needs and names only splits that work on the data
(each remedy named is tried here); metadata matching no rated item warns in the CLI; notes
are not problems; a file of identical ratings says the model can only learn a constant."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from test_app import app, shown, use_paths

from hmf_core.data.ratings import read_ratings
from hmf_core.data.split import SPLITS, make_split
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import TrainSettings

SMALL = TrainSettings(
    user_clusters=[2],
    item_clusters=[2],
    max_epochs=1,
    patience=5,
    projection=False,
    split="random",
)


def _main(args: list[str], capsys) -> tuple[int, str, str]:
    from hmf_core.cli import main

    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _far_file(path, lr_rows: int = 500):
    """`lr_rows` ratings of 1e30 on distinct (user, item) pairs of 40 users and 40 items."""
    pairs = [(u, i) for u in range(40) for i in range(40)][:lr_rows]
    path.write_text("user,item,rating\n" + "".join(f"{u},{i},1e30\n" for u, i in pairs))
    return path


# --- ratings far outside any rating scale --------------------------------------------------------


@pytest.mark.parametrize("lr", [1e-2, 1e-6])
def test_training_on_far_ratings_names_them_not_the_learning_rate(tmp_path, capsys, lr):
    """Before: "diverged at epoch 1 (try a lower learning rate)" at any learning rate."""
    data = _far_file(tmp_path / "r.csv")
    code, out, err = _main(
        [
            *["train", "--data", str(data), "--run-dir", str(tmp_path / "run")],
            *["--split", "random", "--max-epochs", "2", "--no-projection", "--lr", str(lr)],
            *["--user-clusters", "2", "--item-clusters", "2"],
        ],
        capsys,
    )
    far = "500 ratings are above 1e6 in size (from 1e+30 to 1e+30)"
    assert f"warning: {far}" in out  # stated before training
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(
        "error: HMF training diverged at epoch 1 on ratings far outside any rating scale: "
    )
    assert "ratings are above 1e6 in size (from 1e+30 to 1e+30)" in err
    assert "lower learning rate" not in err
    assert "far outside any rating scale" in RunDir(tmp_path / "run").progress()["error"]


def test_far_ratings_are_a_problem_on_the_data_page_and_notes_are_apart(
    data_in_tmp, tmp_path, monkeypatch
):
    """Before: a mean rating of 3.3e29 with no warning, and "Timestamps read as unix seconds"
    listed under "Problems found"."""
    rows = "".join(
        f"{u},{i},{1e30 if u < 20 else 4},{1000 + u}\n" for u in range(40) for i in (1, 2)
    )
    data = tmp_path / "far.csv"
    data.write_text("user,item,rating,timestamp\n" + rows)
    at = app(tmp_path / "runs", monkeypatch)
    at.run()
    use_paths(at, data)
    warnings = [w.value for w in at.warning if "Problems found" in w.value]
    assert len(warnings) == 1
    assert "40 ratings are above 1e6 in size (from 1e+30 to 1e+30)" in shown(warnings[0])
    assert "read as" not in warnings[0]  # a note, not a problem
    # Its own information box, before the warning: a caption right under the warning still
    # read as one more problem.
    notes = [i.value for i in at.info if "How the file was read" in i.value]
    assert notes and "Timestamps read as unix seconds" in notes[0]
    assert not [c for c in at.caption if "read as" in c.value]


def test_a_clean_file_shows_its_notes_and_no_problems(data_in_tmp, tmp_path, monkeypatch):
    data = tmp_path / "clean.csv"
    data.write_text(
        "user,item,rating,timestamp\n"
        + "".join(f"{u},{i},{1 + (u + i) % 5},{100 * u + i}\n" for u in range(30) for i in range(8))
    )
    at = app(tmp_path / "runs", monkeypatch)
    at.run()
    use_paths(at, data)
    assert not [w for w in at.warning if "Problems found" in w.value]
    assert any("No problems found" in s.value for s in at.success)
    assert any("Timestamps read as unix seconds" in i.value for i in at.info)


# --- identical ratings ---------------------------------------------------------------------------


def test_identical_ratings_are_stated_on_read_and_in_the_training_output(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pairs = {(int(u), int(i)) for u, i in rng.integers(0, 30, size=(400, 2))}
    data = tmp_path / "same.csv"
    data.write_text("user,item,rating\n" + "".join(f"{u},{i},4\n" for u, i in sorted(pairs)))
    constant = f"All {len(pairs):,} ratings are 4: the model can only learn that constant"
    assert any(constant in problem for problem in read_ratings(data).problems)
    code, out, err = _main(
        [
            *["train", "--data", str(data), "--run-dir", str(tmp_path / "run")],
            *["--split", "random", "--max-epochs", "1", "--no-projection"],
            *["--user-clusters", "2", "--item-clusters", "2"],
        ],
        capsys,
    )
    assert code == 0, err
    assert f"warning: {constant}" in out
    # the ranking task on the same file: every rating is a positive, nothing to warn about
    ranking = read_ratings(data).as_implicit(4.0)
    assert not any("constant" in problem for problem in ranking.problems)


# --- metadata that matches no rated item ---------------------------------------------------------


def test_metadata_matching_no_rated_item_or_user_warns_in_the_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    pairs = {(int(u), int(i)) for u, i in rng.integers(0, 25, size=(300, 2))}
    data = tmp_path / "r.csv"
    data.write_text(
        "user,item,rating\n" + "".join(f"{u},{i},{1 + (u * i) % 5}\n" for u, i in pairs)
    )
    items = tmp_path / "items.csv"
    items.write_text("item,title,genres\nx1,Nothing,Drama\nx2,Rated,Comedy\n")
    users = tmp_path / "people.csv"
    users.write_text("user,age\nnobody,30\n")
    code, out, err = _main(
        [
            *["train", "--data", str(data), "--items", str(items), "--users", str(users)],
            *["--run-dir", str(tmp_path / "run"), "--split", "random", "--max-epochs", "1"],
            *["--no-projection", "--user-clusters", "2", "--item-clusters", "2"],
        ],
        capsys,
    )
    assert code == 0, err
    n_items = len({i for _, i in pairs})
    n_users = len({u for u, _ in pairs})
    warned = [line for line in out.splitlines() if line.startswith("warning: items.csv: ")]
    assert len(warned) == 1, out
    assert warned[0].startswith("warning: items.csv: 2 items described (title, genres")
    assert warned[0].endswith(
        f"0 of {n_items} rated items have an entry. The other {n_items} are shown by id."
    )
    assert f"warning: people.csv: 1 users described (age); 0 of {n_users} rated users" in out


def test_complete_metadata_does_not_warn(tmp_path, capsys):
    data = tmp_path / "r.csv"
    data.write_text(
        "user,item,rating\n"
        + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(12) for i in range(6))
    )
    items = tmp_path / "items.csv"
    items.write_text("item,title\n" + "".join(f"{i},Film {i}\n" for i in range(6)))
    code, out, err = _main(
        [
            *["train", "--data", str(data), "--items", str(items)],
            *["--run-dir", str(tmp_path / "run"), "--split", "random", "--max-epochs", "1"],
            *["--no-projection", "--user-clusters", "2", "--item-clusters", "2"],
        ],
        capsys,
    )
    assert code == 0, err
    assert "warning: items.csv" not in out


# --- splits that leave nothing to validate or test on --------------------------------------------


def _refusal(settings: TrainSettings, data) -> str:
    summary = make_split(data, settings.split, settings.seed).summary()
    with pytest.raises(ValueError) as refused:
        settings.validate(data, summary)
    return str(refused.value)


def _named_splits(message: str) -> list[str]:
    """The splits a refusal tells the user to use instead (after "Use another split:")."""
    if "Use another split:" not in message:
        return []
    advice = message.split("Use another split:", 1)[1]
    return [s for s in SPLITS if re.search(rf"\bthe {s} split\b", advice)]


@pytest.mark.parametrize(
    "rows",
    [
        "user,item,rating\n1,1,4\n1,1,5\n1,1,3\n",  # one user, one item (duplicates: 1 rating)
        "user,item,rating\n1,1,4\n1,2,5\n",  # 2 ratings
        "user,item,rating\n" + "".join(f"u{k},i{k % 50},4\n" for k in range(3000)),  # 1 each
    ],
    ids=["one-user-one-item", "two-ratings", "users-with-one-rating-each"],
)
def test_too_small_for_any_split_says_so_and_suggests_none(tmp_path, rows):
    """Before: "try the random split", which refused it the same way."""
    (tmp_path / "r.csv").write_text(rows)
    data = read_ratings(tmp_path / "r.csv")
    for method in SPLITS:
        message = _refusal(replace(SMALL, split=method), data)
        assert "No split can evaluate this data: it is too small" in message, message
        assert "at least 4 ratings" in message and "at least 3" in message
        assert "random split" not in message.split(":")[0] or method == "random"
        assert not _named_splits(message)
        assert "\n" not in message


def test_single_rating_users_are_named_as_the_reason(tmp_path):
    rows = "user,item,rating\n" + "".join(f"u{k},i{k % 50},{1 + k % 5}\n" for k in range(3000))
    (tmp_path / "r.csv").write_text(rows)
    message = _refusal(replace(SMALL, split="random"), read_ratings(tmp_path / "r.csv"))
    assert "every user has a single rating" in message


def test_too_few_ratings_names_the_minimum(tmp_path):
    (tmp_path / "r.csv").write_text("user,item,rating\n1,1,4\n1,2,5\n")
    message = _refusal(replace(SMALL, split="temporal"), read_ratings(tmp_path / "r.csv"))
    assert "the temporal split needs at least 4 ratings" in message
    assert "this data has 2" in message
    message = _refusal(replace(SMALL, split="leave_last_out"), read_ratings(tmp_path / "r.csv"))
    assert "leave_last_out needs users with at least 3 ratings" in message
    assert "the most any user has is 2" in message


def test_each_split_a_refusal_names_trains(tmp_path):
    """The temporal split's last 20% belong to a user unseen in training; the refusal names the
    splits that work here, and each one named trains and tests."""
    rows = ["user,item,rating,timestamp"]
    rows += [  # each user's last two ratings (leave_last_out's) are of different items
        f"{u},{i},{1 + (u + i) % 5},{u * 10 + (i + u) % 6}"
        for u in range(1, 7)
        for i in range(1, 7)
    ]
    rows += [f"99,{i},4,{1000 + i}" for i in range(1, 7)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    settings = replace(SMALL, data=str(tmp_path / "r.csv"), split="temporal")
    data = read_ratings(tmp_path / "r.csv")
    message = _refusal(settings, data)
    assert "The temporal split leaves no test rows" in message
    named = _named_splits(message)
    assert named == ["random", "leave_last_out"], message
    assert "the random split (seed 0) leaves" in message
    for method in named:
        remedy = replace(settings, split=method)
        remedy.validate(data, make_split(data, method, remedy.seed).summary())
        results = train_run(remedy, tmp_path / f"run-{method}")
        assert np.isfinite(results["hmf"]["test_rmse"]), method


def test_a_refusal_names_only_the_splits_that_work(tmp_path):
    """Every user rates a shared item first, then two items of their own: leave_last_out's and
    the temporal split's validation and test items never occur in training, the random split's
    do. Each refusal names the random split only, and it trains."""
    rows = ["user,item,rating,timestamp"]
    for u in range(60):
        rows += [f"{u},shared{u % 5},{1 + u % 5},{u}", f"{u},own{u}a,3,{1000 + u}"]
        rows += [f"{u},own{u}b,4,{2000 + u}"]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    data = read_ratings(tmp_path / "r.csv")
    for method in ("leave_last_out", "temporal"):
        message = _refusal(replace(SMALL, data=str(tmp_path / "r.csv"), split=method), data)
        assert _named_splits(message) == ["random"], message
    message = _refusal(replace(SMALL, split="leave_last_out"), data)
    assert "validation and test need items that also have training ratings" in message
    remedy = replace(SMALL, data=str(tmp_path / "r.csv"), split="random")
    remedy.validate(data, make_split(data, "random", remedy.seed).summary())
    results = train_run(remedy, tmp_path / "run")
    assert np.isfinite(results["hmf"]["test_rmse"])
