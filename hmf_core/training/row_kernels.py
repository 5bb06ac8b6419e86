"""LazyAdamW's two row updates as fused CPU loops (numba), in place in the big tables.

Done with torch ops, a lazy step gathers the batch's rows of the weights and both moments into
copies, runs a dozen passes over them (a square root, divisions, the catch-up's polynomial,
AdamW's update) and scatters them back: at ML-20M size, HMF depth 1, 3.8 ms of an 8.5 ms step
went to bringing rows up to date and 2.4 ms to the step itself (`benchmarks/results/speed.md`).
Here each row is read and written once, where it lies, with the same formulas in the same
order (hmf_core.training.optim's `_expand` and `_adamw_update`).

numba is in requirements.txt (umap-learn needs it too). The loops compile on their first call
(about a second, cached on disk where numba can write) and run on one thread. `usable()` says
whether they apply: CPU, float32 or float64, C-contiguous 2-D tables; elsewhere (a GPU)
LazyAdamW uses torch ops.
"""

from __future__ import annotations

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Allowed: contracting a * b + c into one fused multiply-add, and assuming no NaN, infinity or
# signed zero (a NaN weight stops training before it reaches these rows: lightning_module).
# Not allowed: reassociation or approximate division and square roots.
FAST = {"contract", "nnan", "ninf", "nsz"}
FLOATS = (torch.float32, torch.float64)
# The rows a batch touches lie far apart in tables of 100 MB and more: each row's first read
# waits for the memory. The loops ask for the rows AHEAD_ROWS positions on while they work.
AHEAD_ROWS = 4
LINE = 64  # bytes of a cache line


def _loop(function):
    """numba-compile a loop, cached on disk. Where numba finds no writable cache folder (a
    read-only install run by a user without a home folder), it refuses the cache at this
    point: then compile without it, about a second on the first call of each process."""
    options = {"nogil": True, "error_model": "numpy", "fastmath": FAST}
    try:
        return njit(cache=True, **options)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(cache=False, **options)(function)


@intrinsic
def _prefetch(typingctx, table, row, column):
    """Ask the CPU to load the cache line of table[row, column] (a 2-D C array), to be read
    and written soon (LLVM's llvm.prefetch: a hint, no effect on any value)."""

    def codegen(context, builder, signature, args):
        kind = signature.args[0]
        array = context.make_array(kind)(context, builder, args[0])
        address = cgutils.get_item_pointer(
            context, builder, kind, array, args[1:], wraparound=False, boundscheck=False
        )
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]), "llvm.prefetch"
        )
        # write, high temporal locality, data cache
        builder.call(prefetch, [builder.bitcast(address, byte), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(table, row, column), codegen


@_loop
def _prefetch_rows(weights, exp_avg, exp_avg_sq, rows, i):
    """Prefetch every line of row rows[i + AHEAD_ROWS] of the three tables, if there is one."""
    if i + AHEAD_ROWS < rows.shape[0]:
        row = rows[i + AHEAD_ROWS]
        step = max(1, LINE // weights.itemsize)
        for column in range(0, weights.shape[1], step):
            _prefetch(weights, row, column)
            _prefetch(exp_avg, row, column)
            _prefetch(exp_avg_sq, row, column)


def usable(*tables: torch.Tensor) -> bool:
    """True when the loops below can update these tables in place."""
    first = tables[0]
    return all(
        t.device.type == "cpu"
        and t.dtype == first.dtype
        and t.dtype in FLOATS
        and t.dim() == 2
        and t.is_contiguous()
        for t in tables
    )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()  # shares memory: writes land in the tensor


def catch_up_planned(tables, rows, last, upto: int, plans, eps: float) -> bool:
    """Bring these rows (U,) of (weights, exp_avg, exp_avg_sq), last stepped at `last` (U,),
    up to step `upto` in place, reading each row's plan from `plans` (optim._Plans) inside
    the loop: no per-step tensors of starts, moments and powers (at ML-20M size those cost
    0.6-0.8 ms a lookup, two lookups a step). False, with nothing changed, when a start's
    tables are not built yet or a row needs the step by step path: then the caller plans
    them (optim._advance)."""
    arrays = [_numpy(t) for t in tables]
    powers = np.array([plans.decay_base, plans.beta1, plans.beta2], np.float64)
    return _catch_up_planned(
        *arrays, rows.numpy(), last.numpy(), upto, plans.ring.numpy(), plans.ring_start.numpy(),
        plans.full.numpy(), plans.known.numpy(), plans.base, powers, arrays[0].dtype.type(eps),
        plans.DEGREE, plans.SLOW, plans.TOP,
    )  # fmt: skip


def adamw_rows(tables, rows, gradient, step: int, group: dict) -> None:
    """One AdamW step (step number `step`) of these rows (U,) of (weights, exp_avg,
    exp_avg_sq), with their gradient (U, width), in place: optim._adamw_update's order."""
    beta1, beta2 = group["betas"]
    lr = group["lr"]
    arrays = [_numpy(t) for t in tables]
    scalar = arrays[0].dtype.type  # the loop's constants in the tables' precision
    bias2_root = float(np.sqrt(1 - beta2**step))
    _adamw(
        *arrays, rows.numpy(), gradient.contiguous().numpy(),
        scalar(1 - lr * group["weight_decay"]), scalar(1 - beta1), scalar(beta2),
        scalar(1 - beta2), scalar(lr / (1 - beta1**step)), scalar(bias2_root),
        scalar(group["eps"]),
    )  # fmt: skip


@_loop
def _catch_up_planned(weights, exp_avg, exp_avg_sq, rows, last, upto, ring, ring_start, full,
                      known, base, powers, eps, degree_column, slow_column,
                      top_column):  # fmt: skip
    """The closed form of optim's module doc on these rows (U,) of (weights, exp_avg,
    exp_avg_sq), in place: p <- a^n p - m poly(y) / (Q x + eps), m <- b1^n m, v <- b2^n v.
    Row i's plan (Q and the moments M_0..M_D) is read from optim._Plans' tables: its start
    s = last[i] and n = upto - s skipped steps give ring[s % slots, n] for n < HORIZON, else
    full[s - base]; the moments are scaled by a^n as _Plans.plan does; a^n, b1^n and b2^n in
    float64 as optim._power, then rounded to the tables' dtype. True when done; False, with
    nothing changed, when a row's plan is not built yet or the row needs the step by step path."""
    horizon = ring.shape[1] - 1
    slots = ring_start.shape[0]
    degree = 0  # pass 1: every plan there, none step by step; the batch's degree (max)
    for i in range(rows.shape[0]):
        start, n = last[i], upto - last[i]
        if n <= 0:  # nothing skipped: the closed form would leave the row as it is
            continue
        index = start - base
        if index < 0 or index >= known.shape[0] or not known[index]:
            return False
        if n < horizon and ring_start[start % slots] != start:
            return False
        plan = ring[start % slots, n] if n < horizon else full[index]
        if plan[slow_column] > 0:
            return False
        degree = max(degree, int(plan[degree_column]))
    width = weights.shape[1]
    denominator = np.empty(width, weights.dtype)  # Q x + eps
    y = np.empty(width, weights.dtype)  # Q x / (Q x + eps)
    polynomial = np.empty(width, weights.dtype)
    moments = np.empty(degree + 1, weights.dtype)  # M_k a^n, in the tables' precision
    factors = np.empty(4, weights.dtype)  # Q, a^n, b1^n, b2^n
    for i in range(rows.shape[0]):  # pass 2: the update
        start, n = last[i], upto - last[i]
        if n <= 0:
            continue
        plan = ring[start % slots, n] if n < horizon else full[start - base]
        decay = powers[0] ** np.float64(n)
        for d in range(degree + 1):
            moments[d] = plan[d] * decay
        factors[0], factors[1] = plan[top_column], decay
        factors[2], factors[3] = powers[1] ** np.float64(n), powers[2] ** np.float64(n)
        top, weight_decay, decay1, decay2 = factors[0], factors[1], factors[2], factors[3]
        _prefetch_rows(weights, exp_avg, exp_avg_sq, rows, i)
        p, m, v = weights[rows[i]], exp_avg[rows[i]], exp_avg_sq[rows[i]]  # (width,) views
        for k in range(width):
            q_x = np.sqrt(v[k]) * top
            denominator[k] = q_x + eps
            y[k] = q_x / denominator[k]
            polynomial[k] = moments[degree]
        for d in range(degree - 1, -1, -1):  # Horner: c_d + poly * y
            for k in range(width):
                polynomial[k] = moments[d] + polynomial[k] * y[k]
        for k in range(width):
            p[k] = p[k] * weight_decay - polynomial[k] * m[k] / denominator[k]
            m[k] = m[k] * decay1
            v[k] = v[k] * decay2
    return True


@_loop
def _adamw(weights, exp_avg, exp_avg_sq, rows, gradient, decay, one_minus_beta1, beta2,
           one_minus_beta2, step_size, bias2_root, eps):  # fmt: skip
    width = weights.shape[1]
    for i in range(rows.shape[0]):
        _prefetch_rows(weights, exp_avg, exp_avg_sq, rows, i)
        p, m, v = weights[rows[i]], exp_avg[rows[i]], exp_avg_sq[rows[i]]  # (width,) views
        g = gradient[i]
        for k in range(width):
            p[k] = p[k] * decay
            m[k] = m[k] + one_minus_beta1 * (g[k] - m[k])  # lerp, weight < 0.5
            v[k] = v[k] * beta2 + one_minus_beta2 * g[k] * g[k]
            p[k] = p[k] - step_size * (m[k] / (np.sqrt(v[k]) / bias2_root + eps))
