"""LazyAdamW against torch.optim.AdamW: the same weights and moments after the same steps."""

from __future__ import annotations

import subprocess

import pytest
import torch
import torch.nn.functional as F
from conftest import AS_NOBODY, REPO, needs_nobody

from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.runs.recorder import fit_run
from hmf_core.training import optim, row_kernels
from hmf_core.training.memory import HORIZON
from hmf_core.training.optim import LazyAdamW
from hmf_core.training.trainer import TrainSettings


def tiny_model(depth: int, seed: int = 0) -> HMF:
    """float64: float32 rounding differs between any two orders of the same sums and grows
    over hundreds of steps; in float64 what is left is LazyAdamW's own error (tolerance 1e-7
    of a catch-up, about 1e-8 here), far below one skipped step of weight decay (5e-4)."""
    torch.manual_seed(seed)
    config = HMFConfig(
        n_users=40,
        n_items=30,
        dim=4,
        user_clusters=(6, 3)[:depth],
        item_clusters=(5, 2)[:depth],
        temperature=0.7,
    )
    return HMF(config).double()


def batches(steps: int, seed: int = 1):
    """Batches of 8 ratings over users 0-39 and items 0-29, some users absent for long gaps:
    user u only on steps that are multiples of (u % 7) + 1, user 39 only on step 150."""
    generator = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        allowed = [u for u in range(39) if step % (u % 7 + 1) == 0] + ([39] if step == 150 else [])
        pick = torch.randint(len(allowed), (8,), generator=generator)
        users = torch.tensor(allowed)[pick]
        items = torch.randint(0, 25, (8,), generator=generator)  # items 25-29: never seen
        yield users, items, 1 + 4 * torch.rand(8, generator=generator, dtype=torch.float64)


def two_groups(model: HMF, lr: float, logit_lr: float, decay: float) -> list[dict]:
    """The connection logits in a group of their own, with their own lr and weight decay."""
    logits = [p for name, p in model.named_parameters() if "connections" in name]
    rest = [p for name, p in model.named_parameters() if "connections" not in name]
    groups = [{"params": rest, "lr": lr, "weight_decay": decay}]
    if logits:
        groups.append({"params": logits, "lr": logit_lr, "weight_decay": 3 * decay})
    return groups


def train(model: HMF, optimizer, steps: int, sparse: bool, read_every: int = 0) -> None:
    model.use_sparse_gradients(sparse, optimizer.prepare if sparse else None)
    for step, (users, items, ratings) in enumerate(batches(steps), start=1):
        loss = F.mse_loss(model(users, items), ratings)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if read_every and step % read_every == 0:
            optimizer.catch_up()  # as before a validation: must not change the outcome
    if sparse:
        optimizer.catch_up()


def assert_same(dense_model, dense_opt, lazy_model, lazy_opt) -> None:
    for (name, want), got in zip(
        dense_model.named_parameters(), lazy_model.parameters(), strict=True
    ):
        assert torch.allclose(got, want, rtol=0, atol=1e-7), (name, (got - want).abs().max())
        for key in ("exp_avg", "exp_avg_sq"):
            have, expected = lazy_opt.state[got][key], dense_opt.state[want][key]
            assert torch.allclose(have, expected, rtol=0, atol=1e-8), (name, key)


@pytest.fixture(params=["fused loops", "torch ops"])
def row_updates(request, monkeypatch):
    """LazyAdamW's two ways of updating rows: row_kernels' loops in place (CPU float tables)
    and torch ops on gathered copies (elsewhere, e.g. a GPU): both must equal dense AdamW."""
    if request.param == "torch ops":
        monkeypatch.setattr(row_kernels, "usable", lambda *tables: False)
    return request.param


@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize(
    ("steps", "warmup", "read_every"),
    [(12, 0, 0), (160, 0, 0), (300, 100, 0), (300, 20, 37)],
)
def test_lazy_adamw_equals_dense_adamw(depth, steps, warmup, read_every, row_updates):
    """Rows skipped for gaps of 1-7 steps, one row skipped for 149 steps then to the end, items
    never seen; weight decay; two parameter groups. warmup 0 and early steps exercise the
    step-by-step path, 300 steps the polynomial closed form."""
    lr, logit_lr, decay = 1e-2, 3e-2, 0.05
    dense_model, lazy_model = tiny_model(depth), tiny_model(depth)
    dense_opt = torch.optim.AdamW(two_groups(dense_model, lr, logit_lr, decay), fused=True)
    lazy_opt = LazyAdamW(two_groups(lazy_model, lr, logit_lr, decay), warmup_steps=warmup)
    train(dense_model, dense_opt, steps, sparse=False)
    train(lazy_model, lazy_opt, steps, sparse=True, read_every=read_every)
    lazy_table = lazy_model.users.connections[0] if depth else lazy_model.users.root
    assert lazy_opt.state[lazy_table]["last_step"].eq(steps).all()  # all caught up
    assert_same(dense_model, dense_opt, lazy_model, lazy_opt)


@pytest.mark.parametrize("depth", [1, 2])
def test_lazy_adamw_equals_dense_adamw_on_a_batch_s_distinct_rows(depth, monkeypatch):
    """The model's forward on a batch's distinct rows (hmf.REPEATS_FROM, taken for short
    sides): LazyAdamW is prepared with those rows and its sparse gradient has one entry per
    distinct row; still dense AdamW's result."""
    from hmf_core.models import hmf

    monkeypatch.setattr(hmf, "REPEATS_FROM", 100)  # every batch of 8 over 40 users
    lr, logit_lr, decay = 1e-2, 3e-2, 0.05
    dense_model, lazy_model = tiny_model(depth), tiny_model(depth)
    dense_opt = torch.optim.AdamW(two_groups(dense_model, lr, logit_lr, decay), fused=True)
    lazy_opt = LazyAdamW(two_groups(lazy_model, lr, logit_lr, decay), warmup_steps=20)
    train(dense_model, dense_opt, 300, sparse=False)
    train(lazy_model, lazy_opt, 300, sparse=True, read_every=37)
    assert_same(dense_model, dense_opt, lazy_model, lazy_opt)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_row_loops_equal_the_torch_ops(dtype):
    """row_kernels against optim's torch ops on the same rows, float32 too (the training
    dtype): the catch-up with real plans (optim._Plans: early starts that need high degrees,
    one skipped step that needs degree 0, recent starts read from the ring, old ones from the
    full sums) and one AdamW step; rows outside the batch untouched."""
    generator = torch.Generator().manual_seed(0)
    width, group = 200, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05}
    exp_avg = 1e-3 * torch.randn(500, width, generator=generator, dtype=dtype)
    exp_avg_sq = exp_avg**2 * (1 + torch.rand(500, width, generator=generator, dtype=dtype))
    start = [torch.randn(500, width, generator=generator, dtype=dtype), exp_avg, exp_avg_sq]
    start[1][:3], start[2][:3] = 0, 0  # never-seen elements: m = v = 0, so y = 0
    every = torch.unique(torch.randint(500, (300,), generator=generator))  # (U,)
    gradient = 1e-3 * torch.randn(len(every), width, generator=generator, dtype=dtype)
    rounding = 1e-6 if dtype == torch.float32 else 1e-14  # of the table's largest value
    degrees, sources = set(), set()
    for first, upto in ((2, 60), (20, 200), (60, 400), (300, 1500), (1490, 1500), (1499, 1500)):
        plans = optim._Plans(optim._hyper(group), 1e-7, torch.device("cpu"))
        last = torch.randint(first, upto + 1, (len(every),), generator=generator)  # n >= 0
        fused = [t.clone() for t in start]
        assert not row_kernels.catch_up_planned(fused, every, last, upto, plans, 1e-8)
        assert all(torch.equal(a, b) for a, b in zip(fused, start))  # no plan: nothing done
        starts, group_of_row = torch.unique(last, return_inverse=True)
        slow = plans.plan(starts, upto)["slow"][group_of_row]  # builds; step by step: not here
        rows, last = every[~slow], last[~slow]
        starts, group_of_row = torch.unique(last, return_inverse=True)
        plan = plans.plan(starts, upto)
        degrees.add(plan["moments"].shape[1] - 1)
        sources |= {"ring" if n < HORIZON else "full" for n in (upto - last).tolist()}
        assert row_kernels.catch_up_planned(fused, rows, last, upto, plans, 1e-8)
        row_kernels.adamw_rows(fused, rows, gradient[~slow], 321, group)
        parts = [t[rows] for t in start]
        optim._expand(*parts, plan, group_of_row, upto - last, group)
        optim._adamw_update(*parts, gradient[~slow], 321, group)
        by_ops = [t.clone().index_put_((rows,), part) for t, part in zip(start, parts)]
        for name, got, want in zip(("weights", "exp_avg", "exp_avg_sq"), fused, by_ops):
            error = float((got - want).abs().max())
            assert error <= rounding * float(want.abs().max()), (upto, name, error)
        untouched = torch.ones(500, dtype=torch.bool).index_fill_(0, rows, False)
        assert torch.equal(fused[0][untouched], start[0][untouched])
        assert not torch.allclose(fused[0][rows], start[0][rows])
    assert len(degrees) >= 3 and min(degrees) == 0 and max(degrees) >= 5, degrees
    assert sources == {"ring", "full"}


LOOPS_ONCE = """
import torch
from hmf_core.training import row_kernels
tables = [torch.ones(6, 4), torch.zeros(6, 4), torch.zeros(6, 4)]
group = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
row_kernels.adamw_rows(tables, torch.tensor([1, 4]), torch.ones(2, 4), 1, group)
print(tables[0][:, 0].tolist())
"""


@needs_nobody
def test_fused_loops_run_where_numba_can_write_no_cache():
    """As 'nobody' (home /nonexistent) numba may write neither hmf_core/__pycache__ nor a
    user cache folder: importing row_kernels must still work and the loops still run."""
    result = subprocess.run(
        AS_NOBODY + ["-c", LOOPS_ONCE],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    weights = [float(w) for w in result.stdout.strip().strip("[]").split(",")]
    assert weights[1] == pytest.approx(0.9) and weights[4] == pytest.approx(0.9)  # Adam: - lr
    assert weights[0] == weights[2] == 1.0  # rows outside the batch untouched


def test_sparse_gradient_touches_only_the_batch_rows():
    model = tiny_model(1)
    model.use_sparse_gradients(True)
    model(torch.tensor([3, 7, 3]), torch.tensor([1, 2, 4])).sum().backward()
    gradient = model.users.connections[0].grad
    assert gradient.is_sparse
    assert sorted(gradient.coalesce().indices()[0].tolist()) == [3, 7]
    assert not model.users.root.grad.is_sparse  # cluster embeddings: dense, fused AdamW


def test_lazy_rows_stay_stale_until_caught_up():
    """Without catch_up a skipped row lags dense AdamW (the lazy part is real), after it not."""
    dense_model, lazy_model = tiny_model(1), tiny_model(1)
    dense_opt = torch.optim.AdamW(dense_model.parameters(), lr=1e-2, weight_decay=0.1)
    lazy_opt = LazyAdamW(lazy_model.parameters(), lr=1e-2, weight_decay=0.1, warmup_steps=0)
    for model, optimizer, sparse in ((dense_model, dense_opt, False), (lazy_model, lazy_opt, True)):
        model.use_sparse_gradients(sparse, optimizer.prepare if sparse else None)
        for users in ([0, 1], [0], [0], [0]):  # user 1 skipped for 3 steps
            loss = model(torch.tensor(users), torch.tensor([0] * len(users))).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    want, got = dense_model.users.connections[0][1], lazy_model.users.connections[0][1]
    assert not torch.allclose(got, want, atol=1e-6)
    lazy_opt.catch_up()
    assert torch.allclose(got, want, rtol=0, atol=1e-7)


def test_changed_learning_rate_applies_from_the_step_it_changed():
    dense_model, lazy_model = tiny_model(1), tiny_model(1)
    dense_opt = torch.optim.AdamW(dense_model.parameters(), lr=1e-2, weight_decay=0.1)
    lazy_opt = LazyAdamW(lazy_model.parameters(), lr=1e-2, weight_decay=0.1, warmup_steps=0)
    for model, optimizer, sparse in ((dense_model, dense_opt, False), (lazy_model, lazy_opt, True)):
        model.use_sparse_gradients(sparse, optimizer.prepare if sparse else None)
        for step, (users, items, ratings) in enumerate(batches(30), start=1):
            if step == 15:
                optimizer.param_groups[0]["lr"] = 3e-3
            loss = F.mse_loss(model(users, items), ratings)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    lazy_opt.catch_up()
    assert_same(dense_model, dense_opt, lazy_model, lazy_opt)


@pytest.mark.parametrize(
    "recipe",
    [{}, {"logit_lr": 3e-2, "entropy_weight": 0.1}, {"task": "ranking", "entropy_weight": 0.1}],
)
def test_lightning_fit_with_lazy_equals_dense_and_checkpoints_caught_up_weights(
    tmp_path, recipe, row_updates
):
    """Through hmf_core.runs.recorder.fit_run (Lightning, validation, best.ckpt): about 380 steps of
    batch 32, past LazyAdamW's 100 warm-up steps; also with the logits' own learning rate and
    the entropy penalty on the batch's membership rows, and for BPR (items read twice a step).
    A checkpoint of rows not brought up to date would be off by about lr = 1e-2 per skipped
    step; float32 rounding leaves < 1e-4."""
    split = make_split(planted_ratings(seed=0).data, "random", seed=0)
    saved = {}
    for optimizer in ("dense", "lazy"):
        settings = TrainSettings(
            **recipe,
            user_clusters=[8],
            item_clusters=[8],
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
    for name, want in saved["dense"].items():
        got = saved["lazy"][name]
        assert torch.allclose(got, want, rtol=0, atol=1e-4), (name, (got - want).abs().max())


def test_optimizer_flag_reaches_the_settings():
    from hmf_core.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["train", "--data", "r.csv", "--optimizer", "lazy"])
    assert settings_from_args(args).optimizer == "lazy"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "r.csv", "--optimizer", "sgd"])


def test_auto_picks_lazy_only_for_large_row_tables():
    from hmf_core.training.lightning_module import LAZY_FROM_ELEMENTS, HMFModule

    small = HMFConfig(n_users=100, n_items=50, user_clusters=(20,), item_clusters=(10,))
    large = HMFConfig(
        n_users=LAZY_FROM_ELEMENTS // 20, n_items=50, user_clusters=(20,), item_clusters=(10,)
    )
    picked = {}
    for name, config in (("small", small), ("large", large)):
        module = HMFModule(config.to_dict(), optimizer="auto")
        picked[name] = type(module.configure_optimizers()).__name__
        assert module.model.users.sparse_gradients == (picked[name] == "LazyAdamW")
    assert picked == {"small": "AdamW", "large": "LazyAdamW"}
    forced = HMFModule(small.to_dict(), optimizer="lazy").configure_optimizers()
    assert isinstance(forced, LazyAdamW)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        HMFModule(small.to_dict(), optimizer="sgd")


def test_settings_refuse_an_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer must be auto, dense or lazy"):
        TrainSettings(optimizer="sgd").validate()
    TrainSettings(optimizer="lazy").validate()
