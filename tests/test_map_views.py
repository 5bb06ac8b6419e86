"""hmf_core.interpret.projection's parts for the map page: names in hovers, a cluster's members to
highlight, and the view in which users and items are comparable. Planted answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hmf_core.interpret import projection
from hmf_core.interpret.naming import cluster_names
from hmf_core.models.hmf import HMF, HMFConfig

ITEM_MEMBERSHIP = np.array([[0.9, 0.1]] * 6 + [[0.1, 0.9]] * 6)
ITEM_MEMBERSHIP[0] = [0.99, 0.01]
ITEM_MEMBERSHIP[6] = [0.02, 0.98]


def planted_model() -> tuple[HMF, pd.DataFrame, pd.DataFrame]:
    """12 items: cluster 0 the horror films, cluster 1 the comedies (tests/test_naming's
    planted items), their memberships set exactly; 4 users in 2 clusters, no metadata but
    labels."""
    torch.manual_seed(0)
    config = HMFConfig(n_users=4, n_items=12, dim=3, user_clusters=(2,), item_clusters=(2,))
    model = HMF(config).eval()
    with torch.no_grad():  # softmax(log p) = p: the planted memberships exactly
        model.items.connections[0].copy_(torch.log(torch.tensor(ITEM_MEMBERSHIP)))
        users = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.95, 0.05]])
        model.users.connections[0].copy_(torch.log(users))
    titles = [f"scary {i}" for i in range(6)] + [f"funny {i}" for i in range(6)]
    genres = ["Horror"] * 6 + ["Comedy"] * 5 + ["Comedy|Drama"]
    items = pd.DataFrame({"index": range(12), "label": titles, "genres": genres})
    people = pd.DataFrame({"index": range(4), "label": [f"person {i}" for i in range(4)]})
    return model, people, items


def test_map_names_are_the_cluster_names_of_every_page_and_objects_get_their_top_cluster():
    model, users, items = planted_model()
    names = projection.map_names(model, users, items).set_index(["kind", "level", "index"])
    # 6 horror films of 12 are too few to be evidence (naming's test): named by members.
    assert names.loc[("item cluster", 1, 0), "name"] == "no distinctive genres — scary 0, scary 1"
    expected = cluster_names(ITEM_MEMBERSHIP, items["label"], items.set_index("index"))
    for cluster, name in enumerate(expected["name"]):
        assert names.loc[("item cluster", 1, cluster), "name"] == name
    assert names.loc[("item", 0, 0), "name"] == "no distinctive genres — scary 0, scary 1"
    assert names.loc[("item", 0, 0), "top_probability"] == pytest.approx(0.99)
    assert names.loc[("item", 0, 7), "name"] == expected["name"][1]
    assert names.loc[("item", 0, 7), "top_probability"] == pytest.approx(0.9)
    # Users without metadata: named by their most typical members.
    assert names.loc[("user cluster", 1, 0), "name"] == "person 3, person 0"
    assert names.loc[("user", 0, 1), "name"] == "person 1, person 2"
    assert np.isnan(names.loc[("user cluster", 1, 0), "top_probability"])
    table, _ = projection.embedding_table(model, users, items)
    keys = ["kind", "level", "index"]
    assert len(table.merge(names.reset_index(), on=keys, validate="one_to_one")) == len(table)


def test_map_names_of_a_side_without_clusters_are_empty():
    torch.manual_seed(0)
    model = HMF(HMFConfig(n_users=5, n_items=4, dim=2, user_clusters=(), item_clusters=(2,)))
    names = projection.map_names(model.eval(), None, None)
    users = names[names["kind"] == "user"]
    assert len(users) == 5 and users["name"].isna().all()
    assert names[names["kind"] == "item"]["name"].notna().all()


def test_a_clusters_highlight_is_its_argmax_members_most_probable_first():
    model, _, _ = planted_model()
    members = projection.cluster_highlight(model, "item", 1, 1)
    assert list(members["index"]) == [6, 7, 8, 9, 10, 11]
    np.testing.assert_allclose(members["probability"], [0.98] + [0.9] * 5)
    assert set(members["kind"]) == {"item"} and set(members["level"]) == {0}
    assert members["top"].all()  # 2 clusters: twice uniform is 1, so the argmax members only
    users = projection.cluster_highlight(model, "user", 1, 0)
    assert list(users["index"]) == [3, 0, 2]  # 0.95, 0.7, 0.6
    # Members by probability too: user 2 (0.4 for cluster 1) is not its argmax member.
    users = projection.cluster_highlight(model, "user", 1, 1, min_probability=0.35)
    assert list(users["index"]) == [1, 2] and list(users["top"]) == [True, False]
    np.testing.assert_allclose(users["probability"], [0.8, 0.4])
    # The page keeps each object's top cluster (one argmax for every click): the same rows.
    tops = projection.top_clusters_of(model, "user", 1)
    assert list(tops) == [0, 1, 0, 0]
    kept = projection.cluster_highlight(model, "user", 1, 1, min_probability=0.35, tops=tops)
    pd.testing.assert_frame_equal(kept, users)
    with pytest.raises(ValueError, match="cluster must be between 0 and 1"):
        projection.cluster_highlight(model, "item", 1, 2)
    with pytest.raises(ValueError, match="level must be between 1 and 1"):
        projection.cluster_highlight(model, "item", 2, 0)


def two_blobs():
    """Users = mean user + a taste direction, items = mean item + the same directions scaled:
    the means put the sides far apart (opposite directions), the tastes match by group."""
    tastes = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    mean_user, mean_item = np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, -4.0])
    users = mean_user + 0.5 * tastes  # (4, 3), mean = mean_user
    items = mean_item + 2.0 * tastes  # (4, 3)
    table = pd.DataFrame(
        {
            "kind": ["user"] * 4 + ["item"] * 4 + ["user cluster"],
            "level": [0] * 8 + [1],
            "index": [0, 1, 2, 3, 0, 1, 2, 3, 0],
        }
    )
    cluster = mean_user + 3.0 * tastes[1]  # a user cluster leaning to taste 1
    return table, np.vstack([users, items, cluster])


def test_shared_vectors_remove_each_sides_mean_and_length():
    table, vectors = two_blobs()
    shared = projection.shared_vectors(table, vectors)
    np.testing.assert_allclose(np.linalg.norm(shared, axis=1), 1.0)
    np.testing.assert_allclose(shared[:4], shared[4:8], atol=1e-12)  # user g = item g
    np.testing.assert_allclose(shared[8], [0.0, 1.0, 0.0], atol=1e-12)  # moved by the user mean
    raw_gap = np.linalg.norm(vectors[:4].mean(0) - vectors[4:8].mean(0))
    assert raw_gap == pytest.approx(9.0)  # in the model's space: two blobs 9 apart
    offsets = projection.side_offsets(table, vectors)
    assert offsets["means_cosine"] == pytest.approx(-1.0)
    assert offsets["user_mean_norm"] == pytest.approx(5.0)
    assert offsets["item_mean_norm"] == pytest.approx(4.0)
    assert offsets["item_norm"] == pytest.approx(np.sqrt(16 + 4))


def test_the_shared_map_puts_each_user_on_the_items_of_its_taste():
    table, vectors = two_blobs()
    shared = projection.shared_map(table, vectors)
    xy = shared[["x", "y"]].to_numpy()
    np.testing.assert_allclose(xy[:4], xy[4:8], atol=1e-9)
    assert np.linalg.norm(xy[0] - xy[2]) > 1.0  # different tastes stay apart
    zero = projection.shared_vectors(table.iloc[:1], vectors[:1])  # the mean itself
    np.testing.assert_array_equal(zero, np.zeros((1, 3)))


def test_a_markers_customdata_names_its_point_as_a_list_or_as_a_typed_array_row():
    from dashboard.map_figure import _custom, point_of

    rows = pd.DataFrame(
        {"kind": ["item cluster"], "level": [2], "index": [7], "size": [3.5], "top_cluster": [-1]}
    )
    custom = _custom(rows)[0].tolist()
    expected = {"kind": "item cluster", "level": 2, "index": 7, "size": 3.5, "top_cluster": -1}
    assert point_of(custom) == expected
    assert point_of({str(i): value for i, value in enumerate(custom)}) == expected  # from JS


def test_top_members_equal_a_full_stable_sort_ties_included():
    from hmf_core.interpret.naming import top_members

    rng = np.random.default_rng(0)
    probabilities = rng.integers(0, 4, size=(50, 7)) / 4.0  # many ties
    for top in (1, 2, 5, 50, 60):
        expected = np.argsort(-probabilities, axis=0, kind="stable")[:top]
        np.testing.assert_array_equal(top_members(probabilities, top), expected)


def test_a_click_on_a_cluster_marker_selects_the_cluster_not_an_object_under_it():
    """Issue 17.6: a crisp cluster collapses its members onto its vector, so a click on its
    marker often picked an item drawn there."""
    from dashboard.state import click_choice

    cluster = {"kind": "item cluster", "level": 1, "index": 3, "size": 9.0, "top_cluster": 3}
    cluster = {**cluster, "x": 1.0, "y": 2.0}
    other = {**cluster, "kind": "user cluster", "index": 0, "x": 1.0, "y": 2.0}
    far = {**cluster, "index": 4, "x": 5.0, "y": 5.0}
    item = {"kind": "item", "level": 0, "index": 17, "size": 1.0, "top_cluster": 3}
    under = {**item, "x": 1.0004, "y": 1.9997}
    # The click's selection holds the cluster and an object at its spot: the cluster.
    assert click_choice([under, cluster], [cluster, far], 0.001) == [cluster]
    # It holds only the object under the marker: the marker's cluster (of the item's side).
    assert click_choice([under], [other, far, cluster], 0.001) == [cluster]
    # An object away from every cluster marker stays selected; so does one with no markers.
    away = {**item, "x": 1.01, "y": 2.0}
    assert click_choice([away], [cluster, far], 0.001) == [away]
    assert click_choice([under], [], 0.001) == [under]


def test_an_mfdmc_map_has_every_views_centres_in_their_slice_and_colours_by_any_view():
    """Parallel groupings (links None): the map holds every user, item and the centres of every
    view, each centre zero outside its view's slice of the latent space (concat); PCA places
    them all; top_clusters_at colours by view v's top centre and keeps only view v's centres."""
    from hmf_core.models.mfdmc import MFDMC, MFDMCConfig

    torch.manual_seed(3)
    model = MFDMC(MFDMCConfig(25, 15, dim=6, views=3, user_centres=4, item_centres=2))
    assert all(g.links is None for g in model.groupings("user"))
    table, vectors = projection.embedding_table(model, None, None)
    assert len(table) == 25 + 15 + 3 * 4 + 3 * 2 and vectors.shape == (len(table), 6)
    for view in (1, 2, 3):
        centres = vectors[((table["kind"] == "user cluster") & (table["level"] == view)).values]
        outside = np.delete(centres, [2 * view - 2, 2 * view - 1], axis=1)
        assert centres.shape == (4, 6) and not outside.any() and centres.any()
    frame = projection.pca_map(model, None, None)
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    tops = projection.top_clusters_at(model, frame, 2)
    users = (frame["kind"] == "user").to_numpy()
    expected = model.groupings("user")[1].membership.argmax(1).numpy()
    assert (tops[users] == expected).all()
    clusters = frame["kind"].str.endswith("cluster").to_numpy()
    assert (tops[clusters & (frame["level"] == 2).to_numpy()] >= 0).all()
    assert (tops[clusters & (frame["level"] != 2).to_numpy()] == -1).all()
    assert (projection.top_clusters_at(model, frame, 1) == frame["top_cluster"].to_numpy()).all()
