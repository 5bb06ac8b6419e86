"""The public Python API: a trained run, asked in the user's own ids.

    import hmf_core
    run = hmf_core.open_run("runs/20240101-120000")
    run.recommend(1, k=10)              # original item ids, labels (titles), scores
    run.explain(1, 50)                  # the cluster-pair terms that add up to predict(1, 50)
    run = hmf_core.train(ratings_frame, items=movies_frame, max_epochs=5)

Ids are the run's original ids (users.csv / items.csv, as read from the user's file): given as
int or str (7 and "7" are the same id; "007" is another). A side whose ids are all whole numbers
answers with ints, else with strings. An unknown id raises `UnknownId` (a KeyError and a
ValueError) naming it and where the known ids are listed.

Scores: on a rating run, predicted ratings on the data's scale, NOT clipped to the data's rating
range (the model's raw output; `Run.score_meaning` says so, with the range), and recommend's
`rating` column: the score clipped to that range, as shown to a user (Surprise clips the same
way); on a ranking run, BPR scores: only their order means something.

Everything here reuses hmf_core.interpret.queries / projection / quality (the same functions the app
renders); training goes through hmf_core.runs.train_run.train_run, as the CLI does.
"""

from __future__ import annotations

import re
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hmf_core.common.errors import RunError
from hmf_core.interpret import queries as interpret
from hmf_core.models.interface import by_side, n_objects
from hmf_core.runs.rundir import RunDir
from hmf_core.training.settings import DEFAULT_PRESET

SCORE_BATCH = 4096  # users scored per matrix product in recommend_many (bounds its memory)
LISTING = "list them with run.{side}s() in Python, or read the id column of {file}"
_WHOLE = re.compile(r"-?(0|[1-9][0-9]{0,17})")


class UnknownId(KeyError, ValueError):
    """An id the run does not know: the message names it and how to list the known ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class _Side:
    """One side's original ids in model order (row k = object k) and the lookup back."""

    def __init__(self, side: str, table: pd.DataFrame, n_objects: int, run: RunDir):
        self.side = side
        self.rows = interpret.model_rows(table, n_objects, side)  # indexed by model row
        if len(table) != n_objects or self.rows["id"].isna().any():
            raise run.damaged(f"{side}s", f"{len(table)} rows for a model of {n_objects} {side}s")
        text = self.rows["id"].astype(str)
        self.text = text.to_numpy(dtype=object)  # (n,) ids as read
        self.whole = bool(len(text)) and bool(text.map(_WHOLE.fullmatch).notna().all())
        self.ids = text.astype(np.int64).to_numpy() if self.whole else self.text  # public ids
        self.row_of = {value: row for row, value in enumerate(self.text)}
        self.file = run.file(f"{side}s")

    def __len__(self) -> int:
        return len(self.text)

    def row(self, key) -> int:
        """The model row of an original id (int or str)."""
        if isinstance(key, (bool, np.bool_)):
            raise self.unknown(key)
        text = str(int(key)) if isinstance(key, (int, np.integer)) else str(key)
        found = self.row_of.get(text)
        if found is None:
            raise self.unknown(key)
        return found

    def unknown(self, key) -> UnknownId:
        examples = ", ".join(str(i) for i in self.ids[:3])
        return UnknownId(
            f"unknown {self.side} id {key!r}: the run has {len(self):,} {self.side}s "
            f"(ids like {examples}); " + LISTING.format(side=self.side, file=self.file)
        )

    def index(self, name: str = "id") -> pd.Index:
        return pd.Index(self.ids, name=name)


def open_run(path: str | Path) -> Run:
    """A finished (or stopped) run, ready to answer; RunError (one line) for a directory that is
    not a run, is damaged, still trains, failed, or has no checkpoint yet."""
    return Run(path)


class Run:
    """A trained run, answering in original ids. Build it with `open_run` or `train`."""

    def __init__(self, path: str | Path):
        run = RunDir(path)
        self.dir = run
        if not run.exists():
            raise RunError(f"{run.path}: not a run directory (settings.json is missing)")
        damage = run.damage()
        if damage is not None:
            raise damage
        progress = run.progress()
        state = progress.get("state")
        if state in ("queued", "running"):
            raise RunError(f"{run.path}: still training; open it when training has finished")
        if state == "failed":
            error = progress.get("error", "no reason recorded")
            raise RunError(f"{run.path}: training did not finish ({error}); train the run again")
        if not run.has_model():
            raise RunError(f"{run.path}: no checkpoint (best.ckpt): training saved no model")
        self.model = run.load_model()
        self.settings = run.settings()
        self.task = self.settings.get("task", "rating")
        self._users = _Side("user", run.users(), n_objects(self.model, "user"), run)
        self._items = _Side("item", run.items(), n_objects(self.model, "item"), run)
        self._seen = None  # (n_users, n_items) CSR of every rated pair of the split, on demand

    def __repr__(self) -> str:
        return (
            f"Run({str(self.dir.path)!r}, task={self.task!r}, users={len(self._users):,}, "
            f"items={len(self._items):,})"
        )

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def rating_scale(self) -> tuple[float, float] | None:
        """(lowest, highest) rating of the run's data on a rating run, else None."""
        from hmf_core.interpret.scale import rating_scale

        return rating_scale(self.dir.data_summary()) if self.task == "rating" else None

    @property
    def score_meaning(self) -> str:
        """What `score` means in recommend and predict."""
        if self.task != "rating":
            return "ranking score (BPR): higher is better, only the order means something"
        data = self.dir.data_summary().get("data", {})
        low, high = data.get("rating_min"), data.get("rating_max")
        span = f" (the data's ratings range from {low:g} to {high:g})" if low is not None else ""
        return f"predicted rating, not clipped to the data's rating range{span}"

    # ------------------------------------------------------------------ ids and tables

    def _side(self, side: str) -> _Side:
        return by_side(side, self._users, self._items)

    def _table(self, side: str) -> pd.DataFrame:
        known = self._side(side)
        rows = known.rows.drop(columns=["id"]).set_axis(known.index(), axis=0)
        return rows

    def users(self) -> pd.DataFrame:
        """Every user the model knows, indexed by original id: label and metadata columns."""
        return self._table("user")

    def items(self) -> pd.DataFrame:
        """Every item the model knows, indexed by original id: label (title) and metadata."""
        return self._table("item")

    # ------------------------------------------------------------------ scores

    def _seen_matrix(self):
        """Every (user row, item row) pair of the run's split (train, val and test)."""
        if self._seen is None:
            from scipy.sparse import csr_matrix

            pairs = self.dir.interactions()
            users = pairs["user"].to_numpy(np.int64)
            items = pairs["item"].to_numpy(np.int64)
            shape = (len(self._users), len(self._items))
            ones = np.ones(len(users), dtype=np.bool_)
            self._seen = csr_matrix((ones, (users, items)), shape=shape)
        return self._seen

    @torch.no_grad()
    def recommend_many(self, users, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The top `k` items of each user, one matrix product per SCORE_BATCH users: columns
        user, rank (1..k), item (original id), label, score (see score_meaning), on a rating
        run rating (the score clipped to the data's rating range), and genres when the items
        have them. `exclude_seen`: leave out the items the user rated in the
        run's data (training, validation and test rows alike)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        users = list(users) if not isinstance(users, (str, bytes)) else [users]
        rows = np.array([self._users.row(user) for user in users], dtype=np.int64)  # (B,)
        n_items = len(self._items)
        picked_rows, picked_items, picked_scores, picked_ranks = [], [], [], []
        device = interpret.model_device(self.model)
        for start in range(0, len(rows), SCORE_BATCH):
            batch = rows[start : start + SCORE_BATCH]  # (b,)
            scores = self.model.score_all(torch.from_numpy(batch).to(device))  # (b, N)
            scores = scores.detach().cpu().double()
            if exclude_seen:
                position, item = self._seen_matrix()[batch].nonzero()
                scores[torch.from_numpy(position), torch.from_numpy(item)] = -torch.inf
            best = scores.topk(min(k, n_items), dim=1)  # (b, k)
            values, items = best.values.numpy(), best.indices.numpy()
            keep = np.isfinite(values)  # a user with fewer than k unseen items gets fewer
            position = np.broadcast_to(np.arange(len(batch))[:, None], values.shape)
            picked_rows.append(batch[position[keep]])
            picked_items.append(items[keep])
            picked_scores.append(values[keep])
            ranks = np.broadcast_to(np.arange(1, values.shape[1] + 1), values.shape)  # (b, k)
            picked_ranks.append(ranks[keep])
        user_rows = np.concatenate(picked_rows) if picked_rows else np.empty(0, np.int64)
        item_rows = np.concatenate(picked_items) if picked_items else np.empty(0, np.int64)
        frame = pd.DataFrame(
            {
                "user": self._users.ids[user_rows],
                "rank": np.concatenate(picked_ranks) if picked_ranks else np.empty(0, np.int64),
                "item": self._items.ids[item_rows],
                "label": self._items.rows["label"].astype(str).to_numpy()[item_rows],
                "score": np.concatenate(picked_scores) if picked_scores else np.empty(0),
            }
        )
        scale = self.rating_scale
        if scale is not None:  # what a user is shown: on the data's rating scale
            frame["rating"] = np.clip(frame["score"].to_numpy(), *scale)
        if "genres" in self._items.rows:
            frame["genres"] = self._items.rows["genres"].to_numpy()[item_rows]
        frame.attrs["score"] = self.score_meaning
        return frame

    def recommend(self, user, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """One user's top `k` items: rank, item (original id), label, score (see
        score_meaning), genres when the items have them; best first."""
        frame = self.recommend_many([user], k, exclude_seen).drop(columns="user")
        return frame.reset_index(drop=True)

    def predict(self, user, item) -> float:
        """The model's score of one pair (see score_meaning): the sum of explain's terms."""
        return interpret.predict(self.model, self._users.row(user), self._items.row(item))

    def explain(self, user, item, level: int = 1, *, user_level=None, item_level=None):
        """The prediction split into cluster-pair terms (paper eq. 11, hmf_core.interpret.queries.
        explain_pair): user_cluster, item_cluster, their probabilities, the clusters' inner
        product and the contribution; with biases a last "bias" row. The contributions add up
        to predict(user, item)."""
        pairs = interpret.explain_pair(
            self.model,
            self._users.row(user),
            self._items.row(item),
            level,
            user_level=user_level,
            item_level=item_level,
        )
        pairs.attrs["prediction"] = float(pairs["contribution"].sum())
        return pairs

    # ------------------------------------------------------------------ clusters

    def clusters(self, user=None, item=None) -> pd.DataFrame:
        """One user's (or item's) membership at every level: level, cluster, probability
        (collapsed: each level's probabilities sum to 1)."""
        if (user is None) == (item is None):
            raise ValueError("give exactly one of user= or item=")
        side, key = ("user", user) if user is not None else ("item", item)
        return interpret.object_membership(self.model, side, self._side(side).row(key))

    def depth(self, side: str) -> int:
        """How many levels (groupings) of clusters a side has; 0 = plain MF."""
        return interpret.level_counts(self.model)[self._side(side).side]

    def cluster_table(self, side: str, level: int = 1, top: int = 3) -> pd.DataFrame:
        """Every level-`level` cluster of `side`: name, size, nearest objects and most probable
        members (as the app's Clusters page shows them)."""
        meta = self.dir.users() if self._side(side).side == "user" else self.dir.items()
        return interpret.cluster_table(self.model, side, level, meta, top)

    @torch.no_grad()
    def memberships(self, side: str, level: int = 1) -> pd.DataFrame:
        """Every object's collapsed probability of each level-`level` cluster: indexed by
        original id, one column per cluster (cluster_0, cluster_1, ...); rows sum to 1."""
        known = self._side(side)
        found = interpret.level_grouping(self.model, known.side, level)
        probability = found.membership.detach().cpu().double().numpy()  # (M, m)
        columns = [f"cluster_{c}" for c in range(probability.shape[1])]
        return pd.DataFrame(probability, index=known.index(), columns=columns)

    @torch.no_grad()
    def embeddings(self, side: str, level: int = 0) -> pd.DataFrame:
        """Level 0 (default): every object's embedding, indexed by original id; level >= 1:
        the cluster embeddings of that level, indexed by cluster. Columns dim_0, dim_1, ..."""
        known = self._side(side)
        if level:
            vectors = interpret.level_grouping(self.model, known.side, level).cluster_vectors
        else:
            vectors = self.model.object_vectors(known.side)  # (M, d)
        vectors = vectors.detach().cpu().double().numpy()  # (M or m, d)
        columns = [f"dim_{d}" for d in range(vectors.shape[1])]
        index = known.index() if level == 0 else pd.RangeIndex(len(vectors), name="cluster")
        return pd.DataFrame(vectors, index=index, columns=columns)

    def export(self, out: str | Path, format: str = "parquet") -> list[Path]:
        """Write the embeddings and memberships into the folder `out` (hmf_core.export):
        "projector" (TensorBoard Projector's vectors.tsv + metadata.tsv) or "parquet" (per
        side and level). Returns the files written."""
        from hmf_core.export import export

        return export(self, out, format)

    def quality(self) -> dict[str, pd.DataFrame]:
        """Cluster quality tables (interpret.quality.quality_tables): "sharpness", "agreement",
        "planted". Read from quality.json, computed (and written there) when it is absent."""
        from hmf_core.interpret.quality import quality_tables
        from hmf_core.runs.quality_files import run_quality

        quality = self.dir.quality()
        if not quality:
            quality = run_quality(self.dir.path)
        return quality_tables(quality)


# ---------------------------------------------------------------------- training


def train(
    ratings: pd.DataFrame,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    run_dir: str | Path | None = None,
    *,
    preset: str = DEFAULT_PRESET,
    name: str = "",
    note: str = "",
    **settings,
) -> Run:
    """Train from DataFrames, in this process, exactly as `python -m hmf_core train` does.

    `ratings`: one row per rating, columns recognised as the reader recognises a file's header
    (user/userId, item/movieId, rating, timestamp; or name them with user_col=, item_col=,
    rating_col=, timestamp_col=). `items` / `users`: metadata keyed by id (an id column such as
    movieId, or the first column), e.g. a title column. The frames are written into the run
    directory (input/) and read back through data.ratings / hmf_core.data.metadata, so the same
    checks and errors apply. `settings`: TrainSettings fields (max_epochs=5, dim=32,
    user_clusters=[20], task="ranking", ...) over the `preset` (as the CLI's --preset).
    `run_dir`: default runs/<time>, as the CLI's.
    """
    from hmf_core.runs.runclaim import create_run_dir
    from hmf_core.runs.train_run import train_run
    from hmf_core.training.settings import TrainSettings, with_preset
    from hmf_core.training.trainer import is_rank_zero

    known = {f.name for f in fields(TrainSettings)} - {"data", "items", "users", "preset"}
    roles = {f"{role}_col" for role in ("user", "item", "rating", "timestamp")}
    unknown = sorted(set(settings) - known - roles)
    if unknown:
        raise ValueError(
            f"unknown setting {unknown[0]!r}: settings are TrainSettings fields "
            f"({', '.join(sorted(known))}) or {', '.join(sorted(roles))}"
        )
    columns = dict(settings.pop("columns", None) or {})
    columns.update({key: settings.pop(key) for key in roles & set(settings) if settings[key]})
    for label, frame in (("ratings", ratings), ("items", items), ("users", users)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
    if run_dir is None:
        run_dir = create_run_dir("runs", time.strftime("%Y%m%d-%H%M%S"))
    run_dir = Path(run_dir)
    inputs = run_dir / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    paths = {"data": _write_frame(ratings, inputs / "ratings.parquet")}
    for label, frame in (("items", items), ("users", users)):
        if frame is not None:
            paths[label] = _write_frame(frame, inputs / f"{label}.csv")
    chosen = with_preset(preset, **paths, columns=columns, **settings)
    chosen.validate()  # the data-dependent checks follow once the data is read
    if is_rank_zero():
        RunDir(run_dir).update_meta(name=name, note=note, created=time.time())
    train_run(chosen, run_dir)
    if is_rank_zero():
        RunDir(run_dir).update_meta(ended=time.time())
    return open_run(run_dir)


def _write_frame(frame: pd.DataFrame, path: Path) -> str:
    """A user's frame as a file the normal readers read: ratings as parquet (typed columns),
    metadata as CSV (the metadata readers read text). A named index becomes a column."""
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    frame = frame.rename(columns=str)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except (ValueError, TypeError, ArithmeticError) as exc:  # pyarrow: a column of mixed types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"the {path.stem} frame cannot be written as a table: {reason}") from None
    return str(path.resolve())
