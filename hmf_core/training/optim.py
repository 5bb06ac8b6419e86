"""AdamW that steps only the rows a batch touched, and still equals dense AdamW.

torch.optim.AdamW (Loshchilov & Hutter, decoupled weight decay) at step k, for a gradient g:

    p <- p * (1 - lr * wd)
    m <- b1 * m + (1 - b1) * g            v <- b2 * v + (1 - b2) * g^2
    p <- p - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)

A row of C_1 (or of MF's embedding table) outside the batch has g = 0, yet dense AdamW still
decays it, decays its moments and moves it by its momentum every step. `LazyAdamW` keeps each
row's last step s and, when the row is next touched (or on `catch_up()`), applies the n skipped
zero-gradient steps s+1 .. s+n at once:

    m_{s+j} = b1^j m_s      v_{s+j} = b2^j v_s
    p_{s+n} = a^n p_s - m_s * sum_{j=1..n} c_j / (q_j x + eps)      x = sqrt(v_s), a = 1 - lr wd
    c_j = a^(n-j) lr b1^j / (1 - b1^(s+j))      q_j = b2^(j/2) / sqrt(1 - b2^(s+j))

The sum has one term per skipped step and, through eps, a different denominator per element.
Its terms shrink like (b1 / sqrt(b2))^j, so steps beyond J = 256 add less than float32 can
hold and are dropped. With Q = q_1 (the largest q), y = Q x / (Q x + eps) and rho_j = q_j / Q,

    1 / (q_j x + eps) = 1 / (Q x + eps) * sum_k ((1 - rho_j) y)^k

so the sum is a polynomial in y with per-row moments M_k = sum_j c_j (1 - rho_j)^k, cut at the
degree whose remainder bound sum_j c_j (1 - rho_j)^(D+1) / rho_j is below `tolerance` of the
sum. Rows that would need more than MAX_DEGREE (only rows last touched in the first ~80 steps,
while the bias corrections still move fast) take the skipped steps one by one instead. During
the first `warmup_steps` (100) steps every row is stepped (dense AdamW on the table), so after
them no row needs that.
The per-step cost grows with the batch's rows and the per-row work, not with the table's rows.

The forward must read a row as dense AdamW would have left it, so the rows a batch looks up are
brought up to date first: `prepare(table, rows)`, called by the model's lookup hook
(`HMF.use_sparse_gradients(True, before_lookup=optimizer.prepare)`).

Both row updates, the catch-up and AdamW's step, run as fused loops on the rows where they lie
when the tables are CPU float tables (training.row_kernels: each row read and written once),
and as torch ops on gathered copies of the rows elsewhere (a GPU). Both equal dense AdamW.

Parameters whose gradient is dense (cluster embeddings, upper connection levels, biases) are
stepped by torch's own fused AdamW kernel, with the same groups' lr and weight decay.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.optim.adamw import adamw as functional_adamw

from hmf_core.training import row_kernels
from hmf_core.training.memory import AHEAD, CHUNK_ROWS, HORIZON, MAX_DEGREE  # sizes it counts


class LazyAdamW(torch.optim.Optimizer):
    """AdamW whose row-sparse parameters (sparse COO gradients) are stepped lazily and
    exactly; dense-gradient parameters get torch's fused AdamW. Call `catch_up()` before
    reading the weights (validation, checkpoints, the end of training)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        warmup_steps: int = 100,
        tolerance: float = 1e-7,
    ):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(
                f"LazyAdamW needs lr, eps, weight_decay >= 0; got {lr}, {eps}, {weight_decay}"
            )
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"LazyAdamW needs betas in [0, 1); got {betas}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
        self.warmup_steps = warmup_steps
        self.tolerance = tolerance

    # -- the step ------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            dense: list[torch.Tensor] = []
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if param.grad.is_sparse or "last_step" in state:
                    self._sparse_step(param, state, group)
                else:
                    dense.append(param)
            if dense:
                self._dense_step(dense, group)
        return loss

    def _dense_step(self, params: list[torch.Tensor], group: dict) -> None:
        """torch's fused AdamW over the dense-gradient parameters of one group."""
        for param in params:
            state = self.state[param]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
                state["exp_avg"] = torch.zeros_like(param)
                state["exp_avg_sq"] = torch.zeros_like(param)
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        functional_adamw(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            fused=True,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
        )

    def _sparse_step(self, param: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
            state["last_step"] = torch.zeros(len(param), dtype=torch.long, device=param.device)
            state["hyper"] = _hyper(group)
        if state["hyper"] != _hyper(group):  # lr or weight decay changed: old ones until now
            self._pending.pop(param, None)
            self._catch_up_param(param, state, state["hyper"])
            state["hyper"] = _hyper(group)
        state["step"] += 1
        step = state["step"]
        if step <= self.warmup_steps and bool((state["last_step"] == step - 1).all()):
            self._pending.pop(param, None)
            self._warmup_step(param, state, group)
            return
        state.pop("dense_grad", None)  # the warm-up's buffers
        state.pop("warmup_step", None)
        pending = self._pending.pop(param, None)
        rows, values = self._row_gradient(param, pending)  # (U,), (U, ...)
        if not (
            pending is not None
            and pending.rows.shape == rows.shape
            and (pending.rows is rows or torch.equal(pending.rows, rows))
        ):  # prepare() did not bring exactly these rows up to date
            self._advance(param, rows, state["last_step"][rows], step - 1, group)
        tables = (param, state["exp_avg"], state["exp_avg_sq"])
        if row_kernels.usable(*tables):
            row_kernels.adamw_rows(tables, rows, values, step, group)
        else:
            parts = self._gather(tables, rows)  # (U, ...) copies
            _adamw_update(*parts, values, step, group)
            _scatter(tables, rows, parts)
        state["last_step"][rows] = step
        if step <= self.warmup_steps:
            self._catch_up_param(param, state, state["hyper"])

    def _row_gradient(self, param: torch.Tensor, pending) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient's distinct rows (sorted) and their summed values. When the gradient
        holds exactly the rows prepare() saw (one lookup this step), its unique/inverse
        serve: one index_add instead of coalesce()'s sort of the batch's rows."""
        grad = param.grad
        if not grad.is_sparse:  # a dense gradient on a lazy table (a loss over all rows)
            return torch.arange(len(param), device=param.device), grad
        if grad.is_coalesced() or pending is None:
            grad = grad.coalesce()  # duplicate rows summed, as the dense gradient would be
            return grad.indices()[0], grad.values()
        looked_up = grad._indices()[0]  # (B,): the lookup's rows, in order (uncoalesced)
        if looked_up.shape != pending.looked_up.shape or not torch.equal(
            looked_up, pending.looked_up
        ):
            grad = grad.coalesce()
            return grad.indices()[0], grad.values()
        values = self._buffer(param, "gradient", (len(pending.rows), *param.shape[1:]))
        values.zero_().index_add_(0, pending.inverse, grad._values())  # (U, ...) row sums
        return pending.rows, values

    def _warmup_step(self, param: torch.Tensor, state: dict, group: dict) -> None:
        """While every row is current, one dense AdamW step over the whole table (the
        gradient scattered into a buffer kept for the warm-up): every row stays current."""
        grad = param.grad
        if grad.is_sparse:
            if "dense_grad" not in state:
                state["dense_grad"] = torch.zeros_like(param)
            dense = state["dense_grad"]
            grad = grad.coalesce()
            rows = grad.indices()[0]
            dense.index_copy_(0, rows, grad.values())
            grad = dense
        steps = state.setdefault("warmup_step", torch.zeros((), device=param.device))
        steps.fill_(state["step"] - 1)  # the fused kernel counts it up to this step
        functional_adamw(
            [param], [grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [steps],
            fused=True, amsgrad=False, beta1=group["betas"][0], beta2=group["betas"][1],
            lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
        )  # fmt: skip
        if grad is state.get("dense_grad"):
            grad.index_fill_(0, rows, 0)
        state["last_step"].fill_(state["step"])

    def _gather(self, tables: tuple, rows: torch.Tensor) -> list[torch.Tensor]:
        """Copies of these rows of each table, in buffers kept between steps (a fresh ~1 MiB
        buffer each step costs page faults: benchmarks/results/speed.md)."""
        parts = []
        for position, table in enumerate(tables):
            buffer = self._buffer(tables[0], position, (len(rows), *table.shape[1:]), table.dtype)
            parts.append(torch.index_select(table, 0, rows, out=buffer))
        return parts

    def _buffer(self, param: torch.Tensor, name, shape: tuple, dtype=None) -> torch.Tensor:
        """A (shape) view of a buffer kept for this table between steps, grown by doubling."""
        buffers = self.__dict__.setdefault("_buffers", {})
        key, dtype = (id(param), name), dtype or param.dtype
        buffer = buffers.get(key)
        if buffer is None or len(buffer) < shape[0] or buffer.shape[1:] != shape[1:]:
            size = max(shape[0], 2 * len(buffer) if buffer is not None else 0)
            buffer = buffers[key] = param.new_empty((size, *shape[1:]), dtype=dtype)
        elif buffer.dtype != dtype:
            buffer = buffers[key] = param.new_empty(buffer.shape, dtype=dtype)
        return buffer[: shape[0]]

    # -- bringing rows up to date ----------------------------------------------------------------

    @torch.no_grad()
    def prepare(self, param: torch.Tensor, rows: torch.Tensor) -> None:
        """Bring these rows of a lazy table up to the last step before a forward reads them
        (HMF.use_sparse_gradients(before_lookup=optimizer.prepare) calls it)."""
        state = self.state.get(param)
        if not state or "last_step" not in state or state["step"] < self.warmup_steps:
            return  # no step taken yet, or the warm-up keeps every row current
        looked_up = rows
        rows, inverse = torch.unique(rows, return_inverse=True)  # (U,) sorted, (B,)
        group = _group(state["hyper"])
        self._advance(param, rows, state["last_step"][rows], state["step"], group)
        state["last_step"][rows] = state["step"]
        self._pending[param] = _Pending(rows, looked_up, inverse)  # step() needs no catch-up

    @property
    def _pending(self) -> dict:
        return self.__dict__.setdefault("_pending_rows", {})

    @torch.no_grad()
    def catch_up(self) -> None:
        """Apply every skipped step to every row: afterwards the weights and moments equal
        dense AdamW's after the same steps. Before validation, checkpoints, any read."""
        self._pending.clear()
        for group in self.param_groups:
            for param in group["params"]:
                state = self.state.get(param)
                if state and "last_step" in state:
                    self._catch_up_param(param, state, state["hyper"])

    def _catch_up_param(self, param: torch.Tensor, state: dict, hyper: tuple) -> None:
        group = _group(hyper)
        last = state["last_step"]
        step = state["step"]
        for begin in range(0, len(param), CHUNK_ROWS):
            rows = torch.arange(begin, min(begin + CHUNK_ROWS, len(param)), device=param.device)
            behind = rows[last[rows] < step]
            self._advance(param, behind, last[behind], step, group)
            last[behind] = step
        self._plans.pop(param, None)  # every row is at `step` now: no start is needed again

    @property
    def _plans(self) -> dict:
        return self.__dict__.setdefault("_plans_by_param", {})

    def _plans_of(self, param: torch.Tensor, group: dict) -> _Plans:
        """The per-start tables of this table's catch-ups, for these hyperparameters."""
        hyper = _hyper(group)
        plans = self._plans.get(param)
        if plans is None or plans.hyper != hyper:
            plans = self._plans[param] = _Plans(hyper, self.tolerance, param.device)
        return plans

    def _advance(self, param, rows: torch.Tensor, last: torch.Tensor, upto: int, group) -> None:
        """Apply the zero-gradient steps last+1 .. upto to these rows (U,) of param's tables,
        in place (module doc): fused loops on the CPU (row_kernels), torch ops elsewhere."""
        skipped = upto - last  # (U,)
        if len(rows) == 0 or not bool((skipped > 0).any()):
            return
        state = self.state[param]
        tables = (param, state["exp_avg"], state["exp_avg_sq"])
        plans = self._plans_of(param, group)
        fused = row_kernels.usable(*tables)
        if fused and row_kernels.catch_up_planned(tables, rows, last, upto, plans, group["eps"]):
            return  # the usual case: every row's plan built before, read in the loop
        starts, group_of_row = torch.unique(last, return_inverse=True)  # (G,), (U,)
        plan = plans.plan(starts, upto)  # builds the missing starts' tables
        if bool(plan["slow"].any()):  # rows the polynomial would need too high a degree for
            slow = plan["slow"][group_of_row]  # (U,)
            parts = self._gather(tables, rows[slow])  # (R, ...) copies
            _advance_slowly(*parts, last[slow], upto, group)
            _scatter(tables, rows[slow], parts)
            rows, last = rows[~slow], last[~slow]
            group_of_row, skipped = group_of_row[~slow], skipped[~slow]
        if fused:
            done = row_kernels.catch_up_planned(tables, rows, last, upto, plans, group["eps"])
            assert done, "LazyAdamW: a plan was built and is still missing"
            return
        parts = self._gather(tables, rows)  # (U, ...) copies
        _expand(*parts, plan, group_of_row, skipped, group)
        _scatter(tables, rows, parts)


class _Pending(NamedTuple):
    """What prepare() brought up to date for a step: the distinct rows (U,) sorted, the rows
    as looked up (B,) and the position of each of those among the distinct ones (B,)."""

    rows: torch.Tensor
    looked_up: torch.Tensor
    inverse: torch.Tensor


def _expand(weights, exp_avg, exp_avg_sq, plan, group_of_row, skipped, group) -> None:
    """The closed form, in place: p <- a^n p - m * poly(y) / (Q x + eps); m, v decayed."""
    beta1, beta2 = group["betas"]
    dtype = weights.dtype
    shape = (-1,) + (1,) * (weights.dim() - 1)
    top = plan["top"][group_of_row].to(dtype).view(shape)  # (U, 1): Q
    moments = plan["moments"][group_of_row].to(dtype)  # (U, D+1)
    q_x = exp_avg_sq.sqrt().mul_(top)  # (U, ...): Q x
    denominator = q_x.add(group["eps"])  # (U, ...): Q x + eps
    y = q_x.div_(denominator)  # (U, ...) in [0, 1)
    top_degree = moments.shape[1] - 1
    if top_degree == 0:
        polynomial = moments[:, 0].view(shape).mul(exp_avg)  # (U, ...)
    else:  # Horner, one fused pass per degree: c_k + poly * y
        polynomial = torch.addcmul(
            moments[:, top_degree - 1].view(shape), y, moments[:, top_degree].view(shape)
        )  # (U, ...)
        for degree in range(top_degree - 2, -1, -1):
            torch.addcmul(moments[:, degree].view(shape), polynomial, y, out=polynomial)
        polynomial.mul_(exp_avg)
    n = skipped.to(torch.float64)
    weights.mul_(_power(1 - group["lr"] * group["weight_decay"], n, dtype, shape))
    weights.addcdiv_(polynomial, denominator, value=-1)  # - m_s * sum_j c_j / (q_j x + eps)
    exp_avg.mul_(_power(beta1, n, dtype, shape))
    exp_avg_sq.mul_(_power(beta2, n, dtype, shape))


def _advance_slowly(weights, exp_avg, exp_avg_sq, last, upto: int, group) -> None:
    """The skipped steps one at a time, in place, where the polynomial would need too high a
    degree. Only the first HORIZON skipped steps carry momentum; the rest only decay."""
    zero = torch.zeros_like(weights)
    shape = (-1,) + (1,) * (weights.dim() - 1)
    stop = torch.clamp(last + HORIZON, max=upto)  # (R,) last step taken one by one
    tables = (weights, exp_avg, exp_avg_sq)
    for step in range(int(last.min()) + 1, int(stop.max()) + 1):
        due = ((last < step) & (step <= stop)).view(shape)  # rows that skipped this step
        before = [t.clone() for t in tables]
        _adamw_update(*tables, zero, step, group)
        for table, old in zip(tables, before, strict=True):
            table.copy_(torch.where(due, table, old))
    rest = (upto - stop).to(torch.float64)  # (R,) steps left: decay only
    beta1, beta2 = group["betas"]
    dtype = weights.dtype
    weights.mul_(_power(1 - group["lr"] * group["weight_decay"], rest, dtype, shape))
    exp_avg.mul_(_power(beta1, rest, dtype, shape))
    exp_avg_sq.mul_(_power(beta2, rest, dtype, shape))


def _power(base: float, exponent: torch.Tensor, dtype, shape) -> torch.Tensor:
    """base ** exponent per row, computed in float64, shaped to broadcast over a row."""
    return torch.pow(torch.tensor(base, dtype=torch.float64), exponent).to(dtype).view(shape)


def _scatter(tables: tuple, rows: torch.Tensor, parts) -> None:
    """table[rows] = part for each table. On the CPU through numpy's row assignment: 1,000
    random rows of 200 floats into ML-20M's 138k-row C_1 in 141 us against 252 us for torch's
    index_put_ and 243 us for index_copy_ (which go element by element). No autograd reads
    these tables' version counters: the optimizer writes them outside forward and backward."""
    for table, part in zip(tables, parts, strict=True):
        if (
            table.device.type == "cpu"
            and table.dtype in row_kernels.FLOATS
            and part.dtype == table.dtype
        ):
            table.detach().numpy()[rows.numpy()] = part.numpy()
        else:
            table.index_put_((rows,), part)


def _hyper(group: dict) -> tuple:
    return (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"])


def _group(hyper: tuple) -> dict:
    """The hyperparameters _hyper saved, as a parameter group's keys."""
    return dict(zip(("lr", "betas", "eps", "weight_decay"), hyper, strict=True))


def _adamw_update(weights, exp_avg, exp_avg_sq, grad, step: int, group: dict) -> None:
    """One AdamW step on rows, in place, in the order of torch's fused kernel."""
    beta1, beta2 = group["betas"]
    lr = group["lr"]
    weights.mul_(1 - lr * group["weight_decay"])
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = lr / (1 - beta1**step)
    denominator = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
    weights.addcdiv_(exp_avg, denominator, value=-step_size)


class _Plans:
    """The closed form's per-start part, computed once per distinct last step s and reused.

    With c~_j = lr b1^j a^-j / (1 - b1^(s+j)) (so c_j = a^n c~_j), and rho_j, q_j depending on
    s and j only, a row last stepped at s and caught up n steps later needs (j <= min(n, J))

        M_k(s, n) = a^n * sum_j c~_j (1 - rho_j)^k        Q = q_1(s)

    i.e. a^n times a prefix sum over j of a table of s alone. The tables are built the first
    time a start is needed (usually at the next step: the rows the last batch touched),
    together with the AHEAD - 1 starts after it; the prefix sums for every n <= J (and the
    degree and step-by-step choice of each prefix, by the remainder bound of the module doc)
    stay in a ring of J + AHEAD slots; for older starts (n >= J) only the full sums. A
    catch-up is then one gather of G rows, where recomputing the (G, J) sums at every call
    cost 0.6-1.4 ms a call at ML-20M size (G = 100-350 distinct last steps, J = 256). On the
    CPU the catch-up loop (row_kernels.catch_up_planned) reads each row's entry from `ring`
    and `full` itself; `plan` serves the torch ops and builds what that loop finds missing."""

    WIDTH = MAX_DEGREE + 1  # columns M_0..M_D of a row, then:
    DEGREE, SLOW, TOP = WIDTH, WIDTH + 1, WIDTH + 2  # degree needed, 1.0 = step by step, Q

    def __init__(self, hyper: tuple, tolerance: float, device: torch.device):
        self.hyper, self.tolerance = hyper, tolerance
        lr, (beta1, beta2), _, decay = hyper
        self.lr, self.beta1, self.beta2, self.decay_base = lr, beta1, beta2, 1 - lr * decay
        f64 = {"dtype": torch.float64, "device": device}
        columns = self.TOP + 1
        self.base = 0  # the start s of row 0 of `full` and `known`
        self.full = torch.zeros(0, columns, **f64)  # (S, columns): n >= J
        self.known = torch.zeros(0, dtype=torch.bool, device=device)  # (S,)
        slots = HORIZON + AHEAD  # the last J starts and those built ahead
        self.ring = torch.zeros(slots, HORIZON + 1, columns, **f64)  # [s % slots, n]
        self.ring_start = torch.full((slots,), -1, dtype=torch.long, device=device)

    def plan(self, starts: torch.Tensor, upto: int) -> dict:
        """Q, the moments M_0..M_D and the step-by-step choice per distinct start (G,)."""
        self._cover(int(starts.min()), int(starts.max()))
        skipped = upto - starts  # (G,)
        recent = skipped < HORIZON  # (G,): prefix sums from the ring
        slot = starts % len(self.ring_start)  # (G,)
        missing = ~self.known[starts - self.base] | (recent & (self.ring_start[slot] != starts))
        if bool(missing.any()):
            self._build(starts[missing], upto)
        rows = torch.where(
            recent[:, None],
            self.ring[slot, skipped.clamp(max=HORIZON)],
            self.full[starts - self.base],
        )  # (G, columns)
        degree = int(rows[:, self.DEGREE].max())
        decay = torch.pow(torch.tensor(self.decay_base, dtype=torch.float64), skipped)  # a^n
        return {
            "top": rows[:, self.TOP],  # (G,)
            "moments": rows[:, : degree + 1] * decay[:, None],  # (G, D+1)
            "slow": rows[:, self.SLOW] > 0,  # (G,)
        }

    def _cover(self, low: int, high: int) -> None:
        """Grow `full` and `known` to hold starts low..high (at least doubling)."""
        if len(self.known) == 0:
            self.base = low
        begin = min(self.base, low)
        end = max(self.base + len(self.known), high + 1)
        if begin == self.base and end == self.base + len(self.known):
            return
        front = self.base - begin
        back = max(end - begin, 2 * len(self.known)) - front - len(self.known)
        for name in ("full", "known"):
            old = getattr(self, name)
            pad = [old.new_zeros((size, *old.shape[1:])) for size in (front, back)]
            setattr(self, name, torch.cat([pad[0], old, pad[1]]))
        self.base = begin

    def _build(self, starts: torch.Tensor, upto: int) -> None:
        """The tables of these starts and, after the newest one when it is the last step or
        later, of the AHEAD - 1 starts the next steps will need, in one go."""
        newest = int(starts.max())
        if newest >= upto - 1:
            ahead = torch.arange(newest + 1, newest + AHEAD, device=starts.device)
            starts = torch.cat([starts, ahead])
        self._cover(int(starts.min()), int(starts.max()))
        for begin in range(0, len(starts), AHEAD):  # (AHEAD, J, 2K) float64 at a time
            self._build_chunk(starts[begin : begin + AHEAD], upto)

    def _build_chunk(self, starts: torch.Tensor, upto: int) -> None:
        f64 = {"dtype": torch.float64, "device": starts.device}
        s = starts.to(torch.float64)  # (G,)
        j = torch.arange(1, HORIZON + 1, **f64)  # (J,)
        beta1, beta2, a = (
            torch.tensor(b, **f64) for b in (self.beta1, self.beta2, self.decay_base)
        )
        beta1_j, beta2_j = torch.pow(beta1, j), torch.pow(beta2, j)  # (J,)
        bias1 = 1 - torch.pow(beta1, s)[:, None] * beta1_j  # (G, J): 1 - b1^(s+j)
        bias2 = 1 - torch.pow(beta2, s)[:, None] * beta2_j
        coefficient = (self.lr * beta1_j / torch.pow(a, j)) / bias1  # (G, J): c~_j
        q = beta2_j.sqrt() / bias2.sqrt_()  # (G, J)
        rho = q / q[:, :1]  # (G, J) in (0, 1]
        powers = torch.arange(self.WIDTH + 1, **f64)  # (K+1,)
        terms = coefficient[..., None] * torch.pow((1 - rho)[..., None], powers)  # (G, J, K+1)
        bound = terms[..., 1:] / rho[..., None]  # (G, J, K): the remainder after degree k
        prefix = torch.cumsum(torch.cat([terms[..., : self.WIDTH], bound], 2), 1)  # (G, J, 2K)
        prefix = torch.cat([prefix.new_zeros(len(starts), 1, prefix.shape[2]), prefix], 1)
        moments = prefix[..., : self.WIDTH]  # (G, J+1, K): row n sums j <= n; M_0 = sum c~_j
        total = moments[..., :1].clamp_min(1e-300)  # (G, J+1, 1)
        within = prefix[..., self.WIDTH :] / total <= self.tolerance  # (G, J+1, K)
        degree = torch.where(within.any(2), within.to(torch.int8).argmax(2), MAX_DEGREE)
        slow = ~within[..., -1]  # (G, J+1): even degree MAX_DEGREE leaves too much
        top = q[:, :1].expand(-1, HORIZON + 1)  # (G, J+1)
        extra = torch.stack([degree.to(torch.float64), slow.to(torch.float64), top], 2)
        table = torch.cat([moments, extra], 2)  # (G, J+1, columns)
        index = starts - self.base
        self.full[index] = table[:, -1]
        self.known[index] = True
        recent = (upto - starts) < HORIZON  # and the starts built ahead (s > upto)
        slot = starts[recent] % len(self.ring_start)
        self.ring[slot] = table[recent]
        self.ring_start[slot] = starts[recent]
