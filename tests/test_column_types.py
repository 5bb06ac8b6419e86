"""Issue 21 item 1: every metadata column typed once from its values (categorical, multi-valued
with its separator, numeric in buckets, free text, id), overridable on the Data page, and the
run's types (column_types.json) used by every reader of its metadata."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from streamlit.testing.v1 import AppTest
from test_app import APP, visit

from hmf_core.data.column_types import (
    ColumnType,
    apply_overrides,
    bucket_values,
    detect_column,
    detect_types,
    resolve_types,
    round_edges,
    type_as,
)
from hmf_core.data.columns import categorical_columns, typed_columns
from hmf_core.data.datasets import Dataset
from hmf_core.data.metadata import read_metadata
from hmf_core.interpret.naming import value_lift
from hmf_core.interpret.projection import map_metadata
from hmf_core.interpret.queries import metadata_shown, model_rows
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import TrainSettings

N = 120


def planted_items(n: int = N) -> pd.DataFrame:
    """Three columns of each type, a free-text and an id column."""
    rng = np.random.default_rng(0)
    tags = ["red", "green", "blue", "black", "white"]
    return pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.choice(["S", "M", "L", "XL"], n),
            "brand": rng.choice([f"brand {b}" for b in "ABCDEF"], n),
            "tags": ["|".join(rng.choice(tags, 2, replace=False)) for _ in range(n)],
            "styles": [
                "; ".join(rng.choice(["casual", "formal", "sport"], 2, False)) for _ in range(n)
            ],
            "rooms": [
                ",".join(rng.choice(["kitchen", "bath", "garden", "hall"], 1 + i % 2, False))
                for i in range(n)
            ],
            "price": rng.uniform(1, 500, n).round(2),
            "weight": rng.integers(100, 5000, n),
            "stars": rng.choice([1, 10, 100, 1000], n),  # a few values, not codes 0..k
            "description": [f"a fine thing number {i}, made with care" for i in range(n)],
            "sku": [f"SKU-{i:06d}" for i in range(n)],
        }
    )


def test_planted_columns_get_their_types():
    frame = planted_items()
    types = detect_types(frame)
    kinds = {name: found.kind for name, found in types.items()}
    assert kinds == {
        "colour": "categorical",
        "size": "categorical",
        "brand": "categorical",
        "tags": "multi",
        "styles": "multi",
        "rooms": "multi",
        "price": "numeric",
        "weight": "numeric",
        "stars": "numeric",
        "description": "text",
        "sku": "id",
    }
    assert [types[c].separator for c in ("tags", "styles", "rooms")] == ["|", ";", ","]
    columns = typed_columns(frame, types)
    assert set(columns) == set(frame.columns) - {"description", "sku"}
    assert set(columns["styles"]["labels"]) == {"casual", "formal", "sport"}  # split, stripped
    assert set(columns["stars"]["labels"]) == {"<10", "10-99", "100-999", "1000+"}
    assert set(columns["price"]["labels"]) == set(types["price"].labels)  # bucketed, not prices


def test_numeric_buckets_have_round_edges():
    numbers = pd.Series(np.tile(np.arange(100), 2))  # quintiles 19.8, 39.6, ...: step 10
    found = detect_column(numbers)
    assert found.kind == "numeric" and found.edges == (20.0, 40.0, 60.0, 80.0)
    assert found.labels == ("<20", "20-39", "40-59", "60-79", "80+")
    assert bucket_values(pd.Series([0, 19, 20, 79, 80, np.nan]), found).tolist()[:5] == [
        "<20",
        "<20",
        "20-39",
        "60-79",
        "80+",
    ]
    assert round_edges(np.linspace(0.0, 1.0, 101)) == [0.2, 0.4, 0.6, 0.8]
    floats = detect_column(pd.Series(np.linspace(0.0, 1.0, 101)))
    assert floats.labels == ("<0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8+")
    assert detect_column(pd.Series([0, 1, 2, 1, 0, 2])).kind == "categorical"  # codes 0..k
    assert detect_column(pd.Series(np.arange(100))).kind == "id"  # a distinct whole number each


def ml_types(relative: str, kind: str) -> dict[str, str]:
    frame = read_metadata(shared_file(relative), kind=kind).reset_index()
    return {name: found.kind for name, found in detect_types(frame).items()}, frame


def test_movielens_files_are_typed_as_before():
    item_kinds = {"id": "id", "title": "text", "genres": "multi", "label": "id", "genre": "id"}
    for relative in ("ml-100k/u.item", "ml-1m/movies.dat"):
        kinds, frame = ml_types(relative, "item")
        assert {k: v for k, v in kinds.items() if k != "release_date"} == item_kinds
        assert list(categorical_columns(frame)) == ["genres"]
    kinds, frame = ml_types("ml-100k/u.item", "item")
    assert kinds["release_date"] == "text"  # 240 dates: shown in tables, never a colour
    user_kinds = {"age": "numeric", "gender": "categorical", "occupation": "categorical"}
    for relative in ("ml-100k/u.user", "ml-1m/users.dat"):
        kinds, frame = ml_types(relative, "user")
        assert kinds == {**user_kinds, "id": "id", "zip": "id", "label": "id"}
        assert set(categorical_columns(frame)) == set(user_kinds)
        assert metadata_shown(frame) == [c for c in frame.columns if c in user_kinds]
    frame = read_metadata(shared_file("ml-1m/users.dat"), kind="user").reset_index()
    age = detect_types(frame)["age"]  # ML-1M's own age codes keep their own groups
    assert age.labels == ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
    frame = read_metadata(shared_file("ml-100k/u.user"), kind="user").reset_index()
    assert detect_types(frame)["age"].labels == ("<25", "25-29", "30-34", "35-44", "45+")


def test_overrides_are_checked_one_line_each():
    frame = planted_items()
    assert type_as(frame["weight"], "categorical", "weight").kind == "categorical"
    with pytest.raises(ValueError, match="column 'description' cannot be numeric: 'a fine"):
        type_as(frame["description"], "numeric", "description")
    with pytest.raises(ValueError, match="column 'size' cannot be multi-valued"):
        type_as(frame["size"], "multi", "size")
    types, errors = apply_overrides(frame, {"description": "numeric", "price": "text"})
    assert types["price"].kind == "text" and types["description"].kind == "text"
    assert list(errors) == ["description"] and "\n" not in errors["description"]
    with pytest.raises(ValueError, match="items.csv: no column 'nope'"):
        resolve_types(frame, {"nope": "id"}, "items.csv")
    found = ColumnType.from_json(types["stars"].to_json(), "x")
    assert found == types["stars"]


def shop(folder) -> TrainSettings:
    """40 customers rating 60 products with a band (numeric), a colour (categorical)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = [
        (u, i, float(rng.integers(1, 6)))
        for u in range(1, 41)
        for i in rng.choice(60, 20, False) + 1
    ]
    pd.DataFrame(rows, columns=["user", "item", "rating"]).to_csv(folder / "r.csv", index=False)
    items = pd.DataFrame(
        {
            "item": range(1, 61),
            "name": [f"product {i}" for i in range(1, 61)],
            "weight": [100 * (1 + i % 12) for i in range(60)],  # 12 values: numeric ranges
            "colour": [("red", "green", "blue")[i % 3] for i in range(60)],
        }
    )
    items.to_csv(folder / "products.csv", index=False)
    return TrainSettings(
        data=str(folder / "r.csv"),
        items=str(folder / "products.csv"),
        split="random",
        user_clusters=[3],
        item_clusters=[3],
        max_epochs=1,
        projection=False,
    )


def test_an_override_changes_what_quality_and_the_map_offer(tmp_path):
    settings = shop(tmp_path / "data")
    frame = pd.read_csv(settings.items)
    assert detect_types(frame)["weight"].kind == "numeric"  # detected: ranges
    settings.column_types = {"item": {"weight": "categorical", "colour": "text"}}
    train_run(settings, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    stored = json.loads(run.file("column_types").read_text())["item"]
    assert stored["weight"]["type"] == "categorical" and stored["colour"]["type"] == "text"
    quality = run.quality()
    assert quality["columns"]["item"] == ["weight"]  # colour (text) is no longer compared
    assert {r["column"] for r in quality["agreement"] if r["side"] == "item"} == {"weight"}
    shown = map_metadata(run.load_model(), run.users(), run.items())
    assert "colour" not in shown.columns  # not offered by Colour by
    weights = shown.loc[shown["kind"] == "item", "weight"]
    assert set(weights.dropna()) == {str(100 * k) for k in range(1, 13)}  # values, not ranges
    assert "colour" in metadata_shown(run.items())  # text: still in the tables
    model = run.load_model()
    membership = model.groupings("item")[0].membership.detach().numpy()  # (items, 3)
    rows = model_rows(run.items(), membership.shape[0], "item")
    lift = value_lift(membership, rows)  # what the names are made of
    assert set(lift["column"]) == {"weight"} and "100" in set(lift["value"])
    # the same file without the override: weight in ranges, colour compared
    assert set(categorical_columns(pd.read_csv(run.file("items")))) == {"weight", "colour"}


def test_the_data_page_shows_the_types_and_takes_an_override(tmp_path, monkeypatch):
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    visit(at, "data")
    editor = at.data_editor(key="column_types_item")
    table = editor.value.set_index("column")
    assert table.loc["genres", "type"] == "multi" and table.loc["genres", "separator"] == "|"
    assert table.loc["title", "type"] == "text" and table.loc["genre", "type"] == "id"
    rows = list(editor.value["column"])
    edits = {rows.index("genre"): {"type": "categorical"}, rows.index("title"): {"type": "numeric"}}
    at.session_state["column_types_item"] = {
        "edited_rows": edits,
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "column 'title' cannot be numeric" in errors[0]
    dataset = at.session_state["dataset"]
    assert dataset.types == (("item", "genre", "categorical"),)
    assert dataset.type_overrides() == {"item": {"genre": "categorical"}}  # -> TrainSettings
    assert Dataset.from_dict(dataset.to_dict()).types == dataset.types  # a link carries them
    at.run()  # the next run's table starts from the dataset's types
    assert at.session_state["dataset"].types == dataset.types  # kept, not toggled
    table = at.data_editor(key="column_types_item").value.set_index("column")
    assert table.loc["genre", "type"] == "categorical" and table.loc["title", "type"] == "text"
