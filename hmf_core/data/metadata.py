"""Item and user metadata: titles, genres, gender, age, occupation... keyed by original id.

Knows MovieLens `u.item`, `u.user`, `movies.dat`, `users.dat`, `movies.csv`, and any CSV/TSV
with a header whose first column (or a column named like `id`, `movieId`, `userId`) is the id.
Every reader returns a DataFrame indexed by the id as written in the rating file, with a
`label` column (title for items, a short description for users) that views show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hmf_core.common.errors import DataFormatError
from hmf_core.data.compressed import unpacked
from hmf_core.data.layouts import METADATA_LAYOUTS, recognised
from hmf_core.data.ratings import ITEM_NAMES, USER_NAMES, find_column
from hmf_core.data.textfiles import TextSource, guess_delimiter, open_text, read_delimited

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]  # u.genre, in column order of u.item
ML1M_OCCUPATIONS = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
]  # ml-1m README, codes 0..20


def read_metadata(
    path: str | Path, *, data: bytes | None = None, kind: str = "item"
) -> pd.DataFrame:
    """Read item (`kind="item"`) or user (`kind="user"`) metadata; index = original id.
    A compressed file is unpacked first; a MovieLens file is known by its name (without the
    compression suffix) or, whatever it is called, by its content (hmf_core.data.layouts)."""
    path = Path(path)
    packed = unpacked(path, data)
    text = open_text(path, packed.data)
    name = text.name
    base = packed.format_name.lower()
    if base not in MOVIELENS_READERS:
        layout = recognised(text, METADATA_LAYOUTS)
        base = layout.name if layout is not None else base
    if base in MOVIELENS_READERS:
        return MOVIELENS_READERS[base](name, text)
    return _generic(name, text, kind)


def _with_ids(frame: pd.DataFrame, name: str, id_column: str) -> pd.DataFrame:
    """Index by the id as the file writes it (a string, like the rating file's ids)."""
    frame = frame.set_index(frame[id_column].astype(str).str.strip())
    frame.index.name = "id"
    frame = frame.drop(columns=[id_column])
    if frame.index.duplicated().any():
        duplicated = frame.index[frame.index.duplicated()].tolist()[0]
        raise DataFormatError(name, None, "one row per id", f"id {duplicated!r} appears twice")
    return frame


def _ml100k_items(name: str, text: TextSource) -> pd.DataFrame:
    columns = ["id", "title", "release_date", "video_release_date", "url", *ML100K_GENRES]
    frame = read_delimited(text, "|", header=False, columns=columns)
    flags = frame[ML100K_GENRES].to_numpy() == "1"
    genres = ["|".join(g for g, on in zip(ML100K_GENRES, row) if on) for row in flags]
    items = pd.DataFrame(
        {
            "id": frame["id"],
            "title": frame["title"],
            "genres": genres,
            "release_date": frame["release_date"],
        }
    )
    return _finish_items(_with_ids(items, name, "id"))


def _ml100k_users(name: str, text: TextSource) -> pd.DataFrame:
    columns = ["id", "age", "gender", "occupation", "zip"]
    users = read_delimited(text, "|", header=False, columns=columns)
    users["age"] = pd.to_numeric(users["age"], errors="coerce")
    return _finish_users(_with_ids(users, name, "id"))


def _ml1m_movies(name: str, text: TextSource) -> pd.DataFrame:
    items = read_delimited(text, "::", header=False, columns=["id", "title", "genres"])
    return _finish_items(_with_ids(items, name, "id"))


def _ml1m_users(name: str, text: TextSource) -> pd.DataFrame:
    columns = ["id", "gender", "age", "occupation", "zip"]
    users = read_delimited(text, "::", header=False, columns=columns)
    codes = pd.to_numeric(users["occupation"], errors="coerce")
    users["occupation"] = [
        ML1M_OCCUPATIONS[int(c)] if pd.notna(c) and 0 <= c < len(ML1M_OCCUPATIONS) else str(c)
        for c in codes
    ]
    users["age"] = pd.to_numeric(users["age"], errors="coerce")
    return _finish_users(_with_ids(users, name, "id"))


MOVIELENS_READERS = {  # file name -> its reader; by content: the layout's name
    "u.item": _ml100k_items,
    "u.user": _ml100k_users,
    "movies.dat": _ml1m_movies,
    "users.dat": _ml1m_users,
}


def _generic(name: str, text: TextSource, kind: str) -> pd.DataFrame:
    frame = read_delimited(text, guess_delimiter(text), header=True)
    candidates = ("id", *(ITEM_NAMES if kind == "item" else USER_NAMES))
    id_column = find_column(list(frame.columns), candidates) or frame.columns[0]
    frame = _with_ids(frame, name, id_column)
    # the items' names label them, under the file's own column name (a product's "name" stays
    # "name": the app shows the data's words, not MovieLens's "title")
    name = find_column(list(frame.columns), ("title", "name", "label"))
    return _finish_items(frame, name) if kind == "item" else _finish_users(frame)


def _finish_items(items: pd.DataFrame, name: str | None = "title") -> pd.DataFrame:
    """`name`: the column that labels the items (MovieLens: its title)."""
    if name is not None and name in items.columns:
        items["label"] = items[name].astype(str)
    else:
        items["label"] = [f"item {i}" for i in items.index]
    if "genres" in items.columns:
        items["genres"] = items["genres"].astype(str)
        items["genre"] = items["genres"].str.split("|").str[0]  # first genre, for colouring
    return items


def _finish_users(users: pd.DataFrame) -> pd.DataFrame:
    parts = [users[col].astype(str) for col in ("gender", "age", "occupation") if col in users]
    if parts:
        label = parts[0]
        for part in parts[1:]:
            label = label + ", " + part
        users["label"] = [f"user {i} ({text})" for i, text in zip(users.index, label)]
    else:
        users["label"] = [f"user {i}" for i in users.index]
    return users


def align(metadata: pd.DataFrame | None, ids: np.ndarray, kind: str) -> pd.DataFrame:
    """Metadata rows in model order (`ids[code]`); ids without metadata get a plain label."""
    ids = np.asarray(ids)
    frame = pd.DataFrame(index=pd.Index(ids, name="id", dtype=ids.dtype))
    if metadata is not None:
        index = metadata.index
        numeric_ids = pd.api.types.is_numeric_dtype(np.asarray(ids))
        if numeric_ids and not pd.api.types.is_numeric_dtype(index):
            metadata = metadata.set_axis(pd.to_numeric(index, errors="coerce"))
        elif not numeric_ids:
            metadata = metadata.set_axis(index.astype(str).astype(object))
        frame = frame.join(metadata, how="left")
    if "label" not in frame.columns:
        frame["label"] = np.nan
    fallback = pd.Series([f"{kind} {i}" for i in ids], index=frame.index)
    frame["label"] = frame["label"].fillna(fallback)
    return frame.reset_index()
