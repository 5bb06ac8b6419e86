"""Reading rating and metadata files: every format, and a specific error for each bad input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from hmf_core.common.errors import DataFormatError
from hmf_core.data.metadata import align, read_metadata
from hmf_core.data.ratings import read_ratings


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return path


def test_movielens_100k_u_data():
    data = read_ratings(shared_file("ml-100k/u.data"))
    assert (data.n_users, data.n_items, len(data.table)) == (943, 1682, 100000)
    assert data.table["rating"].between(1, 5).all()
    # Codes map back to the file's ids: the first row of u.data is "196 242 3 881250949".
    first = data.table.iloc[:1]
    # Ids stay the strings the file has (issue 10: '007' and '7' are two users).
    assert data.user_ids[first["user"].item()] == "196"
    assert data.item_ids[first["item"].item()] == "242"
    assert first["rating"].item() == 3 and first["timestamp"].item() == 881250949


def test_movielens_latest_csv_with_crlf_header():
    data = read_ratings(shared_file("ml-latest-small/ratings.csv"))
    assert (data.n_users, data.n_items, len(data.table)) == (610, 9724, 100836)
    assert data.table["rating"].min() == 0.5


def test_movielens_1m_dat_format(tmp_path):
    path = write(
        tmp_path,
        "ratings.dat",
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
    )
    data = read_ratings(path)
    assert (data.n_users, data.n_items, len(data.table)) == (2, 2, 3)
    assert list(data.item_ids) == ["661", "1193"]  # strings, in natural order


def test_movielens_zip_as_downloaded(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-latest-small/README.txt", "readme")
        archive.writestr(
            "ml-latest-small/ratings.csv",
            "userId,movieId,rating,timestamp\r\n1,10,4.0,5\r\n2,10,3.5,6\r\n",
        )
    data = read_ratings(write(tmp_path, "ml-latest-small.zip", buffer.getvalue()))
    assert len(data.table) == 2 and data.source.endswith("ratings.csv")


@pytest.mark.parametrize("separator", [",", "\t", ";", "|"])
def test_generic_header_recognised_with_any_delimiter(tmp_path, separator):
    text = separator.join(["customer_id", "product_id", "stars", "date"]) + "\n"
    text += separator.join(["a", "x", "5", "2024-01-02"]) + "\n"
    text += separator.join(["b", "x", "3", "2024-01-01"]) + "\n"
    data = read_ratings(write(tmp_path, "reviews.txt", text))
    assert list(data.user_ids) == ["a", "b"]
    assert data.table["timestamp"].tolist() == [1704153600, 1704067200]


def test_parquet_and_explicit_column_names(tmp_path):
    frame = pd.DataFrame({"who": [1, 2, 2], "what": [7, 7, 8], "grade": [1.0, 2.0, 3.0]})
    path = tmp_path / "ratings.parquet"
    frame.to_parquet(path)
    data = read_ratings(path, user_col="who", item_col="what", rating_col="grade")
    assert len(data.table) == 3 and not data.implicit and not data.has_timestamp
    assert any("file order" in note for note in data.notes)


def test_no_rating_column_means_implicit_feedback(tmp_path):
    data = read_ratings(write(tmp_path, "views.csv", "user,item\n1,2\n1,3\n"))
    assert data.implicit and (data.table["rating"] == 1.0).all()


def test_duplicates_keep_last_by_timestamp_and_are_reported(tmp_path):
    text = "user,item,rating,timestamp\n1,1,2,200\n1,1,5,100\n1,2,4,50\n1,2,1,60\n"
    data = read_ratings(write(tmp_path, "dups.csv", text))
    assert data.duplicates_dropped == 2
    kept = data.table.sort_values("item")["rating"].tolist()
    assert kept == [2.0, 1.0]  # the later rating of each pair, by timestamp
    assert any("duplicated" in problem for problem in data.problems)  # a problem, not a note


def test_as_implicit_keeps_ratings_at_threshold():
    data = read_ratings(shared_file("ml-100k/u.data")).as_implicit(4)
    assert len(data.table) == 55375 and data.implicit  # ratings 4 and 5 in ML-100K


@pytest.mark.parametrize(
    ("name", "content", "line", "fragment"),
    [
        ("r.csv", "user,item,rating\n1,2,4\n1,3,abc\n", 3, "a number in column 'rating'"),
        ("r.csv", "user,product_name_x,rating\n1,2,4\n", 1, "item column"),
        ("r.csv", "", None, "empty"),
        ("r.csv", "user;item;rating\n1;2;4\n", None, None),  # ';' is recognised, not an error
        ("r.csv", "user item rating\n1 2 4\n", 1, "header with at least two columns"),
        ("u.data", "1\t2\t3\t4\n1\t2\t3\n", 2, "4 fields separated by tab"),
        ("u.data", "1\t2\t3\t4\n5,6,7,8\n", 2, "4 fields"),
        ("r.csv", "user,item,rating\n1,,4\n", 2, "column 'item'"),
        ("r.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", None, "binary"),
        ("r.csv", "user,item,rating,timestamp\n1,2,4,yesterday-ish\n", 2, "unix time or a date"),
        ("r.zip", b"PK\x03\x04 not really a zip", None, "zip"),
    ],
)
def test_bad_input_gets_a_specific_error(tmp_path, name, content, line, fragment):
    path = write(tmp_path, name, content)
    if fragment is None:
        assert len(read_ratings(path).table) == 1
        return
    with pytest.raises(DataFormatError) as caught:
        read_ratings(path)
    error = caught.value
    assert error.file == name and error.line == line
    assert fragment in str(error) and str(error).startswith(name)


def test_error_from_uploaded_bytes_names_the_upload():
    with pytest.raises(DataFormatError, match=r"^upload.csv, line 2: expected a number"):
        read_ratings("upload.csv", data=b"user,item,rating\n1,2,x\n")


def test_u_item_latin1_titles_and_genres():
    items = read_metadata(shared_file("ml-100k/u.item"))
    assert len(items) == 1682
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    # Latin-1 decoded, not mangled: a title with a non-ASCII byte keeps its accented letter.
    accented = items["title"][items["title"].str.contains("é")]
    assert len(accented) > 0


def test_user_metadata_formats():
    users = read_metadata(shared_file("ml-100k/u.user"), kind="user")
    assert users.loc["1", ["age", "gender", "occupation"]].tolist() == [24, "M", "technician"]
    users_1m = read_metadata(shared_file("ml-1m/users.dat"), kind="user")
    assert users_1m.loc["1", "occupation"] == "K-12 student"  # code 10 in users.dat
    movies = read_metadata(shared_file("ml-1m/movies.dat"))
    assert len(movies) == 3883 and movies.loc["1", "genre"] == "Animation"


def test_generic_metadata_csv_and_alignment(tmp_path):
    path = write(tmp_path, "items.csv", 'item_id,name,colour\n10,"Lamp, small",red\n11,Desk,oak\n')
    items = read_metadata(path)
    assert items.loc["10", "name"] == "Lamp, small"  # the file's own name for it
    assert items.loc["10", "label"] == "Lamp, small" and "title" not in items
    aligned = align(items, np.array(["11", "12", "10"], dtype=object), "item")
    assert aligned["label"].tolist() == ["Desk", "item 12", "Lamp, small"]


def test_metadata_duplicate_ids_are_an_error(tmp_path):
    path = write(tmp_path, "items.csv", "id,title\n1,A\n1,B\n")
    with pytest.raises(DataFormatError, match="id '1' appears twice"):
        read_metadata(path)
