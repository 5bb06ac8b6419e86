"""interpret.neighbours: nearest points of the shared space by cosine and by inner product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hmf_core.interpret.neighbours import nearest, nearest_to, vector_ties


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


@pytest.mark.parametrize("seed", range(20))
def test_nearest_equals_a_whole_stable_sort(seed):
    """The k nearest are found without sorting every point: the same rows as a stable sort of
    all of them, ties (points sharing a vector) in row order, whatever k."""
    generator = np.random.default_rng(seed)
    vectors = generator.integers(-2, 3, size=(60, 3)).astype(float)  # many exact ties
    table = pd.DataFrame({"kind": generator.choice(["user", "item"], 60), "label": range(60)})
    for measure in ("cosine", "inner product"):
        for k in (0, 1, 7, 59, 80):
            found = nearest(table, vectors, 5, measure, k=k, kinds=("item",))
            scores = vectors @ vectors[5]
            if measure == "cosine":
                norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(vectors[5])
                scores = np.divide(scores, norms, out=np.zeros(60), where=norms > 0)
            rows = [r for r in range(60) if r != 5 and table["kind"][r] == "item"]
            expected = [rows[p] for p in np.argsort(-scores[rows], kind="stable")[:k]]
            assert found["label"].tolist() == expected


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


def tied_model(use_bias: bool):
    """A tiny HMF whose items 0 and 1 have the same connection logits, so the same vector
    V0 = S(C1) V1 exactly; item 2 differs. Items 0 and 1 differ only in their bias."""
    from hmf_core.interpret.projection import embedding_table
    from hmf_core.models.hmf import HMF, HMFConfig

    torch.manual_seed(0)
    model = HMF(HMFConfig(2, 3, dim=2, user_clusters=(2,), item_clusters=(3,), use_bias=use_bias))
    with torch.no_grad():
        items = model.side("item")
        items.connections[0].copy_(
            torch.tensor([[4.0, 1.0, 0.0], [4.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
        )  # (3 items, 3 clusters)
        items.root.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]]))  # (3, d)
        if use_bias:
            model.item_bias.copy_(torch.tensor([0.25, -0.5, 0.0]))
    return model, *embedding_table(model, None, None)


def test_items_sharing_a_vector_are_listed_with_what_tells_them_apart():
    model, table, vectors = tied_model(use_bias=True)
    found, line = vector_ties(model, table, vectors, "item", 0)
    assert found["index"].tolist() == [0, 1]  # the item first, then its mate; not item 2
    assert found["cosine"].tolist() == pytest.approx([1.0, 1.0])
    assert found["bias"].tolist() == pytest.approx([0.25, -0.5])
    assert found["top_cluster"].tolist() == [0, 0]
    assert found["second_cluster"].tolist() == [1, 1]
    second = float(torch.softmax(torch.tensor([4.0, 1.0, 0.0]), 0)[1])  # ≈ 0.0466
    assert found["second_probability"].tolist() == pytest.approx([second, second])
    assert line == (
        "1 item shares this item's vector (cosine ≥ 0.9999): the model cannot tell them "
        "apart; they differ only in their item bias (-0.500 to +0.250) and their residual "
        f"membership (second-highest level-1 cluster probability {second:.4f} to "
        f"{second:.4f})."
    )


def test_no_ties_and_no_biases():
    model, table, vectors = tied_model(use_bias=False)
    found, line = vector_ties(model, table, vectors, "item", 2)
    assert found.empty and line == ""
    found, line = vector_ties(model, table, vectors, "item", 1)
    assert "bias" not in found.columns and found["index"].tolist() == [1, 0]
    assert "differ only in their residual membership" in line
    with pytest.raises(ValueError, match="not of a item cluster"):
        vector_ties(model, table, vectors, "item cluster", 0)
