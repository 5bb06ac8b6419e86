"""interpret.naming: cluster names from metadata values over-represented beyond chance (with
their evidence) and typical members, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest

from hmf_core.interpret.naming import (
    FDR,
    MIN_SHARE,
    cluster_names,
    drawn_tree,
    hierarchy_tree,
    most_probable,
    over_representation,
    percent,
    value_lift,
)

COPIES = 5  # 12 planted items are too few to be evidence for anything; 60 are


def planted_items():
    """60 items: cluster 0 holds the 30 horror films, cluster 1 the 30 comedies (the last 5 are
    also dramas), memberships 0.9 / 0.1; the first item of each cluster is the most typical."""
    genres = ["Horror"] * 6 * COPIES + ["Comedy"] * 5 * COPIES + ["Comedy|Drama"] * COPIES
    membership = np.array([[0.9, 0.1]] * 6 * COPIES + [[0.1, 0.9]] * 6 * COPIES)
    membership[0] = [0.99, 0.01]
    membership[6 * COPIES] = [0.02, 0.98]
    titles = [f"scary {i}" for i in range(6 * COPIES)] + [f"funny {i}" for i in range(6 * COPIES)]
    metadata = pd.DataFrame({"label": titles, "genres": genres})
    return membership, metadata


def hard(sizes: list[int]) -> np.ndarray:
    """0 / 1 memberships: the first sizes[0] objects in cluster 0, the next sizes[1] in 1..."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.eye(len(sizes))[labels]  # (sum(sizes), len(sizes))


def named(values_by_cluster: list[list[str]], column: str = "genre"):
    """Hard clusters of objects with one `column` value each, labelled c<cluster>-<i>: the
    cluster_names table and the value_lift table indexed by (cluster, value)."""
    sizes = [len(values) for values in values_by_cluster]
    labels = [f"c{c}-{i}" for c, values in enumerate(values_by_cluster) for i in range(len(values))]
    metadata = pd.DataFrame(
        {"label": labels, column: [v for values in values_by_cluster for v in values]}
    )
    membership = hard(sizes)
    names = cluster_names(membership, metadata["label"], metadata).set_index("cluster")
    lift = value_lift(membership, metadata).set_index(["cluster", "value"])
    return names, lift


def test_share_is_the_weighted_fraction_of_members_carrying_the_value_and_lift_its_ratio():
    membership, metadata = planted_items()
    lift = value_lift(membership, metadata).set_index(["cluster", "value"])
    # Per object: an item carrying two genres counts once in the cluster's weight.
    horror = 0.99 + (6 * COPIES - 1) * 0.9
    total = horror + 0.02 + (6 * COPIES - 1) * 0.1  # + the comedies' weight in cluster 0
    assert lift.loc[(0, "Horror"), "share"] == pytest.approx(horror / total)
    assert lift.loc[(0, "Horror"), "population_share"] == pytest.approx(0.5)  # 30 of 60
    assert lift.loc[(0, "Horror"), "lift"] == pytest.approx((horror / total) / 0.5)
    assert lift.loc[(0, "Horror"), "effective_size"] == pytest.approx(total)
    drama = COPIES * 0.9 / (membership[:, 1].sum())  # the 5 comedy-dramas, 0.9 each
    assert lift.loc[(1, "Drama"), "share"] == pytest.approx(drama)


def test_names_say_what_is_over_represented_with_its_evidence_and_who_is_typical():
    membership, metadata = planted_items()
    names = cluster_names(membership, metadata["label"], metadata).set_index("cluster")
    assert names.loc[0, "name"] == "Horror 90% (base 50%) — scary 0, scary 1"
    # Drama is over-represented in cluster 1 (15% vs 8%) but under the share floor.
    assert names.loc[1, "name"] == "Comedy 90% (base 50%) — funny 0, funny 1"
    assert names.loc[1, "top_values"] == "Comedy"
    assert names.loc[1, "top_members"] == "funny 0, funny 1"
    assert names.loc[0, "members"] == 6 * COPIES
    assert names.loc[0, "size"] == pytest.approx(membership[:, 0].sum())


def test_a_value_at_60_percent_against_a_base_of_10_percent_names_its_cluster():
    # 1000 objects, Noir 100 of them (10%): 60 in cluster 0's 100, 40 among the other 900.
    names, lift = named([["Noir"] * 60 + ["Drama"] * 40, ["Noir"] * 40 + ["Drama"] * 860])
    assert lift.loc[(0, "Noir"), "share"] == pytest.approx(0.6)
    assert lift.loc[(0, "Noir"), "population_share"] == pytest.approx(0.1)
    assert names.loc[0, "name"] == "Noir 60% (base 10%) — c0-0, c0-1"
    assert names.loc[0, "top_values"] == "Noir"  # Drama: 40% against 90%, under-represented


def test_an_over_represented_value_below_the_share_floor_does_not_name_its_cluster():
    # Rare: 20 of 1000 objects (2%), 18 of them in cluster 0's 300 (6%): beyond chance (the
    # binomial tail at 3x the base rate over 300 members) but 6% of the cluster.
    names, lift = named([["Rare"] * 18 + ["Common"] * 282, ["Rare"] * 2 + ["Common"] * 698])
    rare = lift.loc[(0, "Rare")]
    assert rare["share"] == pytest.approx(0.06) and rare["population_share"] == pytest.approx(0.02)
    assert rare["q_value"] <= FDR and rare["share"] < MIN_SHARE
    assert "Rare" not in names.loc[0, "name"]
    assert names.loc[0, "name"] == "no distinctive genre — c0-0, c0-1"


def test_a_common_value_at_its_base_rate_does_not_name_its_cluster():
    # Drama is 60% of each cluster and 60% of the data: a large share, no over-representation.
    names, lift = named([["Drama"] * 300 + ["Comedy"] * 200] * 2)
    assert lift.loc[(0, "Drama"), "share"] == pytest.approx(0.6)
    assert lift.loc[(0, "Drama"), "lift"] == pytest.approx(1.0)
    assert lift.loc[(0, "Drama"), "q_value"] > FDR
    # No supported value: named by its typical members, and the name says so.
    assert names["name"].tolist() == [
        "no distinctive genre — c0-0, c0-1",
        "no distinctive genre — c1-0, c1-1",
    ]
    assert (names["top_values"] == "").all()


def test_with_several_columns_and_none_distinctive_the_name_says_metadata():
    sizes = [20, 20]
    metadata = pd.DataFrame(
        {
            "label": [f"u{i}" for i in range(40)],
            "gender": ["F", "M"] * 20,
            "occupation": ["artist", "writer", "artist", "doctor"] * 10,
        }
    )
    names = cluster_names(hard(sizes), metadata["label"], metadata)
    assert names["name"].tolist() == [
        "no distinctive metadata — u0, u1",
        "no distinctive metadata — u20, u21",
    ]


def test_the_p_value_is_the_one_sided_binomial_tail_on_a_hand_computed_case():
    # 10 objects, Horror 3 of them (base 30%); cluster 0 holds 4 objects, 3 of them Horror:
    # P(X >= 3), X ~ Binomial(4, 0.3) = 4 * 0.3^3 * 0.7 + 0.3^4 = 0.0837.
    values = [["Horror"] * 3 + ["Comedy"], ["Comedy"] * 6]
    _, lift = named(values)
    expected = binomtest(3, 4, 0.3, alternative="greater").pvalue
    assert expected == pytest.approx(4 * 0.3**3 * 0.7 + 0.3**4)
    assert lift.loc[(0, "Horror"), "p_value"] == pytest.approx(expected)
    assert lift.loc[(0, "Comedy"), "p_value"] == pytest.approx(binom.sf(0, 4, 0.7))
    assert lift.loc[(1, "Horror"), "p_value"] == 1.0  # none seen: never evidence
    # Benjamini-Hochberg over the 4 pairs: the smallest p-value (0.0837) times 4 / rank 1,
    # capped by the larger ones' adjusted values.
    p = np.sort(lift["p_value"].to_numpy())
    bh = np.minimum.accumulate((p * 4 / np.arange(1, 5))[::-1])[::-1]
    assert lift.loc[(0, "Horror"), "q_value"] == pytest.approx(min(bh[0], 1.0))
    # Soft counts interpolate between the whole-number tails.
    between = over_representation(2.5, 4.0, 0.3)
    assert binom.sf(2, 4, 0.3) < between < binom.sf(1, 4, 0.3)
    assert over_representation(3.0, 4.0, 0.3) == pytest.approx(expected)


def test_percentages_are_short():
    assert [percent(x) for x in (0.6, 0.104, 0.004, 0.0004, 0.0, 1.0)] == [
        "60%",
        "10%",
        "0.4%",
        "<0.1%",
        "0%",
        "100%",
    ]


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
    # Names known already (saved by the maps job): the same tree, without naming again.
    known = [
        dict(zip(table["cluster"], table["name"]))
        for table in (cluster_names(level, metadata["label"], metadata) for level in levels)
    ]
    for top in (1, 2):
        computed = hierarchy_tree(levels, [fine, up], metadata["label"], metadata, top=top)
        given = hierarchy_tree(
            levels, [fine, up], metadata["label"], metadata, top=top, names=known
        )
        pd.testing.assert_frame_equal(given, computed)
    renamed = [{cluster: f"<{cluster}>" for cluster in names} for names in known]
    tree = hierarchy_tree(levels, [fine, up], metadata["label"], metadata, names=renamed)
    assert tree.set_index("id").loc["L2:1", "name"] == "c1 <1>"


def test_the_drawn_tree_leaves_out_folded_nodes_and_says_how_much_it_shows():
    membership, metadata = planted_items()
    tree = hierarchy_tree([membership], [membership], metadata["label"], metadata, top=1)
    drawn, shown = drawn_tree(tree)
    assert not drawn["name"].str.endswith("smaller clusters").any()
    assert drawn.set_index("id").loc["all", "value"] == 0.0  # the root: sum of its children
    leaf = drawn[drawn["level"] == 1].iloc[0]
    assert leaf["value"] == pytest.approx(leaf["size"])
    assert shown == pytest.approx(leaf["size"] / len(membership))


def test_themost_probable_members_are_a_stable_argsort_without_sorting_everything():
    """The icicle's members: the same rows as a stable argsort of the whole column, ties (users
    with the same vector share their probabilities) taken in row order, NaN never first."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        column = rng.choice([0.1, 0.2, 0.3, 0.5], size=int(rng.integers(1, 40)))  # many ties
        column = column + rng.choice([0.0, 1e-3], size=len(column)) * rng.random(len(column))
        count = int(rng.integers(1, 45))
        expected = np.argsort(-column, kind="stable")[:count]
        np.testing.assert_array_equal(most_probable(column, count), expected)
    column = np.array([0.2, np.nan, 0.9, 0.9, 0.1])
    np.testing.assert_array_equal(most_probable(column, 2), [2, 3])
    assert most_probable(column, 0).tolist() == most_probable(column, -1).tolist() == []


def test_level_one_clusters_hold_theirmost_probable_members_which_fill_them():
    """An icicle's leaf zoomed into was an empty box: each level-1 cluster now has its most
    probable members under it, sharing its size by their probabilities."""
    membership, metadata = planted_items()
    tree = hierarchy_tree([membership], [membership], metadata["label"], metadata, members=3)
    drawn, _ = drawn_tree(tree)
    members = drawn[drawn["level"] == -1]
    clusters = drawn[drawn["level"] == 1]
    assert set(members["parent"]) == set(clusters["id"])
    assert (members.groupby("parent").size() == 3).all()
    for node, group in members.groupby("parent"):
        cluster = int(node.split(":")[1])
        best = np.argsort(-membership[:, cluster], kind="stable")[:3]
        assert list(group["name"]) == list(metadata["label"].to_numpy()[best])
        assert group["value"].sum() == pytest.approx(clusters.set_index("id").loc[node, "size"])
    assert (clusters["value"] == 0).all()  # a parent now: the sum of its members
    assert (
        hierarchy_tree([membership], [membership], metadata["label"], metadata)["level"].min() == 0
    )  # none by default
