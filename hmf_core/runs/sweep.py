"""Hyperparameter search: named settings over a grid (every combination) or a random draw of it,
each trial an ordinary run directory trained one after another, then every trial ranked on the
validation metric training follows (hmf_core.training.metrics.monitor: RMSE lowest first, HR@10
highest first), its test metrics beside it.

Where things go, under a runs root (the app's, $HMF_RUNS_DIR or ./runs, unless told):

    ROOT/NAME/sweep.json   what was asked (axes, points, metric) and the trials' run directories
    ROOT/NAME/sweep.csv    the ranked table (rewritten after every trial)
    ROOT/NAME-01/ ...      the trials: ordinary run directories beside the app's other runs, so
                           its run list shows them (named "NAME #01 lr=0.01 dim=20"); each holds
                           sweep.json (sweep, trial, rank) that the Compare page reads

The sweep folder holds no settings.json, so it is not a run itself.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.runs.runclaim import create_run_dir
from hmf_core.runs.rundir import RunDir
from hmf_core.training.metrics import monitor
from hmf_core.training.settings import TrainSettings

TABLE = "sweep.csv"
SPEC = "sweep.json"


def parse_axes(specs: list[str], convert: Callable[[str, str], object]) -> dict[str, list]:
    """["lr=0.01,0.003", "dim=20,40"] -> {"lr": [0.01, 0.003], "dim": [20, 40]}.
    `convert(name, text)` turns one value's text into the setting's value (ValueError when it
    cannot, or when `name` is no setting); names take dashes or underscores."""
    axes: dict[str, list] = {}
    for spec in specs:
        name, equals, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        texts = [text.strip() for text in values.split(",")]
        if not equals or not name or not all(texts):
            raise ValueError(
                f"--grid {spec!r}: expected NAME=VALUE1,VALUE2,... (e.g. lr=0.01,0.003)"
            )
        if name in axes:
            raise ValueError(f"--grid names {name} twice: give all its values in one NAME=...")
        converted = [convert(name, text) for text in texts]
        if len({repr(value) for value in converted}) < len(converted):
            raise ValueError(f"--grid {spec!r}: a value is given twice")
        axes[name] = converted
    return axes


def grid_points(axes: dict[str, list], draws: int | None = None, seed: int = 0) -> list[dict]:
    """Every combination of the axes' values (the first axis varies slowest), or `draws` of
    them drawn without replacement with `seed` (all of them when there are no more)."""
    names = list(axes)
    points = [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    if draws is None:
        return points
    if draws < 1:
        raise ValueError(f"--random must be at least 1, found {draws}")
    if draws >= len(points):
        return points
    chosen = np.random.default_rng(seed).choice(len(points), size=draws, replace=False)
    return [points[i] for i in sorted(chosen)]


def point_text(point: dict) -> str:
    """'lr=0.01 dim=20': a trial's settings as typed."""
    shown = []
    for name, value in point.items():
        if isinstance(value, (list, tuple)):
            value = ":".join(map(str, value))
        shown.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(shown)


def best_value(run: RunDir, metric: str, mode: str) -> float:
    """The best validation value of a trial's epochs (that of its best.ckpt); NaN without."""
    metrics = run.metrics()
    if metric not in metrics:
        return float("nan")
    values = pd.to_numeric(metrics[metric], errors="coerce")
    values = values[np.isfinite(values)]
    if values.empty:
        return float("nan")
    return float(values.min() if mode == "min" else values.max())


def trial_row(run: RunDir, trial: int, point: dict, task: str, wall_s: float) -> dict:
    """One trial's line of the table: settings, state, best validation and its test metrics."""
    metric, mode = monitor(task)
    try:
        state = run.progress().get("state", "unknown")
        test = run.test_metrics()
        value = best_value(run, metric, mode)
    except Exception as exc:  # a damaged file: the trial is listed, unranked
        state, test, value = f"damaged ({exc})", {}, float("nan")
    row = {"rank": None, "trial": trial, "run": run.name, **_cells(point), "state": state}
    row[metric] = value
    row.update({k: v for k, v in test.items() if k.startswith("test_")})
    row.update(best_epoch=test.get("best_epoch"), epochs_run=test.get("epochs_run"))
    row["wall_s"] = round(wall_s, 1)
    return row


def _cells(point: dict) -> dict:
    return {
        k: ":".join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in point.items()
    }


def ranked(rows: list[dict], task: str) -> pd.DataFrame:
    """The trials best first on the validation metric (in its direction), ranks from 1;
    trials without a validated epoch last, unranked."""
    metric, mode = monitor(task)
    table = pd.DataFrame(rows)
    table = table.sort_values(
        [metric, "trial"], ascending=[mode == "min", True], na_position="last", kind="stable"
    ).reset_index(drop=True)
    valid = table[metric].notna()
    table["rank"] = pd.array([i + 1 if ok else None for i, ok in enumerate(valid)], dtype="Int64")
    return table


class Sweep:
    """One search: the folder, its trials and their table (see the module docstring)."""

    def __init__(self, root: str | Path, name: str, axes: dict, points: list[dict], task: str):
        self.root = Path(root)
        self.folder = create_run_dir(self.root, name)  # a taken name gets ~2, ~3...
        self.name = self.folder.name
        self.axes, self.points, self.task = axes, points, task
        self.rows: list[dict] = []
        self.trials: list[str] = []
        self.metric, self.mode = monitor(task)
        self._write_spec()

    def _write_spec(self) -> None:
        from hmf_core.common.files import write_json

        spec = {
            "name": self.name,
            "task": self.task,
            "metric": self.metric,
            "mode": self.mode,
            "axes": self.axes,
            "points": self.points,
            "trials": self.trials,
        }
        write_json(self.folder / SPEC, spec)

    def new_trial(self, number: int, note: str = "") -> RunDir:
        """The trial's run directory, named in the app's run list after the sweep and point."""
        run = RunDir(create_run_dir(self.root, f"{self.name}-{number:02d}"))
        label = f"{self.name} #{number:02d} {point_text(self.points[number - 1])}"
        run.update_meta(name=label, note=note, created=time.time())
        run.write("sweep", {"sweep": self.name, "trial": number, "rank": None})
        self.trials.append(run.name)
        self._write_spec()
        return run

    def record(self, run: RunDir, number: int, wall_s: float) -> pd.DataFrame:
        """Add a finished (or failed) trial; rank all so far, write sweep.csv and each trial's
        rank into its sweep.json."""
        self.rows.append(trial_row(run, number, self.points[number - 1], self.task, wall_s))
        table = ranked(self.rows, self.task)
        table.to_csv(self.folder / TABLE, index=False)
        for row in table.itertuples():
            rank = None if pd.isna(row.rank) else int(row.rank)
            RunDir(self.root / row.run).write(
                "sweep", {"sweep": self.name, "trial": int(row.trial), "rank": rank}
            )
        return table


def run_sweep(
    settings_for: Callable[[dict], TrainSettings],
    axes: dict[str, list],
    points: list[dict],
    root: str | Path,
    name: str,
    note: str = "",
    train: Callable | None = None,
    say: Callable[[str], None] = print,
) -> tuple[Sweep, pd.DataFrame]:
    """Train every point's settings (`settings_for(point)`, checked before the first trial) one
    after another; returns the sweep and its ranked table. A trial that fails is listed with
    its state and left unranked; the others go on."""
    from hmf_core.runs.train_run import train_run

    train = train or train_run
    trial_settings = [settings_for(point) for point in points]
    for point, settings in zip(points, trial_settings):
        try:
            settings.validate()
        except ValueError as exc:
            raise ValueError(f"sweep setting {point_text(point)}: {exc}") from None
    tasks = {settings.task for settings in trial_settings}
    if len(tasks) > 1:
        raise ValueError("a sweep ranks one task's metric: give --task, not task=... in --grid")
    sweep = Sweep(root, name, axes, points, tasks.pop())
    table = pd.DataFrame()
    for number, (point, settings) in enumerate(zip(points, trial_settings), start=1):
        run = sweep.new_trial(number, note)
        say(f"trial {number}/{len(points)} ({run.name}): {point_text(point)}")
        started = time.time()
        try:
            train(settings, run.path)
        except Exception as exc:  # diverged, the disk, the data: recorded in the trial; go on
            say(f"  trial {number} failed: {exc}")
        finally:
            run.update_meta(ended=time.time())
        table = sweep.record(run, number, time.time() - started)
        row = table[table["trial"] == number].iloc[0]
        wanted = [sweep.metric, *_test_columns(table)]
        wanted = [k for k in wanted if not k.endswith("_full") or k == "test_ndcg@10_full"]
        shown = {k: row[k] for k in wanted if pd.notna(row[k])}
        say("  " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()) + f" ({row['state']})")
    return sweep, table


def _test_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("test_")]


def shown_table(table: pd.DataFrame, axes: dict) -> str:
    """The ranked table as printed: rank, run, the varied settings as typed, state, the
    validation metric, the task's test metrics and NDCG@10 over all items (sweep.csv has every
    column), best and last epoch, seconds."""
    shown = table.copy()
    for name in axes:
        shown[name] = [f"{v:g}" if isinstance(v, float) else str(v) for v in shown[name]]
    metrics = [c for c in shown.columns if c.startswith(("val_", "test_"))]
    metrics = [c for c in metrics if not c.endswith("_full") or c == "test_ndcg@10_full"]
    for column in metrics:
        shown[column] = [f"{v:.4f}" if pd.notna(v) else "-" for v in shown[column]]
    columns = ["rank", "run", *axes, "state", *metrics, "best_epoch", "epochs_run", "wall_s"]
    return shown[[c for c in columns if c in shown.columns]].to_string(index=False)
