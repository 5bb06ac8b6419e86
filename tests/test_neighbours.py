"""interpret.neighbours: nearest points of the shared space by cosine and by inner product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hmf_core.interpret.neighbours import nearest, nearest_to


def points():
    table = pd.DataFrame(
        {
            "kind": ["user", "item", "item", "item", "user cluster"],
            "label": ["u", "same direction, long", "orthogonal", "opposite", "c0"],
        }
    )
    vectors = np.array([[1.0, 0.0], [5.0, 0.5], [0.0, 9.0], [-1.0, 0.0], [0.9, 0.0]])
    return table, vectors


def test_cosine_ignores_length_and_inner_product_does_not():
    table, vectors = points()
    cosine = nearest(table, vectors, 0, "cosine", k=4)
    assert cosine["label"].tolist() == ["c0", "same direction, long", "orthogonal", "opposite"]
    assert cosine["cosine"].iloc[-1] == pytest.approx(-1.0)
    inner = nearest(table, vectors, 0, "inner product", k=2)
    assert inner["label"].tolist() == ["same direction, long", "c0"]
    assert inner["inner product"].tolist() == pytest.approx([5.0, 0.9])


def test_kinds_filter_and_errors():
    table, vectors = points()
    items = nearest(table, vectors, 0, "cosine", k=10, kinds=("item",))
    assert set(items["kind"]) == {"item"} and len(items) == 3
    with pytest.raises(ValueError, match="measure must be one of"):
        nearest(table, vectors, 0, "euclid")
    with pytest.raises(ValueError, match="row 9 is not in the table"):
        nearest(table, vectors, 9)


def test_a_point_is_found_by_kind_level_and_index():
    table, vectors = points()
    table = table.assign(level=[0, 0, 0, 0, 1], index=[0, 0, 1, 2, 0])
    found = nearest_to(table, vectors, "user cluster", 1, 0, "cosine", k=1)
    assert found["label"].tolist() == ["u"]
    with pytest.raises(ValueError, match="no single point item 7 at level 0"):
        nearest_to(table, vectors, "item", 0, 7)
