"""How fast and how lean `hmf_core.data.ratings.read_ratings` reads a large rating file (issue 11.3,
issue 10's memory bound), and that a zip bomb is refused before it is decompressed.

Each reading runs in a fresh subprocess that reports its wall time and its peak resident memory
(VmHWM) above its own baseline after imports; the ratio to the decoded table's size (the
RatingData: codes, ratings, times, id strings) is the figure that issue 10 bounds at 3x. The
files are generated (seeded) under --tmp and not kept in the repository.

    python -m benchmarks.read_speed                  # 20M rows, ~2-3 min on 2 shared cores
    python -m benchmarks.read_speed --rows 1000000 --out /tmp/bench   # quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa

from hmf_dev import REPO, repo_env
from hmf_dev.synthetic import generate_csv

OLD_COMMIT = "3ac3316"  # the reader before issue 10 (pandas, per-line checks)
OLD_FILES = ("__init__.py", "errors.py", "textfiles.py", "ratings.py")

CHILD = r"""
import json, resource, sys, time
from hmf_core.common.errors import DataFormatError
from hmf_core.data.ratings import read_ratings
import pandas as pd

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

latest, calls = [None], [0]

def report(fraction, text):  # what the Data page does: keep the latest for its bar
    latest[0] = (fraction, text)
    calls[0] += 1

baseline = status("VmRSS")
started, cpu_started = time.perf_counter(), cpu()
try:
    data = read_ratings({path!r}, **({{"report": report}} if {progress!r} else {{}}))
    outcome = dict(rows=len(data.table), users=data.n_users, items=data.n_items,
                   notes=data.notes, encoding=getattr(data, "encoding", None))
    decoded = int(data.table.memory_usage(index=False).sum()
                  + pd.Series(data.user_ids).memory_usage(index=False, deep=True)
                  + pd.Series(data.item_ids).memory_usage(index=False, deep=True))
except DataFormatError as exc:
    outcome, decoded = dict(error=str(exc)), None
wall, cpu_s = time.perf_counter() - started, cpu() - cpu_started
peak = status("VmHWM")
split_s = split_cpu_s = None
if {split!r} and decoded is not None:
    from hmf_core.data.split import make_split
    split_started, split_cpu_started = time.perf_counter(), cpu()
    make_split(data, "temporal", report=report if {progress!r} else None)
    split_s, split_cpu_s = time.perf_counter() - split_started, cpu() - split_cpu_started
print(json.dumps(dict(outcome, wall_s=wall, cpu_s=cpu_s, baseline=baseline,
                      peak=peak, decoded_bytes=decoded, reports=calls[0], split_s=split_s,
                      split_cpu_s=split_cpu_s, split_peak=status("VmHWM"))))
"""


def generate_bomb(path: Path, rows: int) -> None:
    """A zip of `rows` identical rows (the issue's 291 KB zip of 25M rows)."""
    line = b"1,1,5,881250949\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("ratings.csv", "w", force_zip64=True) as member:
            member.write(b"userId,movieId,rating,timestamp\n")
            block = line * 1_000_000
            for start in range(0, rows, 1_000_000):
                member.write(block if rows - start >= 1_000_000 else line * (rows - start))


def old_reader(tmp: Path) -> Path:
    """The pre-issue-10 reader, from git, as a package of its own (for a same-run ratio)."""
    package = tmp / "old" / "hmf_core"
    package.mkdir(parents=True, exist_ok=True)
    for name in OLD_FILES:
        text = subprocess.run(
            ["git", "show", f"{OLD_COMMIT}:hmf_core/{name}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (package / name).write_text(text)
    return package.parent


def measure(path: Path, repo: Path = REPO, progress: bool = False, split: bool = False) -> dict:
    """One reading in a fresh process; `progress`: with a report callback (hmf_core.common.progress)
    that keeps the latest report, as the Data page does; `split`: then the temporal split."""
    code = CHILD.format(path=str(path), progress=progress, split=split)
    done = subprocess.run(  # `repo` first on the child's path: its hmf_core is the one read
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo,
        env=repo_env(repo),
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _progress_lines(readings: list[dict], reported: list[dict]) -> list[str]:
    """The same file read without and with a progress callback (same run, alternating), and
    the temporal split after the reading with progress."""
    off = sorted(r["wall_s"] for r in readings)
    on = sorted(r["wall_s"] for r in reported)
    off_cpu = sorted(r["cpu_s"] for r in readings)
    on_cpu = sorted(r["cpu_s"] for r in reported)
    median = lambda values: values[len(values) // 2]  # noqa: E731
    splits = [r["split_s"] for r in reported if r["split_s"] is not None]
    split_cpus = [r["split_cpu_s"] for r in reported if r.get("split_cpu_s") is not None]
    peak = max(r["split_peak"] - r["baseline"] for r in reported)
    off_peak = max(r["peak"] - r["baseline"] for r in readings)
    on_peak = max(r["peak"] - r["baseline"] for r in reported)
    return [
        "Progress while reading (common.progress; the Data page's callback, which keeps the "
        "latest report): the same file read alternately without and with it.",
        "",
        "| reading | wall (each, sorted) | least wall | median wall | least CPU | median CPU "
        "| reports | peak above baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| without a callback | {' / '.join(f'{w:.1f}' for w in off)} s | {off[0]:.1f} s "
        f"| {median(off):.1f} s | {off_cpu[0]:.2f} s | {median(off_cpu):.2f} s | 0 "
        f"| {mib(off_peak)} |",
        f"| with progress | {' / '.join(f'{w:.1f}' for w in on)} s | {on[0]:.1f} s "
        f"| {median(on):.1f} s | {on_cpu[0]:.2f} s | {median(on_cpu):.2f} s "
        f"| {reported[0]['reports']} | {mib(on_peak)} |",
        f"| ratio with / without | | {on[0] / off[0]:.3f}x | {median(on) / median(off):.3f}x "
        f"| {on_cpu[0] / off_cpu[0]:.3f}x | {median(on_cpu) / median(off_cpu):.3f}x | | |",
        "",
        "The least time of each is the reading least disturbed by the other work on this "
        "machine; the callback runs once per 16 MiB block and once per column checked.",
        "",
        f"The temporal split after it, with progress: {' / '.join(f'{s:.1f}' for s in splits)} s "
        f"wall, {' / '.join(f'{s:.1f}' for s in split_cpus)} s CPU; "
        f"peak of reading and splitting together {mib(peak)} above baseline.",
        "",
    ]


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--bomb-rows", type=int, default=25_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="readings of the large file")
    parser.add_argument(
        "--compare-rows",
        type=int,
        default=2_000_000,
        help="rows of the smaller file read by both the old and the new reader (0: skip)",
    )
    parser.add_argument("--tmp", default="/tmp/hmf_read_speed")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)

    csv_path = tmp / f"ratings_{args.rows}.csv"
    if not csv_path.exists():
        started = time.perf_counter()
        generate_csv(csv_path, args.rows)
        print(f"generated {csv_path} in {time.perf_counter() - started:.0f} s", flush=True)
    bomb_path = tmp / f"bomb_{args.bomb_rows}.zip"
    if not bomb_path.exists():
        generate_bomb(bomb_path, args.bomb_rows)

    load = os.getloadavg()[0]
    readings, reported = [], []
    for _ in range(args.repeats):  # alternating, so that a change of load hits both alike
        readings.append(measure(csv_path))
        print("csv:", json.dumps(readings[-1]), flush=True)
        reported.append(measure(csv_path, progress=True, split=True))
        print("csv with progress:", json.dumps(reported[-1]), flush=True)
    walls = sorted(r["wall_s"] for r in readings)
    cpus = " / ".join(f"{r['cpu_s']:.1f}" for r in readings)
    read = max(readings, key=lambda r: r["peak"] - r["baseline"])
    progress_lines = _progress_lines(readings, reported)
    extra = read["peak"] - read["baseline"]
    ratio = extra / read["decoded_bytes"]
    bomb = measure(bomb_path)
    print("bomb:", json.dumps(bomb), flush=True)
    bomb_extra = bomb["peak"] - bomb["baseline"]

    comparison = []
    if args.compare_rows:
        small = tmp / f"ratings_{args.compare_rows}.csv"
        if not small.exists():
            generate_csv(small, args.compare_rows)
        new, old = measure(small), measure(small, old_reader(tmp))
        print("compare:", json.dumps({"new": new, "old": old}), flush=True)
        comparison = [
            "",
            f"Same run, {args.compare_rows:,} rows ({mib(small.stat().st_size)}), the reader "
            f"before issue 10 (commit {OLD_COMMIT}) against this one:",
            "",
            "| reader | wall | CPU | peak memory above baseline |",
            "| --- | --- | --- | --- |",
            f"| before (pandas, per-line checks) | {old['wall_s']:.1f} s | {old['cpu_s']:.1f} s | "
            f"{mib(old['peak'] - old['baseline'])} |",
            f"| now (pyarrow columnar) | {new['wall_s']:.1f} s | {new['cpu_s']:.1f} s | "
            f"{mib(new['peak'] - new['baseline'])} |",
            f"| ratio before / now | {old['wall_s'] / new['wall_s']:.1f}x | "
            f"{old['cpu_s'] / new['cpu_s']:.1f}x | "
            f"{(old['peak'] - old['baseline']) / (new['peak'] - new['baseline']):.1f}x |",
        ]
    lines = [
        "# Reading a large rating file",
        "",
        f"- machine: {platform.node()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, pyarrow {pa.__version__}, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `python {shlex.join(['benchmarks/read_speed.py', *sys.argv[1:]])}`",
        f"- load average (1 min) at the start: {load:.1f} on {os.cpu_count()} cores: other "
        "work shares this machine, so wall times vary; the table gives every reading.",
        "- each reading runs in a fresh process; peak = VmHWM above the process's own RSS "
        "after imports; decoded table = RatingData's codes, ratings and times plus the id "
        "strings.",
        "",
        "| file | size | rows | wall | CPU (user + system) | peak memory above baseline "
        "| decoded table | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| generated ML-20M-like CSV | {mib(csv_path.stat().st_size)} | {read['rows']:,} | "
        f"{' / '.join(f'{w:.1f}' for w in walls)} s (median {walls[len(walls) // 2]:.1f}) | "
        f"{cpus} s | "
        f"{mib(extra)} (largest) | {mib(read['decoded_bytes'])} | {ratio:.2f}x |",
        f"| zip of {args.bomb_rows:,} identical rows | {bomb_path.stat().st_size / 1024:,.0f} KiB "
        f"| refused | {bomb['wall_s']:.2f} s | {bomb['cpu_s']:.2f} s | {mib(bomb_extra)} | – | – |",
        "",
        "CPU time is the child's user + system time: unlike wall time it hardly moves with the "
        "load of the machine (pyarrow parses on both cores, so on an idle machine the wall time "
        "is near or below it).",
        "",
        *progress_lines,
        f"Targets: under 30 s for 20M rows (issue 11), peak <= 3x the decoded table (issue 10). "
        f"The zip is refused before decompression: `{bomb.get('error', 'NOT REFUSED')}`.",
        "",
        "Limits (stated in every refusal): a text file or zip member of at most 1 GiB "
        "(`HMF_MAX_FILE_BYTES`), at most 50,000,000 rows (`HMF_MAX_ROWS`), and a zip member "
        "above 16 MiB may expand at most 100x (`HMF_MAX_ZIP_RATIO`).",
        *comparison,
        "",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "read_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
