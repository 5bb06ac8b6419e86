"""benchmarks/ml1m_case_study.py's parts that need no browser (issue 21 item 7): ML-1M read as
the Data page reads it, the run's metadata written as a run of the app writes it, and the
case study's tables on a small trained run. No timing is asserted here (the script measures)."""

from __future__ import annotations

import pandas as pd

from benchmarks.ml1m_case_study import (
    RANDOM_RATINGS,
    TEMPORAL_RATINGS,
    Choice,
    case_tables,
    dataset_summary,
    male_preference,
    prepared_run,
)
from tests.conftest import shared_file


def ml1m_folder():
    for name in (RANDOM_RATINGS, TEMPORAL_RATINGS, "movies.dat", "users.dat"):
        folder = shared_file(f"ml-1m/{name}").parent
    return folder


def test_ml1m_reads_with_its_counts_and_metadata_columns():
    summary = dataset_summary(ml1m_folder(), RANDOM_RATINGS)
    assert (summary["ratings"], summary["users"], summary["items"]) == (1_000_209, 6_040, 3_706)
    assert summary["problems"] == []
    assert any("no timestamp" in note.lower() for note in summary["notes"]), summary["notes"]
    assert {"gender", "age", "occupation"} <= set(summary["user_columns"])
    assert {"title", "genres"} <= set(summary["item_columns"])


def test_the_timestamped_half_reads_through_gzip():
    summary = dataset_summary(ml1m_folder(), TEMPORAL_RATINGS)
    assert (summary["ratings"], summary["users"], summary["items"]) == (487_650, 2_999, 3_615)
    assert any("gzip" in note for note in summary["notes"]), summary["notes"]


def test_users_dat_reaches_the_runs_metadata(tmp_path):
    """What the worker writes before epoch one: data.json's counts, and users.csv carrying
    users.dat's gender / age / occupation for every model user (the pages read these)."""
    prepared = prepared_run(ml1m_folder(), RANDOM_RATINGS, "random", tmp_path / "run")
    data = prepared["data"]["data"]
    assert (data["interactions"], data["users"], data["items"]) == (1_000_209, 6_040, 3_706)
    users = prepared["users"]
    assert len(users) == prepared["data"]["split"]["users"] == 6_040
    for column in ("gender", "age", "occupation"):
        assert users[column].notna().all(), column
    assert set(users["gender"]) == {"F", "M"}
    first = users.set_index(users["id"].astype(str)).loc["1"]  # users.dat: 1::F::1::10::48067
    assert (first["gender"], str(first["age"]), first["occupation"]) == ("F", "1", "K-12 student")
    assert prepared["items"]["title"].notna().all()


def test_the_case_study_tables_of_a_trained_run(tmp_path):
    """Tables 4 and 5 and the men / women item clusters on a 2-epoch run of a slice of ML-1M
    (users 1-300 of the timestamped half, small clusters)."""
    import gzip

    from hmf_core import RunDir, TrainSettings
    from hmf_core.runs.train_run import train_run

    folder = ml1m_folder()
    lines = gzip.open(folder / TEMPORAL_RATINGS, "rt").read().splitlines()
    ratings = tmp_path / "ratings.dat"
    ratings.write_text("\n".join(x for x in lines if int(x.split("::")[0]) <= 300) + "\n")
    settings = TrainSettings(
        data=str(ratings),
        items=str(folder / "movies.dat"),
        users=str(folder / "users.dat"),
        split="random",
        user_clusters=[8],
        item_clusters=[6],
        max_epochs=2,
        projection=False,
        threads=1,
    )
    run_dir = tmp_path / "run"
    train_run(settings, run_dir)
    tables = case_tables(run_dir, Choice(), rows=3)
    choice = tables["choice"]
    preference = male_preference(RunDir(run_dir).load_model(), RunDir(run_dir).table("users"))
    assert len(preference) == 6 and preference.between(-1, 1).all()
    assert choice.item_clusters == (int(preference.idxmax()), int(preference.idxmin()))
    first = tables["table4"]["user cluster 0 -> item clusters"]
    assert first["inner_product"].is_monotonic_decreasing  # top 3 then bottom 3: 6 clusters
    assert len(first) == 6 and first["item_cluster"].nunique() == 6
    reverse = tables["table4"][f"item cluster {choice.item_clusters[0]} -> user clusters"]
    genders = ", ".join(reverse["nearest"]).split(", ")
    assert set(genders) <= {"M", "F"}  # the users nearest each cluster, by gender
    members = tables["table5"]["user cluster 1"]
    assert members["probability"].is_monotonic_decreasing and len(members) == 10
    assert {"gender", "occupation"} <= set(members.columns)
    assert choice.members_item == first["item_cluster"].iloc[0]
    assert isinstance(tables["quality"].get("agreement"), pd.DataFrame)
