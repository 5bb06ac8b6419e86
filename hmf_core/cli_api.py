"""The command line's `recommend` and `export` (issue 22): the public API (hmf_core.api) on a
run directory, added to hmf_core.cli's parser by `add_commands`."""

from __future__ import annotations

import argparse
import sys

from hmf_core.common.errors import DataFormatError

COMMANDS = ("recommend", "export")
OUTPUTS = ("table", "csv", "json")
HEADER_NAMES = ("id",)  # besides hmf_core.data.ratings.USER_NAMES, a header of a one-column file


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, found {value}")
    return value


def add_commands(commands) -> None:
    """`recommend` and `export`, with a help text for every option."""
    recommend = commands.add_parser(
        "recommend", help="print users' top items (original item ids and titles) from a run"
    )
    recommend.add_argument("run_dir", help="the run directory (e.g. runs/20240101-120000)")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="one user id, as written in the rating file")
    who.add_argument(
        "--users-file",
        help="many users at once: one id per line, or a CSV with a user column (userId, user...)",
    )
    recommend.add_argument("--k", type=_positive, default=10, help="items per user (default: 10)")
    recommend.add_argument(
        "--format",
        choices=OUTPUTS,
        default="table",
        help="table (aligned text, default), csv (with a header row) or json (a list of records)",
    )
    recommend.add_argument(
        "--include-seen",
        action="store_true",
        help="also recommend items the user rated in the run's data (left out by default)",
    )
    export = commands.add_parser(
        "export", help="write a run's embeddings and cluster memberships for other tools"
    )
    export.add_argument("run_dir", help="the run directory (e.g. runs/20240101-120000)")
    export.add_argument(
        "--format",
        choices=("projector", "parquet"),
        required=True,
        help="projector: vectors.tsv + metadata.tsv for TensorBoard Projector (users, items, "
        "clusters); parquet: embeddings and memberships per side and level",
    )
    export.add_argument("--out", required=True, help="folder to write into (made if absent)")


def run_command(args: argparse.Namespace) -> int:
    from hmf_core.api import open_run

    run = open_run(args.run_dir)
    if args.command == "export":
        for path in run.export(args.out, args.format):
            print(path)
        return 0
    users = [args.user] if args.user is not None else read_user_ids(args.users_file, run)
    frame = run.recommend_many(users, args.k, exclude_seen=not args.include_seen)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", force_ascii=False))
    else:
        print(f"# score: {run.score_meaning}")
        if run.rating_scale is not None:
            low, high = run.rating_scale
            print(f"# rating: the score clipped to the data's {low:g}-{high:g} scale")
        print(frame.to_string(index=False) if len(frame) else "(no items left to recommend)")
    return 0


def read_user_ids(path: str, run) -> list[str]:
    """The user ids of a file: one per line (a first line naming the column, like userId, is
    a header), or a CSV whose header has a user column. An id the run does not know is an
    error naming the file and its line."""
    from hmf_core.api import UnknownId
    from hmf_core.data.ratings import USER_NAMES, find_column
    from hmf_core.data.textfiles import guess_delimiter, open_text, read_delimited

    source = open_text(path)
    name = source.name
    lines = [(number, line.strip()) for number, line in enumerate(source.lines(), start=1)]
    lines = [(number, line.lstrip("\ufeff")) for number, line in lines if line]
    if not lines:
        raise DataFormatError(name, None, "user ids, one per line", "the file is empty")
    first = lines[0][1]
    if any(separator in first for separator in (",", "\t", ";", "|")):
        frame = read_delimited(source, guess_delimiter(source), header=True)
        column = find_column(list(frame.columns), (*USER_NAMES, *HEADER_NAMES))
        if column is None:
            raise DataFormatError(
                name, 1, "a header with a user column (user, userId, id...)", f"found {first!r}"
            )
        numbers = [number for number, _ in lines[1:]]
        ids = list(zip(numbers, frame[column].astype(str).str.strip()))
    else:
        ids = lines
        known = _known(run, first)
        if not known and find_column([first], (*USER_NAMES, *HEADER_NAMES)) is not None:
            ids = lines[1:]  # a header line
    for number, user in ids:
        if not _known(run, user):
            try:
                run._users.row(user)
            except UnknownId as error:
                raise DataFormatError(name, number, "a user id of the run", str(error)) from None
    if not ids:
        raise DataFormatError(name, None, "user ids after the header", "found none")
    return [user for _, user in ids]


def _known(run, user: str) -> bool:
    return user in run._users.row_of
