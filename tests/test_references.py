"""Issue 21 item 2: the paper's published figures are shown beside a run only when its data is
ML-100K, recognised by content (users, items, ratings), whatever the file is called; never on
other data, another split or another task."""

from __future__ import annotations

import shutil

from conftest import shared_file

from hmf_core import published_references, read_ratings


def summary_of(path) -> dict:
    """data.json's "data" part, as a run writes it (hmf_core.runs.train_run)."""
    return {"data": read_ratings(str(path)).summary(), "split": {"train": 64_000}}


def test_ml100k_is_recognised_by_content_under_any_file_name(tmp_path):
    renamed = tmp_path / "my_ratings.tsv"
    shutil.copy(shared_file("ml-100k/u.data"), renamed)
    summary = summary_of(renamed)
    found = published_references(summary, {"split": "temporal", "task": "rating"})
    assert [reference.identity.name for reference in found] == ["ML-100K"]
    text = found[0].text(summary["split"]["train"])
    assert "ML-100K" in text and "HMF (depth 1) 1.066" in text and "MF 1.113" in text
    assert "64,000 train ratings here; 64,000 in the paper" in text
    # the paper's figures are for the temporal split of explicit ratings only
    assert not published_references(summary, {"split": "random", "task": "rating"})
    assert not published_references(summary, {"split": "temporal", "task": "ranking"})


def test_other_data_gets_no_published_figures(tmp_path):
    part = tmp_path / "u.data"  # MovieLens's own file name, but not its content
    lines = shared_file("ml-100k/u.data").read_text().splitlines()[:3000]
    part.write_text("\n".join(lines) + "\n")
    assert not published_references(summary_of(part), {"split": "temporal", "task": "rating"})
    assert not published_references({}, {"split": "temporal"})


def test_the_metrics_page_shows_them_for_a_renamed_ml100k_run_only(tmp_path, monkeypatch):
    """The page renders what hmf_core decided: the caption on ML-100K's temporal split under
    another file name, none on a random split of the same file."""
    from conftest import hmf_cli
    from test_app import app, texts, visit

    data = tmp_path / "my_ratings.tsv"
    shutil.copy(shared_file("ml-100k/u.data"), data)
    for split in ("temporal", "random"):
        done = hmf_cli(
            "train", "--data", data, "--split", split, "--max-epochs", 1,
            "--user-clusters", 4, "--item-clusters", 4, "--no-projection",
            "--run-dir", tmp_path / "runs" / split,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    for split, shown in (("temporal", True), ("random", False)):
        at = app(tmp_path / "runs", monkeypatch)  # a new session opens the URL's run
        at.query_params["run"] = split
        at.run()
        said = texts(visit(at, "metrics"))
        assert f"Run **{split}**" in said
        assert ("the paper's test RMSE on ML-100K" in said) is shown, split
        assert ("HMF (depth 1) 1.066" in said) is shown, split
