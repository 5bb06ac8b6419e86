"""interpret.naming: cluster names from metadata lift and typical members, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hmf_core.interpret.naming import cluster_names, drawn_tree, hierarchy_tree, value_lift


def planted_items():
    """12 items: cluster 0 holds the horror films, cluster 1 the comedies (one is also a
    drama), memberships 0.9 / 0.1; the first item of each cluster is the most typical."""
    genres = ["Horror"] * 6 + ["Comedy"] * 5 + ["Comedy|Drama"]
    membership = np.array([[0.9, 0.1]] * 6 + [[0.1, 0.9]] * 6)
    membership[0] = [0.99, 0.01]
    membership[6] = [0.02, 0.98]
    titles = [f"scary {i}" for i in range(6)] + [f"funny {i}" for i in range(6)]
    metadata = pd.DataFrame({"label": titles, "genres": genres})
    return membership, metadata


def test_lift_is_the_weighted_share_over_the_population_share():
    membership, metadata = planted_items()
    lift = value_lift(membership, metadata).set_index(["cluster", "value"])
    # 13 genre samples: 6 Horror, 6 Comedy, 1 Drama. Cluster 0's weight on Horror:
    horror = 0.99 + 5 * 0.9
    total = horror + 0.02 + 5 * 0.1 + 0.1  # + Comedy of items 6..11 and Drama of item 11
    assert lift.loc[(0, "Horror"), "share"] == pytest.approx(horror / total)
    assert lift.loc[(0, "Horror"), "lift"] == pytest.approx((horror / total) / (6 / 13))


def test_names_say_what_is_over_represented_and_who_is_typical():
    membership, metadata = planted_items()
    names = cluster_names(membership, metadata["label"], metadata).set_index("cluster")
    assert names.loc[0, "name"] == "Horror — scary 0, scary 1"
    assert names.loc[1, "top_values"].startswith("Comedy")
    assert names.loc[1, "top_members"].startswith("funny 0")
    assert names.loc[0, "members"] == 6
    assert names.loc[0, "size"] == pytest.approx(membership[:, 0].sum())


def test_without_metadata_the_typical_members_name_the_cluster():
    membership, metadata = planted_items()
    names = cluster_names(membership, metadata["label"])
    assert names["name"].tolist() == ["scary 0, scary 1", "funny 0, funny 1"]


def test_hierarchy_tree_links_each_cluster_to_its_parent_and_folds_small_ones():
    membership, metadata = planted_items()  # level 1: 2 clusters
    fine = np.repeat(membership, 2, axis=1) / 2  # level 1 as 4 clusters: 0,1 horror; 2,3 comedy
    fine[:, 0] += 0.01 * fine[:, 0]
    fine /= fine.sum(1, keepdims=True)
    up = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]])  # S(C2): (4, 2)
    levels = [fine, fine @ up]
    tree = hierarchy_tree(levels, [fine, up], metadata["label"], metadata, top=2)
    by_id = tree.set_index("id")
    assert by_id.loc["L2:0", "parent"] == "all" and by_id.loc["L2:1", "parent"] == "all"
    assert by_id.loc["L1:0", "parent"] == by_id.loc["L1:1", "parent"] == "L2:0"
    assert by_id.loc["L1:2", "parent"] == by_id.loc["L1:3", "parent"] == "L2:1"
    assert "Horror" in by_id.loc["L2:0", "name"] and "Comedy" in by_id.loc["L2:1", "name"]
    folded = hierarchy_tree(levels, [fine, up], metadata["label"], metadata, top=1)
    assert len(folded[folded["level"] == 2]) == 2  # one kept, one "1 smaller clusters"
    assert folded["name"].str.endswith("1 smaller clusters").sum() == 2
    assert set(folded["parent"]) - {""} <= set(folded["id"])  # every parent is a node
    level_one = folded[folded["level"] == 1]
    assert len(level_one) == 2  # the kept level-2 node's larger child and its "other" node


def test_the_drawn_tree_leaves_out_folded_nodes_and_says_how_much_it_shows():
    membership, metadata = planted_items()
    tree = hierarchy_tree([membership], [membership], metadata["label"], metadata, top=1)
    drawn, shown = drawn_tree(tree)
    assert not drawn["name"].str.endswith("smaller clusters").any()
    assert drawn.set_index("id").loc["all", "value"] == 0.0  # the root: sum of its children
    leaf = drawn[drawn["level"] == 1].iloc[0]
    assert leaf["value"] == pytest.approx(leaf["size"])
    assert shown == pytest.approx(leaf["size"] / len(membership))
