"""The command line outside the app: help texts, --config / --print-config, progress on a
terminal and in a pipe, Lightning loggers, headerless files read by position."""

from __future__ import annotations

import argparse
import importlib.util
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import CLI_ENV as ENV
from conftest import REPO, hmf_cli, shared_file, small_demo
from streamlit.testing.v1 import AppTest
from test_app import texts, use_paths

from hmf_core.cli import build_parser, main, read_config, settings_from_args
from hmf_core.common.errors import DataFormatError
from hmf_core.data.ratings import read_ratings
from hmf_core.runs.rundir import RunDir

TINY = ["--max-epochs", "2", "--split", "random", "--user-clusters", "4", "--item-clusters", "4"]


def run_main(capsys, *args) -> tuple[int, str, str]:
    """`hmf_core.cli.main` in this process (no interpreter start): status, stdout, stderr."""
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


cli = hmf_cli  # python -m hmf_core ARGS, output captured


# --- help ---------------------------------------------------------------------------------------


def walk(parser: argparse.ArgumentParser, path: str = "python -m hmf_core"):
    """(command path, action) for every action of the parser and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions if choice.help}
            for name, sub in action.choices.items():
                assert name in helped, f"{path} {name}: the subcommand has no help"
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_of_every_subcommand_has_a_help_text():
    actions = list(walk(build_parser()))
    assert len(actions) > 50  # train alone has more than 40 options
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, action in actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert not missing, missing
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    # defaults are said: a few of them, as argparse renders %(default)s
    assert "(default: 20)" in text and "(default: 512)" in text and "(default: csv)" in text


# --- config files -------------------------------------------------------------------------------


def settings_of(*argv: str, config: dict | None = None):
    from hmf_core.cli import given_options

    parser = build_parser()
    args = parser.parse_args(["train", *argv])
    return settings_from_args(args, given_options(parser, ["train", *argv]), config)


def test_print_config_round_trips_through_config(tmp_path, capsys, monkeypatch):
    flags = ["--data", str(tmp_path / "r.dat"), "--lr", "0.02", "--user-clusters", "30,10"]
    flags += ["--user-depth", "2", "--no-bias", "--columns", "user,item,rating", "--sep", "::"]
    flags += ["--devices", "2", "--logit-lr", "0.005", "--compare-mf", "--no-projection"]
    status, printed, _ = run_main(capsys, "train", *flags, "--print-config")
    assert status == 0
    (tmp_path / "run.yaml").write_text(printed)
    values = yaml.safe_load(printed)
    assert values["lr"] == 0.02 and values["user_clusters"] == [30, 10]
    assert values["columns"] == {"positions": "user,item,rating", "sep": "::"}
    monkeypatch.chdir(tmp_path)
    status, again, _ = run_main(capsys, "train", "--config", "run.yaml", "--print-config")
    assert status == 0 and again == printed
    direct = settings_of(*flags)
    assert settings_of(config=read_config(tmp_path / "run.yaml")) == direct


def test_flags_typed_override_the_config_file_and_its_paths_are_its_folders(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "run.yaml").write_text(
        "data: ratings.csv\nlr: 0.05\nmax_epochs: 7\npreset: paper\nuser_clusters: 12\n"
        "columns: {user_col: customer}\n"
    )
    config = read_config(tmp_path / "sub" / "run.yaml")
    from_file = settings_of(config=config)
    assert from_file.data == str(tmp_path / "sub" / "ratings.csv")
    assert (from_file.lr, from_file.max_epochs, from_file.user_clusters) == (0.05, 7, [12])
    assert from_file.preset == "paper" and from_file.use_bias is False  # the paper's recipe
    # a default not typed leaves the file alone; a flag typed wins, even at its default value
    mixed = settings_of("--max-epochs", "512", "--rating-col", "stars", config=config)
    assert (mixed.lr, mixed.max_epochs) == (0.05, 512)
    assert mixed.columns == {"user_col": "customer", "rating_col": "stars"}
    # a preset typed replaces the file's recipe
    recipe = settings_of("--preset", "interpretable", config=config)
    assert recipe.preset == "interpretable" and recipe.use_bias and recipe.warm_start == "spectral"
    assert recipe.lr == 0.05


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr: 0.1\nlearning_rate: 0.1\n", "found the unknown key 'learning_rate'"),
        ("lr: fast\n", "expected a number for 'lr', found 'fast'"),
        ("compare_mf: 3\n", "expected true or false for 'compare_mf', found 3"),
        ("lr: [0.1\n", "run.yaml, line 2: expected YAML settings, found a syntax error"),
        ("- lr\n", "expected a mapping of settings (key: value lines), found a list"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file_and_the_key(tmp_path, capsys, text, message):
    (tmp_path / "run.yaml").write_text(text)
    with pytest.raises(DataFormatError, match="^run.yaml") as raised:
        read_config(tmp_path / "run.yaml")
    assert message in str(raised.value)
    status, _, err = run_main(capsys, "train", "--config", tmp_path / "run.yaml")
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("error: run.yaml") and message in err


# --- progress, loggers --------------------------------------------------------------------------


def test_piped_output_is_plain_lines_and_test_metrics_reach_the_csv_logger(tmp_path):
    ratings, _ = small_demo(tmp_path / "data", users=30)
    result = cli("train", "--data", ratings, "--run-dir", tmp_path / "run", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "\r" not in out and "\x1b" not in out  # no bar redrawn in place in a log
    lines = out.splitlines()
    for line in (
        "[100%] reading ratings.csv: read 4,879 ratings",
        "[100%] computing cluster quality: done",
        "[100%] computing the maps: written",
    ):
        assert line in lines, out
    assert any(line.startswith("[100%] splitting: split: ") for line in lines)
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == [
        "epoch 1",
        "epoch 2",
    ]
    # the CSV logger (metrics.csv) got the test metrics as its last row; the app's reading of
    # it still holds the epochs only
    written = pd.read_csv(tmp_path / "run" / "metrics.csv")
    test_metrics = RunDir(tmp_path / "run").test_metrics()
    assert written["test_rmse"].dropna().tolist() == pytest.approx([test_metrics["test_rmse"]])
    assert RunDir(tmp_path / "run").metrics()["epoch"].tolist() == [1, 2]
    assert "test_rmse" not in RunDir(tmp_path / "run").metrics().columns


def test_a_terminal_gets_progress_bars(tmp_path):
    ratings, _ = small_demo(tmp_path / "data", users=30)
    command = [sys.executable, "-m", "hmf_core", "train", "--data", str(ratings)]
    command += ["--run-dir", str(tmp_path / "run"), "--no-projection", *TINY]
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, cwd=REPO, env=ENV
    )
    os.close(follower)
    chunks, deadline = [], time.time() + 600
    while time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=60) == 0
    out = b"".join(chunks).decode(errors="replace")
    # tqdm bars: redrawn in place (\r), with a bar and a percentage per step
    assert "\r" in out
    assert "reading ratings.csv: 100%|" in out and "splitting: 100%|" in out
    assert "computing cluster quality: 100%|" in out
    assert "epoch 1/2: " in out and "batches |" in out  # the epoch's batch bar
    assert "epoch 2: " in out and "hmf test: test_rmse=" in out  # the lines stay


def test_a_missing_logger_package_is_one_line_with_the_pip_command(tmp_path, capsys, monkeypatch):
    for logger, package in (("tensorboard", "tensorboard"), ("mlflow", "mlflow")):
        if importlib.util.find_spec(package) is not None:
            continue  # installed here: nothing to refuse
        monkeypatch.chdir(tmp_path)
        demo = REPO / "assets" / "ml-latest-small" / "ratings.csv"
        status, _, err = run_main(capsys, "train", "--data", demo, "--logger", logger)
        assert status == 2
        assert err == (
            f"error: --logger {logger} needs the {package} package, which is not installed: "
            f"pip install {package}\n"
        )
        assert not (tmp_path / "runs").exists()  # refused before a run directory is made


# --- headerless files by position ---------------------------------------------------------------


def ml1m_head(folder: Path, lines: int = 3000, separator: str = "::") -> Path:
    """The first `lines` of ML-1M's ratings without timestamps; with another `separator` than
    its '::' it is no MovieLens layout (read only by position)."""
    source = shared_file("ml-1m/ratings_no_timestamps.dat")
    with open(source, encoding="utf-8") as handle:
        head = [next(handle).replace("::", separator) for _ in range(lines)]
    path = folder / ("ratings_no_timestamps.dat" if separator == "::" else "ratings.txt")
    path.write_text("".join(head))
    return path


def test_a_headerless_file_reads_by_position_and_its_error_says_how(tmp_path):
    path = ml1m_head(tmp_path, separator=";")
    with pytest.raises(DataFormatError) as raised:
        read_ratings(path)
    assert str(raised.value) == (
        "ratings.txt, line 1: expected a header with distinct column names, "
        "'1' appears twice; if the file has no header, name its 3 columns by position: "
        "--columns user,item,rating --sep ';' (Data page: Columns by position, Separator)"
    )
    data = read_ratings(path, positions="user,item,rating", sep=";")
    first = pd.read_csv(path, sep=";", header=None, names=["u", "i", "r"])
    assert len(data.table) == len(first) == 3000
    assert data.n_users == first["u"].nunique() and data.n_items == first["i"].nunique()
    assert data.table["rating"].mean() == pytest.approx(first["r"].mean())
    assert not data.has_timestamp and not data.implicit
    # ML-1M's own '::' layout needs no options: it is recognised by its content (issue 21)
    by_content = read_ratings(ml1m_head(tmp_path))
    assert by_content.table["rating"].tolist() == data.table["rating"].tolist()
    assert "Read as MovieLens 1M ratings.dat without timestamps" in by_content.notes[0]
    # a 2-column file gets user,item; a file whose first line is words gets no such hint
    (tmp_path / "pairs.txt").write_text("7;8\n7;9\n")
    with pytest.raises(DataFormatError, match="--columns user,item --sep ';'"):
        read_ratings(tmp_path / "pairs.txt")
    (tmp_path / "words.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataFormatError) as words:
        read_ratings(tmp_path / "words.csv")
    assert "--columns" not in str(words.value) and "--user-col" in str(words.value)
    with pytest.raises(ValueError, match="'usr'"):
        read_ratings(path, positions="usr,item,rating", sep=";")


def test_the_cli_reads_a_headerless_file_by_position(tmp_path):
    plain = cli("train", "--data", ml1m_head(tmp_path, separator=";"), "--run-dir", tmp_path / "x")
    assert plain.returncode == 2 and "--columns user,item,rating --sep ';'" in plain.stderr
    path = ml1m_head(tmp_path)
    flags = ["--columns", "user,item,rating", "--sep", "::", "--no-projection", *TINY]
    result = cli("train", "--data", path, "--run-dir", tmp_path / "run", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = RunDir(tmp_path / "run").data_summary()["data"]
    assert summary["interactions"] == 3000 and not summary["implicit"]
    bad = cli("train", "--data", path, "--columns", "user,user,rating")
    assert bad.returncode == 2 and "'user' appears twice" in bad.stderr


def test_the_data_page_reads_a_headerless_file_by_position(tmp_path, monkeypatch, data_in_tmp):
    path = ml1m_head(tmp_path)
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120).run()
    at.text_input(key="column_positions").input("user,item,rating")
    at.text_input(key="column_sep").input("::")
    use_paths(at, path)
    assert not at.exception
    shown = texts(at)
    assert "Current dataset: ratings_no_timestamps.dat" in shown and "Ratings 3,000" in shown


@pytest.mark.slow
def test_ml1m_without_a_header_trains_by_position(tmp_path):
    path = shared_file("ml-1m/ratings_no_timestamps.dat")
    flags = ["--columns", "user,item,rating", "--sep", "::", "--max-epochs", "1"]
    flags += ["--split", "random"]  # no timestamps, and the file is ordered by user
    result = cli("train", "--data", path, "--run-dir", tmp_path / "run", *flags, "--no-projection")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[100%] reading ratings_no_timestamps.dat: read 1,000,209 ratings" in result.stdout
    summary = RunDir(tmp_path / "run").data_summary()["data"]
    assert (summary["users"], summary["items"]) == (6040, 3706)
    assert RunDir(tmp_path / "run").test_metrics()["test_rmse"] < 1.5


def test_the_tensorboard_logger_gets_the_epochs_and_the_test(tmp_path):
    """Where tensorboard is installed (`pip install tensorboard`, the remedy the refusal
    names): its event files hold each epoch's and the test's metrics."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed here")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ratings, _ = small_demo(tmp_path / "data", users=30)
    flags = ["--run-dir", tmp_path / "run", "--no-projection", "--logger", "tensorboard", *TINY]
    result = cli("train", "--data", ratings, *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [s.step for s in events.Scalars("val_rmse")] == [0, 1]
    test_rmse = RunDir(tmp_path / "run").test_metrics()["test_rmse"]
    assert [s.value for s in events.Scalars("test_rmse")] == pytest.approx([test_rmse])
