"""Command line: `hmf train ...`, `hmf evaluate RUN_DIR`, ... (`hmf` is `python -m hmf_core`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from hmf_core import cli_api
from hmf_core.common.errors import DataFormatError, RunError
from hmf_core.data.ratings import parse_positions, parse_separator
from hmf_core.data.split import SPLITS
from hmf_core.data.textfiles import missing, os_refusal, shown_path
from hmf_core.models.hmf import WARM_STARTS
from hmf_core.models.registry import FAMILIES
from hmf_core.runs.runclaim import Claim, claim_new_run_dir, claim_run_dir, create_run_dir
from hmf_core.training.metrics import TASKS, task_metric_text
from hmf_core.training.settings import (
    DEFAULT_PRESET,
    LOGGERS,
    OPTIMIZERS,
    PRESETS,
    TrainSettings,
    parse_cluster_counts,
    preset_fields,
    with_preset,
)

DEFAULTS = TrainSettings()


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every user error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _int_list(text: str) -> list[int]:
    try:
        return parse_cluster_counts(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def program_name() -> str:
    """`hmf` when started as the installed command, else `python -m hmf_core`."""
    return "hmf" if Path(sys.argv[0]).name == "hmf" else "python -m hmf_core"


def _positions(text: str) -> str:
    try:
        return ",".join(parse_positions(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _separator(text: str) -> str:
    try:
        return parse_separator(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


D = "(default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=program_name(), description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train HMF and write a run directory")
    _add_input_arguments(train)
    _add_run_arguments(train)
    _add_task_arguments(train)
    _add_model_arguments(train)
    _add_recipe_arguments(train)
    _add_mfdmc_arguments(train)
    _add_optimisation_arguments(train)
    _add_lightning_arguments(train)
    add_sweep_parser(commands, train)  # issue 22: its own block, below
    _add_run_commands(commands)
    _add_sizes_command(commands)  # issue 17: suggest-sizes, its own block below
    cli_api.add_commands(commands)  # issue 22: recommend, export (hmf_core/cli_api.py)
    return parser


def _add_input_arguments(train: argparse.ArgumentParser) -> None:
    """train: the settings file, the rating and metadata files and how to read them."""
    train.add_argument(
        "--config",
        help="a YAML file of settings: the fields of a run's settings.json (--print-config "
        "writes one); flags given on the command line override it; relative paths in it are "
        "read from the file's folder",
    )
    train.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings these options (and --config) give, as YAML, and exit "
        "without training",
    )
    train.add_argument(
        "--data",
        help="rating file (u.data, ratings.dat, ratings.csv, a MovieLens .zip, CSV/TSV/parquet; "
        "MovieLens files known by content; .gz .bz2 .xz .zst read as such); "
        "required unless --config names it",
    )
    train.add_argument("--items", help="item metadata (u.item, movies.csv, any CSV keyed by id)")
    train.add_argument("--users", help="user metadata (u.user, users.dat, any CSV keyed by id)")
    for role in ("user", "item", "rating", "timestamp"):
        train.add_argument(
            f"--{role}-col", help=f"name of the {role} column, when the header's is not recognised"
        )
    train.add_argument(
        "--columns",
        type=_positions,
        help="a file without a header: its columns by position, e.g. user,item,rating or "
        "user,item,rating,timestamp (like Surprise's line_format)",
    )
    train.add_argument(
        "--sep",
        type=_separator,
        help="the field separator, e.g. :: or ';' or tab (default: guessed from the first line)",
    )


def _add_run_arguments(train: argparse.ArgumentParser) -> None:
    """train: where the run is written, and its name and note."""
    train.add_argument(
        "--run-dir",
        help="where to write the run (default runs/<time>); a directory that holds a run is "
        "refused (runs are never trained into again) unless --overwrite",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --run-dir (not while it trains): the old run is moved aside "
        "whole, then deleted once the new one has read its data",
    )
    train.add_argument("--name", default="", help="a name for the run, shown in the app")
    train.add_argument("--note", default="", help="a note for the run, shown in the app")


def _add_task_arguments(train: argparse.ArgumentParser) -> None:
    """train: the task (rating or ranking), the split and the seed."""
    train.add_argument(
        "--task",
        choices=TASKS,
        default=DEFAULTS.task,
        help=f"rating: squared error, {task_metric_text('rating')}; "
        f"ranking: BPR, {task_metric_text('ranking')} {D}",
    )
    train.add_argument(
        "--positive-threshold",
        type=float,
        help="ranking on explicit ratings: ratings >= this are positives (default: all rows)",
    )
    train.add_argument(
        "--split",
        choices=SPLITS,
        default=DEFAULTS.split,
        help=f"temporal: the paper's global split by time; random: seeded; leave_last_out {D}",
    )
    train.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help=f"seed of the split and the model {D}"
    )


def _add_model_arguments(train: argparse.ArgumentParser) -> None:
    """train: the model family and its shape (dimension, cluster levels and counts)."""
    train.add_argument(
        "--family",
        choices=list(FAMILIES),
        default=DEFAULTS.family,
        help="the model family: "
        + "; ".join(f"{name}: {entry.label}" for name, entry in FAMILIES.items())
        + f" {D}",
    )
    train.add_argument(
        "--dim", type=int, default=DEFAULTS.dim, help=f"latent dimension d of the model {D}"
    )
    # The shape has no argparse default: an option not typed leaves it to --preset (the
    # default "stable" has two levels on both sides), else TrainSettings' default.
    train.add_argument(
        "--user-depth",
        type=int,
        help="levels of user clusters, 0-4; 0 = plain MF on the user side (default: the "
        f"preset's, else {DEFAULTS.user_depth})",
    )
    train.add_argument(
        "--item-depth",
        type=int,
        help="levels of item clusters, 0-4; 0 = plain MF on the item side (default: the "
        f"preset's, else {DEFAULTS.item_depth})",
    )
    train.add_argument(
        "--user-clusters",
        type=_int_list,
        help="first-level count (halved per level) or one count per level: 200,100 "
        f"(default: the preset's, else {DEFAULTS.user_clusters[0]})",
    )
    train.add_argument(
        "--item-clusters",
        type=_int_list,
        help="first-level count (halved per level) or one count per level: 100,50 "
        f"(default: the preset's, else {DEFAULTS.item_clusters[0]})",
    )
    train.add_argument(
        "--temperature",
        type=float,
        default=DEFAULTS.temperature,
        help=f"softmax temperature of the memberships {D}",
    )


def _add_recipe_arguments(train: argparse.ArgumentParser) -> None:
    """train: the cluster recipe group (a preset, and the flags that override it)."""
    recipe = train.add_argument_group(
        "cluster recipe (a preset sets these; a flag given overrides its preset)"
    )
    recipe.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help="stable: two levels on both sides (100 clusters, then 25 to read), a spectral "
        "warm start that is the same for every seed, faster logits, biases and entropy 0.1 "
        "(the same clusters on retraining); interpretable: one level, a spectral warm start "
        "from the run's seed, faster logits, biases (crisp, data-driven clusters); paper: the "
        "paper and the authors' code; twostage takes only its biases and "
        "init std; mfdmc has its own recipes (paper: the method note's section 7; "
        "interpretable and stable: biases, faster logits, sharper views, earlier pruning) "
        f"(default: {DEFAULT_PRESET})",
    )
    recipe.add_argument(
        "--warm-start",
        choices=WARM_STARTS,
        help="where memberships start: spectral co-clustering of who rated what, k-means on a "
        "briefly trained MF (mf), or none (the random N(0, init-std) draw); -consensus: the "
        "same start for every seed (fixed random state, consensus of 5 x 10 k-means inits) "
        "(default: the preset's)",
    )
    recipe.add_argument(
        "--warm-start-sharpness",
        type=float,
        help="membership probability a warm-started object gives its first cluster, 0-1 "
        "(default: the preset's)",
    )
    recipe.add_argument(
        "--logit-lr",
        type=float,
        help="learning rate of the connection logits (default: the preset's; paper: --lr)",
    )
    recipe.add_argument(
        "--entropy-weight",
        type=float,
        help="weight of the mean normalised membership entropy added to the loss (sharper) "
        "(default: the preset's)",
    )
    recipe.add_argument(
        "--init-std",
        type=float,
        help="std of the N(0, s) initial logits and embeddings, 1 = the paper (default: the "
        "preset's)",
    )
    recipe.add_argument(
        "--bias",
        dest="use_bias",
        action=argparse.BooleanOptionalAction,
        help="global/user/item biases (our extension; the paper has none) (default: the preset's)",
    )


def _add_mfdmc_arguments(train: argparse.ArgumentParser) -> None:
    """train: MFDMC's own knobs (--family mfdmc; hmf_core/models/mfdmc.py)."""
    group = train.add_argument_group("MFDMC (--family mfdmc; 0 turns a loss term off)")
    knobs = (
        ("--views", int, "views V, each a slice of the latent space, both sides"),
        ("--user-centres", int, "user centres per view at the start"),
        ("--item-centres", int, "item centres per view at the start"),
        ("--spread-weight", float, "weight of the spread loss (keeps a view's centres apart)"),
        ("--spread-margin", float, "distance rho under which two centres are pushed apart"),
        ("--proximity-weight", float, "weight of the proximity loss (pulls objects to a centre)"),
        ("--view-entropy-weight", float, "weight of the normalised membership entropy per view"),
        ("--prune-from", int, "first epoch (from 0) that prunes weak centres; -1 = never"),
        ("--prune-threshold", float, "prune a centre whose mean weight is below this / K"),
        ("--min-centres", int, "a view keeps at least this many centres"),
        ("--merge-distance", float, "when pruning, merge centres closer than this; 0 = never"),
    )
    # No argparse default: an option not typed leaves the field to --preset's MFDMC recipe
    # (training.settings.FAMILY_PRESETS), else TrainSettings' default, shown here.
    for flag, kind, text in knobs:
        default = getattr(DEFAULTS, flag[2:].replace("-", "_"))
        group.add_argument(flag, type=kind, help=f"{text} (default: the preset's, else {default})")
    group.add_argument(
        "--view-combine",
        choices=("concat", "sum"),
        help="concat: each view its own slice of dim / V; sum: views added (default: "
        f"{DEFAULTS.view_combine})",
    )


def _add_optimisation_arguments(train: argparse.ArgumentParser) -> None:
    """train: the optimizer, how long to train, what else to compute, the metrics logger."""
    train.add_argument("--lr", type=float, default=DEFAULTS.lr, help=f"AdamW learning rate {D}")
    train.add_argument(
        "--weight-decay", type=float, default=DEFAULTS.weight_decay, help=f"AdamW weight decay {D}"
    )
    train.add_argument(
        "--batch-size", type=int, default=DEFAULTS.batch_size, help=f"ratings per step {D}"
    )
    train.add_argument(
        "--max-epochs", type=int, default=DEFAULTS.max_epochs, help=f"at most this many epochs {D}"
    )
    train.add_argument(
        "--patience",
        type=int,
        default=DEFAULTS.patience,
        help=f"stop after this many epochs without a better validation metric {D}",
    )
    train.add_argument(
        "--compare-mf", action="store_true", help="also train plain MF on the same split"
    )
    train.add_argument(
        "--no-projection",
        dest="projection",
        action="store_false",
        help="skip computing the 2-D maps after training",
    )
    train.add_argument(
        "--threads", type=int, help="CPU threads (default: half the cores, at most 8)"
    )
    # issue 11: the optimizer (its own block)
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=DEFAULTS.optimizer,
        help="lazy: step only the batch's rows of C_1 / the MF tables, same results as dense "
        "AdamW, per-step cost independent of the number of users and items; auto (default): "
        "lazy where C_1 (MF: the embedding table) has 2M elements or more, where it is faster",
    )
    train.add_argument(
        "--logger",
        choices=list(LOGGERS),
        default=DEFAULTS.logger,
        help="also send the epochs' and the test's metrics to TensorBoard (<run>/tensorboard) "
        "or MLflow ($MLFLOW_TRACKING_URI, else ./mlruns); metrics.csv is always written "
        f"(tensorboard and mlflow are not installed with this project: pip install them) {D}",
    )


def _add_lightning_arguments(train: argparse.ArgumentParser) -> None:
    """train: the Lightning Trainer options, passed through."""
    lightning = train.add_argument_group("Lightning Trainer options (passed through)")
    lightning.add_argument(
        "--accelerator", default=DEFAULTS.accelerator, help=f"cpu, gpu, mps or auto {D}"
    )
    lightning.add_argument(
        "--devices", default=DEFAULTS.devices, help=f"how many, or which: 2, 0,1, -1 or auto {D}"
    )
    lightning.add_argument(
        "--strategy", default=DEFAULTS.strategy, help=f"e.g. ddp for several processes {D}"
    )
    lightning.add_argument(
        "--num-nodes", type=int, default=DEFAULTS.num_nodes, help=f"machines (DDP) {D}"
    )
    lightning.add_argument(
        "--precision", default=DEFAULTS.precision, help=f"e.g. 32-true, bf16-mixed {D}"
    )


def _add_run_commands(commands) -> None:
    """The commands on an existing run: evaluate, maps, quality, stability, name."""
    evaluate = commands.add_parser("evaluate", help="print the test metrics of a run")
    evaluate.add_argument("run_dir", help="the run directory")
    evaluate.add_argument(
        "--compute",
        action="store_true",
        help="compute the test metrics of the kept best.ckpt (again) first: for a run whose "
        "training process was killed, or whose test_metrics.json is damaged",
    )
    maps = commands.add_parser("maps", help="compute (again) the 2-D PCA and UMAP maps of a run")
    maps.add_argument("run_dir", help="the run directory")
    quality = commands.add_parser(
        "quality", help="compute (again) the cluster quality of a run and print it"
    )
    quality.add_argument("run_dir", help="the run directory")
    quality.add_argument("--items", help="item metadata to use instead of the run's own")
    quality.add_argument("--users", help="user metadata to use instead of the run's own")
    stability = commands.add_parser(
        "stability",
        help="train a finished run's settings with more seeds on its split and measure how "
        "far its clusters reappear (stability.json)",
    )
    stability.add_argument("run_dir", help="the run directory (a finished run)")
    stability.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="runs compared, the run itself included: seeds seed+1 .. seed+N-1 are trained "
        "(default: 3)",
    )
    name = commands.add_parser("name", help="show, or change, a run's name and note")
    name.add_argument("run_dir", help="the run directory")
    name.add_argument("--name", help="the run's new name")
    name.add_argument("--note", help="the run's new note")


# --- issue 22: `sweep`, a grid or random search over train settings (hmf_core.runs.sweep) -------
NOT_SWEPT = {"help", "data", "items", "users", "run_dir", "name", "note", "config", "print_config"}
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def add_sweep_parser(commands, train: argparse.ArgumentParser) -> None:
    """`sweep`: every train option (copied from the train parser, so each one it gains is here
    too) as a fixed setting, plus --grid / --random / --root."""
    sweep = commands.add_parser(
        "sweep",
        add_help=False,  # the train parser's -h comes with its options
        help="train one run per combination of settings and rank them on validation",
        description="Train one ordinary run per point of --grid (or --random N of them), one "
        "after another, and rank them on the validation metric (RMSE lowest first, HR@10 "
        "highest first) beside their test metrics. Every train option is a fixed setting of "
        "all trials; --name names the sweep, --note is each trial's note, --seed also draws "
        "--random. Writes ROOT/NAME/sweep.csv and the trials as ROOT/NAME-01, NAME-02, ...",
    )
    sweep._add_container_actions(train)  # argparse's `parents=` mechanism, after the fact
    search = sweep.add_argument_group("search")
    search.add_argument(
        "--grid",
        nargs="+",
        required=True,
        metavar="NAME=V1,V2",
        help="settings to vary, by their settings.json name (dashes or underscores): "
        "lr=0.01,0.003 dim=20,40 use_bias=true,false; a multi-level cluster list as "
        "user_clusters=200:100,400:200",
    )
    search.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="train N combinations of the grid drawn at random (with --seed), not all of them",
    )
    search.add_argument(
        "--root",
        help="folder for the sweep and its trial runs (default: $HMF_RUNS_DIR or ./runs, where "
        "the app lists runs)",
    )
    sweep.set_defaults(grid_value=_grid_converter(train))


def _grid_converter(train: argparse.ArgumentParser):
    """convert(name, text) -> the value the train option `name` would parse from `text`."""
    actions = {a.dest: a for a in train._actions if a.dest not in NOT_SWEPT}
    actions = {dest: a for dest, a in actions.items() if not dest.endswith("_col")}

    def convert(name: str, text: str):
        action = actions.get(name)
        if action is None:
            raise ValueError(
                f"--grid {name}: not a setting a sweep can vary; known: {', '.join(actions)}"
            )
        if action.nargs == 0:  # store_true / store_false / --bias/--no-bias
            word = text.lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError(f"--grid {name}: expected true or false, found {text!r}")
            return word in TRUE_WORDS
        try:
            value = action.type(text.replace(":", ",")) if action.type else text
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            kind = getattr(action.type, "__name__", "value")
            raise ValueError(f"--grid {name}: {text!r} is not a valid {kind} ({exc})") from None
        if action.choices and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise ValueError(f"--grid {name}: {text!r} is not one of {choices}")
        return value

    return convert


def _sweep(args: argparse.Namespace) -> int:
    from hmf_core.common.allowed import child_folder
    from hmf_core.runs.manager import runs_root
    from hmf_core.runs.sweep import TABLE, grid_points, parse_axes, run_sweep, shown_table

    if args.run_dir:
        raise ValueError("sweep: --run-dir does not apply; the trials go under --root")
    _check_inputs(args)
    axes = parse_axes(args.grid, args.grid_value)
    points = grid_points(axes, args.random, args.seed)
    root = Path(args.root) if args.root else runs_root()
    name = args.name or f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    if child_folder(root, name) is None:
        raise ValueError(f"sweep: --name {name!r} must be one plain folder name")

    def settings_for(point: dict) -> TrainSettings:
        return settings_from_args(argparse.Namespace(**{**vars(args), **point}))

    sweep, table = run_sweep(settings_for, axes, points, root, name, note=args.note)
    print(f"\nsweep {sweep.name}: {len(table)} trials ranked on {sweep.metric} ({sweep.mode})")
    print(shown_table(table, axes))
    print(f"written: {sweep.folder / TABLE}")
    return 0


# --- end of issue 22's sweep block ----------------------------------------------------------


# --- issue 17: `suggest-sizes`, cluster counts chosen by stability (hmf_core.interpret.sizes) ---


def _add_sizes_command(commands) -> None:
    from hmf_core.interpret import sizes

    suggest = commands.add_parser(
        "suggest-sizes",
        help="how many user and item clusters the data supports: k-means on the spectral warm "
        "start under several seeds, per candidate count, and the train flags to use",
    )
    suggest.add_argument("--data", required=True, help="rating file (as train's --data)")
    suggest.add_argument("--columns", type=_positions, help="as train's --columns")
    suggest.add_argument("--sep", type=_separator, help="as train's --sep")
    suggest.add_argument(
        "--split", choices=SPLITS, default=DEFAULTS.split, help=f"the split to train on {D}"
    )
    suggest.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help=f"seed of the split and first k-means {D}"
    )
    suggest.add_argument(
        "--seeds", type=int, default=sizes.SEEDS, help=f"k-means seeds compared per count {D}"
    )
    suggest.add_argument(
        "--dim", type=int, default=DEFAULTS.dim, help=f"the model's dimension d (the rank) {D}"
    )
    suggest.add_argument(
        "--candidates",
        type=_int_list,
        default=list(sizes.CANDIDATES),
        help="cluster counts to try, capped at half the objects "
        f"(default: {','.join(map(str, sizes.CANDIDATES))})",
    )


def _suggest_sizes(args: argparse.Namespace) -> int:
    from hmf_core.console import StepProgress
    from hmf_core.data.ratings import read_ratings
    from hmf_core.data.split import make_split
    from hmf_core.interpret import sizes

    started = time.perf_counter()
    steps = StepProgress()
    try:
        data = read_ratings(args.data, positions=args.columns, sep=args.sep, report=steps)
        split = make_split(data, args.split, args.seed, report=steps)
        found = sizes.suggest_sizes(
            split.train,
            split.n_users,
            split.n_items,
            dim=args.dim,
            seeds=args.seeds,
            seed=args.seed,
            candidates=args.candidates,
            report=steps,
        )
    finally:
        steps.close()
    seeds = found["seeds"]
    print(
        f"{Path(args.data).name}, {args.split} split (seed {args.seed}): {len(split.train):,} "
        f"training ratings, {split.n_users:,} users x {split.n_items:,} items; k-means on the "
        f"spectral vectors (d={args.dim}), seeds {seeds[0]}-{seeds[-1]}"
    )
    print(sizes.size_table(found).to_string(index=False, float_format="{:.3f}".format))
    print("\n".join(sizes.suggestion_lines(found)))
    split_flags = f"--split {args.split} --seed {args.seed} --dim {args.dim}"
    print(f"train with: {split_flags} {sizes.size_flags(found)}")
    print(f"took {time.perf_counter() - started:.1f} s")
    return 0


# --- end of issue 17's suggest-sizes block --------------------------------------------------


NOT_SETTINGS = {"config", "print_config", "run_dir", "name", "note", "command", "columns", "sep"}


def given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The destinations of the options typed on the command line (not their defaults): those
    override a --config file. argparse is asked again with every default suppressed."""
    actions = [
        action
        for group in [parser, *_subparsers(parser)]
        for action in group._actions
        if action.dest != "help"
    ]
    saved = [action.default for action in actions]
    try:
        for action in actions:
            action.default = argparse.SUPPRESS
        given = vars(parser.parse_args(argv))
    finally:
        for action, default in zip(actions, saved):
            action.default = default
    return set(given) - {"command"}


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subparsers(sub)]
    return found


def settings_from_args(
    args: argparse.Namespace, given: set[str] | None = None, config: dict | None = None
) -> TrainSettings:
    """The settings of `train`: a preset (default DEFAULT_PRESET), the fields of a --config
    file (`config`) over it, then the options typed (`given`; all options when None) over
    both. A --preset typed replaces the file's recipe fields with that preset's."""
    names = {f.name for f in fields(TrainSettings)}  # preset included
    chosen = {
        k: v
        for k, v in vars(args).items()
        if k in names and v is not None and (given is None or k in given)
    }
    chosen.pop("columns", None)
    for name in ("data", "items", "users"):
        if chosen.get(name):
            chosen[name] = str(Path(chosen[name]).resolve())
    base = dict(config or {})
    columns = dict(base.pop("columns", None) or {})
    for role in ("user", "item", "rating", "timestamp"):
        if getattr(args, f"{role}_col"):
            columns[f"{role}_col"] = getattr(args, f"{role}_col")
    if args.columns:
        columns["positions"] = args.columns
    if args.sep:
        columns["sep"] = args.sep
    family = chosen.get("family", base.get("family"))
    if "preset" in chosen:  # the typed preset's recipe (for the family) replaces the file's
        base = {k: v for k, v in base.items() if k not in preset_fields(chosen["preset"], family)}
    preset = chosen.pop("preset", base.pop("preset", args.preset))
    base.pop("preset", None)
    return with_preset(preset, **{**base, **chosen, "columns": columns})


def _print_progress(run_dir: Path) -> None:
    from hmf_core.runs.rundir import RunDir

    run = RunDir(run_dir)
    print(f"run directory: {run_dir}")
    _print_name(run)
    summary = run.data_summary()
    if summary:
        print("split:", json.dumps(summary.get("split", {})))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args, given_options(parser, argv))
        if args.command == "maps":
            return _maps(Path(args.run_dir))
        if args.command == "quality":
            return _quality(Path(args.run_dir), args.items, args.users)
        if args.command == "suggest-sizes":
            return _suggest_sizes(args)
        if args.command == "stability":
            return _stability(Path(args.run_dir), args.seeds)
        if args.command == "name":
            return _name(Path(args.run_dir), args.name, args.note)
        if args.command in cli_api.COMMANDS:
            return cli_api.run_command(args)
        if args.command == "sweep":
            return _sweep(args)
        return _evaluate(Path(args.run_dir), args.compute)
    except (DataFormatError, RunError, ValueError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """A user error as one line: an OSError names its path (shortened) and reason."""
    if isinstance(exc, OSError) and not isinstance(exc, DataFormatError):
        path = str(exc.filename or "")
        if len(path) > 120:
            path = path[:60] + "..." + path[-40:]
        text = f"{path}: {exc.strerror}" if path and exc.strerror else str(exc)
    else:
        text = str(exc)
    return " ".join(text.split())[:1000]


def read_config(path: str | Path) -> dict:
    """The settings of a --config YAML file: a mapping of settings.json's fields, each checked
    against its field's type (one line naming the file, and the key or the YAML line, else).
    Relative data / items / users paths are read from the file's folder."""
    import yaml

    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing(name, path, "an existing file for --config") from None
    except UnicodeDecodeError:
        raise DataFormatError(name, None, "a UTF-8 YAML file", "it is not UTF-8") from None
    except OSError as exc:
        raise os_refusal(name, path, exc) from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataFormatError(
            name, line, "YAML settings", f"found a syntax error ({problem})"
        ) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise DataFormatError(
            name,
            None,
            "a mapping of settings (key: value lines)",
            f"found a {type(values).__name__}",
        )
    known = {f.name for f in fields(TrainSettings)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise DataFormatError(
                name,
                None,
                "only the fields of a run's settings.json (see train --print-config)",
                f"found the unknown key {key!r}",
            )
        checked[key] = _config_value(name, key, value)
    for key in ("data", "items", "users"):
        if checked.get(key):
            checked[key] = str((path.parent / checked[key]).resolve())
    return checked


OPTIONAL_FIELDS = ("items", "users", "positive_threshold", "logit_lr", "threads")


def _config_value(name: str, key: str, value):
    """`value` as field `key` of TrainSettings wants it, or a DataFormatError naming both."""
    default = getattr(DEFAULTS, key)

    def wrong(expected: str) -> DataFormatError:
        return DataFormatError(name, None, f"{expected} for {key!r}", f"found {value!r:.80}")

    if value is None:
        if key in OPTIONAL_FIELDS:
            return None
        raise wrong("a value")
    if key in ("user_clusters", "item_clusters"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):
            try:
                return parse_cluster_counts(value)
            except ValueError:
                raise wrong("cluster counts like 200 or [200, 100]") from None
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise wrong("cluster counts like 200 or [200, 100]")
        return value
    if key == "column_types":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise wrong('a mapping like {"item": {"year": "categorical"}}')
        return {str(side): dict(types) for side, types in value.items()}
    if key == "columns":
        allowed = {f"{role}_col" for role in ("user", "item", "rating", "timestamp")}
        allowed |= {"positions", "sep"}
        if (
            not isinstance(value, dict)
            or not all(isinstance(v, str) for v in value.values())
            or set(value) - allowed
        ):
            raise wrong(f"a mapping of {', '.join(sorted(allowed))} to text")
        return dict(value)
    if key in ("devices", "accelerator", "strategy", "precision") and isinstance(value, int):
        return str(value)  # `devices: 2` in YAML is a number; Lightning takes either
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if isinstance(default, float) or key in ("positive_threshold", "logit_lr"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if isinstance(default, int) or key == "threads":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
        return value
    if not isinstance(value, str):
        raise wrong("text")
    return value


def config_text(settings: TrainSettings) -> str:
    """The settings as YAML: settings.json's fields, which --config reads back."""
    import yaml

    return yaml.safe_dump(asdict(settings), sort_keys=False, allow_unicode=True)


def _check_inputs(settings: TrainSettings) -> None:
    """Every input path names a readable file, before a run directory is made."""
    for option in ("data", "items", "users"):
        value = getattr(settings, option)
        if not value:
            continue
        path = Path(value)
        try:
            if path.is_dir():
                raise DataFormatError(
                    path.name, None, f"a file for --{option}", f"{shown_path(value)} is a directory"
                )
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise missing(path.name, path, f"an existing file for --{option}") from None
        except OSError as exc:
            raise os_refusal(path.name, path, exc) from None


def _train(args: argparse.Namespace, given: set[str] | None = None) -> int:
    from hmf_core.console import EpochProgress, StepProgress
    from hmf_core.runs.rundir import RunDir
    from hmf_core.runs.train_run import train_run
    from hmf_core.training.trainer import is_rank_zero

    config = read_config(args.config) if args.config else None
    settings = settings_from_args(args, given if config is not None else None, config)
    if args.print_config:
        print(config_text(settings), end="")
        return 0
    if not settings.data:
        raise ValueError("no rating file: give --data, or data: in the --config file")
    _check_inputs(settings)
    settings.validate()  # the data-dependent checks follow once the data is read
    if not is_rank_zero():  # DDP's other processes write nothing: rank 0 claimed --run-dir
        run_dir = args.run_dir or create_run_dir("runs", time.strftime("%Y%m%d-%H%M%S"))
        train_run(settings, Path(run_dir), callbacks=[EpochProgress()])
        return 0
    claim = _claim(args)
    run_dir = claim.path
    RunDir(run_dir).create(name=args.name, note=args.note)  # meta.json: a new run id
    steps = StepProgress()
    try:
        results = train_run(
            settings, run_dir, callbacks=[EpochProgress()], lock=claim.lock, report=steps
        )
    except BaseException:
        if _refused_before_training(run_dir):
            claim.abandon()  # nothing of this command is left; a replaced run is put back
        raise
    finally:
        steps.close()
        claim.commit()  # the new run started: the one it replaced is deleted
        claim.lock.release()
    RunDir(run_dir).update_meta(ended=time.time())
    _print_progress(run_dir)
    for name, metrics in results.items():
        print(f"{name} test: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    return 0


def _claim(args: argparse.Namespace) -> Claim:
    """The run directory of a new training, claimed (hmf_core.runs.runclaim): --run-dir, refused
    when it holds a run unless --overwrite; else a new runs/<time> (made atomically, unique
    even for two runs started in the same second)."""
    if args.run_dir:
        return claim_run_dir(args.run_dir, overwrite=args.overwrite)
    if args.overwrite:
        raise RunError("--overwrite replaces the run in --run-dir: give --run-dir too")
    return claim_new_run_dir("runs", time.strftime("%Y%m%d-%H%M%S"))


def _refused_before_training(run_dir: Path) -> bool:
    """Whether the run's data was refused at read time (nothing trained, no checkpoint)."""
    from hmf_core.common.files import DamagedFile
    from hmf_core.runs.rundir import RunDir
    from hmf_core.runs.train_run import PREPARING

    run = RunDir(run_dir)
    try:
        refused = run.json("progress").get("refused") == PREPARING
    except DamagedFile:
        return False
    return refused and not run.has_model()


def _print_name(run) -> None:
    """The run's name and note, when it has them (as typed: a terminal renders no markup)."""
    meta = run.meta()
    if meta["name"]:
        print(f"name: {meta['name']}")
    if meta["note"]:
        print(f"note: {meta['note']}")


def _name(run_dir: Path, name: str | None, note: str | None) -> int:
    from hmf_core.runs.rundir import RunDir

    run = RunDir(run_dir)
    if not run.exists():
        raise RunError(f"{run_dir}: not a run directory (settings.json is missing)")
    changes = {k: v for k, v in (("name", name), ("note", note)) if v is not None}
    if changes:
        run.update_meta(**changes)
    print(f"run directory: {run_dir}")
    _print_name(run)
    return 0


def _evaluate(run_dir: Path, compute: bool = False) -> int:
    from hmf_core.runs.rundir import RunDir

    run = RunDir(run_dir)
    if not run.exists():
        raise RunError(f"{run_dir}: not a run directory (settings.json is missing)")
    _print_name(run)
    if compute:
        from hmf_core.runs.evaluate import evaluate_checkpoint

        evaluate_checkpoint(run_dir, force=True)
    damage = run.damage()
    if damage is not None:
        raise damage
    for label, part in (("HMF", run), ("MF", run.comparison())):
        if part is None:
            continue
        metrics = part.test_metrics()
        state = part.progress().get("state", "unknown")
        if not metrics:
            hint = "; compute them from best.ckpt with --compute" if part.has_model() else ""
            print(f"{label}: no test metrics (state: {state}{hint})")
            continue
        own = {k: v for k, v in metrics.items() if not _full_ranking_key(k)}
        print(f"{label} ({state}): " + ", ".join(f"{k}={v}" for k, v in own.items()))
        _print_full_ranking(label, metrics, part.has_model())
    return 0


def _full_ranking_key(key: str) -> bool:
    from hmf_core.training.full_ranking import THRESHOLD_KEY, USERS_KEY, is_full_ranking

    return is_full_ranking(key) or key in (USERS_KEY, THRESHOLD_KEY)


def _print_full_ranking(label: str, metrics: dict, has_model: bool) -> None:
    """The full-ranking metrics (training.full_ranking) on a line of their own, or why not."""
    from hmf_core.training.full_ranking import THRESHOLD_KEY, USERS_KEY, is_full_ranking

    full = {k: v for k, v in metrics.items() if is_full_ranking(k)}
    if not full:
        hint = ": compute them with --compute" if has_model else ""
        print(f"{label} full ranking: not computed{hint}")
        return
    rule = f", relevant: rated >= {metrics[THRESHOLD_KEY]:g}" if THRESHOLD_KEY in metrics else ""
    print(
        f"{label} full ranking (all unseen items; {metrics.get(USERS_KEY)} users with a "
        f"relevant test item{rule}): " + ", ".join(f"{k}={v}" for k, v in full.items())
    )


def _maps(run_dir: Path) -> int:
    from hmf_core.runs.rundir import RunDir
    from hmf_core.runs.train_run import compute_maps

    if not RunDir(run_dir).has_model():
        raise RunError(f"{run_dir}: no checkpoint (best.ckpt) to draw maps from")
    timings = compute_maps(run_dir)
    if not timings:
        return 1
    print("maps written: " + ", ".join(f"{k}={v}" for k, v in timings.items()))
    return 0


def _quality(run_dir: Path, items: str | None, users: str | None) -> int:
    from hmf_core.interpret.quality import quality_tables
    from hmf_core.runs.quality_files import run_quality
    from hmf_core.runs.rundir import RunDir

    if not RunDir(run_dir).has_model():
        raise RunError(f"{run_dir}: no checkpoint (best.ckpt) to measure clusters of")
    quality = run_quality(run_dir, items=items, users=users)
    for side, columns in quality["columns"].items():
        print(f"{side} metadata compared: {', '.join(columns) or 'no categorical column'}")
    print()
    for name, table in quality_tables(quality).items():
        if not table.empty:
            print(f"{name}:\n{table.to_string(index=False, float_format='{:.3f}'.format)}\n")
    print(f"written: {RunDir(run_dir).file('quality')}")
    return 0


def _stability(run_dir: Path, seeds: int) -> int:
    """`stability RUN --seeds N`: hmf_core.runs.stability, its summary printed."""
    from hmf_core.console import EpochProgress, StepProgress
    from hmf_core.interpret.stability import stability_summary
    from hmf_core.runs.rundir import RunDir
    from hmf_core.runs.stability import check_finished, measure_stability

    run = RunDir(run_dir)
    check_finished(run)  # the one-line error before anything is trained
    again = run.file("stability").exists()
    steps = StepProgress()
    try:
        measured = measure_stability(run_dir, seeds, report=steps, callbacks=[EpochProgress()])
    finally:
        steps.close()
    print(f"cluster stability over seeds {', '.join(map(str, measured['seeds']))}:")
    for row in stability_summary(measured):
        share = row["reappearing_share"]
        word = measured.get("grouping", "level")
        counts = row.get("clusters_per_run", row["clusters"])
        best = row.get("best_partner_ari")
        print(
            f"  {row['side']} {word} {row['level']} ({counts} clusters): mean ARI "
            f"{row['mean_ari']:.3f} (lowest {row['lowest_ari']:.3f}), "
            + ("no populated cluster" if share is None else f"{share:.0%} reappear in every run")
            + ("" if best is None else f"; best-agreeing {word} of each other seed: ARI {best:.3f}")
        )
    print(f"written: {run.file('stability')}" + (" (replacing the earlier one)" if again else ""))
    return 0
