"""Datasets, uploads and settings checks in hmf_core (what the Data and Train pages call)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from hmf_core.data import datasets
from hmf_core.data.datasets import Dataset, metadata_coverage, open_dataset, store_uploads
from hmf_core.data.ratings import read_ratings
from hmf_core.interpret import queries as interpret
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.training.settings import TrainSettings, parse_cluster_counts

RATINGS = b"userId,movieId,rating,timestamp\n1,10,4,1\n1,11,3,2\n2,10,5,3\n"


def test_an_upload_is_stored_once_by_content_and_found_again(tmp_path, monkeypatch):
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    first = store_uploads(("../ratings.csv", RATINGS), items=("movies.csv", b"movieId,title\n"))
    again = store_uploads(("ratings.csv", RATINGS))
    assert first.ratings == again.ratings and first.label == "ratings.csv (uploaded)"
    assert open(first.ratings, "rb").read() == RATINGS
    assert first.items.startswith(str(tmp_path / "runs" / "uploads"))
    (earlier,) = datasets.earlier_uploads()
    assert earlier.ratings == first.ratings and earlier.items == first.items


def test_a_dataset_survives_its_link_form():
    dataset = Dataset("mine", "/data/r.csv", users="/data/u.csv", columns=(("user_col", "who"),))
    assert Dataset.from_dict(dataset.to_dict()) == dataset
    with pytest.raises(KeyError):
        Dataset.from_dict({"label": "no ratings"})


def test_a_bad_metadata_file_is_dropped_and_a_bad_rating_file_refused(tmp_path):
    (tmp_path / "r.csv").write_bytes(RATINGS)
    (tmp_path / "people.csv").write_bytes(b"userId,gender\n1,F\n1,M\n")
    dataset, errors = open_dataset(
        Dataset("r", str(tmp_path / "r.csv"), users=str(tmp_path / "people.csv"))
    )
    assert dataset.users is None and dataset.problems == tuple(errors)
    assert errors[0].startswith("people.csv: expected one row per id")
    (tmp_path / "bad.csv").write_bytes(b"userId,movieId,rating\n1,10,five\n")
    refused, errors = open_dataset(Dataset("bad", str(tmp_path / "bad.csv")))
    assert refused is None
    assert errors == ["bad.csv, line 2: expected a number in column 'rating', found 'five'"]


def test_metadata_coverage_counts_the_rated_ids_with_an_entry():
    meta = pd.DataFrame({"label": ["a", "b"], "genre": ["x", "y"]}, index=["10", "12"])
    coverage = metadata_coverage(meta, np.array([10, 11, 12]))
    assert (coverage.described, coverage.rated, coverage.known) == (2, 3, 2)
    assert coverage.columns == ("genre",) and not coverage.complete


def test_the_time_histogram_counts_the_ratings_per_equal_bin():
    day = 86_400
    stamps = np.array([0, 0, day, 2 * day, 4 * day - 1, 4 * day])  # 4 days in 4 bins
    bins = datasets.time_histogram(stamps, bins=4)
    assert bins["ratings"].tolist() == [2, 1, 1, 2]  # the last bin holds its right edge
    assert bins["start"].tolist() == list(pd.to_datetime([0, day, 2 * day, 3 * day], unit="s"))
    assert bins["end"].iloc[-1] == pd.Timestamp(4 * day, unit="s")
    same = datasets.time_histogram(np.array([5, 5, 5]), bins=3)  # one instant: no zero width
    assert same["ratings"].sum() == 3 and (same["end"] > same["start"]).all()
    assert datasets.time_histogram(np.array([], dtype=np.int64)).empty


def test_validate_names_what_cannot_work(tmp_path):
    (tmp_path / "r.csv").write_bytes(RATINGS)
    implicit = read_ratings(tmp_path / "r.csv").as_implicit(4.0)
    settings = TrainSettings(data=str(tmp_path / "r.csv"))
    settings.validate()  # the defaults are fine without data
    with pytest.raises(ValueError, match="no rating column"):
        settings.validate(implicit)
    with pytest.raises(ValueError, match="only 2 items: use the rating task"):
        replace(settings, task="ranking").validate(implicit)
    with pytest.raises(ValueError, match="user depth is 2 but 3 cluster counts"):
        replace(settings, user_depth=2, user_clusters=[8, 4, 2]).validate()
    with pytest.raises(ValueError, match="max_epochs must be at least 1"):
        replace(settings, max_epochs=0).validate()
    sizes = {"train": 5, "val": 2, "test": 0}
    with pytest.raises(ValueError, match="The temporal split leaves no test rows"):
        settings.validate(split=sizes)
    assert parse_cluster_counts("200, 100") == [200, 100]
    with pytest.raises(ValueError, match="User clusters: expected positive"):
        parse_cluster_counts("0", "User")


def test_recommendations_in_a_split_skip_training_items_and_mark_held_out_ones():
    model = HMF(HMFConfig(n_users=2, n_items=6, dim=3, user_clusters=(2,), item_clusters=(2,)))
    interactions = pd.DataFrame(
        {
            "user": [0, 0, 0, 1],
            "item": [0, 1, 2, 3],
            "rating": [5.0, 4.0, 3.0, 1.0],
            "timestamp": [1, 2, 3, 4],
            "stage": ["train", "train", "test", "train"],
        }
    )
    items = pd.DataFrame({"index": range(6), "label": [f"movie {i}" for i in range(6)]})
    picked = interpret.recommend_in_split(model, 0, interactions, items, top=4)
    assert set(picked["index"]) == {2, 3, 4, 5}  # never 0 or 1, rated in training
    assert dict(zip(picked["index"], picked["held_out"]))[2] == "test"
    history = interpret.user_history(interactions, items, 0)
    assert history["label"].tolist() == ["movie 0", "movie 1", "movie 2"]
    scores = model.score_all(torch.tensor([0]))[0]  # (n_items,)
    assert interpret.predict(model, 0, 4) == pytest.approx(float(scores[4]), rel=1e-5)


@pytest.mark.parametrize(
    ("name", "stored", "shown"),
    [
        ("..", "upload", ".."),
        (".", "upload", "."),
        ("../../etc/passwd", "passwd", "passwd"),
        ("a\\b\\ratings.csv", "ratings.csv", "ratings.csv"),
        ("dir/", "dir", "dir"),
        ("rat\x00ings.csv", "ratings.csv", "rat\\x00ings.csv"),
        (".hidden.csv", "hidden.csv", ".hidden.csv"),
        ("my ratings.csv", "my ratings.csv", "my ratings.csv"),
        ("\ud800x.csv", "x.csv", "\\ud800x.csv"),
    ],
)
def test_an_upload_name_is_stored_under_a_safe_name_and_shown_as_typed(
    tmp_path, monkeypatch, name, stored, shown
):
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    dataset = store_uploads((name, RATINGS))
    path = open(dataset.ratings, "rb")
    assert path.read() == RATINGS
    stored_path = tmp_path / "runs" / "uploads"
    assert dataset.ratings.startswith(str(stored_path))
    assert dataset.ratings.endswith(f"/ratings/{stored}")
    assert dataset.label == f"{shown} (uploaded)"
    assert read_ratings(dataset.ratings).summary()["interactions"] == 3
    (earlier,) = datasets.earlier_uploads()  # never a hidden file: found again
    assert earlier.ratings == dataset.ratings


def test_a_300_character_upload_name_is_shortened_keeping_its_suffix(tmp_path, monkeypatch):
    monkeypatch.setenv("HMF_RUNS_DIR", str(tmp_path / "runs"))
    name = "é" * 300 + ".csv"
    dataset = store_uploads((name, RATINGS))
    stored = dataset.ratings.rsplit("/", 1)[-1]
    assert stored.endswith(".csv") and stored.startswith("ééé")
    assert len(stored.encode()) <= datasets.MAX_NAME_BYTES
    assert open(dataset.ratings, "rb").read() == RATINGS
    assert dataset.label.startswith("ééé") and dataset.label.endswith("… (uploaded)")
    assert len(dataset.label) == 100 + len(" (uploaded)")
