"""Datasets: the files a run trains on (a rating file, optional item / user metadata), the
bundled demo, uploads kept on disk, and the checks a dataset passes before it is used.

The training runs in another process and reads its files by path, so an upload is stored as a
file (`store_uploads`) and a dataset is a set of paths.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.common.allowed import PathRefused, allowed_path
from hmf_core.common.errors import DataFormatError
from hmf_core.common.files import write_atomically
from hmf_core.common.places import runs_root
from hmf_core.data.metadata import read_metadata
from hmf_core.data.ratings import RatingData, read_ratings
from hmf_core.data.split import make_split


def _demo_dir() -> Path:
    """The bundled demo: inside the installed package (`pip install .` maps assets/ to
    hmf_core/demo, pyproject.toml), else the clone's assets/ (a checkout, `pip install -e .`)."""
    here = Path(__file__).resolve().parents[1]  # hmf_core/
    installed = here / "demo" / "ml-latest-small"
    return installed if installed.is_dir() else here.parent / "assets" / "ml-latest-small"


DEMO_DIR = _demo_dir()
ROLES = ("ratings", "items", "users")
METADATA_KINDS = {"item": "items", "user": "users"}  # metadata kind -> Dataset field


@dataclass(frozen=True)
class Dataset:
    """The files a run would train on: a rating file and optional item / user metadata."""

    label: str
    ratings: str  # absolute path (the training process reads it by path)
    items: str | None = None
    users: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # explicit (user_col, name), (item_col, name)...
    types: tuple[tuple[str, str, str], ...] = ()  # (kind, column, type) chosen on the Data page
    demo: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)  # metadata files refused

    def column_names(self) -> dict:
        return dict(self.columns)

    def files(self) -> list[tuple[str, str]]:
        """(role, path) of each file the dataset has: ratings, then items and users if any."""
        return [(role, getattr(self, role)) for role in ROLES if getattr(self, role)]

    def type_overrides(self) -> dict:
        """The column types chosen on the Data page: {"user" / "item": {column: type}}."""
        found: dict = {}
        for kind, column, name in self.types:
            found.setdefault(kind, {})[column] = name
        return found

    def metadata_path(self, kind: str) -> str | None:
        """The item ("item") or user ("user") metadata file, if any."""
        return getattr(self, METADATA_KINDS[kind])

    def to_dict(self) -> dict:
        """The fields that name the files (what a link to this dataset must carry)."""
        fields = {
            "ratings": self.ratings,
            "items": self.items,
            "users": self.users,
            "columns": self.columns,
            "types": self.types,
            "label": self.label,
        }
        return {key: value for key, value in fields.items() if value}

    @classmethod
    def from_dict(cls, fields: dict) -> Dataset:
        """Inverse of `to_dict`; KeyError / TypeError / ValueError when `fields` is not one."""
        return cls(
            label=str(fields.get("label", Path(fields["ratings"]).name)),
            ratings=str(fields["ratings"]),
            items=fields.get("items"),
            users=fields.get("users"),
            columns=tuple((str(a), str(b)) for a, b in fields.get("columns", ())),
            types=tuple((str(a), str(b), str(c)) for a, b, c in fields.get("types", ())),
        )


DEMO = Dataset(
    label="MovieLens latest-small (bundled demo)",
    ratings=str(DEMO_DIR / "ratings.csv"),
    items=str(DEMO_DIR / "movies.csv"),
    demo=True,
)


def uploads_root() -> Path:
    return runs_root() / "uploads"


def app_folders() -> tuple[Path, ...]:
    """The folders the app reads on its own, whatever $HMF_DATA_DIR says: the bundled demo's
    and the uploads'."""
    return (DEMO_DIR, uploads_root())


def confine(candidate: Dataset, folders: tuple[Path, ...]) -> tuple[Dataset | None, list[str]]:
    """`candidate` with each file's path where it really leads (hmf_core.common.allowed), when every
    one is inside `folders`; else (None, one message per refused file). No file is opened."""
    paths, errors = {}, []
    for role, path in candidate.files():
        try:
            paths[role] = str(allowed_path(path, folders))
        except PathRefused as refused:
            errors.append(str(refused))
    return (None, errors) if errors else (replace(candidate, **paths), [])


def store_uploads(
    ratings: tuple[str, bytes],
    items: tuple[str, bytes] | None = None,
    users: tuple[str, bytes] | None = None,
    columns: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """Save uploaded (name, bytes) files as `<runs>/uploads/<sha256 of the ratings>/<role>/<name>`
    and return the dataset made of them (not yet checked: see `open_dataset`).

    The original name is kept because it can decide the format (`u.data`, `ratings.dat`...;
    files are also recognised by their content).
    Same bytes -> same path, so an upload is stored once and can be reopened later
    (`earlier_uploads`)."""
    folder = uploads_root() / hashlib.sha256(ratings[1]).hexdigest()[:16]
    paths = {}
    for role, upload in zip(ROLES, (ratings, items, users)):
        if upload is None:
            continue
        name, data = upload
        path = folder / role / stored_name(name)
        if not path.exists() or path.read_bytes() != data:
            write_atomically(path, lambda temporary, data=data: temporary.write_bytes(data))
        paths[role] = str(path)
    label = f"{shown_name(ratings[0])} (uploaded)"
    return Dataset(label=label, columns=columns, **paths)


MAX_NAME_BYTES = 120  # far below every file system's 255-byte limit on one name


def _base_name(name: str) -> str:
    """The last path component of a browser's file name (slashes of either kind)."""
    return str(name).replace("\\", "/").rstrip("/").split("/")[-1]


def stored_name(name: str) -> str:
    """A safe file name for an upload called `name`: its last path component, with control
    characters (NUL included) and leading dots removed (no `..`, no hidden file), at most
    MAX_NAME_BYTES of UTF-8 with the suffix kept (it decides the format: `u.data`, `.zip`);
    "upload" when nothing is left."""
    kept = (ch for ch in _base_name(name) if ch.isprintable() and not 0xD800 <= ord(ch) < 0xE000)
    base = "".join(kept).strip().lstrip(".")
    base = base.strip() or "upload"
    if len(base.encode()) > MAX_NAME_BYTES:
        suffix = Path(base).suffix if len(Path(base).suffix.encode()) <= 16 else ""
        stem = base[: len(base) - len(suffix)] if suffix else base
        room = MAX_NAME_BYTES - len(suffix.encode())
        stem = stem.encode()[:room].decode(errors="ignore")
        base = stem + suffix
    return base


def shown_name(name: str, limit: int = 100) -> str:
    """The original name as text to show: its last path component, control characters
    written as escapes (a NUL byte reads \\x00), shortened to `limit` characters."""
    base = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in _base_name(name))
    return base if len(base) <= limit else base[: limit - 1] + "…"


def _visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if not p.name.startswith("."))


def earlier_uploads() -> list[Dataset]:
    """Datasets saved by earlier uploads (newest first), so nothing uploaded is lost."""
    root = uploads_root()
    found = []
    for folder in root.iterdir() if root.exists() else ():
        rating_files = _visible_files(folder / "ratings") if folder.is_dir() else []
        if not rating_files:
            continue
        extras = {}
        for role in ROLES[1:]:
            files = _visible_files(folder / role)
            extras[role] = str(files[-1]) if files else None
        modified = rating_files[0].stat().st_mtime
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(modified))
        label = f"{rating_files[0].name} (uploaded {when})"
        found.append((modified, Dataset(label=label, ratings=str(rating_files[0]), **extras)))
    return [dataset for _, dataset in sorted(found, key=lambda pair: -pair[0])]


def read_error_message(path: str | Path, error: Exception) -> str:
    """One sentence for a file that did not read: DataFormatError already names the file and
    the line; anything else gets the file name and the exception type, never a traceback."""
    if isinstance(error, DataFormatError):
        return str(error)
    return f"{Path(path).name}: could not be read ({type(error).__name__}: {error})"


def open_dataset(
    candidate: Dataset,
    load_ratings: Callable[[Dataset], RatingData] | None = None,
    load_metadata: Callable[[str, str], pd.DataFrame] | None = None,
) -> tuple[Dataset | None, list[str]]:
    """Check a dataset before it becomes current: the rating file must read; a metadata file
    that does not read is dropped (its error returned) and the ratings are still used.

    `load_ratings(dataset)` and `load_metadata(path, kind)` read the files (the app passes its
    cached readers). Returns (dataset or None when the rating file is unusable, messages)."""
    load_ratings = load_ratings or (lambda d: read_ratings(d.ratings, **d.column_names()))
    load_metadata = load_metadata or (lambda path, kind: read_metadata(path, kind=kind))
    try:
        load_ratings(candidate)
    except Exception as error:  # any failure to read is the file's problem, shown plainly
        return None, [read_error_message(candidate.ratings, error)]
    errors = []
    changes = {}
    for kind, role in METADATA_KINDS.items():
        path = candidate.metadata_path(kind)
        if not path:
            continue
        try:
            load_metadata(path, kind)
        except Exception as error:
            errors.append(
                f"{read_error_message(path, error)} — the {kind} metadata is left out; "
                "the ratings are used without it."
            )
            changes[role] = None
    return replace(candidate, problems=tuple(errors), **changes), errors


@dataclass(frozen=True)
class Coverage:
    """How much of the rated users or items a metadata file describes."""

    described: int  # rows in the metadata file
    columns: tuple[str, ...]  # its columns besides the label
    rated: int  # distinct users or items in the ratings
    known: int  # of those, how many have a metadata row

    @property
    def complete(self) -> bool:
        return self.known == self.rated


def coverage_message(coverage: Coverage, path: str | Path, kind: str) -> str:
    """The Data page's line on a metadata file (and the CLI's warning when it is incomplete):
    "movies.csv: 9,742 items described (genres); 9,724 of 9,724 rated items have an entry."
    """
    message = (
        f"{Path(path).name}: {coverage.described:,} {kind}s described "
        f"({', '.join(coverage.columns)}); {coverage.known:,} of {coverage.rated:,} rated "
        f"{kind}s have an entry."
    )
    if not coverage.complete:
        message += f" The other {coverage.rated - coverage.known:,} are shown by id."
    return message


def metadata_coverage(metadata: pd.DataFrame, ids: np.ndarray) -> Coverage:
    """Which of the rating file's `ids` the metadata (indexed by id) has an entry for; ids are
    compared as text, as the files spell them."""
    known = pd.Index(np.asarray(ids).astype(str)).isin(metadata.index.astype(str))
    columns = tuple(str(c) for c in metadata.columns if c != "label")
    return Coverage(len(metadata), columns, len(ids), int(known.sum()))


def time_histogram(timestamps: np.ndarray, bins: int = 60) -> pd.DataFrame:
    """Ratings per time bin: `bins` equal-width bins from the first to the last timestamp
    (seconds since the epoch), as columns start, end (datetimes) and ratings (counts). The
    counts are what a chart needs; the timestamps themselves stay here (100,000 of ML-100K's
    would be sent to the browser and binned there)."""
    seconds = np.asarray(timestamps, dtype=np.int64)  # (n,)
    if seconds.size == 0:
        return pd.DataFrame({"start": [], "end": [], "ratings": []})
    low, high = int(seconds.min()), int(seconds.max())
    counts, edges = np.histogram(seconds, bins=bins, range=(low, max(high, low + 1)))  # (bins,)
    times = pd.to_datetime(edges, unit="s")  # (bins + 1,)
    return pd.DataFrame({"start": times[:-1], "end": times[1:], "ratings": counts})


# --- the split a new run starts from -----------------------------------------------------------

TEMPORAL_MIN_TEST = 1_000  # test ratings the temporal split must leave...
TEMPORAL_MIN_USER_SHARE = 0.05  # ...from at least this share of the split's users


@dataclass(frozen=True)
class SplitChoice:
    method: str  # "temporal" or "random"
    reason: str  # one sentence saying why, with the figures


def default_split(data: RatingData) -> SplitChoice:
    """The paper's temporal split (last 20% of ratings in time are test) when it leaves enough
    to test on: at least TEMPORAL_MIN_TEST test ratings, from at least TEMPORAL_MIN_USER_SHARE of
    the users it trains. Otherwise the random split: a temporal test set of a few users (users
    and items first seen late are dropped from it, since the model never saw them) measures
    those few. Data without timestamps (file order) also get the random split."""
    if not data.has_timestamp:
        return SplitChoice("random", "the rating file has no timestamps")
    split = make_split(data, "temporal")
    test_users = split.test["user"].nunique()
    share = test_users / max(1, split.n_users)
    figures = (
        f"the temporal split leaves {len(split.test):,} test ratings from {test_users:,} of "
        f"{split.n_users:,} users ({share:.0%})"
    )
    if len(split.test) >= TEMPORAL_MIN_TEST and share >= TEMPORAL_MIN_USER_SHARE:
        return SplitChoice("temporal", figures)
    return SplitChoice(
        "random",
        f"{figures}; fewer than {TEMPORAL_MIN_TEST:,} ratings or "
        f"{TEMPORAL_MIN_USER_SHARE:.0%} of users",
    )
