"""The model against the paper's equations, computed the slow way."""

from __future__ import annotations

import pytest
import torch

from hmf_core.models.hmf import HMF, HMFConfig, halving_levels

DEPTHS = [(0, 0), (1, 1), (2, 1), (1, 3), (3, 2)]


def make_model(user_depth: int, item_depth: int, bias: bool = False, seed: int = 0) -> HMF:
    torch.manual_seed(seed)
    config = HMFConfig(
        n_users=13,
        n_items=11,
        dim=4,
        user_clusters=halving_levels(6, user_depth),
        item_clusters=halving_levels(5, item_depth),
        temperature=0.7,
        use_bias=bias,
    )
    model = HMF(config)
    if bias:  # non-zero biases, so the test sees them
        with torch.no_grad():
            model.user_bias.normal_()
            model.item_bias.normal_()
    return model


def naive_embedding(side, index: int) -> torch.Tensor:
    """Eq. (6)-(8) for one row, one level at a time, with explicit loops over clusters."""
    if side.depth == 0:
        return side.root[index]
    row = torch.softmax(side.connections[0][index] / side.temperature, dim=0)  # (m_1,)
    for level in range(1, side.depth):
        probabilities = torch.softmax(side.connections[level] / side.temperature, dim=1)
        row = sum(row[s] * probabilities[s] for s in range(len(row)))  # (m_{l+1},)
    return sum(row[s] * side.root[s] for s in range(len(row)))  # (d,)


@pytest.mark.parametrize(("user_depth", "item_depth"), DEPTHS)
@pytest.mark.parametrize("bias", [False, True])
def test_forward_equals_naive_loop(user_depth, item_depth, bias):
    model = make_model(user_depth, item_depth, bias)
    users = torch.tensor([0, 3, 12, 3])
    items = torch.tensor([10, 0, 5, 5])
    expected = []
    for user, item in zip(users.tolist(), items.tolist()):
        score = naive_embedding(model.users, user) @ naive_embedding(model.items, item)
        if bias:
            score = score + model.global_bias + model.user_bias[user] + model.item_bias[item]
        expected.append(score)
    assert torch.allclose(model(users, items), torch.stack(expected), atol=1e-5)


@pytest.mark.parametrize(("user_depth", "item_depth"), DEPTHS)
def test_score_all_and_candidates_agree_with_forward(user_depth, item_depth):
    model = make_model(user_depth, item_depth, bias=True)
    users = torch.tensor([1, 7])
    every = model.score_all(users)  # (2, N)
    candidates = torch.tensor([[3, 1, 4], [10, 9, 2]])
    picked = model.score_candidates(users, candidates)
    assert torch.allclose(picked, every.gather(1, candidates), atol=1e-5)
    assert torch.allclose(every[0, 3], model(users[:1], torch.tensor([3]))[0], atol=1e-5)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_membership_rows_sum_to_one_and_collapse(depth):
    levels = make_model(depth, depth).users.levels()
    assert len(levels.membership) == depth
    for membership, collapsed in zip(levels.membership, levels.object_to_level):
        assert (membership >= 0).all()
        assert torch.allclose(membership.sum(1), torch.ones(len(membership)))
        assert torch.allclose(collapsed.sum(1), torch.ones(13))
    # Collapsed probabilities chain the levels: object -> level l = S(C1) ... S(Cl).
    chained = levels.membership[0]
    for membership in levels.membership[1:]:
        chained = chained @ membership
    assert torch.allclose(levels.object_to_level[-1], chained)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_object_embedding_is_a_convex_combination_of_its_clusters(depth):
    side = make_model(depth, 1).users
    levels = side.levels()
    for level in range(depth):
        probabilities = levels.object_to_level[level]  # (M, m_l), rows on the simplex
        clusters = levels.cluster_embeddings[level]  # (m_l, d)
        assert torch.allclose(levels.object_embeddings, probabilities @ clusters, atol=1e-5)
    # And so every coordinate lies between the clusters' smallest and largest coordinate.
    low = levels.cluster_embeddings[0].min(0).values
    high = levels.cluster_embeddings[0].max(0).values
    assert (
        (levels.object_embeddings >= low - 1e-6) & (levels.object_embeddings <= high + 1e-6)
    ).all()
    assert torch.allclose(side(torch.arange(13)), levels.object_embeddings, atol=1e-5)


def test_forward_touches_only_the_batch_rows_of_the_bottom_connection_matrix():
    model = make_model(2, 2)
    users, items = torch.tensor([2, 5]), torch.tensor([1])
    model(users, items.expand(2)).sum().backward()
    gradient = model.users.connections[0].grad  # (M, m_1)
    touched = gradient.abs().sum(1) > 0
    assert touched.tolist() == [i in (2, 5) for i in range(13)]
    assert (model.users.connections[1].grad.abs().sum() > 0).item()  # upper levels: all rows


def test_depth_zero_is_plain_matrix_factorisation():
    model = make_model(0, 0)
    assert len(list(model.users.connections)) == 0
    assert model.users.root.shape == (13, 4) and model.items.root.shape == (11, 4)
    users, items = torch.tensor([4]), torch.tensor([6])
    assert torch.allclose(model(users, items), model.users.root[4] @ model.items.root[6])


def test_halving_levels_and_config_checks():
    assert halving_levels(200, 3) == (200, 100, 50)
    assert halving_levels(5, 4) == (5, 3, 2, 1)
    assert halving_levels(7, 0) == ()
    with pytest.raises(ValueError, match="at least one cluster"):
        HMFConfig(n_users=3, n_items=3, user_clusters=(2, 0))
    with pytest.raises(ValueError, match="temperature"):
        HMFConfig(n_users=3, n_items=3, temperature=0)
    config = HMFConfig(n_users=3, n_items=4, user_clusters=[2, 1])
    assert HMFConfig(**config.to_dict()) == config  # round trip through a plain dict


@pytest.mark.parametrize(("user_depth", "item_depth"), [(1, 1), (2, 1), (3, 2)])
def test_a_batch_of_repeated_rows_gives_the_same_scores_and_gradients_either_way(
    user_depth, item_depth, monkeypatch
):
    """forward works on a batch's distinct rows when the batch is long against the side
    (hmf.REPEATS_FROM); it must give what the row-by-row path gives, gradients included."""
    from hmf_core.models import hmf

    users = torch.tensor([3, 0, 3, 12, 3, 7, 0, 3])  # repeats, unsorted
    items = torch.tensor([5, 5, 10, 0, 5, 1, 1, 2])
    results = []
    for repeats_from in (0, 100):  # 0: never distinct rows; 100: always
        monkeypatch.setattr(hmf, "REPEATS_FROM", repeats_from)
        model = make_model(user_depth, item_depth, bias=True)
        scores = model(users, items)
        (scores * torch.arange(1.0, 9.0)).sum().backward()  # a different weight per row
        grads = [p.grad.clone() for p in model.parameters()]
        results.append((scores.detach(), grads, model.users.connections[0].grad.clone()))
    (row_scores, row_grads, _), (distinct_scores, distinct_grads, bottom) = results
    assert torch.allclose(row_scores, distinct_scores, atol=1e-6)
    for by_row, by_distinct in zip(row_grads, distinct_grads, strict=True):
        assert torch.allclose(by_row, by_distinct, atol=1e-5)
    touched = bottom.abs().sum(1) > 0  # C_1 of the users: only the batch's rows
    assert touched.nonzero().flatten().tolist() == [0, 3, 7, 12]
