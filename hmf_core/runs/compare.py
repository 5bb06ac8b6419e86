"""Several runs side by side, as experiment trackers show them: one row of settings, test metrics
and cluster quality per run, all their validation curves in one long table, and how far their
clusters agree (the ARI of their top clusters, hmf_core.interpret.stability)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.common.files import DamagedFile, diverged_fields
from hmf_core.interpret.quality import find_record
from hmf_core.interpret.stability import cross_agreement, top_clusters
from hmf_core.models.interface import SIDES, grouping_word
from hmf_core.models.registry import DEFAULT_FAMILY, MFDMC_FIELDS, family
from hmf_core.runs.manager import run_note
from hmf_core.runs.rundir import DIVERGED_COLUMN, RunDir, diverged_rows

SETTINGS = (
    "family",
    "preset",
    "task",
    "split",
    "seed",
    "user_depth",
    "item_depth",
    "user_clusters",
    "item_clusters",
    "dim",
    "lr",
    "logit_lr",
    "warm_start",
    "use_bias",
    "entropy_weight",
    *MFDMC_FIELDS,  # MFDMC's knobs: views, centres, loss weights, pruning
)


AMI_METHODS = ("model", "mf_kmeans")  # the agreement Compare shows: the model's, MF k-means'


def _quality_headline(quality: dict) -> dict:
    """Level-1 mean top membership per side, and each metadata column's agreement (AMI) with
    the level-1 clusters, by the model and by k-means on MF: `<column>_ami_<method>` for
    whatever columns quality.json compared (`<side>_<column>_ami_<method>` where both sides
    have a column of that name)."""
    row = {}
    if not isinstance(quality, dict):
        return row
    records = [r for key in ("sharpness", "agreement") for r in quality.get(key) or []]
    if not all(isinstance(r, dict) and "side" in r for r in records):
        return row  # damaged: the table shows no quality for this run
    for side in ("user", "item"):
        sharp = find_record(quality.get("sharpness") or [], side=side, level=1)
        if sharp:
            row[f"{side}_mean_max"] = sharp.get("mean_max")
    agreement = [
        r
        for r in quality.get("agreement") or []
        if r.get("level") == 1 and r.get("method") in AMI_METHODS and "column" in r
    ]
    sides = {}
    for record in agreement:
        sides.setdefault(str(record["column"]), set()).add(record["side"])
    for record in agreement:
        column = str(record["column"])
        named = f"{record['side']}_{column}" if len(sides[column]) > 1 else column
        row[f"{named}_ami_{record['method']}"] = record.get("ami")
    return row


def run_labels(runs: list[RunDir]) -> dict[str, str]:
    """Run directory -> the name people read: the run's name, with its directory added where
    two of `runs` share a name ("baseline · r2"), so a picker, a table or a legend tells them
    apart (runs are their directories; names may repeat)."""
    labels = {run.name: run.label for run in runs}
    counts = pd.Series(list(labels.values()), dtype=object).value_counts()
    return {
        folder: f"{label} · {folder}" if counts[label] > 1 and label != folder else label
        for folder, label in labels.items()
    }


def data_key(run: RunDir) -> str:
    """What a run's metrics are measured on: its data fingerprint (data.json's data and split,
    meta.json's `data_fingerprint`); for a run without one (legacy, or not split yet) its data
    file, split and seed."""
    fingerprint = run.identity().get("data_fingerprint")
    if fingerprint:
        return fingerprint
    settings = _settings(run)
    data = settings.get("data") or ""
    path = str(Path(data).resolve()) if data else "?"
    return f"{path}|{settings.get('split')}|{settings.get('seed')}"


def data_labels(runs: list[RunDir]) -> dict[str, str]:
    """Run directory -> its dataset as people read it: the data file's name, with the first
    digits of its data fingerprint added where runs on one file name differ in data or split
    ("u.data · 3fa2c1"), so runs with equal labels were measured on the same data and split."""
    keys = {run.name: data_key(run) for run in runs}
    files = {run.name: Path(_settings(run).get("data") or "?").name for run in runs}
    keys_of: dict[str, set] = {}
    for folder, file in files.items():
        keys_of.setdefault(file, set()).add(keys[folder])
    return {
        folder: f"{file} · {keys[folder][:6]}" if len(keys_of[file]) > 1 else file
        for folder, file in files.items()
    }


def incomparable(runs: list[RunDir]) -> str | None:
    """One line when `runs` were measured on different data or splits (their data
    fingerprints differ, `data_key`): their metrics are not comparable. None when they agree."""
    labels = data_labels(runs)
    groups: dict[str, list[str]] = {}
    names = run_labels(runs)
    for run in runs:
        groups.setdefault(labels[run.name], []).append(names[run.name])
    if len(groups) < 2:
        return None
    shown = "; ".join(f"{data}: {', '.join(members)}" for data, members in groups.items())
    return (
        f"These runs were trained on {len(groups)} different datasets or splits ({shown}): "
        "their metrics are not comparable."
    )


def _settings(run: RunDir) -> dict:
    try:
        settings = run.settings()
    except DamagedFile:
        return {}
    return settings if isinstance(settings, dict) else {}


def changed_settings(old: dict, new: dict) -> list[str]:
    """The fields of settings `new` whose value differs from `old`'s (lists and tuples alike,
    1 and 1.0 alike); fields `old` lacks are compared with None."""

    def same(a, b) -> bool:
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return a == b

    return [key for key, value in new.items() if not same(old.get(key), value)]


def compare_table(runs: list[RunDir]) -> pd.DataFrame:
    """One row per run: its name (see `run_labels`), its data (`data_labels`) and note, its
    test metrics (and its MF comparison's, where there is one) and best epoch, the settings
    that tell runs apart, the cluster quality headline (level 1), and the run directory. Runs
    that cannot be read still get a row with their name."""
    rows = []
    labels, datasets = run_labels(runs), data_labels(runs)
    for run in runs:
        settings = run.settings() if isinstance(run.settings(), dict) else {}
        row = {"name": labels[run.name], "data": datasets[run.name], "note": run_note(run)}
        unused = _unused_fields(settings)
        for name in SETTINGS:
            value = None if name in unused else settings.get(name)
            value = value or DEFAULT_FAMILY if name == "family" else value
            row[name] = ",".join(map(str, value)) if isinstance(value, list) else value
        test = run.test_metrics() if isinstance(run.test_metrics(), dict) else {}
        row.update({k: _shown(test, k) for k in test if k.startswith("test_")})
        row["best_epoch"] = test.get("best_epoch")
        quality = run.quality()
        row.update(_quality_headline(quality if isinstance(quality, dict) else {}))
        mf = run.comparison()
        if mf is not None:
            mf_test = mf.test_metrics() if isinstance(mf.test_metrics(), dict) else {}
            row.update({f"mf_{k}": _shown(mf_test, k) for k in mf_test if k.startswith("test_")})
        row["run"] = run.name
        trial = run.sweep()
        row["sweep"], row["rank"] = trial.get("sweep"), trial.get("rank")
        rows.append(row)
    table = pd.DataFrame(rows)
    outcome = [c for c in table.columns if c.startswith(("test_", "mf_test_")) or c == "best_epoch"]
    first = ["name", "data", "note", *outcome]  # what a reader compares first: names, results
    if table["sweep"].notna().any():  # a sweep's trials together, best first (hmf_core.runs.sweep)
        first = ["name", "data", "sweep", "rank", "note", *outcome]
        order = sorted(
            range(len(table)),
            key=lambda i: (
                pd.isna(table["sweep"][i]),
                str(table["sweep"][i]),
                pd.isna(table["rank"][i]),
                0 if pd.isna(table["rank"][i]) else table["rank"][i],
                i,
            ),
        )
        table = table.iloc[order].reset_index(drop=True)
        table["rank"] = table["rank"].astype("Int64")
    else:
        table = table.drop(columns=["sweep", "rank"])
    unread = [name for name in MFDMC_FIELDS if table[name].isna().all()]
    table = table.drop(columns=unread)  # no MFDMC run among them: no MFDMC knobs
    for name in [c for c in SETTINGS if c in table.columns]:  # 4, not 4.0, beside a blank
        values = table[name].dropna()
        whole = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in values]
        if len(values) and all(whole) and all(float(v).is_integer() for v in values):
            table[name] = table[name].astype("Int64")
    return table[first + [c for c in table.columns if c not in first]]


def _unused_fields(settings: dict) -> tuple[str, ...]:
    """The settings fields the run's family does not read (hmf_core.models.registry: HMF's
    depths for MFDMC, MFDMC's knobs for HMF), left blank in its row; () for an unknown family."""
    try:
        return family(settings.get("family") or DEFAULT_FAMILY).unused
    except ValueError:
        return ()


def _shown(metrics: dict, key: str):
    """A test metric as the table shows it: the number, or "diverged" where it was NaN or
    infinite (hmf_core.common.files.finite_json wrote null and listed it)."""
    return "diverged" if key in diverged_fields(metrics) else metrics.get(key)


def sweep_trials(runs: list[RunDir]) -> dict[str, list[str]]:
    """Sweep name -> its trials' run directories among `runs`, best rank first (unranked
    trials last, by trial number)."""
    found: dict[str, list[tuple]] = {}
    for run in runs:
        trial = run.sweep()
        if trial:
            rank = trial["rank"]
            key = (rank is None, rank or 0, trial["trial"], run.name)
            found.setdefault(trial["sweep"], []).append(key)
    return {sweep: [key[-1] for key in sorted(keys)] for sweep, keys in sorted(found.items())}


def without_full_ranking(runs: list[RunDir]) -> list[str]:
    """Run directories among `runs` with test metrics but no full-ranking ones (older runs:
    `python -m hmf_core evaluate RUN_DIR --compute` adds them)."""
    missing = []
    for run in runs:
        test = run.test_metrics() if isinstance(run.test_metrics(), dict) else {}
        if test and not any(key.endswith("_full") for key in test):
            missing.append(run.name)
    return missing


def compare_curves(runs: list[RunDir]) -> pd.DataFrame:
    """Long table for one chart: run (directory), name (see `run_labels`), data (`data_labels`:
    curves of different data are not comparable), epoch, metric, value
    (every column of metrics.csv but epoch and elapsed time) and diverged (True where the value
    was NaN or infinite: value is NaN there, and the chart marks the epoch "diverged")."""
    labels, datasets = run_labels(runs), data_labels(runs)
    frames = []
    for run in runs:
        metrics = run.metrics()
        if metrics.empty:
            continue
        names = [c for c in metrics.columns if c not in ("epoch", "elapsed_s", DIVERGED_COLUMN)]
        for metric in names:
            part = pd.DataFrame(
                {
                    "epoch": metrics["epoch"],
                    "metric": metric,
                    "value": metrics[metric],
                    "diverged": diverged_rows(metrics, metric),
                }
            )
            part = part[part["value"].notna() | part["diverged"]]
            frames.append(part.assign(run=run.name, name=labels[run.name], data=datasets[run.name]))
    columns = ["run", "name", "data", "epoch", "metric", "value", "diverged"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


AGREEMENT_COLUMNS = ["first", "second", "side", "level", "pairing", "ari", "note"]


def cluster_agreement(runs: list[RunDir], models: dict | None = None) -> pd.DataFrame:
    """Every pair of `runs` (names as in `run_labels`), per side and level: the adjusted Rand
    index of their top-cluster assignments (1: the same partition, ~0: chance), or a note saying
    why there is none (other data, other objects, a level only one has, no model yet).
    Runs of different kinds (HMF's nested levels, MFDMC's parallel views) pair the level run's
    level 1 with every view, and say that deeper levels have no counterpart
    (interpret.stability.cross_agreement); "pairing" names the two groupings ("level 1 vs
    view 3") and "level" is the first run's number.
    `models`: run directory -> its loaded model (a cache); others are loaded here. Objects are
    matched by id, so runs on the same data with another split seed compare too."""
    labels = run_labels(runs)
    found = {}
    for run in runs:
        if not run.has_model():
            found[run.name] = "no model yet"
            continue
        model = (models or {}).get(run.name) or run.load_model()
        ids = {
            side: run.table(f"{side}s")["id"].astype(str).to_numpy() for side in ("user", "item")
        }
        found[run.name] = (_data_of(run), ids, top_clusters(model), grouping_word(model))
    rows = []
    for first, second in combinations(runs, 2):
        pair = {"first": labels[first.name], "second": labels[second.name]}
        rows += [{**pair, **row} for row in _agreement_rows(found[first.name], found[second.name])]
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def _data_of(run: RunDir) -> str:
    data = run.settings().get("data", "")
    return str(Path(data).resolve()) if data else ""


def _agreement_rows(first, second) -> list[dict]:
    """cross_agreement of two runs' (data, ids, top clusters, grouping word), each side's objects
    put in one order by id; one note row when they cannot be compared."""
    for name, part in (("first", first), ("second", second)):
        if isinstance(part, str):
            return [{"note": f"the {name} run has {part}"}]
    (data, ids, tops, word), (other_data, other_ids, other_tops, other_word) = first, second
    if data != other_data:
        return [{"note": "different data: " + f"{Path(data).name} vs {Path(other_data).name}"}]
    aligned = {}
    for side in SIDES:
        ours, theirs = ids[side], other_ids[side]
        if len(ours) != len(theirs) or set(ours) != set(theirs):
            counts = f"{len(ours)} vs {len(theirs)} {side}s"
            return [{"note": f"different objects on the same data ({counts})"}]
        order = np.argsort(ours)  # (M,): both sides in id order
        other_order = np.argsort(theirs)
        aligned[side] = (order, other_order)
    return cross_agreement(
        {side: [g[aligned[side][0]] for g in tops[side]] for side in tops},
        {side: [g[aligned[side][1]] for g in other_tops[side]] for side in other_tops},
        (word, other_word),
    )
