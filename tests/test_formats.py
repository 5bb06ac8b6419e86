"""Formats by content (issue 21, item 3): MovieLens files without a header recognised whatever
they are called; gzip, bzip2, xz and zstandard files read transparently within the zip limits;
a header not understood names the options that would read the file, and only those."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pandas as pd
import pytest
from conftest import shared_file
from test_app import app, texts, upload, use_paths
from test_cli import TINY, cli

from hmf_core.common.errors import DataFormatError
from hmf_core.data.metadata import read_metadata
from hmf_core.data.ratings import read_ratings
from hmf_core.runs.rundir import RunDir


def same_ratings(left, right) -> None:
    """The same ratings, ids as the files write them, in the same order."""
    for side in ("user", "item"):
        ids = {"user": "user_ids", "item": "item_ids"}[side]
        assert list(getattr(left, ids)[left.table[side]]) == list(
            getattr(right, ids)[right.table[side]]
        )
    assert left.table["rating"].tolist() == right.table["rating"].tolist()
    assert left.table["timestamp"].tolist() == right.table["timestamp"].tolist()


# --- MovieLens layouts whatever the file is called -------------------------------------------


@pytest.mark.parametrize(
    "original, renamed",
    [
        ("ml-100k/u.item", "u_hostile.item"),
        ("ml-100k/u.user", "people.txt"),
        ("ml-1m/movies.dat", "films.txt"),
        ("ml-1m/users.dat", "members"),
    ],
)
def test_renamed_movielens_metadata_reads_as_the_original(tmp_path, original, renamed):
    source = shared_file(original)
    copy = tmp_path / renamed
    copy.write_bytes(source.read_bytes())
    expected = read_metadata(source)
    read = read_metadata(
        copy, kind="item" if "item" in original or "movies" in original else "user"
    )
    pd.testing.assert_frame_equal(read, expected)
    assert len(read) == sum(1 for line in source.read_bytes().splitlines() if line.strip())


def test_u_item_renamed_has_its_titles_and_genres(tmp_path):
    copy = tmp_path / "u_hostile.item"
    copy.write_bytes(shared_file("ml-100k/u.item").read_bytes())
    items = read_metadata(copy)
    assert len(items) == 1682 and items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"


def test_renamed_u_data_and_its_first_3000_lines_read(tmp_path):
    source = shared_file("ml-100k/u.data")
    whole = tmp_path / "ratings.tsv"
    whole.write_bytes(source.read_bytes())
    same_ratings(read_ratings(whole), read_ratings(source))
    small = tmp_path / "small.data"
    small.write_bytes(b"".join(source.read_bytes().splitlines(keepends=True)[:3000]))
    data = read_ratings(small)
    frame = pd.read_csv(small, sep="\t", header=None, names=["u", "i", "r", "t"])
    assert len(data.table) == len(frame) == 3000
    assert (data.n_users, data.n_items) == (frame["u"].nunique(), frame["i"].nunique())
    assert data.table["timestamp"].tolist() == frame["t"].tolist()
    assert data.has_timestamp and "Read as MovieLens 100K u.data" in data.notes[0]


def test_ml1m_half_with_timestamps_reads_by_path_compressed():
    path = shared_file("ml-1m/ratings_users1-2999.dat.gz")
    data = read_ratings(path)
    frame = pd.read_csv(path, sep="::", engine="python", header=None, names=["u", "i", "r", "t"])
    assert len(data.table) == len(frame) == 487_650
    assert (data.n_users, data.n_items) == (2_999, frame["i"].nunique()) == (2_999, 3_615)
    assert data.has_timestamp and data.summary()["time_min"] == frame["t"].min()
    assert data.notes[0].startswith("Compressed (gzip): 2,882,903 bytes unpacked to ")
    assert "MovieLens 1M ratings.dat" in data.notes[1]


# --- compressed files ------------------------------------------------------------------------


def zstd_raw(data: bytes) -> bytes:
    """A zstandard frame holding `data` as one raw (stored) block: what any zstd reads."""
    assert len(data) < 1 << 17
    header = b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + len(data).to_bytes(4, "little")
    return header + ((len(data) << 3) | 1).to_bytes(3, "little") + data


CSV_HEAD = 2_000  # lines of ml-latest-small's ratings.csv (a header, CRLF line ends)


@pytest.mark.parametrize(
    "suffix, pack", [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_a_compressed_csv_reads_as_the_plain_file(tmp_path, suffix, pack):
    lines = shared_file("ml-latest-small/ratings.csv").read_bytes().splitlines(keepends=True)
    plain = tmp_path / "ratings.csv"
    plain.write_bytes(b"".join(lines[:CSV_HEAD]))
    packed = tmp_path / f"ratings.csv{suffix}"
    packed.write_bytes(pack(plain.read_bytes()))
    expected = read_ratings(plain)
    for read in (read_ratings(packed), read_ratings("upload.bin", data=packed.read_bytes())):
        same_ratings(read, expected)
        assert len(read.table) == CSV_HEAD - 1


def test_zstandard_reads_where_installed_else_says_how(tmp_path):
    text = b"userId,movieId,rating\n1,10,4.5\n2,10,3.0\n"
    path = tmp_path / "ratings.csv.zst"
    path.write_bytes(zstd_raw(text))
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(DataFormatError) as refused:
            read_ratings(path)
        assert str(refused.value) == (
            "ratings.csv.zst: expected a file compressed with gzip, bzip2 or xz, it is "
            "zstandard, which needs the zstandard package: pip install zstandard"
        )
        return
    (tmp_path / "plain.csv").write_bytes(text)
    same_ratings(read_ratings(path), read_ratings(tmp_path / "plain.csv"))


def test_a_gzip_bomb_is_refused_in_one_line_naming_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "ratings.csv.gz"
    path.write_bytes(gzip.compress(b"user,item,rating\n" + b"1,1,5\n" * 3_000_000, 9))
    packed = path.stat().st_size
    with pytest.raises(DataFormatError) as refused:
        read_ratings(path)
    assert str(refused.value) == (
        "ratings.csv.gz: expected a gzip file that expands at most 100x beyond 16 MiB (set "
        f"HMF_MAX_ZIP_RATIO), it expands {packed:,} bytes to more than {16 << 20:,}"
    )
    monkeypatch.setenv("HMF_MAX_ZIP_RATIO", "1000")  # the limit it names lets it through
    assert len(read_ratings(path).table) == 1


def test_the_cli_trains_on_a_gzip_file(tmp_path):
    path = tmp_path / "u.data.gz"
    path.write_bytes(gzip.compress(shared_file("ml-100k/u.data").read_bytes()))
    result = cli("train", "--data", path, "--run-dir", tmp_path / "run", *TINY, "--no-projection")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = RunDir(tmp_path / "run").data_summary()["data"]
    assert (summary["users"], summary["items"], summary["interactions"]) == (943, 1682, 100_000)


def test_the_data_page_takes_a_gzip_upload_and_path(tmp_path, monkeypatch, data_in_tmp):
    data = gzip.compress(shared_file("ml-100k/u.data").read_bytes())
    at = upload(app(tmp_path / "runs", monkeypatch).run(), ("ml100k.gz", data))
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "Current dataset: ml100k.gz (uploaded)" in shown and "Users 943" in shown
    at = use_paths(
        app(tmp_path / "runs", monkeypatch).run(), shared_file("ml-1m/ratings_users1-2999.dat.gz")
    )
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Users 2,999" in texts(at)


# --- a header not understood names what would read it --------------------------------------


@pytest.mark.parametrize(
    "content, remedy, options",
    [
        (
            b"1;10;4\n2;10;3\n",
            "--columns user,item,rating --sep ';' (Data page: Columns by position, Separator)",
            {"positions": "user,item,rating", "sep": ";"},
        ),
        (
            b"user item rating\n1 10 4\n2 10 3\n",
            "it reads with --sep space (Data page: Separator)",
            {"sep": " "},
        ),
        (
            b"who,what,stars\n1,10,4\n2,10,3\n",
            "name them with --user-col and --item-col (Data page: Column names)",
            {"user_col": "who", "item_col": "what", "rating_col": "stars"},
        ),
    ],
)
def test_a_header_not_understood_names_options_that_read_it(tmp_path, content, remedy, options):
    path = tmp_path / "ratings.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as refused:
        read_ratings(path)
    message = str(refused.value)
    assert message.endswith(remedy) and "\n" not in message
    data = read_ratings(path, **options)  # the options it names do read it
    assert list(data.user_ids[data.table["user"]]) == ["1", "2"]
    assert data.table["rating"].tolist() == [4.0, 3.0]


def test_no_remedy_is_named_when_none_would_read(tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_bytes(b"1;x;y\n2;a;\n")  # no rating a number, and one field empty
    with pytest.raises(DataFormatError) as refused:
        read_ratings(path)
    assert "--columns" not in str(refused.value) and "--sep" not in str(refused.value)
