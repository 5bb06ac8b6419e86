"""Per-step cost of summing the train loss: torchmetrics' MeanMetric against a running sum.

hmf_core.training.lightning_module keeps the train loss as a running sum because MeanMetric.update()
costs several times more per training step; this script measures both, side by side, in one
process (ratios, not absolute times, are what carry over between machines).

    python benchmarks/metric_overhead.py [--steps 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchmetrics import MeanMetric

BATCH = 1024


def list_of_products(loss: torch.Tensor, steps: int) -> float:
    """What the module did before torchmetrics: a list of (loss x size, size) per step."""
    sums = []
    for _ in range(steps):
        sums.append((loss.detach() * BATCH, BATCH))
    return torch.stack([total for total, _ in sums]).sum().item() / sum(n for _, n in sums)


def mean_metric(loss: torch.Tensor, steps: int) -> float:
    metric = MeanMetric().set_dtype(torch.float64)
    for _ in range(steps):
        metric.update(loss.detach(), weight=BATCH)
    return metric.compute().item()


def running_sum(loss: torch.Tensor, steps: int) -> float:
    """What the module does: one tensor sum and one integer count."""
    total, count = 0.0, 0
    for _ in range(steps):
        total = total + loss.detach() * BATCH
        count += BATCH
    return float(total) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    loss = torch.tensor(0.5)
    times = {f.__name__: [] for f in (list_of_products, mean_metric, running_sum)}
    for _ in range(args.repeats):  # interleaved, so load on the machine hits all alike
        for function in (list_of_products, mean_metric, running_sum):
            started = time.perf_counter()
            assert abs(function(loss, args.steps) - 0.5) < 1e-9
            times[function.__name__].append((time.perf_counter() - started) / args.steps * 1e6)
    base = statistics.median(times["running_sum"])
    print("| way | us per step (median) | / running sum |\n| --- | --- | --- |")
    for name, values in times.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {statistics.median(values) / base:.2f} |"
        )


if __name__ == "__main__":
    main()
