"""The interpretable recipe: spectral warm start, logit learning rate, entropy penalty, presets."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from hmf_core.cli import build_parser, settings_from_args
from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.models.hmf import HMFConfig, initial_model
from hmf_core.models.warmstart import sharp_logit, warm_start
from hmf_core.runs.recorder import fit_run
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.settings import PRESETS, TrainSettings, cluster_warnings, with_preset


@pytest.fixture(scope="module")
def planted_split():
    planted = planted_ratings(seed=0)
    return planted, make_split(planted.data, "random", seed=0)


def test_sharp_logit_gives_the_asked_membership():
    for k, sharpness in ((2, 0.6), (100, 0.8), (200, 0.95)):
        logits = torch.zeros(k, dtype=torch.float64)  # the formula, not float32's exp
        logits[0] = sharp_logit(sharpness, k)
        assert torch.softmax(logits, 0)[0].item() == pytest.approx(sharpness, abs=1e-6)


def test_spectral_start_is_sharp_and_seeded(planted_split):
    """The planted data are observed uniformly at random, so who-rated-what carries no group
    signal there; the start must still be a valid, sharp start, the same for the same seed."""
    planted, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(4,), item_clusters=(4,))
    model = warm_start(initial_model(config, 0), split.train, "spectral", 0.8, seed=0)
    first = model.users.membership(1)  # (M, 4)
    assert torch.allclose(first.sum(1), torch.ones(split.n_users))
    assert first.max(1).values.min().item() == pytest.approx(0.8, abs=0.01)
    again = warm_start(initial_model(config, 0), split.train, "spectral", 0.8, seed=0)
    assert torch.equal(model.users.connections[0], again.users.connections[0])


def test_spectral_start_recovers_groups_that_differ_in_what_they_rate():
    """Planted groups that rate different items (not only differently): the co-clustering
    start must put each user group and each item group in its own cluster."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    users, items = np.arange(120) % 3, np.arange(90) % 3
    observed = rng.random((120, 90)) < np.where(users[:, None] == items[None, :], 0.5, 0.03)
    rows, cols = np.nonzero(observed)
    train = pd.DataFrame({"user": rows, "item": cols, "rating": 4.0})
    config = HMFConfig(120, 90, user_clusters=(3,), item_clusters=(3,))
    model = warm_start(initial_model(config, 0), train, "spectral", 0.9, seed=0)
    found_users = model.users.membership(1).argmax(1).numpy()
    found_items = model.items.membership(1).argmax(1).numpy()
    assert adjusted_rand_score(users, found_users) == pytest.approx(1.0)
    assert adjusted_rand_score(items, found_items) == pytest.approx(1.0)


def test_spectral_start_builds_every_level_and_none_changes_nothing(planted_split):
    _, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(8, 4), item_clusters=(6, 3))
    untouched = initial_model(config, 3)
    same = warm_start(initial_model(config, 3), split.train, "none")
    for a, b in zip(untouched.parameters(), same.parameters()):
        assert torch.equal(a, b)
    started = warm_start(initial_model(config, 3), split.train, "spectral", 0.7, seed=3)
    for side in (started.users, started.items):
        for level in (1, 2):
            top = side.membership(level).max(1).values  # (m_{l-1},)
            assert top.min().item() == pytest.approx(0.7, abs=0.01)
    with pytest.raises(ValueError, match="warm start must be one of"):
        warm_start(initial_model(config, 3), split.train, "kmeans")
    with pytest.raises(ValueError, match="between 0 and 1"):
        warm_start(initial_model(config, 3), split.train, "spectral", 1.0)


def test_entropy_penalty_is_normalised_and_sharpens(planted_split):
    _, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(4,), item_clusters=(4,))
    module = HMFModule(config.to_dict(), entropy_weight=1.0)
    users = torch.arange(10)
    with torch.no_grad():  # uniform memberships: normalised entropy exactly 1
        for parameter in module.model.parameters():
            parameter.zero_()
    assert module.membership_entropy(users, users).item() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        module.model.users.connections[0][:, 0] = 50.0
        module.model.items.connections[0][:, 0] = 50.0
    assert module.membership_entropy(users, users).item() < 1e-3


def test_logits_get_their_own_learning_rate(planted_split):
    _, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(4,), item_clusters=(4,))
    module = HMFModule(config.to_dict(), lr=1e-3, logit_lr=5e-2)
    optimizer = module.configure_optimizers()
    by_size = {len(group["params"]): group["lr"] for group in optimizer.param_groups}
    logits = [p for n, p in module.model.named_parameters() if "connections" in n]
    assert by_size[len(logits)] == 5e-2
    assert sorted(g["lr"] for g in optimizer.param_groups) == [1e-3, 5e-2]


def test_presets_and_flags_override_them():
    assert TrainSettings().preset == "paper" and not TrainSettings().use_bias
    paper = with_preset("paper")
    assert paper.warm_start == "none" and paper.init_std == 1.0 and paper.logit_lr is None
    interpretable = with_preset("interpretable")
    for name, value in PRESETS["interpretable"].items():
        assert getattr(interpretable, name) == value
    args = build_parser().parse_args(["train", "--data", "x.csv"])
    assert settings_from_args(args).preset == "stable"  # the default: issue 17's recipe
    assert settings_from_args(args).warm_start == "spectral-consensus"
    assert settings_from_args(args).user_clusters == [100, 25]  # its shape, not argparse's
    args = build_parser().parse_args(
        ["train", "--data", "x.csv", "--preset", "paper", "--bias", "--logit-lr", "0.02"]
    )
    chosen = settings_from_args(args)
    assert (chosen.preset, chosen.use_bias, chosen.logit_lr) == ("paper", True, 0.02)
    args = build_parser().parse_args(["train", "--data", "x.csv", "--no-bias"])
    assert settings_from_args(args).use_bias is False
    with pytest.raises(ValueError, match="preset must be one of"):
        with_preset("fast")


def test_interpretable_run_recovers_planted_clusters_crisply(tmp_path, planted_split):
    """The recipe end to end on the planted 4 x 4 data: argmax clusters match the planted
    groups, and memberships are crisp (the paper's start leaves them near 1/k)."""
    planted, split = planted_split
    settings = with_preset(
        "interpretable",
        user_clusters=[4],
        item_clusters=[4],
        lr=3e-2,  # tiny data, few steps per epoch: the recipe's learning rates scaled up
        logit_lr=3e-1,
        max_epochs=60,
        patience=10,
        projection=False,
        split="random",
    )
    metrics = fit_run(settings, split, tmp_path)
    assert metrics["test_rmse"] < 0.6  # noise 0.3, ratings 1 or 5
    from hmf_core.runs.rundir import RunDir

    model = RunDir(tmp_path).load_model()
    for side, groups, codes in (
        (model.users, planted.user_group, split.user_ids),
        (model.items, planted.item_group, split.item_ids),
    ):
        membership = side.membership(1)  # (M, 4)
        found = membership.argmax(1).numpy()
        assert adjusted_rand_score(groups[codes], found) > 0.9
        assert membership.max(1).values.mean().item() > 0.5
    assert math.isfinite(metrics["test_rmse"])


def test_mf_start_finds_groups_that_differ_only_in_how_they_rate(planted_split):
    """Planted data observed uniformly at random: who-rated-what is noise there, the ratings
    carry the groups, and k-means on a briefly trained MF finds them before HMF trains."""
    planted, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(4,), item_clusters=(4,))
    model = warm_start(initial_model(config, 0), split.train, "mf", 0.8, seed=0)
    for side, groups, codes in (
        (model.users, planted.user_group, split.user_ids),
        (model.items, planted.item_group, split.item_ids),
    ):
        found = side.membership(1).argmax(1).numpy()
        assert adjusted_rand_score(groups[codes], found) > 0.9


def test_entropy_penalty_in_a_ranking_step(planted_split):
    """Regression: the ranking step named no `items`, so a BPR run with an entropy weight
    raised NameError; the penalty covers the positive and negative items it read."""
    _, split = planted_split
    config = HMFConfig(split.n_users, split.n_items, user_clusters=(4,), item_clusters=(4,))
    plain = HMFModule(config.to_dict(), task="ranking")
    penalised = HMFModule(config.to_dict(), task="ranking", entropy_weight=2.0)
    batch = (torch.arange(8), torch.arange(8), torch.arange(8, 16))
    extra = penalised._shared_step(batch, "train") - plain._shared_step(batch, "train")
    expected = 2.0 * penalised.membership_entropy(batch[0], torch.cat(batch[1:]))
    assert extra.item() == pytest.approx(expected.item(), rel=1e-5)


def test_cluster_counts_at_least_the_objects_are_warned_about():
    settings = TrainSettings(user_clusters=[200], item_clusters=[100])
    split = {"users": 60, "items": 500, "train": 1000, "val": 10, "test": 10}
    (warning,) = cluster_warnings(settings, split)
    assert warning.startswith("200 user clusters for 60 users in the split")
    assert "use fewer clusters (e.g. 6)" in warning
    assert cluster_warnings(settings, {**split, "users": 625}) == []
    assert cluster_warnings(TrainSettings(user_depth=0, item_depth=0), split) == []


def test_mfdmc_views_start_each_from_its_own_block_of_the_spectral_vectors(planted_split):
    """MFDMC's warm start: every view sharp at the asked membership, each view the k-means of
    its own block of the spectral vectors (so the views start different), seeded."""
    import numpy as np

    from hmf_core.models.mfdmc import MFDMCConfig
    from hmf_core.models.mfdmc import initial_model as mfdmc_model
    from hmf_core.models.warmstart import _unit_rows, kmeans, spectral_vectors, start_model

    _, split = planted_split
    config = MFDMCConfig(split.n_users, split.n_items, dim=8, views=2, user_centres=4)
    model = warm_start(mfdmc_model(config, 0), split.train, "spectral", 0.8, seed=0)
    weights = model.users.weights()  # (M, 2, 4)
    assert weights.max(-1).values.min().item() == pytest.approx(0.8, abs=0.01)
    vectors, _ = spectral_vectors(split.train, split.n_users, split.n_items, 8, 0)
    for view, columns in enumerate((slice(0, 4), slice(4, 8))):
        expected, _ = kmeans(_unit_rows(vectors[:, columns]), 4, 0 + view)
        found = weights[:, view].argmax(-1).numpy()
        assert adjusted_rand_score(expected, found) == 1.0
    first, second = weights[:, 0].argmax(-1).numpy(), weights[:, 1].argmax(-1).numpy()
    assert adjusted_rand_score(first, second) < 0.9  # two blocks, two different starts
    rebuilt = start_model(config, 0, split.train, "spectral", 0.8)  # what quality rebuilds
    assert torch.equal(rebuilt.users.connections, model.users.connections)
    assert np.isfinite(model.items.connections.detach().numpy()).all()
