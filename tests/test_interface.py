"""hmf_core.models.interface: the one model interface every view reads.

(1) interface.decompose splits an HMF score exactly at every grouping pair (eq. 11, own terms 0);
(2) the interpretation functions work for a model that is not an HMF and whose groupings do not
reproduce its object vectors: `LabelledTable`, a real (small) implementation of the protocol.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hmf_core.interpret import queries as interpret
from hmf_core.interpret.explanation import bias_terms, explanation_views
from hmf_core.interpret.projection import cluster_highlight, embedding_table, map_names
from hmf_core.interpret.quality import model_quality
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.models.interface import ClusterModel, Grouping, check_side, decompose


def _total(parts: dict) -> float:
    return float(
        parts["pairs"].sum() + parts["user_own"] + parts["item_own"] + sum(parts["biases"].values())
    )


def test_decompose_sums_to_the_hmf_score_at_every_grouping_pair():
    torch.manual_seed(0)
    config = HMFConfig(
        n_users=9, n_items=7, dim=3, user_clusters=(4, 2), item_clusters=(3,), use_bias=True
    )
    model = HMF(config).double()  # float64 throughout: the sums are exact to rounding
    with torch.no_grad():
        model.global_bias.fill_(3.2)
        model.user_bias.normal_()
        model.item_bias.normal_()
    assert isinstance(model, ClusterModel) and interpret.exact_groupings(model)
    for user, item in ((0, 0), (4, 6), (8, 3)):
        with torch.no_grad():
            score = float(model(torch.tensor([user]), torch.tensor([item]))[0])
        for user_grouping in range(3):  # 0 = the object itself, then levels 1 and 2
            for item_grouping in range(2):
                parts = decompose(model, user, item, user_grouping, item_grouping)
                assert _total(parts) == pytest.approx(score, abs=1e-6)
                # eq. (6): every level reproduces U0, so the own offsets vanish
                assert abs(float(parts["user_own"])) < 1e-9
                assert abs(float(parts["item_own"])) < 1e-9
                assert set(parts["biases"]) == {"global", "user", "item"}
        pairs = interpret.explain_pair(model, user, item, user_level=2, item_level=1)
        assert not pairs["user_cluster"].astype(str).isin(interpret.OWN_PARTS).any()
        assert pairs["contribution"].sum() == pytest.approx(score, abs=1e-6)


@dataclass(frozen=True)
class TableConfig:
    n_users: int
    n_items: int
    dim: int

    def to_dict(self) -> dict:
        return asdict(self)


class LabelledTable(nn.Module):
    """A ClusterModel that is not an HMF: fixed object vectors, one hard grouping per side from
    fixed labels whose cluster vectors are the labels' means (as k-means' centroids), and a
    global bias. Objects sit off their cluster's mean, so decompose's own terms are not 0."""

    family = "labelled"

    def __init__(self, users, items, user_labels, item_labels, global_bias: float):
        super().__init__()
        self.config = TableConfig(len(users), len(items), users.shape[1])
        self.register_buffer("users", users)  # (M, d)
        self.register_buffer("items", items)  # (N, d)
        self.labels = {"user": user_labels, "item": item_labels}  # (M,), (N,) numpy
        self.register_buffer("global_bias", torch.tensor(global_bias, dtype=users.dtype))

    def forward(self, users, items):
        return (self.users[users] * self.items[items]).sum(-1) + self.global_bias  # (B,)

    def score_candidates(self, users, candidates):
        scores = torch.einsum("bd,bkd->bk", self.users[users], self.items[candidates])
        return scores + self.global_bias  # (B, K)

    def score_all(self, users):
        return self.users[users] @ self.items.T + self.global_bias  # (B, N)

    def object_vectors(self, side):
        return self.users if check_side(side) == "user" else self.items

    def groupings(self, side):
        vectors = self.object_vectors(side)  # (M, d)
        labels = torch.as_tensor(self.labels[side])
        membership = nn.functional.one_hot(labels).to(vectors.dtype)  # (M, m)
        means = (membership.T @ vectors) / membership.sum(0)[:, None]  # (m, d)
        return [Grouping("k-means", membership, means, None)]

    def bias_terms(self, users, items):
        return {"global": self.global_bias.expand(len(users))}  # (B,)


USER_LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1])  # 11 users, 3 clusters
ITEM_LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 1])  # 8 items, 2 clusters


@pytest.fixture
def labelled():
    generator = torch.Generator().manual_seed(3)
    users = torch.randn(11, 4, generator=generator, dtype=torch.float64)
    items = torch.randn(8, 4, generator=generator, dtype=torch.float64)
    return LabelledTable(users, items, USER_LABELS, ITEM_LABELS, global_bias=0.75)


def test_the_labelled_table_is_a_cluster_model_with_inexact_groupings(labelled):
    assert isinstance(labelled, ClusterModel)
    assert not interpret.exact_groupings(labelled)
    assert interpret.level_counts(labelled) == {"user": 1, "item": 1}
    parts = decompose(labelled, 2, 5, 1, 1)
    assert abs(float(parts["user_own"])) > 1e-3 and abs(float(parts["item_own"])) > 1e-3


def test_explain_pair_adds_own_rows_that_make_the_sum_the_prediction(labelled):
    for user, item in ((0, 0), (2, 5), (10, 7)):
        predicted = interpret.predict(labelled, user, item)
        pairs = interpret.explain_pair(labelled, user, item)
        kinds = pairs["user_cluster"].astype(str).tolist()
        assert kinds[-3:] == ["user own", "item own", "bias"]
        assert len(pairs) == 3 * 2 + 3  # every cluster pair, then the own rows and the bias
        assert pairs["contribution"].sum() == pytest.approx(predicted, abs=1e-9)
        assert pairs.iloc[-1]["contribution"] == pytest.approx(0.75)
        # hard memberships: only the user's and the item's own labels carry weight
        weighted = pairs[(pairs["user_probability"] > 0) & (pairs["item_probability"] > 0)]
        assert weighted[["user_cluster", "item_cluster"]].values.tolist() == [
            [USER_LABELS[user], ITEM_LABELS[item]]
        ]
        views = explanation_views(pairs, bias_terms(labelled, user, item), top=2)
        for view in views.values():
            assert view.bars["contribution"].sum() == pytest.approx(predicted, abs=1e-9)
            assert view.bars["kind"].tolist().count("own") == 2
    # a side explained by the object itself (level 0) has no own offset: no row for it
    only_user = interpret.explain_pair(labelled, 2, 5, user_level=1, item_level=0)
    assert only_user["user_cluster"].astype(str).tolist()[-2:] == ["user own", "bias"]
    assert only_user["contribution"].sum() == pytest.approx(interpret.predict(labelled, 2, 5))
    plain = interpret.explain_pair(labelled, 2, 5, level=0)
    assert plain["user_cluster"].tolist() == [2, "bias"]  # the user itself, no own row
    assert plain["contribution"].sum() == pytest.approx(interpret.predict(labelled, 2, 5))


def test_cluster_views_read_the_planted_labels(labelled):
    for cluster in range(3):
        members = interpret.cluster_members(labelled, "user", 1, cluster, meta=None)
        sure = members.loc[members["probability"] == 1.0, "index"]
        assert sorted(sure) == np.flatnonzero(USER_LABELS == cluster).tolist()
        assert (members["probability"] == 1.0).sum() == (USER_LABELS == cluster).sum()
    assert interpret.cluster_sizes(labelled, "item", 1).tolist() == [3.0, 5.0]
    affinity = interpret.affinity_matrix(labelled)
    assert affinity.shape == (3, 2)
    user_means = labelled.groupings("user")[0].cluster_vectors
    item_means = labelled.groupings("item")[0].cluster_vectors
    assert np.allclose(affinity.to_numpy(), (user_means @ item_means.T).numpy())
    links = interpret.hierarchy_links(labelled, "user", min_probability=0.0)
    assert links.empty and list(links.columns) == interpret.LINK_COLUMNS
    membership = interpret.object_membership(labelled, "item", 3)
    assert membership["probability"].tolist() == [1.0, 0.0]  # item 3 has label 0
    table = interpret.cluster_table(labelled, "user", 1, top=2)
    assert table["size"].tolist() == [4.0, 4.0, 3.0]
    ranked = interpret.item_clusters_for_user_cluster(labelled, 1, None)
    assert ranked["inner_product"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="user level must be between 1 and 1"):
        interpret.cluster_sizes(labelled, "user", 2)
    recommended = interpret.recommend(labelled, 4, {0, 1}, pd.DataFrame(), top=3)
    assert len(recommended) == 3 and not {0, 1} & set(recommended["index"])


def test_maps_names_and_quality_work_without_hmf(labelled):
    table, vectors = embedding_table(labelled, None, None)
    assert len(table) == 11 + 3 + 8 + 2 and vectors.shape == (24, 4)
    users = table[table["kind"] == "user"]
    assert users["top_cluster"].tolist() == USER_LABELS.tolist()
    names = map_names(labelled, None, None)
    assert len(names) == len(table)
    highlight = cluster_highlight(labelled, "item", 1, 0)
    assert sorted(highlight["index"]) == np.flatnonzero(ITEM_LABELS == 0).tolist()
    tree = interpret.cluster_tree(labelled, "user", None, top=5)
    assert set(tree.loc[tree["level"] == 1, "id"]) == {"L1:0", "L1:1", "L1:2"}
    metadata = pd.DataFrame({"planted": USER_LABELS})
    quality = model_quality(labelled, seed=0, initial=labelled, users=metadata)
    assert quality["movement"] == []  # HMF-only: skipped for another family
    (model_ari,) = [r["ari"] for r in quality["planted"] if r["method"] == "model"]
    assert model_ari == pytest.approx(1.0)
    assert all(r["mean_max"] == 1.0 for r in quality["sharpness"])


def test_a_read_only_model_computes_each_side_s_groupings_and_vectors_once():
    """hmf_core.read_only (the dashboard's loaded models): the same groupings and object vectors
    as the model's own, computed once per side, and every query answers as before."""
    import hmf_core
    from hmf_core.interpret import projection

    torch.manual_seed(3)
    fresh = HMF(HMFConfig(n_users=30, n_items=20, dim=4, user_clusters=(6, 3), item_clusters=(5,)))
    kept = hmf_core.read_only(copy.deepcopy(fresh))
    original = type(kept).groupings
    for side in ("user", "item"):
        first = kept.groupings(side)
        assert kept.groupings(side) is first  # kept
        for mine, theirs in zip(first, fresh.groupings(side), strict=True):
            assert torch.equal(mine.membership, theirs.membership)
            assert torch.equal(mine.cluster_vectors, theirs.cluster_vectors)
        vectors = kept.object_vectors(side)
        assert kept.object_vectors(side) is vectors  # kept
        assert torch.equal(vectors, fresh.object_vectors(side)) and not vectors.requires_grad
    assert not kept.training
    assert type(kept).groupings is original  # the class is unchanged
    for side, level, cluster in (("user", 1, 2), ("user", 2, 0), ("item", 1, 4)):
        pd.testing.assert_frame_equal(
            projection.cluster_highlight(kept, side, level, cluster),
            projection.cluster_highlight(fresh, side, level, cluster),
        )
    pd.testing.assert_frame_equal(
        hmf_core.explain_pair(kept, 7, 11), hmf_core.explain_pair(fresh, 7, 11)
    )
    with pytest.raises(ValueError, match="side"):
        kept.groupings("users")
    with pytest.raises(ValueError, match="side"):
        kept.object_vectors("users")
