"""Issue 21 items 1-2: a run on data that is not MovieLens (items with a `category`, users with a
`region`) shows its own metadata columns on every page, in neutral words: Map's Colour by and
hovers, the members, recommendation and history tables, Compare's per-column agreement."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import wait_for
from test_app import app, table, texts, visit

from dashboard import loads, map_data
from hmf_core.runs.manager import start_run
from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import TrainSettings

CATEGORIES = ("tools", "garden", "kitchen", "toys")
REGIONS = ("north", "south", "east")
MOVIE_WORDS = re.compile(r"\b(movies?|films?|genres?|titles?|a item)\b", re.IGNORECASE)


def shop_data(folder: Path) -> TrainSettings:
    """60 customers rating 80 products; each customer likes one product category more."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    users, items = np.arange(1, 61), np.arange(1, 81)
    category = np.array([CATEGORIES[i % 4] for i in range(len(items))])
    liked = {u: CATEGORIES[u % 4] for u in users}
    rows = []
    for user in users:
        for item in rng.choice(items, 30, replace=False):
            mean = 4.2 if category[item - 1] == liked[user] else 2.4
            rows.append((user, item, float(np.clip(round(mean + rng.normal(0, 0.5)), 1, 5))))
    pd.DataFrame(rows, columns=["user", "item", "rating"]).to_csv(folder / "r.csv", index=False)
    pd.DataFrame(
        {"item": items, "name": [f"product {i}" for i in items], "category": category}
    ).to_csv(folder / "products.csv", index=False)
    regions = [REGIONS[u % 3] for u in users]
    pd.DataFrame({"user": users, "region": regions}).to_csv(folder / "people.csv", index=False)
    return TrainSettings(
        data=str(folder / "r.csv"),
        items=str(folder / "products.csv"),
        users=str(folder / "people.csv"),
        split="random",
        user_depth=1,
        item_depth=1,
        user_clusters=[4],
        item_clusters=[4],
        max_epochs=2,
        lr=1e-2,
        projection=False,
    )


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop-runs")
    run = start_run(shop_data(root / "data"), root=root, name="shop")
    wait_for(
        lambda: run.progress().get("state") in ("finished", "failed") and not run.process_alive()
    )
    assert run.progress()["state"] == "finished", run.log_tail()
    return root


def no_movie_words(at, page: str) -> None:
    found = MOVIE_WORDS.findall(texts(at))
    assert not found, f"{page}: {found}"


def test_the_pages_show_the_runs_own_columns_in_neutral_words(shop_run, monkeypatch):
    at = app(shop_run, monkeypatch)
    at.query_params["run"] = "shop"
    at.run()

    visit(at, "map")
    colour = at.selectbox(key="map_colour")
    assert "Category" in colour.options and "Region" in colour.options
    assert "Genre" not in colour.options and "Gender" not in colour.options
    assert at.text_input(key="map_search").placeholder.startswith("a name")
    no_movie_words(at, "map")
    run = RunDir(shop_run / "shop")
    frame, _ = map_data.drawn(run, loads.model_key(run), "model")
    item = frame[frame["kind"] == "item"].iloc[0]
    user = frame[frame["kind"] == "user"].iloc[0]
    assert f"category: {item['category']}" in item["hover"] and item["category"] in CATEGORIES
    assert f"region: {user['region']}" in user["hover"] and user["region"] in REGIONS

    visit(at, "membership")
    assert {"label", "region"} <= set(table(at, "probability", "label").columns)
    options = at.segmented_control(key="object_side_0").options
    assert "an item" in options
    no_movie_words(at, "membership")

    visit(at, "explain")
    assert "category" in table(at, "rank", "label").columns
    assert "category" in table(at, "label", "rating", "stage").columns
    no_movie_words(at, "explain")

    visit(at, "metrics")
    no_movie_words(at, "metrics")
    visit(at, "compare")
    shown = table(at, "category_ami_model")
    assert "region_ami_model" in shown.columns and pd.notna(shown["category_ami_model"].iloc[0])
    assert not [c for c in shown.columns if "genre" in c]
