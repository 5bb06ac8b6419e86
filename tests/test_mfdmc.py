"""MFDMC (hmf_core/models/mfdmc.py) pinned: HMF at depth 1 when it has one view and no extras,
known answers of its loss terms, pruning (in the model and through a real CLI run), the score
decomposition over its views, and the lazy optimizer against the dense one."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from conftest import hmf_cli

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.models.interface import decompose
from hmf_core.models.mfdmc import MFDMC, MFDMCConfig
from hmf_core.runs.recorder import fit_run
from hmf_core.runs.rundir import RunDir, load_checkpoint, read_checkpoint
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.lightning_module import HMFModule
from hmf_core.training.settings import TrainSettings

NO_EXTRAS = {"spread_weight": 0.0, "proximity_weight": 0.0, "entropy_weight": 0.0}


def one_view(use_bias: bool, temperature: float = 0.7, seed: int = 0) -> MFDMC:
    """One view, no pruning, no loss terms: the MFDMC that is HMF at depth 1."""
    torch.manual_seed(seed)
    config = MFDMCConfig(
        n_users=9,
        n_items=7,
        dim=3,
        views=1,
        user_centres=4,
        item_centres=5,
        temperature=temperature,
        use_bias=use_bias,
        prune_from=None,
        **NO_EXTRAS,
    )
    model = MFDMC(config)
    if use_bias:  # biases away from their zero start, so that a wrong bias term shows
        with torch.no_grad():
            model.global_bias.fill_(3.2)
            model.user_bias.copy_(torch.randn(9))
            model.item_bias.copy_(torch.randn(7))
    return model


def hmf_config_of(config: MFDMCConfig) -> HMFConfig:
    return HMFConfig(
        n_users=config.n_users,
        n_items=config.n_items,
        dim=config.dim,
        user_clusters=(config.user_centres,),
        item_clusters=(config.item_centres,),
        temperature=config.temperature,
        use_bias=config.use_bias,
    )


def copy_into_hmf(source: MFDMC, target: HMF) -> HMF:
    """MFDMC's parameters into an HMF of depth 1: logits -> C_1, view 1's centres -> root."""
    with torch.no_grad():
        for ours, theirs in ((source.users, target.users), (source.items, target.items)):
            theirs.connections[0].copy_(ours.connections)  # (M, K)
            theirs.root.copy_(ours.centres[0])  # (K, d)
        if source.config.use_bias:
            for name in ("global_bias", "user_bias", "item_bias"):
                getattr(target, name).copy_(getattr(source, name))
    return target


# ------------------------------------------------------------------ one view is HMF at depth 1


@pytest.mark.parametrize("use_bias", [False, True])
def test_one_view_without_extras_scores_as_hmf_at_depth_one(use_bias):
    model = one_view(use_bias)
    hmf = copy_into_hmf(model, HMF(hmf_config_of(model.config)))
    users, items = torch.arange(9), torch.tensor([0, 6, 3, 3, 1, 5, 2, 4, 0])
    with torch.no_grad():
        assert torch.allclose(model(users, items), hmf(users, items), atol=1e-6)
        candidates = torch.randint(0, 7, (9, 4), generator=torch.Generator().manual_seed(1))
        assert torch.allclose(
            model.score_candidates(users, candidates),
            hmf.score_candidates(users, candidates),
            atol=1e-6,
        )
    assert torch.allclose(model.score_all(users), hmf.score_all(users), atol=1e-6)
    assert model.score_all(users).shape == (9, 7)
    # the scores depend on the temperature: a wrong (or skipped) division would show above
    warmer = one_view(use_bias, temperature=1.0)
    assert not torch.allclose(warmer.score_all(users), model.score_all(users), atol=1e-3)
    # and nothing of MFDMC's own runs
    assert model.penalties(users, items) == {}
    assert not any(model.prune(epoch) for epoch in range(100))
    assert model.active_centres() == {"user": [4], "item": [5]}


def tiny_split():
    return make_split(
        planted_ratings(n_users=60, n_items=40, density=0.3, seed=3).data, "random", seed=0
    )


def first_epoch_loss(module: HMFModule, split, root) -> tuple[float, dict]:
    """One epoch of Lightning training (no validation); its train loss and the weights."""
    trainer = pl.Trainer(
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    trainer.fit(module, datamodule=HMFDataModule(split, batch_size=64, seed=0))
    return float(trainer.callback_metrics["train_loss"]), module.model.state_dict()


def test_one_view_trains_as_hmf_at_depth_one_through_lightning(tmp_path):
    """The Lightning module of that MFDMC and of the HMF holding the same parameters: the same
    first-epoch train loss and the same weights after it (AdamW is elementwise, so the two
    parameter layouts step alike)."""
    split = tiny_split()
    config = MFDMCConfig(
        n_users=split.n_users,
        n_items=split.n_items,
        dim=4,
        views=1,
        user_centres=5,
        item_centres=3,
        temperature=0.7,
        use_bias=True,
        global_mean=3.0,
        prune_from=None,
        **NO_EXTRAS,
    )
    hparams = {"lr": 2e-2, "weight_decay": 1e-2, "logit_lr": 5e-2, "optimizer": "dense"}
    ours = HMFModule(config.to_dict(), family="mfdmc", seed=4, **hparams)
    hmf_config = HMFConfig(**{**hmf_config_of(config).to_dict(), "global_mean": 3.0})
    theirs = HMFModule(hmf_config.to_dict(), family="hmf", seed=9, **hparams)
    copy_into_hmf(ours.model, theirs.model)
    loss, trained = first_epoch_loss(ours, split, tmp_path / "mfdmc")
    hmf_loss, hmf_trained = first_epoch_loss(theirs, split, tmp_path / "hmf")
    assert loss == pytest.approx(hmf_loss, rel=1e-5)
    assert 0.3 < loss < 20  # a real loss: ratings 1-5
    for ours_name, theirs_name in (
        ("users.connections", "users.connections.0"),
        ("users.centres", "users.root"),
        ("items.connections", "items.connections.0"),
        ("items.centres", "items.root"),
        ("user_bias", "user_bias"),
    ):
        want = hmf_trained[theirs_name]
        got = trained[ours_name].reshape(want.shape)  # centres (1, K, d) -> root (K, d)
        assert torch.allclose(got, want, atol=1e-5), ours_name
    assert trained["user_bias"].abs().max() > 1e-3  # it did train: the biases start at 0


# ------------------------------------------------------------------ known answers of the losses


def two_side_model(views: int = 1, centres: int = 2, view_dim: int = 2, **weights) -> MFDMC:
    """Users and items alike: `views` views of `centres` centres, weights off unless given."""
    config = MFDMCConfig(
        n_users=4,
        n_items=4,
        dim=views * view_dim,
        views=views,
        user_centres=centres,
        item_centres=centres,
        prune_from=None,
        min_centres=1,
        **{**NO_EXTRAS, **weights},
    )
    return MFDMC(config)


def plant(model: MFDMC, centres: list, logits: list | None = None) -> MFDMC:
    """The same centres (V, K, d_v) and, when given, the same logits (M, V * K) on both sides."""
    with torch.no_grad():
        for side in (model.users, model.items):
            side.centres.copy_(torch.tensor(centres))
            if logits is not None:
                side.connections.copy_(torch.tensor(logits).expand_as(side.connections))
    return model


EVERYONE = torch.arange(4)


@pytest.mark.parametrize(("gap", "expected"), [(0.4, 0.6), (1.5, 0.0), (1.0, 0.0)])
def test_spread_is_the_hinge_of_the_margin_minus_the_centres_distance(gap, expected):
    model = plant(two_side_model(spread_weight=1.0), [[[0.0, 0.0], [0.0, gap]]])
    terms = model.penalties(EVERYONE, EVERYONE)
    assert set(terms) == {"spread"}
    assert float(terms["spread"].detach()) == pytest.approx(expected, abs=1e-6)
    assert float(model.users._spread(2.0).detach()) == pytest.approx(2.0 - gap, abs=1e-6)
    weighted = plant(two_side_model(spread_weight=0.25), [[[0.0, 0.0], [0.0, gap]]])
    assert float(weighted.penalties(EVERYONE, EVERYONE)["spread"].detach()) == pytest.approx(
        expected / 4
    )


def test_spread_counts_only_active_centres_and_skips_a_view_of_one():
    """Three centres: two at 0.4, a third far from both (pairs with it add 0) halves nothing
    once it is pruned; a second view left with one active centre is skipped, not NaN."""
    model = two_side_model(views=2, centres=3, spread_weight=1.0)
    plant(model, [[[0.0, 0.0], [0.4, 0.0], [0.0, 5.0]], [[0.0, 0.0], [0.1, 0.0], [0.2, 0.0]]])
    with_three = float(model.users._spread(1.0).detach())
    view_two = (0.9 + 0.8 + 0.9) / 3  # pairs at 0.1, 0.2, 0.1
    assert with_three == pytest.approx((0.6 / 3 + view_two) / 2, abs=1e-6)
    for side in (model.users, model.items):
        side.active[0, 2] = False  # view 1: the far centre pruned
        side.active[1, 1:] = False  # view 2: one centre left
    assert float(model.penalties(EVERYONE, EVERYONE)["spread"].detach()) == pytest.approx(
        0.6, abs=1e-6
    )
    for side in (model.users, model.items):
        side.active[0, 1] = False  # every view down to one centre: no pair anywhere
    alone = model.penalties(EVERYONE, EVERYONE)["spread"]
    assert float(alone.detach()) == 0.0
    alone.backward()  # a usable (zero) loss, no NaN gradient
    assert torch.isfinite(model.users.centres.grad).all()


def test_proximity_is_zero_for_one_hot_weights_and_the_hand_value_for_two_centres():
    centres = [[[0.0, 0.0], [0.4, 0.3]]]  # |a_0 - a_1|^2 = 0.25
    one_hot = plant(two_side_model(proximity_weight=1.0), centres, [[60.0, -60.0]])
    assert float(one_hot.penalties(EVERYONE, EVERYONE)["proximity"].detach()) == pytest.approx(
        0, abs=1e-9
    )
    # weights (w, 1 - w), w = 3/4: sum_k w_k |p - a_k|^2 = w (1 - w) |a_0 - a_1|^2
    mixed = plant(two_side_model(proximity_weight=1.0), centres, [[math.log(3.0), 0.0]])
    found = float(mixed.penalties(EVERYONE, EVERYONE)["proximity"].detach())
    assert found == pytest.approx(0.75 * 0.25 * 0.25, rel=1e-5)


def test_entropy_is_one_for_uniform_weights_over_the_active_centres_and_near_zero_one_hot():
    centres = [[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]
    uniform = plant(two_side_model(centres=3, entropy_weight=1.0), centres, [[0.0, 0.0, 5.0]])
    for side in (uniform.users, uniform.items):
        side.active[0, 2] = False  # uniform over the two still active, whatever its logit
    assert float(uniform.penalties(EVERYONE, EVERYONE)["entropy"].detach()) == pytest.approx(
        1.0, abs=1e-6
    )
    sharp = plant(two_side_model(centres=3, entropy_weight=1.0), centres, [[30.0, 0.0, 0.0]])
    assert float(sharp.penalties(EVERYONE, EVERYONE)["entropy"].detach()) < 1e-9


def test_entropy_skips_a_view_with_one_active_centre():
    model = two_side_model(views=2, centres=2, entropy_weight=1.0)
    plant(model, [[[0.0, 0.0], [1.0, 0.0]]] * 2, [[0.0, 0.0, 4.0, -4.0]])
    for side in (model.users, model.items):
        side.active[1, 1] = False  # view 2: one centre
    found = model.penalties(EVERYONE, EVERYONE)["entropy"].detach()
    assert float(found) == pytest.approx(1.0, abs=1e-6)  # view 1 alone: uniform
    for side in (model.users, model.items):
        side.active[0, 1] = False
    found = model.penalties(EVERYONE, EVERYONE)["entropy"].detach()
    assert float(found) == 0.0 and not torch.isnan(found)


# ------------------------------------------------------------------ pruning


def prunable(prune_from: int = 2, min_centres: int = 2) -> MFDMC:
    """Two views of four centres. View 1: centre 4 is never chosen (logit -20), the others
    alike. View 2: centre 1 takes almost everything, centres 3 and 4 least."""
    config = MFDMCConfig(
        n_users=6,
        n_items=5,
        dim=4,
        views=2,
        user_centres=4,
        item_centres=4,
        prune_from=prune_from,
        prune_threshold=0.5,
        min_centres=min_centres,
        **NO_EXTRAS,
    )
    model = MFDMC(config)
    logits = torch.tensor([0.0, 0.0, 0.0, -20.0, 6.0, 1.0, -3.0, -6.0])
    with torch.no_grad():
        for side in (model.users, model.items):
            side.connections.copy_(logits.expand_as(side.connections))
    return model


def test_a_weak_centre_is_pruned_from_prune_from_on_not_before():
    model = prunable(prune_from=2)
    assert not model.prune(0) and not model.prune(1)
    assert model.active_centres() == {"user": [4, 4], "item": [4, 4]}
    assert model.prune(2)
    # view 1: centre 4 (mean weight ~0 < 0.5 / 4); view 2: three weak (1.5e-3 .. 0.0067),
    # but min_centres keeps two, the heaviest: centres 1 and 2
    for side in (model.users, model.items):
        assert side.active.tolist() == [[True, True, True, False], [True, True, False, False]]


def test_min_centres_is_respected():
    model = prunable(prune_from=0, min_centres=3)
    model.prune(0)
    assert model.active_centres() == {"user": [3, 3], "item": [3, 3]}
    assert model.users.active[1].tolist() == [True, True, True, False]
    lone = prunable(prune_from=0, min_centres=1)
    lone.prune(0)
    assert lone.active_centres() == {"user": [3, 1], "item": [3, 1]}


def test_pruning_is_permanent_and_a_pruned_centre_has_exactly_zero_weight():
    model = prunable(prune_from=0)
    model.prune(0)
    with torch.no_grad():
        for side in (model.users, model.items):
            side.connections[:, 3] = 50.0  # the pruned centre's logits grow past every other
            side.connections[:, 6:] = 50.0
    model.prune(1)
    for side in (model.users, model.items):
        assert side.active.tolist() == [[True, True, True, False], [True, True, False, False]]
        weights = side.weights()  # (M, V, K)
        assert (weights[:, 0, 3] == 0).all() and (weights[:, 1, 2:] == 0).all()
        sums = weights.sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums))
    scores = model.score_all(torch.arange(6))
    assert torch.isfinite(scores).all()


def test_groupings_drop_the_pruned_columns():
    model = prunable(prune_from=0)
    model.prune(0)
    for side in ("user", "item"):
        embedding = model.side(side)
        first, second = model.groupings(side)
        assert (first.name, second.name) == ("view 1", "view 2")
        assert first.membership.shape[1] == 3 and second.membership.shape[1] == 2
        assert torch.equal(first.cluster_vectors[:, :2], embedding.centres[0, :3].detach())
        assert torch.equal(second.cluster_vectors[:, 2:], embedding.centres[1, :2].detach())
        assert (first.cluster_vectors[:, 2:] == 0).all()  # concat: outside its slice
        sums = second.membership.sum(1)
        assert torch.allclose(sums, torch.ones_like(sums))


def test_a_cli_run_prunes_and_its_checkpoint_reloads_pruned(tmp_path):
    """--prune-from 0 with a high threshold: the active counts logged in metrics.csv fall over
    the epochs, the mask is in best.ckpt, and load_checkpoint rebuilds the model pruned, with
    the counts logged for the checkpoint's epoch (logged before that epoch's pruning, the
    checkpoint saved after validation, also before it)."""
    to_csv(planted_ratings(n_users=80, n_items=60, density=0.3, seed=1), tmp_path / "r.csv")
    run_dir = tmp_path / "run"
    done = hmf_cli(
        "train",
        *("--data", tmp_path / "r.csv", "--run-dir", run_dir, "--family", "mfdmc"),
        *("--split", "random", "--max-epochs", "4", "--lr", "0.02", "--dim", "8"),
        *("--views", "2", "--user-centres", "6", "--item-centres", "6", "--min-centres", "1"),
        *("--prune-from", "0", "--prune-threshold", "0.99", "--no-projection"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("mfdmc test: ")
    metrics = pd.read_csv(run_dir / "metrics.csv")
    columns = ["active_user_view1", "active_user_view2", "active_item_view1", "active_item_view2"]
    counts = metrics.dropna(subset=columns)[["epoch", *columns]].set_index("epoch")
    assert (counts.iloc[0] == 6).all()  # epoch 0 trained with every centre
    assert (counts.diff().dropna() <= 0).all().all()  # never back
    assert counts.iloc[-1].sum() < counts.iloc[0].sum()
    run = RunDir(run_dir)
    checkpoint = read_checkpoint(run.file("checkpoint"))
    assert not checkpoint["state_dict"]["model.users.active"].all()  # the mask is saved
    model, _ = load_checkpoint(run.file("checkpoint"))
    best = counts.loc[run.test_metrics()["best_epoch"]].astype(int)
    assert model.active_centres() == {
        "user": [best["active_user_view1"], best["active_user_view2"]],
        "item": [best["active_item_view1"], best["active_item_view2"]],
    }
    assert sum(sum(v) for v in model.active_centres().values()) < 4 * 6
    assert [g.n_clusters for g in model.groupings("user")] == model.active_centres()["user"]


# ------------------------------------------------------------------ decomposition over views


def test_the_views_pair_terms_and_the_biases_sum_to_the_prediction():
    torch.manual_seed(2)
    config = MFDMCConfig(
        n_users=8, n_items=6, dim=6, views=3, user_centres=4, item_centres=3, use_bias=True
    )
    model = MFDMC(config).double()
    with torch.no_grad():
        model.global_bias.fill_(3.5)
        model.user_bias.copy_(torch.randn(8))
        model.item_bias.copy_(torch.randn(6))
        model.users.active[1, 0] = False  # a pruned centre: its column is gone everywhere
    for user, item in ((0, 0), (3, 5), (7, 2)):
        with torch.no_grad():
            score = float(model(torch.tensor([user]), torch.tensor([item]))[0])
        parts = [decompose(model, user, item, view, view) for view in (1, 2, 3)]
        pairs = sum(float(part["pairs"].sum()) for part in parts)
        biases = sum(float(value) for value in parts[0]["biases"].values())
        assert set(parts[0]["biases"]) == {"global", "user", "item"}
        assert pairs + biases == pytest.approx(score, abs=1e-9)
        assert parts[1]["pairs"].shape == (3, 3)  # view 2 of users: 3 active centres
        for view, other in ((1, 2), (2, 3), (3, 1)):
            across = decompose(model, user, item, view, other)
            assert (across["inner_products"] == 0).all()
            assert (across["pairs"] == 0).all()


# ------------------------------------------------------------------ the lazy optimizer


def test_lazy_training_equals_dense_training(tmp_path):
    """Through hmf_core.runs.recorder.fit_run, as tests/test_optim.py does for HMF: about 380
    steps of batch 32, past LazyAdamW's 100 warm-up steps, with all three loss terms (two read
    the batch's logit rows through the lazy lookup) and pruning after epoch 0. A row not
    caught up would be off by about lr = 1e-2 per skipped step; float32 rounding < 1e-4."""
    split = make_split(planted_ratings(seed=0).data, "random", seed=0)
    saved = {}
    for optimizer in ("dense", "lazy"):
        settings = TrainSettings(
            family="mfdmc",
            dim=8,
            views=2,
            user_centres=6,
            item_centres=6,
            spread_weight=0.1,
            proximity_weight=0.1,
            view_entropy_weight=0.1,
            prune_from=0,
            prune_threshold=0.9,
            min_centres=1,
            lr=1e-2,
            weight_decay=1e-2,
            batch_size=32,
            max_epochs=2,
            projection=False,
            threads=1,
            optimizer=optimizer,
        )
        fit_run(settings, split, tmp_path / optimizer)
        checkpoint = torch.load(tmp_path / optimizer / "best.ckpt", weights_only=False)
        assert checkpoint["hyper_parameters"]["optimizer"] == optimizer
        saved[optimizer] = checkpoint["state_dict"]
    assert len(split.train) / 32 * 2 > 300
    for side in ("users", "items"):  # pruning ran (and below: pruned the same centres)
        assert not saved["dense"][f"model.{side}.active"].all(), side
    assert set(saved["lazy"]) == set(saved["dense"])
    for name, want in saved["dense"].items():
        got = saved["lazy"][name]
        if want.dtype == torch.bool:
            assert torch.equal(got, want), name  # the same centres pruned
        else:
            assert torch.allclose(got, want, rtol=0, atol=1e-4), (name, (got - want).abs().max())
