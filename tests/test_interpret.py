"""Interpretation queries: eq. (11) against the model, vectorised code against naive loops,
and planted clusters with a known answer. Small untrained models, built with a fixed seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hmf_core.interpret import queries as interpret
from hmf_core.models.hmf import HMF, HMFConfig


def make_model(
    user_clusters=(4,),
    item_clusters=(3,),
    use_bias=False,
    n_users=7,
    n_items=9,
    dim=5,
    temperature=1.0,
    seed=0,
) -> HMF:
    torch.manual_seed(seed)
    model = HMF(
        HMFConfig(
            n_users=n_users,
            n_items=n_items,
            dim=dim,
            user_clusters=user_clusters,
            item_clusters=item_clusters,
            use_bias=use_bias,
            temperature=temperature,
            global_mean=3.5,
        )
    )
    if use_bias:  # biases start at zero: give them values so the bias row is really checked
        with torch.no_grad():
            model.user_bias.normal_()
            model.item_bias.normal_()
    return model.eval()


def item_table(n_items: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": range(n_items),
            "id": [100 + i for i in range(n_items)],
            "label": [f"movie {i}" for i in range(n_items)],
            "genres": ["Drama|War"] * n_items,
            "genre": ["Drama"] * n_items,
        }
    )


def user_table(n_users: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": range(n_users),
            "id": [500 + i for i in range(n_users)],
            "label": [f"person {i}" for i in range(n_users)],
            "gender": ["F" if i % 2 else "M" for i in range(n_users)],
        }
    )


def naive_collapsed(hierarchy, level: int) -> torch.Tensor:
    """S(C1) ... S(C_level) by a loop over levels, straight from eq. (7)."""
    probabilities = torch.eye(hierarchy.connections[0].shape[0])
    for logits in list(hierarchy.connections)[:level]:
        probabilities = probabilities @ torch.softmax(logits / hierarchy.temperature, dim=1)
    return probabilities


def plant(hierarchy, n_clusters: int) -> None:
    """Object i belongs (probability ~1) to level-1 cluster i % n_clusters."""
    n_objects = hierarchy.connections[0].shape[0]
    logits = torch.zeros(n_objects, n_clusters)
    logits[torch.arange(n_objects), torch.arange(n_objects) % n_clusters] = 1.0
    with torch.no_grad():
        hierarchy.connections[0].copy_(logits * 50)


# --- eq. (11): contributions sum to the prediction ------------------------------------------

EXPLAIN_CASES = {
    "depth 1": dict(user_clusters=(4,), item_clusters=(3,)),
    "depth 2, level 1": dict(user_clusters=(4, 2), item_clusters=(3, 2)),
    "depth 2, level 2": dict(user_clusters=(4, 2), item_clusters=(3, 2), level=2),
    "bias": dict(user_clusters=(4,), item_clusters=(3,), use_bias=True),
    "depth 2 with bias": dict(user_clusters=(4, 2), item_clusters=(3, 2), use_bias=True, level=2),
    "user side MF": dict(user_clusters=(), item_clusters=(3,)),
    "item side MF": dict(user_clusters=(4, 2), item_clusters=(), level=2),
    "plain MF with bias": dict(user_clusters=(), item_clusters=(), use_bias=True),
    "temperature": dict(user_clusters=(4,), item_clusters=(3,), temperature=0.3),
}


@pytest.mark.parametrize("case", EXPLAIN_CASES, ids=list(EXPLAIN_CASES))
def test_explain_pair_contributions_sum_to_the_prediction(case):
    options = dict(EXPLAIN_CASES[case])
    level = options.pop("level", 1)
    model = make_model(**options)
    for user, item in [(0, 0), (3, 5), (6, 8)]:
        pairs = interpret.explain_pair(model, user, item, level=level)
        prediction = model(torch.tensor([user]), torch.tensor([item]))[0].double()
        total = torch.tensor(pairs["contribution"].sum(), dtype=torch.float64)
        assert torch.allclose(total, prediction, atol=1e-5), (case, user, item)
        magnitudes = pairs["contribution"].abs().to_numpy()
        if model.config.use_bias:
            assert pairs.iloc[-1]["user_cluster"] == "bias"
            magnitudes = magnitudes[:-1]
        assert (np.diff(magnitudes) <= 1e-12).all()


def test_explain_pair_columns_follow_eq_11():
    model = make_model()
    pairs = interpret.explain_pair(model, 2, 4)
    assert list(pairs.columns) == [
        "user_cluster",
        "item_cluster",
        "user_probability",
        "item_probability",
        "inner_product",
        "contribution",
    ]
    assert len(pairs) == 4 * 3
    expected = pairs["user_probability"] * pairs["item_probability"] * pairs["inner_product"]
    np.testing.assert_allclose(pairs["contribution"], expected)


def test_explain_pair_treats_an_mf_object_as_its_own_cluster():
    model = make_model(user_clusters=(), item_clusters=(3,))
    pairs = interpret.explain_pair(model, 5, 1)
    assert set(pairs["user_cluster"]) == {5}
    assert (pairs["user_probability"] == 1.0).all()


def test_explain_pair_rejects_a_level_deeper_than_the_hierarchy():
    model = make_model(user_clusters=(4, 2), item_clusters=(3,))
    with pytest.raises(ValueError, match="deeper than the item hierarchy"):
        interpret.explain_pair(model, 0, 0, level=2)
    pairs = interpret.explain_pair(model, 0, 0, user_level=2, item_level=1)
    assert len(pairs) == 2 * 3


# --- cluster tables ---------------------------------------------------------------------------


def test_affinity_matrix_equals_a_double_loop_of_dot_products():
    model = make_model(user_clusters=(4, 2), item_clusters=(3, 2))
    for user_level, item_level in [(1, 1), (2, 1), (1, 2), (2, 2)]:
        affinity = interpret.affinity_matrix(model, user_level, item_level)
        user_clusters = model.users.cluster_embeddings(user_level).detach()
        item_clusters = model.items.cluster_embeddings(item_level).detach()
        assert affinity.shape == (len(user_clusters), len(item_clusters))
        assert affinity.index.name == "user_cluster"
        assert affinity.columns.name == "item_cluster"
        for s in range(len(user_clusters)):
            for t in range(len(item_clusters)):
                expected = float(sum(user_clusters[s, k] * item_clusters[t, k] for k in range(5)))
                assert affinity.loc[s, t] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_groupings_are_unpairable_only_when_their_clusters_use_disjoint_coordinates():
    """MFDMC's concatenated views: view v's centres live in slice v, so view v of users against
    view w != v of items has inner products all 0 and is refused in words; the same view, the
    summed views and every HMF level pair are comparable (None)."""
    from hmf_core.models.interface import grouping_word
    from hmf_core.models.mfdmc import MFDMC, MFDMCConfig

    torch.manual_seed(0)
    concat = MFDMC(MFDMCConfig(12, 9, dim=6, views=3, user_centres=4, item_centres=3))
    assert grouping_word(concat) == "view"
    for v in (1, 2, 3):
        assert interpret.unpairable(concat, v, v) is None
        for w in {1, 2, 3} - {v}:
            assert not interpret.affinity_matrix(concat, v, w).to_numpy().any()
            assert interpret.unpairable(concat, v, w) == (
                f"Views {v} and {w} use different slices of the latent space: their clusters' "
                "inner products are all 0. Pick the same view on both sides."
            )
    summed = MFDMC(MFDMCConfig(12, 9, dim=6, views=3, user_centres=4, combine="sum"))
    assert interpret.unpairable(summed, 1, 2) is None
    hmf = make_model(user_clusters=(4, 2), item_clusters=(3, 2))
    assert grouping_word(hmf) == "level"
    assert all(interpret.unpairable(hmf, g, h) is None for g in (1, 2) for h in (1, 2))


def test_affinity_matrix_needs_clusters():
    with pytest.raises(ValueError, match="depth 0"):
        interpret.affinity_matrix(make_model(user_clusters=()))


@pytest.mark.parametrize("side", ["user", "item"])
def test_cluster_sizes_sum_to_the_number_of_objects(side):
    model = make_model(user_clusters=(4, 2), item_clusters=(3, 2))
    n_objects = 7 if side == "user" else 9
    for level in (1, 2):
        sizes = interpret.cluster_sizes(model, side, level)
        assert sizes.sum() == pytest.approx(n_objects, rel=1e-5)
    with pytest.raises(ValueError, match="level"):
        interpret.cluster_sizes(model, side, 3)


def test_block_order_returns_permutations():
    model = make_model(user_clusters=(6,), item_clusters=(5,))
    affinity = interpret.affinity_matrix(model)
    rows, columns = interpret.block_order(affinity)
    assert sorted(rows) == list(range(6)) and sorted(columns) == list(range(5))
    for shape in [(1, 1), (1, 4), (4, 1), (2, 2)]:
        matrix = pd.DataFrame(np.arange(np.prod(shape), dtype=float).reshape(shape))
        rows, columns = interpret.block_order(matrix)
        assert sorted(rows) == list(range(shape[0]))
        assert sorted(columns) == list(range(shape[1]))


def test_block_order_puts_planted_blocks_together():
    groups = np.array([0, 1, 0, 1, 0, 1])  # rows 0, 2, 4 alike; 1, 3, 5 alike
    matrix = pd.DataFrame(np.where(groups[:, None] == groups[None, :], 5.0, -5.0))
    rows, columns = interpret.block_order(matrix)
    for order in (rows, columns):
        sequence = groups[order]
        assert (np.diff(sequence) != 0).sum() == 1  # one boundary: two contiguous blocks


def test_planted_clusters_list_their_members():
    model = make_model(user_clusters=(3,), item_clusters=(4,), n_users=9, n_items=12)
    plant(model.items, 4)
    plant(model.users, 3)
    items, users = item_table(12), user_table(9)
    table = interpret.item_clusters_for_user_cluster(model, 0, items, top=3)
    assert list(table.columns) == [
        "item_cluster",
        "name",
        "size",
        "nearest",
        "top_members",
        "inner_product",
    ]
    assert table["inner_product"].is_monotonic_decreasing
    for row in table.itertuples():
        planted = {f"movie {i}" for i in range(12) if i % 4 == row.item_cluster}
        assert set(row.top_members.split("; ")) == planted
        assert set(row.nearest.split("; ")) == planted  # objects sit on their cluster
        assert row.size == pytest.approx(3.0, abs=1e-6)
    users["gender"] = ["F" if i % 3 == 0 else "M" for i in range(9)]  # cluster 0 is all F
    table = interpret.user_clusters_for_item_cluster(model, 2, users, top=3, attribute="gender")
    by_cluster = table.set_index("user_cluster")
    assert by_cluster.loc[0, "top_members"] == "F, F, F"
    assert by_cluster.loc[1, "nearest"] == "M, M, M"
    # 3 of 3 women against a base of 1 in 3 (p = 1/27 before the multiple-testing correction)
    # is too little evidence to name the cluster by gender: named by its members, and says so.
    assert by_cluster.loc[0, "name"].startswith("no distinctive gender — person 0")
    table = interpret.user_clusters_for_item_cluster(
        model, 2, users, top=3, attribute="no such column"
    )
    assert set(table.set_index("user_cluster").loc[2, "top_members"].split("; ")) == {
        "person 2",
        "person 5",
        "person 8",
    }


def test_a_cluster_table_computed_once_ranks_the_same_for_every_cluster_of_the_other_side():
    """The dashboard computes cluster_table once per side and level (latency, issue 9) and
    passes it in; the ranking against each cluster must be what a fresh call gives."""
    model = make_model(user_clusters=(3,), item_clusters=(4,), n_users=9, n_items=12)
    plant(model.items, 4)
    items, users = item_table(12), user_table(9)
    users["gender"] = ["F" if i % 3 == 0 else "M" for i in range(9)]
    items_once = interpret.cluster_table(model, "item", 1, items, top=3)
    users_once = interpret.cluster_table(model, "user", 1, users, top=3, attribute="gender")
    assert "inner_product" not in items_once
    for cluster in range(3):
        fresh = interpret.item_clusters_for_user_cluster(model, cluster, items, top=3)
        reused = interpret.item_clusters_for_user_cluster(
            model, cluster, items, top=3, table=items_once
        )
        pd.testing.assert_frame_equal(reused, fresh)
    for cluster in range(4):
        fresh = interpret.user_clusters_for_item_cluster(
            model, cluster, users, top=3, attribute="gender"
        )
        reused = interpret.user_clusters_for_item_cluster(
            model, cluster, users, top=3, attribute="gender", table=users_once
        )
        pd.testing.assert_frame_equal(reused, fresh)
    assert fresh["inner_product"].is_monotonic_decreasing


def test_a_cluster_table_takes_the_saved_names_when_they_cover_every_cluster():
    """The dashboard passes the names the maps job saved (computing them needs scipy.stats and,
    at 138,000 users, 1.3 s); a set that misses a cluster is not used."""
    model = make_model(user_clusters=(3,), item_clusters=(4,), n_users=9, n_items=12)
    plant(model.items, 4)
    items = item_table(12)
    computed = interpret.cluster_table(model, "item", 1, items, top=3)
    saved = {cluster: f"saved name {cluster}" for cluster in range(4)}
    given = interpret.cluster_table(model, "item", 1, items, top=3, names=saved)
    assert given["name"].tolist() == [saved[cluster] for cluster in range(4)]
    others = [column for column in computed.columns if column != "name"]
    pd.testing.assert_frame_equal(given[others], computed[others])
    partial = interpret.cluster_table(model, "item", 1, items, top=3, names={0: "only one"})
    pd.testing.assert_frame_equal(partial, computed)


def test_cluster_tables_reject_unknown_clusters():
    model = make_model()
    with pytest.raises(ValueError, match="user cluster"):
        interpret.item_clusters_for_user_cluster(model, 4, item_table(9))
    with pytest.raises(ValueError, match="side"):
        interpret.cluster_sizes(model, "movie")


# --- objects and clusters ---------------------------------------------------------------------


@pytest.mark.parametrize("side,level", [("user", 1), ("user", 2), ("item", 1), ("item", 2)])
def test_cluster_members_are_sorted_and_equal_the_collapsed_column(side, level):
    model = make_model(user_clusters=(4, 2), item_clusters=(3, 2))
    meta = user_table(7) if side == "user" else item_table(9)
    hierarchy = model.users if side == "user" else model.items
    expected = naive_collapsed(hierarchy, level).detach()[:, 1].double().numpy()
    members = interpret.cluster_members(model, side, level, 1, meta)
    assert list(members.columns) == [*meta.columns, "probability"]
    assert members["probability"].is_monotonic_decreasing
    np.testing.assert_allclose(members["probability"], expected[members["index"]], rtol=1e-5)
    assert sorted(members["index"]) == list(range(len(meta)))
    assert (members["id"] - members["index"]).nunique() == 1  # metadata stayed on its row
    for top in (0, 2, 5, len(meta), len(meta) + 3):  # the head of the whole table, row for row
        head = interpret.cluster_members(model, side, level, 1, meta, top=top)
        pd.testing.assert_frame_equal(head, members.head(top).reset_index(drop=True))


def test_cluster_members_top_keeps_ties_in_row_order_and_fills_missing_labels():
    """Crisp clusters tie many members at one probability: top=k takes them in row order, as
    the whole table's stable sort does; a row the metadata lacks reads "user <row>"."""
    model = make_model(user_clusters=(3,), item_clusters=(2,))
    with torch.no_grad():
        logits = torch.full((7, 3), -30.0)
        logits[[0, 2, 3, 5, 6], 1] = 30.0  # five users certain of cluster 1: a five-way tie
        model.users.connections[0].copy_(logits)
    meta = user_table(7).iloc[[0, 1, 2, 4, 5, 6]]  # user 3 has no metadata row
    whole = interpret.cluster_members(model, "user", 1, 1, meta)
    assert whole["index"].tolist()[:5] == [0, 2, 3, 5, 6]
    assert whole.loc[whole["index"] == 3, "label"].item() == "user 3"
    for top in (1, 3, 5, 6):
        head = interpret.cluster_members(model, "user", 1, 1, meta, top=top)
        # equal values; the whole table's id column is float (user 3's is missing), the head's
        # stays int where none of its rows lacks one
        expected = whole.head(top).reset_index(drop=True)
        pd.testing.assert_frame_equal(head, expected, check_dtype=3 in expected["index"].values)


def test_model_rows_name_only_the_rows_without_a_label():
    """A row's own label is kept; "<side> <row>" is given where the metadata has no row, an
    empty label, or no labels at all (model_rows, and _describe of any column)."""
    meta = pd.DataFrame(
        {"index": [0, 1, 3], "label": pd.array(["Ann", None, "Cy"], dtype="string")}
    )
    rows = interpret.model_rows(meta, 5, "user")
    assert rows["label"].tolist() == ["Ann", "user 1", "user 2", "Cy", "user 4"]
    assert rows["label"].dtype == object
    assert interpret.model_rows(meta, 5, "user", only=[3, 2])["label"].tolist() == ["Cy", "user 2"]
    assert interpret.model_rows(None, 3, "item")["label"].tolist() == ["item 0", "item 1", "item 2"]
    unlabelled = interpret.model_rows(meta[["index"]], 2, "item")
    assert unlabelled["label"].tolist() == ["item 0", "item 1"]
    texts = interpret._describe(meta.rename(columns={"label": "title"}), 4, "user", "title")
    assert texts.tolist() == ["Ann", "user 1", "user 2", "Cy"]


def test_object_membership_sums_to_one_per_level():
    model = make_model(user_clusters=(4, 2, 1), item_clusters=(3,))
    membership = interpret.object_membership(model, "user", 3)
    assert list(membership.columns) == ["level", "cluster", "probability"]
    assert membership.groupby("level").size().to_dict() == {1: 4, 2: 2, 3: 1}
    np.testing.assert_allclose(membership.groupby("level")["probability"].sum(), 1.0, rtol=1e-5)
    expected = naive_collapsed(model.users, 2).detach()[3].double().numpy()
    np.testing.assert_allclose(membership.query("level == 2")["probability"], expected, rtol=1e-5)
    assert interpret.object_membership(make_model(item_clusters=()), "item", 0).empty


def test_hierarchy_links_carry_every_child_into_its_parents():
    model = make_model(user_clusters=(4, 2, 1), item_clusters=(3,))
    links = interpret.hierarchy_links(model, "user", min_probability=0.0)
    assert list(links.columns) == interpret.LINK_COLUMNS
    assert sorted(links["level"].unique()) == [1, 2]
    assert len(links) == 4 * 2 + 2 * 1
    for level in (1, 2):
        flows = links.query("level == @level").groupby("parent")["child_size"].sum()
        parent_sizes = interpret.cluster_sizes(model, "user", level + 1)
        np.testing.assert_allclose(flows.to_numpy(), parent_sizes, rtol=1e-5)
    strong = interpret.hierarchy_links(model, "user", min_probability=0.5)
    assert (strong["probability"] >= 0.5).all()
    empty = interpret.hierarchy_links(model, "item")
    assert empty.empty and list(empty.columns) == interpret.LINK_COLUMNS


@pytest.mark.parametrize("use_bias", [False, True])
def test_recommend_skips_seen_items_and_sorts_by_model_score(use_bias):
    model = make_model(use_bias=use_bias, n_items=12)
    seen = {0, 3, 4, 7}
    for given in (seen, np.array(sorted(seen))):
        picked = interpret.recommend(model, 2, given, item_table(12), top=5)
        assert list(picked.columns) == ["rank", "index", "id", "label", "score", "genres"]
        assert list(picked["rank"]) == [1, 2, 3, 4, 5]
        assert not set(picked["index"]) & seen
        assert picked["score"].is_monotonic_decreasing
        scores = model(torch.tensor([2] * 5), torch.tensor(picked["index"].to_numpy()))
        np.testing.assert_allclose(picked["score"], scores.detach().numpy(), rtol=1e-5, atol=1e-6)
        unseen_scores = model.score_all(torch.tensor([2]))[0].numpy()
        unseen_scores[sorted(seen)] = -np.inf
        assert picked["score"].iloc[0] == pytest.approx(unseen_scores.max(), rel=1e-5)
        assert list(picked["id"]) == [100 + i for i in picked["index"]]
    everything = interpret.recommend(model, 2, set(range(10)), item_table(12), top=5)
    assert sorted(everything["index"]) == [10, 11]


def test_links_under_keep_only_what_flows_into_the_chosen_parents():
    links = pd.DataFrame(
        {
            "level": [1, 1, 1, 2, 2],  # level 1 -> 2, then level 2 -> 3
            "child": [0, 1, 2, 0, 1],
            "parent": [0, 1, 1, 0, 1],
            "probability": 1.0,
            "child_size": 1.0,
        }
    )
    kept = interpret.links_under(links, [1], top_level=3)
    assert sorted(zip(kept["level"], kept["child"], kept["parent"])) == [
        (1, 1, 1),
        (1, 2, 1),
        (2, 1, 1),
    ]
    assert interpret.links_under(links, [], top_level=3).empty
