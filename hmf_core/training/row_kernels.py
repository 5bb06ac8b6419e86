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
from numba import njit

# Allowed: contracting a * b + c into one fused multiply-add, and assuming no NaN, infinity or
# signed zero (a NaN weight stops training before it reaches these rows: lightning_module).
# Not allowed: reassociation or approximate division and square roots.
FAST = {"contract", "nnan", "ninf", "nsz"}
FLOATS = (torch.float32, torch.float64)


def _loop(function):
    """numba-compile a loop, cached on disk. Where numba finds no writable cache folder (a
    read-only install run by a user without a home folder), it refuses the cache at this
    point: then compile without it, about a second on the first call of each process."""
    options = {"nogil": True, "error_model": "numpy", "fastmath": FAST}
    try:
        return njit(cache=True, **options)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(cache=False, **options)(function)


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


def catch_up_rows(tables, rows, top, moments, weight_decay, decay1, decay2, eps: float) -> None:
    """The closed form of optim's module doc on these rows (U,) of (weights, exp_avg,
    exp_avg_sq), in place: p <- a^n p - m poly(y) / (Q x + eps), m <- b1^n m, v <- b2^n v.
    Per row: top Q (U,), moments M_0..M_D (U, D+1), and a^n, b1^n, b2^n (U,)."""
    arrays = [_numpy(t) for t in tables]
    per_row = [
        t.to(tables[0].dtype).contiguous().numpy()
        for t in (top, moments, weight_decay, decay1, decay2)
    ]
    _catch_up(*arrays, rows.numpy(), *per_row, arrays[0].dtype.type(eps))


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
def _catch_up(weights, exp_avg, exp_avg_sq, rows, top, moments, weight_decay, decay1, decay2, eps):
    width = weights.shape[1]
    degree = moments.shape[1] - 1
    denominator = np.empty(width, weights.dtype)  # Q x + eps
    y = np.empty(width, weights.dtype)  # Q x / (Q x + eps)
    polynomial = np.empty(width, weights.dtype)
    for i in range(rows.shape[0]):
        p, m, v = weights[rows[i]], exp_avg[rows[i]], exp_avg_sq[rows[i]]  # (width,) views
        for k in range(width):
            q_x = np.sqrt(v[k]) * top[i]
            denominator[k] = q_x + eps
            y[k] = q_x / denominator[k]
            polynomial[k] = moments[i, degree]
        for d in range(degree - 1, -1, -1):  # Horner: c_d + poly * y
            for k in range(width):
                polynomial[k] = moments[i, d] + polynomial[k] * y[k]
        for k in range(width):
            p[k] = p[k] * weight_decay[i] - polynomial[k] * m[k] / denominator[k]
            m[k] = m[k] * decay1[i]
            v[k] = v[k] * decay2[i]


@_loop
def _adamw(weights, exp_avg, exp_avg_sq, rows, gradient, decay, one_minus_beta1, beta2,
           one_minus_beta2, step_size, bias2_root, eps):  # fmt: skip
    width = weights.shape[1]
    for i in range(rows.shape[0]):
        p, m, v = weights[rows[i]], exp_avg[rows[i]], exp_avg_sq[rows[i]]  # (width,) views
        g = gradient[i]
        for k in range(width):
            p[k] = p[k] * decay
            m[k] = m[k] + one_minus_beta1 * (g[k] - m[k])  # lerp, weight < 0.5
            v[k] = v[k] * beta2 + one_minus_beta2 * g[k] * g[k]
            p[k] = p[k] - step_size * (m[k] / (np.sqrt(v[k]) / bias2_root + eps))
