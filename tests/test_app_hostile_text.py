"""Text from user files is shown as typed (issue 10): file names, titles, ids, metadata values
and run names that look like markdown, LaTeX or HTML reach the page escaped, in markdown
elements and in plotly's hover and legend HTML alike."""

from __future__ import annotations

import json
import re

import pandas as pd
from conftest import DEMO_RATINGS, wait_for
from test_app import PAGES, app, map_spec, shown, upload, visit

from hmf_core.runs.manager import start_run
from hmf_core.training.settings import TrainSettings

HOSTILE = ("**x** [link](x) $x^2$", "<img src=x onerror=alert(1)>", "<b>bold</b>")
# None of these may reach markdown without a backslash before its first character.
RAW = [re.compile(r"(?<!\\)" + re.escape(text)) for text in ("[link", "$x^2", "<img", "<b>")]
MARKDOWN = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title")


def markdown_values(at) -> list[str]:
    """Every markdown string the page sent (main area and sidebar), unrendered."""
    return [str(e.value) for kind in MARKDOWN for e in getattr(at, kind)]


def assert_escaped(at, where: str) -> None:
    for value in markdown_values(at):
        for raw in RAW:
            assert not raw.search(value), f"{where}: {raw.pattern!r} unescaped in {value!r}"


def hostile_files(folder) -> tuple[bytes, bytes, pd.DataFrame]:
    """The first 30 users of the demo; every title, genre and gender hostile."""
    ratings = pd.read_csv(DEMO_RATINGS)
    ratings = ratings[ratings["userId"] <= 30]
    items = sorted(ratings["movieId"].unique())
    movies = pd.DataFrame(
        {
            "movieId": items,
            "title": [f"{HOSTILE[i % 3]} {i}" for i in range(len(items))],
            "genres": [HOSTILE[(i + 1) % 3] for i in range(len(items))],
        }
    )
    people = pd.DataFrame({"userId": range(1, 31), "gender": [HOSTILE[i % 3] for i in range(30)]})
    return ratings.to_csv(index=False).encode(), movies.to_csv(index=False).encode(), people


def test_hostile_names_and_titles_are_shown_literally_on_every_page(tmp_path, monkeypatch):
    ratings, movies, people = hostile_files(tmp_path)
    ratings_name = f"{HOSTILE[0]} {HOSTILE[1]}.csv"
    at = upload(
        app(tmp_path / "runs", monkeypatch).run(),
        (ratings_name, ratings),
        (
            f"{HOSTILE[2]}.csv",
            movies,
        ),
    )
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert_escaped(at, "data")
    assert f"Current dataset: {ratings_name} (uploaded)" in [shown(s.value) for s in at.subheader]
    dataset = at.session_state["dataset"]

    people_path = tmp_path / "people.csv"
    people.to_csv(people_path, index=False)
    settings = TrainSettings(
        data=dataset.ratings,
        items=dataset.items,
        users=str(people_path),
        split="random",
        user_depth=1,
        item_depth=1,
        user_clusters=[4],
        item_clusters=[4],
        max_epochs=2,
        projection=False,
    )
    run = start_run(settings, root=tmp_path / "runs", name="run $x^2$ <img src=x onerror=alert(1)>")
    wait_for(
        lambda: run.progress().get("state") in ("finished", "failed") and not run.process_alive()
    )
    assert run.progress()["state"] == "finished", run.log_tail()

    at.run()  # the sidebar lists the new run
    at.sidebar.selectbox(key="run").set_value(run.name).run()
    for page in PAGES:
        visit(at, page)
        assert_escaped(at, page)
    visit(at, "train")
    assert any(run.name in shown(s.value) for s in at.subheader)  # shown, as typed

    visit(at, "map")
    sent = map_spec(at)
    spec = json.loads(sent)
    hovers = "\n".join(str(t) for trace in spec["data"] for t in trace.get("hovertext") or [])
    assert "&lt;img src=x onerror=alert(1)&gt;" in hovers  # the titles are there, escaped
    assert "&lt;b&gt;bold&lt;/b&gt;" in hovers  # the gender values too
    assert "<img" not in sent and "<b>bold" not in sent

    # The map coloured by a hostile metadata column: its legend entries are HTML too.
    at.selectbox(key="map_colour").set_value("gender").run()
    assert not at.exception
    sent = map_spec(at)
    names = [trace.get("name", "") for trace in json.loads(sent)["data"]]
    assert "&lt;b&gt;bold&lt;/b&gt;" in names and "<b>bold" not in sent


def test_a_hostile_cell_value_in_an_error_is_shown_literally(tmp_path, monkeypatch):
    content = b"userId,movieId,rating\n1,10,4\n1,11,[Click to fix](https://evil.example/login)\n"
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("<b>evil<b>.csv", content))
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "[Click to fix](" not in error and "<b>" not in error
    assert shown(error).startswith("<b>evil<b>.csv, line 3: expected a number")
    assert "[Click to fix](https://evil.example/login)" in shown(error)
    assert_escaped(at, "data")
