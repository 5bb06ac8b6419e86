"""common.allowed: a path is read only where it really leads inside an allowed folder (links,
`..` and `~` followed), and a run's name from the URL is one folder of the runs root (issue 19)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hmf_core.common.allowed import (
    DATA_DIR_VARIABLE,
    PathRefused,
    allowed_path,
    child_folder,
    data_folders,
    inside,
    refusal,
)
from hmf_core.data.datasets import Dataset, confine


@pytest.fixture
def data(tmp_path) -> Path:
    """An allowed folder with a rating file, beside a folder outside it."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user,item,rating\n1,2,3\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("user,item,rating\nSECRET,2,3\n")
    return folder


def test_a_file_inside_the_folder_is_allowed_and_returned_resolved(data):
    assert inside(data / "ratings.csv", [data]) == data / "ratings.csv"
    assert inside(data / "sub" / ".." / "ratings.csv", [data]) == data / "ratings.csv"
    assert inside(data, [data]) == data  # the folder itself (the reader then says it is one)


def test_dot_dot_escaping_the_folder_is_refused(data):
    assert inside(data / ".." / "outside" / "secret.csv", [data]) is None
    assert inside(f"{data}/../../../../etc/passwd", [data]) is None


def test_an_absolute_path_outside_the_folder_is_refused(data):
    assert inside("/etc/passwd", [data]) is None
    assert inside(data.parent / "outside" / "secret.csv", [data]) is None


def test_a_link_inside_the_folder_to_a_file_outside_is_refused(data):
    (data / "passwd.csv").symlink_to("/etc/passwd")
    (data / "away").symlink_to(data.parent / "outside", target_is_directory=True)
    assert inside(data / "passwd.csv", [data]) is None
    assert inside(data / "away" / "secret.csv", [data]) is None


def test_a_link_inside_the_folder_to_a_file_inside_is_allowed_as_its_target(data):
    (data / "sub").mkdir()
    (data / "sub" / "link.csv").symlink_to("../ratings.csv")
    assert inside(data / "sub" / "link.csv", [data]) == data / "ratings.csv"


def test_an_allowed_folder_given_through_a_link_is_the_folder_it_leads_to(data, tmp_path):
    (tmp_path / "via").symlink_to(data, target_is_directory=True)
    assert inside(data / "ratings.csv", [tmp_path / "via"]) == data / "ratings.csv"
    assert inside(tmp_path / "via" / "ratings.csv", [data]) == data / "ratings.csv"


def test_a_folder_whose_name_starts_with_the_allowed_name_is_outside_it(tmp_path):
    allowed, evil = tmp_path / "data", tmp_path / "data-evil"
    evil.mkdir()
    (evil / "ratings.csv").write_text("x")
    assert inside(evil / "ratings.csv", [allowed]) is None
    assert inside(f"{allowed}-evil/ratings.csv", [allowed]) is None
    assert inside(f"{allowed}/../data-evil/ratings.csv", [allowed]) is None


def test_a_symlink_loop_is_refused_not_raised(data):
    (data / "a").symlink_to(data / "b")
    (data / "b").symlink_to(data / "a")
    assert inside(data / "a", [data]) is None
    with pytest.raises(PathRefused):
        allowed_path(data / "a", [data])


def test_a_missing_file_inside_passes_and_one_outside_is_refused_either_way(data):
    assert inside(data / "none" / "missing.csv", [data]) == data / "none" / "missing.csv"
    assert inside("/nonexistent-hmf/x.csv", [data]) is None  # same answer as a file that is


def test_relative_paths_start_from_the_current_folder(data, monkeypatch):
    monkeypatch.chdir(data)
    assert inside("ratings.csv", [data]) == data / "ratings.csv"
    assert inside("./ratings.csv", [Path(".")]) == data / "ratings.csv"
    assert inside("../outside/secret.csv", [data]) is None
    monkeypatch.chdir(data.parent)
    assert inside("data/ratings.csv", ["data"]) == data / "ratings.csv"
    assert inside("outside/secret.csv", ["data"]) is None


def test_trailing_slashes_change_nothing(data):
    assert inside(f"{data}/ratings.csv", [f"{data}/"]) == data / "ratings.csv"
    assert inside(f"{data}//", [data]) == data
    assert inside(f"{data}/../outside/", [f"{data}/"]) is None


def test_a_nul_byte_or_an_unknown_home_is_refused_not_raised(data):
    assert inside(f"{data}/ratings.csv\0/etc/passwd", [data]) is None
    assert inside("~no-such-user-hmf/ratings.csv", [data]) is None


def test_the_refusal_is_one_line_naming_the_path_the_folders_and_the_setting(data):
    with pytest.raises(PathRefused) as refused:
        allowed_path("/etc/passwd\n:red[x]", [data, data.parent / "more"])
    message = str(refused.value)
    assert "\n" not in message and "\\n" in message  # the control character shown as an escape
    assert message.startswith("/etc/passwd\\n:red[x]: not read, it is outside the folders")
    assert f"({data}, {data.parent / 'more'})" in message
    assert f"{DATA_DIR_VARIABLE}=<folder> (several separated by '{os.pathsep}')" in message
    assert refusal("x" * 1000, [data]).startswith("x" * 299 + "…: not read")


def test_the_folders_come_from_the_setting_else_data_under_the_current_folder(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    assert data_folders() == (tmp_path / "data",)
    monkeypatch.setenv(DATA_DIR_VARIABLE, "")
    assert data_folders() == (tmp_path / "data",)
    monkeypatch.setenv(DATA_DIR_VARIABLE, os.pathsep.join(["one", "", "/srv/two/", "one"]))
    assert data_folders() == (tmp_path / "one", Path("/srv/two"))


def test_allowed_path_uses_the_configured_folders_by_default(data, monkeypatch):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data))
    assert allowed_path(data / "ratings.csv") == data / "ratings.csv"
    with pytest.raises(PathRefused) as refused:
        allowed_path(data.parent / "outside" / "secret.csv")
    assert f"outside the folders this app reads files from ({data})" in str(refused.value)


def test_confine_resolves_every_file_of_a_dataset_or_refuses_each_outside(data):
    (data / "link.csv").symlink_to(data / "ratings.csv")
    typed = Dataset(label="x", ratings=str(data / "link.csv"), users="/etc/passwd")
    dataset, errors = confine(typed, (data,))
    assert dataset is None and len(errors) == 1 and errors[0].startswith("/etc/passwd: not read")
    dataset, errors = confine(Dataset(label="x", ratings=str(data / "link.csv")), (data,))
    assert errors == [] and dataset.ratings == str(data / "ratings.csv") and dataset.label == "x"


@pytest.mark.parametrize("name", ["", ".", "..", "../etc", "../../etc", "a/b", "/etc", "a\0b"])
def test_a_run_name_that_is_not_one_folder_is_refused(tmp_path, name):
    assert child_folder(tmp_path / "runs", name) is None


def test_a_run_name_that_is_one_folder_is_that_folder(tmp_path):
    assert child_folder(tmp_path / "runs", "20240101-rating-p1q1") == (
        tmp_path / "runs" / "20240101-rating-p1q1"
    )
    assert child_folder(tmp_path / "runs", "..a") == tmp_path / "runs" / "..a"
