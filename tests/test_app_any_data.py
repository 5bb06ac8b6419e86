"""Issue 21, item 1 and its target, under AppTest: a product-shaped dataset unlike MovieLens
(hmf_dev.synthetic.shop_files: string skus in a column no reader recognises, `stars` and `ts`;
products with a categorical `category`, multi-valued `tags`, numeric `price` and free-text
`description`; customers with `region` and `tier`), trained by the CLI, and every page opened:
each metadata column is reachable where the issue lists it (Map colour-by and hovers, the
members table, Explain's recommendation and history tables, Affinity's tables both ways,
Metrics' agreement per column, Compare's per-column agreement), in neutral words.
The browser version is test_browser.py's test_a_product_dataset_end_to_end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import hmf_cli
from test_app import app, table, texts, visit

from dashboard import loads, map_data
from hmf_core.runs.rundir import RunDir
from hmf_dev.synthetic import CATEGORIES, REGIONS, TAGS, TIERS, shop_files

pytestmark = pytest.mark.usefixtures("data_in_tmp")
MOVIE_WORDS = re.compile(r"\b(movies?|films?|genres?|titles?|a item)\b", re.IGNORECASE)
ITEM_COLUMNS = ("category", "tags", "price", "description")
USER_COLUMNS = ("region", "tier")
CATEGORICAL = ("category", "tags", "region", "tier")  # what agreement is measured on


@pytest.fixture(scope="module")
def shop_runs(tmp_path_factory) -> Path:
    """A runs folder holding one finished run ("shop") on the generated shop, trained by the CLI
    with plain MF beside it."""
    root = tmp_path_factory.mktemp("shop")
    files = shop_files(root / "data")
    result = hmf_cli(
        "train",
        *("--data", files["ratings"], "--item-col", "sku"),
        *("--items", files["products"], "--users", files["customers"]),
        *("--split", "random", "--user-clusters", 4, "--item-clusters", 4),
        *("--max-epochs", 4, "--lr", 0.02, "--compare-mf"),
        *("--run-dir", root / "runs" / "shop", "--name", "shop"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "runs"


# The Data page's list of the formats hmf_core reads names MovieLens's files (u.item,
# movies.csv): what the formats are called, on any data (test_dashboard_neutral's allow-list).
FORMAT_HELP = "Ratings to train on:"


def neutral(at, page: str) -> None:
    """No movie word in anything the page says, nor in its tables' headers."""
    said = [line for line in texts(at).splitlines() if not line.startswith(FORMAT_HELP)]
    headers = [str(c) for e in at.dataframe for c in e.value.columns]
    found = MOVIE_WORDS.findall("\n".join(said + headers))
    assert not found, f"{page}: {found}"


def shown_columns(at, key_column: str, *columns: str) -> list[str]:
    """The columns a table shows (its column_order when it sets one, else all of them)."""
    for element in at.dataframe:
        if all(c in element.value.columns for c in (key_column, *columns)):
            return list(element.proto.column_order) or list(element.value.columns)
    raise AssertionError(f"no table with {key_column} and {columns}")


def test_the_data_page_reads_the_shop_with_its_own_column_names(tmp_path, monkeypatch):
    files = shop_files(tmp_path / "shop")
    at = app(tmp_path / "runs", monkeypatch).run()
    at.segmented_control(key="data_source").set_value("Files on this machine").run()
    at.text_input(key="column_item").input("sku")
    at.text_input(key="path_ratings").input(str(files["ratings"]))
    at.text_input(key="path_items").input(str(files["products"]))
    at.text_input(key="path_users").input(str(files["customers"]))
    at.run()
    at.button(key="use_paths").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = texts(at)
    ratings = len(files["ratings"].read_text().splitlines()) - 1
    assert "Users 120" in said and "Items 160" in said and f"Ratings {ratings:,}" in said
    assert "160 of 160 rated items have an entry" in said
    assert "120 of 120 rated users have an entry" in said
    neutral(at, "data")


def test_every_page_shows_every_column_of_the_shop(shop_runs, monkeypatch):
    at = app(shop_runs, monkeypatch)
    at.query_params["run"] = "shop"
    at.run()
    assert not at.exception
    run = RunDir(shop_runs / "shop")

    visit(at, "train")
    neutral(at, "train")

    visit(at, "map")  # every categorical column colours the map; the hovers show them
    colour = at.selectbox(key="map_colour")
    assert {"Category", "Tag", "Region", "Tier"} <= set(colour.options)
    for choice in ("Category", "Tag", "Region", "Tier"):
        colour.set_value(choice).run()
        assert not at.exception, choice
        colour = at.selectbox(key="map_colour")
    neutral(at, "map")
    frame, _ = map_data.drawn(run, loads.model_key(run), "model")
    item = frame[frame["kind"] == "item"].iloc[0]
    user = frame[frame["kind"] == "user"].iloc[0]
    assert item["category"] in CATEGORIES and f"category: {item['category']}" in item["hover"]
    assert item["tag"] in TAGS and f"tag: {item['tag']}" in item["hover"]
    assert user["region"] in REGIONS and f"region: {user['region']}" in user["hover"]
    assert user["tier"] in TIERS and f"tier: {user['tier']}" in user["hover"]

    visit(at, "membership")  # the members table, users then items
    assert set(USER_COLUMNS) <= set(table(at, "probability", "label").columns)
    at.segmented_control(key="members_side_0").set_value("item").run()
    members = table(at, "probability", "label")
    assert set(ITEM_COLUMNS) <= set(members.columns)
    assert set(members["category"]) <= set(CATEGORIES)
    neutral(at, "membership")

    visit(at, "explain")  # the recommendations and what the user rated
    assert set(ITEM_COLUMNS) <= set(shown_columns(at, "rank", "score"))
    history = table(at, "label", "rating", "stage")
    assert set(ITEM_COLUMNS) <= set(history.columns)
    assert set(history["category"]) <= set(CATEGORIES)
    neutral(at, "explain")

    visit(at, "affinity")  # Table 4 both ways, the other side shown by any of its columns
    assert at.selectbox(key="affinity_item_attribute").options[1:] == list(ITEM_COLUMNS)
    at.selectbox(key="affinity_item_attribute").set_value("category").run()
    ranked = table(at, "inner_product", "nearest")
    assert set(", ".join(ranked["nearest"]).split(", ")) <= set(CATEGORIES)
    # each customer buys mostly from its region's category: the names say which
    assert all(name.split(" ")[0] in CATEGORIES for name in ranked["name"]), list(ranked["name"])
    at.segmented_control[0].set_value("item").run()
    assert at.selectbox(key="affinity_attribute").options[1:] == list(USER_COLUMNS)
    at.selectbox(key="affinity_attribute").set_value("tier").run()
    ranked = table(at, "inner_product", "nearest")
    assert set(", ".join(ranked["nearest"]).split(", ")) <= set(TIERS)
    assert all(name.split(" ")[0] in REGIONS for name in ranked["name"]), list(ranked["name"])
    neutral(at, "affinity")

    visit(at, "metrics")  # agreement per column, for every categorical column
    agreement = table(at, "column", "ami_model")
    assert set(CATEGORICAL) <= set(agreement["column"])
    planted = agreement[agreement["level"] == 1]  # the 4 clusters (level 2 halves them)
    found = planted.set_index("column")["ami_model"]
    assert found["category"] > 0.5 and found["region"] > 0.5  # the planted preference
    assert "MF (same split)" in table(at, "model")["model"].tolist()
    neutral(at, "metrics")

    visit(at, "compare")
    compared = table(at, "category_ami_model")
    assert {f"{c}_ami_model" for c in CATEGORICAL} <= set(compared.columns)
    assert compared["category_ami_model"].notna().all()
    neutral(at, "compare")  # (the Data page shows the current dataset: the first test)
