"""Which folders the app may read a file from when a user names it (a typed path, a shared
link's ?data=, a run's name in ?run=), and the check that a path lies in one of them.

A path is checked on where it really leads: `~`, `..` and every symbolic link are resolved first,
so a link inside an allowed folder that points outside it is refused, and a path is refused
before the file is opened (not even its size is read). The check needs no file to exist: a
missing file inside a folder passes (the reader then says it is missing), one outside fails
without saying whether it exists.

The command line (`python -m hmf_core train --data PATH`) is the user's own shell and is not
checked here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

DATA_DIR_VARIABLE = "HMF_DATA_DIR"
DEFAULT_DATA_DIR = "data"  # under the folder the app starts in


class PathRefused(ValueError):
    """A path that leads outside the allowed folders; `str()` is one line naming the path as
    given, the allowed folders and how to allow another."""


def data_folders() -> tuple[Path, ...]:
    """The folders "Files on this machine" reads from: $HMF_DATA_DIR (read at each call; several
    separated by os.pathsep, empty entries skipped), else ./data; each absolute and resolved."""
    value = os.environ.get(DATA_DIR_VARIABLE, "")
    entries = [entry for entry in value.split(os.pathsep) if entry.strip()] or [DEFAULT_DATA_DIR]
    folders = []
    for entry in entries:
        folder = _resolved(entry.strip())
        if folder is not None and folder not in folders:
            folders.append(folder)
    return tuple(folders)


def _resolved(path: str | Path) -> Path | None:
    """`path` absolute, with `~`, `..` and symbolic links resolved as far as they exist; None
    for a path that cannot be resolved (a link loop, a NUL byte, an unknown ~user)."""
    try:
        return Path(path).expanduser().resolve(strict=False)
    except (OSError, RuntimeError, ValueError):
        return None


def inside(path: str | Path, folders: Iterable[Path]) -> Path | None:
    """Where `path` really leads (absolute, links and `..` resolved) if that is inside one of
    `folders` (the folders themselves resolved), else None. A relative path is taken from the
    current folder. Nothing is opened."""
    target = _resolved(path)
    if target is None:
        return None
    for folder in folders:
        root = _resolved(folder)
        if root is not None and target.is_relative_to(root):
            return target
    return None


def allowed_path(path: str | Path, folders: Iterable[Path] | None = None) -> Path:
    """`inside(path, folders)` (by default `data_folders()`), or PathRefused saying which
    folders are allowed and how to allow another."""
    folders = tuple(data_folders() if folders is None else folders)
    target = inside(path, folders)
    if target is None:
        raise PathRefused(refusal(path, folders))
    return target


def refusal(path: str | Path, folders: Iterable[Path]) -> str:
    """The one-line message for a path outside `folders`: the path as given (never anything
    read from it), the folders, and the setting that allows another."""
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(path))
    named = escaped if len(escaped) <= 300 else escaped[:299] + "…"  # one line
    listed = ", ".join(str(folder) for folder in folders)
    return (
        f"{named}: not read, it is outside the folders this app reads files from ({listed}), "
        "following links and '..'. To allow another folder, start the app with "
        f"{DATA_DIR_VARIABLE}=<folder> (several separated by '{os.pathsep}')."
    )


def child_folder(root: str | Path, name: str) -> Path | None:
    """`root / name` when `name` is one plain folder name: not empty, not '.' or '..', no
    separator and no NUL, so that it cannot lead out of `root` (a link someone made inside
    `root` is theirs to make); else None. For names that come from a URL, such as a run's
    (?run=)."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(mark in name for mark in ("/", os.sep, "\0"))
    )
    return Path(root) / name if plain else None
