"""Defects a user reported (issue 21 item 6), each pinned under AppTest: the Metrics page names
the run by its name; ..."""

from __future__ import annotations

import shutil

from test_app import BAD_FILES, app, shown, texts, upload, visit

from hmf_core.runs.rundir import RunDir


def test_metrics_is_titled_with_the_runs_name_not_its_directory(
    finished_runs, tmp_path, monkeypatch
):
    run_dir = tmp_path / "runs" / "20261204-101500-a1b2"
    shutil.copytree(finished_runs / "tiny", run_dir)
    RunDir(run_dir).update_meta(name="Genres, 8 user clusters")
    at = app(tmp_path / "runs", monkeypatch).run()
    visit(at, "metrics")
    assert "Run **Genres, 8 user clusters** (directory 20261204-101500-a1b2)" in texts(at)


def test_removing_a_bad_uploaded_file_clears_its_error(tmp_path, monkeypatch):
    content, message = BAD_FILES["bad.csv"]
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("bad.csv", content))
    assert [shown(e.value) for e in at.error] == [message]
    at.file_uploader(key="upload_ratings").clear().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not [i for i in at.info if "Nothing changed" in i.value]
    at.file_uploader(key="upload_ratings").upload("bad.csv", content).run()  # again: read again
    assert [shown(e.value) for e in at.error] == [message]
