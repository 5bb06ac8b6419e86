"""Known answer for MFDMC's views: on data with two independent planted roles
(hmf_core.data.synthetic.planted_roles, 3 groups a role and side), MFDMC with 2 views and twice
the planted number of centres per view, trained through Lightning (fit_run), gives each role
to one view and prunes each view down to the planted count."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_roles
from hmf_core.models.mfdmc import MFDMC, MFDMCConfig
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import TrainSettings

PLANTED = 3  # groups per role and side
SEEDS = (0, 1, 2)
SETTINGS = TrainSettings(
    family="mfdmc",
    split="random",
    dim=4,  # 2 per view: a view cannot hold both roles (each role has rank 2)
    views=2,
    user_centres=2 * PLANTED,
    item_centres=2 * PLANTED,
    view_entropy_weight=0.3,  # sharp weights: each object picks one centre per view
    prune_from=25,  # after the views have taken their roles
    prune_threshold=0.5,
    merge_distance=0.2,  # duplicates sit < 0.1 apart, distinct centres ~2
    min_centres=2,  # below the planted count: pruning must stop at 3 by itself
    lr=0.05,
    weight_decay=0.0,
    batch_size=256,
    max_epochs=80,
    patience=80,
    projection=False,
    threads=1,
)


def role_agreement(planted, model, split) -> dict[str, np.ndarray]:
    """ARI of each planted role (rows) with each view's top-centre assignment (columns), per
    side: {"user": (2, 2), "item": (2, 2)}."""
    found = {}
    for side, ids in (("user", split.user_ids), ("item", split.item_ids)):
        views = [grouping.membership.argmax(1).numpy() for grouping in model.groupings(side)]
        found[side] = np.array(
            [
                [adjusted_rand_score(planted.labels(side, role)[ids], v) for v in views]
                for role in (0, 1)
            ]
        )
    return found


@pytest.fixture(scope="module", params=SEEDS)
def trained(request, tmp_path_factory):
    seed = request.param
    planted = planted_roles(n_users=120, n_items=90, density=0.5, seed=seed)
    split = make_split(planted.data, "random", seed=seed)
    run_dir = tmp_path_factory.mktemp(f"mfdmc-roles-{seed}")
    fit_run(replace(SETTINGS, seed=seed), split, run_dir)
    model = RunDir(run_dir).load_model()
    return seed, role_agreement(planted, model, split), model.active_centres()


def test_each_planted_role_is_recovered_by_its_own_view(trained):
    seed, agreement, _ = trained
    print(seed, {side: a.round(3).tolist() for side, a in agreement.items()})
    for side, ari in agreement.items():
        matched = np.diag(ari) if np.trace(ari) >= np.trace(ari[::-1]) else np.diag(ari[::-1])
        assert matched.min() >= 0.9, (seed, side, ari.round(3))
    # view v of users meets view v of items: both sides give a role the same view
    user, item = agreement["user"], agreement["item"]
    assert (np.trace(user) > np.trace(user[::-1])) == (np.trace(item) > np.trace(item[::-1]))


def test_pruning_leaves_the_planted_number_of_centres(trained):
    seed, _, active = trained
    assert active == {"user": [PLANTED, PLANTED], "item": [PLANTED, PLANTED]}, (seed, active)


def test_merging_moves_a_duplicate_centres_weight_to_its_twin():
    """Two centres 0.01 apart (a duplicate) merge at merge_distance 0.1: the lighter is masked,
    its weight goes to the heavier, every object's vector stays within 0.01; a centre farther
    than the distance, and any centre of a view at min_centres, stays."""
    config = MFDMCConfig(
        n_users=40,
        n_items=3,
        dim=2,
        views=1,
        user_centres=3,
        item_centres=3,
        temperature=0.5,
        prune_from=0,
        prune_threshold=0.0,
        merge_distance=0.1,
    )
    torch.manual_seed(0)
    model = MFDMC(config)
    with torch.no_grad():
        model.users.centres[0] = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.5]])
    weights = model.users.weights()[:, 0]  # (M, K)
    heavier, lighter = (0, 1) if weights[:, 0].sum() > weights[:, 1].sum() else (1, 0)
    before = model.object_vectors("user")  # (M, 2)
    model.prune(0)
    assert model.users.active[0].tolist() == [i != lighter for i in range(3)]
    after = model.users.weights()[:, 0]
    assert torch.allclose(after[:, heavier], weights[:, 0] + weights[:, 1], atol=1e-6)
    assert torch.allclose(after[:, 2], weights[:, 2], atol=1e-6)
    assert (model.object_vectors("user") - before).norm(dim=-1).max() <= 0.01 + 1e-6
    kept = MFDMC(replace(config, min_centres=3))
    kept.users.centres.data.copy_(model.users.centres.data)
    kept.prune(0)
    assert kept.active_centres()["user"] == [3]
