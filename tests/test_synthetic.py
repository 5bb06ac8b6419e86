"""The planted generators: shapes, seeding, consistent labels, ratings from U0 V0^T."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from hmf_core.data.synthetic import (
    planted_hierarchy,
    planted_labels,
    planted_ratings,
    planted_roles,
    write_planted_labels,
)


def test_two_level_hierarchy_shapes_and_labels():
    planted = planted_hierarchy(
        n_users=60, n_items=45, user_clusters=(6, 3), item_clusters=(9, 3), dim=5, seed=0
    )
    users, items = planted.users, planted.items
    assert users.embeddings.shape == (60, 5) and items.embeddings.shape == (45, 5)
    assert users.fine_to_coarse.shape == (6, 3) and items.fine_to_coarse.shape == (9, 3)
    assert users.coarse_embeddings.shape == (3, 5)
    assert np.bincount(users.fine).tolist() == [10] * 6  # balanced fine clusters
    for side in (users, items):
        assert np.allclose(side.fine_to_coarse.sum(1), 1.0)
        dominant = side.fine_to_coarse.argmax(1)  # (m_1,)
        assert np.array_equal(side.coarse, dominant[side.fine])  # coarse = fine's parent
        assert side.fine_to_coarse.max(1).min() >= 0.6 - 1e-12
        assert side.fine_to_coarse.max(1).max() <= 0.8 + 1e-12
        # U0 = S1 S2 U2, with S1 one-hot by the fine labels (eq. 6).
        one_hot = np.eye(len(side.fine_to_coarse))[side.fine]  # (M, m_1)
        assert np.allclose(side.embeddings, one_hot @ side.fine_to_coarse @ side.coarse_embeddings)
        assert side.labels(1) is side.fine and side.labels(2) is side.coarse
    # Coarse embeddings: orthogonal directions of norm `scale` when coarse <= dim.
    gram = users.coarse_embeddings @ users.coarse_embeddings.T
    assert np.allclose(gram, 4.0 * np.eye(3))


def test_sibling_fine_clusters_are_apart():
    """Fine clusters of one parent get spaced weights and different secondary parents, so the
    fine level has an answer: over 10 seeds of the defaults (12 fine, 4 coarse, coarse
    embeddings of norm 2), every two fine embeddings are >= 0.3 apart (measured min 0.36;
    uniform weights with a flat Dirichlet gave 0.10 for seed 0)."""
    for seed in range(10):
        side = planted_hierarchy(n_users=24, n_items=24, seed=seed).users
        fine_embeddings = side.fine_to_coarse @ side.coarse_embeddings  # (m_1, d)
        distances = np.linalg.norm(fine_embeddings[:, None] - fine_embeddings[None], axis=-1)
        np.fill_diagonal(distances, np.inf)
        assert distances.min() >= 0.3, (seed, distances.min())


def test_noise_free_ratings_are_u0_v0_plus_offset():
    planted = planted_hierarchy(n_users=50, n_items=40, noise=0.0, offset=3.0, seed=2)
    table = planted.data.table
    expected = planted.expected_ratings()[table["user"], table["item"]]
    assert np.allclose(table["rating"], expected, atol=1e-5)
    assert len(table) == pytest.approx(0.3 * 50 * 40, rel=0.1)  # density 0.3


def test_noisy_ratings_scatter_around_u0_v0():
    planted = planted_hierarchy(noise=0.5, seed=3)
    table = planted.data.table
    residual = table["rating"] - planted.expected_ratings()[table["user"], table["item"]]
    assert abs(residual.mean()) < 0.02 and residual.std() == pytest.approx(0.5, rel=0.03)


def test_hierarchy_is_seeded():
    first, again, other = (planted_hierarchy(seed=s) for s in (4, 4, 5))
    pd.testing.assert_frame_equal(first.data.table, again.data.table)
    assert np.array_equal(first.users.fine, again.users.fine)
    assert not np.array_equal(first.users.fine, other.users.fine)


def test_impossible_cluster_counts_are_refused():
    with pytest.raises(ValueError, match="coarse"):
        planted_hierarchy(n_users=10, user_clusters=(3, 4))
    with pytest.raises(ValueError, match="density"):
        planted_hierarchy(density=0.0)


def test_planted_labels_are_written_as_metadata(tmp_path):
    planted = planted_hierarchy(n_users=30, n_items=20, user_clusters=(6, 2), seed=0)
    write_planted_labels(planted, tmp_path / "users.csv", tmp_path / "items.csv")
    users = pd.read_csv(tmp_path / "users.csv")
    assert users.columns.tolist() == ["id", "planted_level1", "planted_level2"]
    assert np.array_equal(users["planted_level2"], planted.users.coarse)
    some = planted_labels(planted, "item", np.array([5, 2]))  # e.g. a split's item_ids
    assert some["planted_level1"].tolist() == planted.items.fine[[5, 2]].tolist()


def test_one_level_planted_ratings_still_work():
    planted = planted_ratings(n_users=40, n_items=20, seed=0)
    assert planted.user_group.shape == (40,) and len(planted.data.table) > 0


def test_planted_roles_shapes_and_balanced_labels():
    planted = planted_roles(n_users=60, n_items=45, groups=(3, 5), seed=0)
    assert planted.user_roles.shape == (2, 60) and planted.item_roles.shape == (2, 45)
    for side, count in (("user", 60), ("item", 45)):
        assert np.bincount(planted.labels(side, 0)).tolist() == [count // 3] * 3
        assert np.bincount(planted.labels(side, 1)).tolist() == [count // 5] * 5
    assert np.array_equal(planted.labels("user", 1), planted.user_roles[1])
    assert np.array_equal(planted.labels("item", 0), planted.item_roles[0])
    table = planted.data.table
    assert table["user"].max() < 60 and table["item"].max() < 45
    assert len(table) == pytest.approx(0.3 * 60 * 45, rel=0.15)  # density 0.3


def test_planted_roles_are_independent_of_each_other():
    """Each role's groups are their own draw: the adjusted Rand index between the two roles'
    labels is near 0 on both sides (a shared grouping would give 1)."""
    for seed in range(3):
        planted = planted_roles(seed=seed)
        for side in ("user", "item"):
            agreement = adjusted_rand_score(planted.labels(side, 0), planted.labels(side, 1))
            assert abs(agreement) < 0.05, (seed, side, agreement)


def test_planted_roles_ratings_sum_the_roles_of_equal_strength():
    planted = planted_roles(n_users=30, n_items=24, strength=2.0, noise=0.0, offset=3.0, seed=1)
    table = planted.data.table
    expected = planted.expected_ratings()
    assert np.allclose(table["rating"], expected[table["user"], table["item"]], atol=1e-5)
    # Role r alone: +strength * (1 - 1/3) for a user and item of one group, -strength / 3 else.
    users, items = planted.user_roles, planted.item_roles
    same = users[:, :, None] == items[:, None, :]  # (R, M, N)
    by_role = 2.0 * (same - 1 / 3)  # (R, M, N)
    assert np.allclose(expected, 3.0 + by_role.sum(0))
    # Both roles move a rating equally: the same spread of their parts.
    assert by_role[0].std() == pytest.approx(by_role[1].std(), rel=0.1)


def test_planted_roles_are_seeded():
    first, again, other = (planted_roles(seed=s) for s in (4, 4, 5))
    pd.testing.assert_frame_equal(first.data.table, again.data.table)
    assert np.array_equal(first.user_roles, again.user_roles)
    assert np.array_equal(first.item_roles, again.item_roles)
    assert not np.array_equal(first.user_roles, other.user_roles)


def test_impossible_roles_are_refused():
    with pytest.raises(ValueError, match="groups"):
        planted_roles(groups=(3, 1))
    with pytest.raises(ValueError, match="groups"):
        planted_roles(n_users=4, groups=(5,))
    with pytest.raises(ValueError, match="density"):
        planted_roles(density=1.5)
