"""hmf_core.naming: cluster names from metadata lift and typical members, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hmf_core.naming import cluster_names, value_lift


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
