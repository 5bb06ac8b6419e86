"""Safe to share (issue 19): the Data page reads a typed path only inside the allowed folders
($HMF_DATA_DIR), links and '..' followed; anything else is refused before it is opened and no
byte of it reaches the page. A shared link's ?data= and ?run= are held to the same folders."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import REPO
from streamlit.testing.v1 import AppTest
from test_app import shown, texts, upload, use_paths, visit

from hmf_core.common.allowed import DATA_DIR_VARIABLE

APP = REPO / "dashboard" / "app.py"
# What a line of /etc/passwd or /etc/shadow holds: none of it may reach the page.
SECRET = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
LEAKS = ("root:", "/bin/bash", "daemon:", "nologin")

# --- every file opened by this process while a test looks (Python's audit hook "open") -----

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # a hook stays for the process: it records only while _opened is a list


@pytest.fixture
def opened():
    global _opened
    _opened = []
    yield _opened
    _opened = None


@pytest.fixture
def folders(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(the allowed data folder, a folder outside it): the app started with
    HMF_DATA_DIR=<tmp>/data; a copy of a passwd-like file outside; runs under <tmp>/runs."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    (outside / "passwd").write_bytes(SECRET)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data))
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    return data, outside


def page_text(at: AppTest) -> str:
    """Everything the page holds, as texts(at) and every element's message (labels, status
    boxes, expanders, tables, help), escapes removed."""
    protos = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            protos.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return texts(at) + "\n" + shown("\n".join(protos))


def refused_cases(data: Path, outside: Path) -> dict[str, str]:
    """The paths a visitor might type, each of which leads outside `data`."""
    (data / "passwd.csv").symlink_to("/etc/passwd")
    (data / "secret.csv").symlink_to(outside / "passwd")
    return {
        "/etc/passwd": "/etc/passwd",
        "/etc/shadow": "/etc/shadow",
        "link inside to /etc/passwd": str(data / "passwd.csv"),
        "link inside to a file outside": str(data / "secret.csv"),
        "../ escaping": f"{data}/../outside/passwd",
        "../ to /etc": f"{data}/../../../../../../etc/passwd",
        "absolute outside": str(outside / "passwd"),
    }


CASES = (
    "/etc/passwd",
    "/etc/shadow",
    "link inside to /etc/passwd",
    "link inside to a file outside",
    "../ escaping",
    "../ to /etc",
    "absolute outside",
)


@pytest.mark.parametrize("case", CASES)
def test_a_path_leading_outside_the_folder_is_refused_unread(folders, opened, case):
    data, outside = folders
    typed = refused_cases(data, outside)[case]
    opened.clear()  # what the test itself wrote
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(at, Path(typed))
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert errors == [
        f"{typed}: not read, it is outside the folders this app reads files from ({data}), "
        f"following links and '..'. To allow another folder, start the app with "
        f"HMF_DATA_DIR=<folder> (several separated by '{os.pathsep}')."
    ]
    text = page_text(at)
    assert not [leak for leak in LEAKS if leak in text], text
    assert "Nothing changed: still using **MovieLens latest-small" in texts(at)
    assert "dataset" not in at.session_state or at.session_state["dataset"].demo
    assert "Users 610" in texts(at)
    assert "data" not in at.query_params
    targets = {"/etc/passwd", "/etc/shadow", str(outside / "passwd"), typed}
    assert not targets & set(opened), "a refused file was opened"


def test_the_same_file_inside_the_folder_is_read_and_its_error_quotes_it(folders, opened):
    """The check above would see a leak: inside the folder the reader opens the file and quotes
    its first line, as it does for every allowed file."""
    data, _ = folders
    (data / "passwd").write_bytes(SECRET)
    opened.clear()
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(at, data / "passwd")
    assert not at.exception
    assert "root:x:0:0:root:/root:/bin/bash" in page_text(at)
    assert str(data / "passwd") in opened


def test_a_metadata_path_outside_refuses_the_whole_set(folders, opened):
    data, outside = folders
    (data / "ratings.csv").write_text("user,item,rating\n1,1,4\n2,1,3\n1,2,5\n")
    opened.clear()
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(at, data / "ratings.csv", outside / "passwd")
    assert not at.exception
    [error] = [shown(e.value) for e in at.error]
    assert error.startswith(f"{outside / 'passwd'}: not read, it is outside the folders")
    assert "Users 610" in texts(at)  # nothing changed, the ratings not even read
    assert not {str(outside / "passwd"), str(data / "ratings.csv")} & set(opened)


def test_a_file_inside_the_folder_and_a_link_to_one_inside_read(folders):
    data, _ = folders
    (data / "sub").mkdir()
    (data / "ratings.csv").write_text("user,item,rating\n1,1,4\n2,1,3\n1,2,5\n3,2,1\n")
    (data / "sub" / "link.csv").symlink_to("../ratings.csv")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    at.segmented_control(key="data_source").set_value("Files on this machine").run()
    assert f"Files on this machine reads files under: {data} (links and `..` followed" in texts(at)
    assert "start the app with `HMF_DATA_DIR=<folder>`" in texts(at)
    use_paths(at, data / "ratings.csv")
    assert not at.exception and not at.error
    assert "Users 3" in texts(at) and "Ratings 4" in texts(at)

    other = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(other, data / "sub" / "link.csv")
    assert not other.exception and not other.error
    assert "Users 3" in texts(other)
    assert other.session_state["dataset"].ratings == str(data / "ratings.csv")  # where it leads
    assert other.session_state["dataset"].label == "link.csv"  # as typed


def test_the_named_remedy_works_a_folder_added_to_the_setting_is_read(folders, monkeypatch):
    data, outside = folders
    (outside / "ratings.csv").write_text("user,item,rating\n1,1,4\n2,1,3\n")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(at, outside / "ratings.csv")
    assert "not read, it is outside the folders" in shown(at.error[0].value)
    monkeypatch.setenv(DATA_DIR_VARIABLE, os.pathsep.join([str(data), str(outside)]))
    restarted = AppTest.from_file(str(APP), default_timeout=120).run()
    use_paths(restarted, outside / "ratings.csv")
    assert not restarted.exception and not restarted.error
    assert "Users 2" in texts(restarted)


def test_a_link_naming_a_file_outside_the_folders_is_refused_unread(folders, opened):
    """A shared URL's ?data= carries paths: a crafted one is held to the same folders."""
    data, outside = folders
    opened.clear()
    for path in ("/etc/passwd", str(outside / "passwd"), f"{data}/../outside/passwd"):
        token = json.dumps({"ratings": path, "label": "x"}).encode()
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.query_params["data"] = base64.urlsafe_b64encode(token).decode()
        at.run()
        assert not at.exception
        assert [shown(e.value) for e in at.error] == [
            f"{path}: not read, it is outside the folders this app reads files from ({data}, "
            f"{REPO / 'assets' / 'ml-latest-small'}, {data.parent / 'runs' / 'uploads'}), "
            f"following links and '..'. To allow another folder, start the app with "
            f"HMF_DATA_DIR=<folder> (several separated by '{os.pathsep}')."
        ]
        assert not [leak for leak in LEAKS if leak in page_text(at)]
        assert "Users 610" in texts(at) and "data" not in at.query_params
    assert not {"/etc/passwd", str(outside / "passwd")} & set(opened)


def test_the_apps_own_folders_stay_readable_whatever_the_setting(folders):
    """An upload and the demo are not typed paths: a link to an upload reopens it and Earlier
    uploads reads it, though the uploads folder is not in HMF_DATA_DIR."""
    ratings = b"user,item,rating\n1,1,4\n2,1,3\n1,2,5\n"
    at = upload(AppTest.from_file(str(APP), default_timeout=120).run(), ("mine.csv", ratings))
    assert not at.exception and not at.error and "Users 2" in texts(at)
    reloaded = AppTest.from_file(str(APP), default_timeout=120)
    reloaded.query_params["data"] = at.query_params["data"]
    reloaded.run()
    assert not reloaded.error and "Current dataset: mine.csv (uploaded)" in texts(reloaded)
    again = AppTest.from_file(str(APP), default_timeout=120).run()
    again.segmented_control(key="data_source").set_value("Earlier uploads").run()
    again.button(key="use_earlier").click().run()
    assert not again.error and "Users 2" in texts(again)


def test_a_link_left_in_the_uploads_folder_to_a_file_outside_is_refused(folders, opened):
    data, outside = folders
    planted = data.parent / "runs" / "uploads" / "0123456789abcdef" / "ratings"
    planted.mkdir(parents=True)
    (planted / "ratings.csv").symlink_to(outside / "passwd")
    opened.clear()
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.segmented_control(key="data_source").set_value("Earlier uploads").run()
    at.button(key="use_earlier").click().run()
    assert not at.exception
    [error] = [shown(e.value) for e in at.error]
    assert error.startswith(f"{planted / 'ratings.csv'}: not read, it is outside the folders")
    assert not [leak for leak in LEAKS if leak in page_text(at)]
    assert "Users 610" in texts(at) and str(outside / "passwd") not in opened


def fake_run(folder: Path, task: str) -> None:
    """A run directory as the run list sees one (its settings.json), without a model."""
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps({"task": task, "data": f"/x/{task}.csv"}))


@pytest.mark.parametrize("name", ["../evil", "../../etc", "..", "/etc", "r1/../../evil"])
def test_a_run_name_in_the_url_leading_out_of_the_runs_root_is_ignored(folders, name):
    data, _ = folders
    runs = data.parent / "runs"
    fake_run(runs / "r1", "rating")
    fake_run(data.parent / "evil", "EVILTASK")  # a run-like folder beside the runs root
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["run"] = name
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="run").value == "r1"  # the newest run, not the URL's
    for page in ("map", "train", "metrics"):
        visit(at, page)
        assert "EVILTASK" not in page_text(at)
    assert "rating task on rating.csv" in texts(at)  # the sidebar names the run it shows


def test_a_run_name_in_the_url_with_no_runs_opens_nothing(folders):
    data, _ = folders
    fake_run(data.parent / "evil", "EVILTASK")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["run"] = "../evil"
    at.run()
    visit(at, "map")
    assert "No run selected yet" in texts(at)
    assert "EVILTASK" not in page_text(at)
