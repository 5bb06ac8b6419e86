"""2-D maps: one row per user, item and cluster of every level; PCA and UMAP written to a real
(tiny) run directory and read back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hmf_core.interpret import projection
from hmf_core.interpret import queries as interpret
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.runs.maps import save_projections
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import TrainSettings


def make_model(user_clusters=(4, 2), item_clusters=(3,), n_users=7, n_items=9) -> HMF:
    torch.manual_seed(0)
    config = HMFConfig(
        n_users=n_users,
        n_items=n_items,
        dim=5,
        user_clusters=user_clusters,
        item_clusters=item_clusters,
    )
    return HMF(config).eval()


def metadata(n_users=7, n_items=9) -> tuple[pd.DataFrame, pd.DataFrame]:
    users = pd.DataFrame(
        {
            "index": range(n_users),
            "id": range(n_users),
            "label": [f"person {i}" for i in range(n_users)],
            "gender": ["F", "M"] * (n_users // 2) + ["F"] * (n_users % 2),
            "occupation": "writer",
            "age": 30,
        }
    )
    items = pd.DataFrame(
        {
            "index": range(n_items),
            "id": range(n_items),
            "label": [f"movie {i}" for i in range(n_items)],
            "genres": "Drama|War",
            "genre": "Drama",
        }
    )
    return users, items


def test_embedding_table_has_every_object_and_every_cluster():
    model = make_model()
    users, items = metadata()
    table, vectors = projection.embedding_table(model, users, items)
    assert len(table) == len(vectors) == 7 + 9 + (4 + 2) + 3
    assert vectors.shape[1] == 5
    assert table.groupby(["kind", "level"]).size().to_dict() == {
        ("item", 0): 9,
        ("item cluster", 1): 3,
        ("user", 0): 7,
        ("user cluster", 1): 4,
        ("user cluster", 2): 2,
    }
    assert {
        "kind",
        "level",
        "index",
        "label",
        "size",
        "top_cluster",
        "gender",
        "genre",
    } <= set(table.columns)
    # one value for every user: not a colouring (data.columns.categorical_columns), not drawn
    assert "occupation" not in table.columns
    objects = table[table["level"] == 0]
    assert (objects["size"] == 1).all()
    user_rows = table[table["kind"] == "user"]
    assert list(user_rows["label"]) == list(users["label"])
    assert list(user_rows["gender"]) == list(users["gender"])
    expected_top = model.users.membership(1).argmax(1).numpy()
    np.testing.assert_array_equal(user_rows["top_cluster"], expected_top)
    level_two = table[(table["kind"] == "user cluster") & (table["level"] == 2)]
    assert (level_two["top_cluster"] == -1).all()
    assert list(level_two["label"]) == ["user cluster 0 (L2)", "user cluster 1 (L2)"]
    np.testing.assert_allclose(level_two["size"], interpret.cluster_sizes(model, "user", 2))
    np.testing.assert_allclose(
        vectors[level_two.index], model.users.cluster_embeddings(2).detach().numpy(), rtol=1e-6
    )


def test_embedding_table_can_leave_the_metadata_columns_out():
    """metadata=False (the dashboard's nearest points and vector ties): the same rows, labels
    and vectors, without the metadata columns."""
    model = make_model()
    users, items = metadata()
    full, full_vectors = projection.embedding_table(model, users, items)
    lean, lean_vectors = projection.embedding_table(model, users, items, metadata=False)
    assert list(lean.columns) == ["kind", "level", "index", "label", "size", "top_cluster"]
    pd.testing.assert_frame_equal(lean, full[list(lean.columns)])
    np.testing.assert_array_equal(lean_vectors, full_vectors)
    assert list(lean.loc[lean["kind"] == "user", "label"]) == list(users["label"])


def test_embedding_table_without_metadata_or_clusters():
    model = make_model(user_clusters=(), item_clusters=(3,))
    table, vectors = projection.embedding_table(model, None, None)
    assert len(table) == 7 + 9 + 3
    assert (table.loc[table["kind"] == "user", "top_cluster"] == -1).all()
    assert table["label"].notna().all()


def test_pca_map_is_finite():
    model = make_model()
    users, items = metadata()
    frame = projection.pca_map(model, users, items)
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert frame[["x", "y"]].std().gt(0).all()


def test_exact_neighbours_equal_a_naive_search():
    vectors = np.random.default_rng(0).normal(size=(40, 3))
    indices, distances = projection.exact_neighbours(vectors, 5)
    assert indices.shape == distances.shape == (40, 5)
    for row in range(40):
        naive = [np.linalg.norm(vectors[row] - vectors[other]) for other in range(40)]
        assert indices[row, 0] == row  # itself first, as UMAP expects
        assert list(indices[row]) == list(np.argsort(naive)[:5])
        np.testing.assert_allclose(distances[row], np.sort(naive)[:5], rtol=1e-5, atol=1e-6)


def write_tiny_ratings(folder, n_users=12, n_items=10, seed=0):
    """Every user rates every item (so no split drops anyone), random times and stars."""
    generator = np.random.default_rng(seed)
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    ratings = pd.DataFrame(
        {
            "user": users.ravel() + 1,
            "item": items.ravel() + 1,
            "rating": generator.integers(1, 6, users.size),
            "timestamp": generator.permutation(users.size),
        }
    )
    ratings.to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame(
        {
            "id": np.arange(n_items) + 1,
            "title": [f"Film {i}" for i in range(n_items)],
            "genres": ["Comedy|Drama", "Horror"] * (n_items // 2),
        }
    ).to_csv(folder / "items.csv", index=False)
    pd.DataFrame(
        {
            "id": np.arange(n_users) + 1,
            "gender": ["F", "M"] * (n_users // 2),
            "occupation": "writer",
        }
    ).to_csv(folder / "users.csv", index=False)


def tiny_run(folder) -> RunDir:
    """folder/run: two epochs on the tiny ratings with user and item metadata, no maps yet."""
    write_tiny_ratings(folder)
    settings = TrainSettings(
        data=str(folder / "ratings.csv"),
        items=str(folder / "items.csv"),
        users=str(folder / "users.csv"),
        user_clusters=[3],
        item_clusters=[2],
        user_depth=2,
        dim=4,
        max_epochs=2,
        projection=False,
        split="random",
        threads=1,
    )
    train_run(settings, folder / "run")
    return RunDir(folder / "run")


def test_save_projections_writes_both_maps_and_the_run_reads_them(tmp_path):
    run = tiny_run(tmp_path)
    run_dir = run.path
    assert run.map("pca") is None and run.maps_ready() == []
    timings = save_projections(run_dir)
    assert {"pca_s", "umap_s", "umap_import_s"} <= set(timings)
    assert json.loads((run_dir / "maps.json").read_text()) == timings
    n_rows = 12 + 10 + (3 + 2) + 2
    assert timings["umap_rows"] == timings["umap_fitted_rows"] == n_rows  # small: no sample
    assert timings["umap_placement"] == "all rows fitted"
    assert not list(run_dir.glob("*.tmp")) and run.maps_ready() == ["pca", "umap"]
    for method in ("pca", "umap"):
        frame = run.map(method)
        assert len(frame) == n_rows
        assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
        assert set(frame.loc[frame["kind"] == "item", "genre"]) == {"Comedy", "Horror"}
        assert set(frame.loc[frame["kind"] == "user", "gender"]) == {"F", "M"}
    with pytest.raises(ValueError, match="map method"):
        run.map("tsne")
    # the names and metadata values of the hovers, saved for a first Map visit
    assert timings["labels_version"] == projection.LABELS_VERSION and "labels_s" in timings
    model, users, items = run.load_model(), run.users(), run.items()
    for name, compute in (
        ("map_names", projection.map_names),
        ("map_metadata", projection.map_metadata),
    ):
        pd.testing.assert_frame_equal(
            run.map_labels(name, projection.LABELS_VERSION), compute(model, users, items)
        )
        assert run.map_labels(name, projection.LABELS_VERSION + 1) is None  # older code's
    saved = run.map_labels("map_names", projection.LABELS_VERSION)
    assert saved["name"].notna().all() and len(saved) == n_rows
    assert set(run.map_labels("map_metadata", projection.LABELS_VERSION)["genre"].dropna()) == {
        "Comedy",
        "Horror",
    }
    (run_dir / "map_names.parquet").write_bytes(b"not parquet")  # damaged: computed again
    assert run.map_labels("map_names", projection.LABELS_VERSION) is None
    with pytest.raises(ValueError, match="map labels"):
        run.map_labels("map_pca", projection.LABELS_VERSION)


def test_the_maps_are_written_when_the_labels_cannot_be(tmp_path, monkeypatch):
    """Saving the names is a cache: if it fails, the maps are still written, maps.json says
    why, and the pages find no saved labels (so they compute them, as before)."""
    from hmf_core.runs import maps

    run = tiny_run(tmp_path)

    def broken(*args):
        raise RuntimeError("no names today")

    monkeypatch.setattr(maps, "map_names", broken)
    timings = save_projections(run.path)
    assert run.maps_ready() == ["pca", "umap"]
    assert timings["labels_error"] == "RuntimeError: no names today"
    assert "labels_version" not in timings
    assert run.map_labels("map_names", projection.LABELS_VERSION) is None
    assert run.map_labels("map_metadata", projection.LABELS_VERSION) is None


def test_small_maps_fit_every_row():
    table, _ = projection.embedding_table(make_model(), None, None)
    np.testing.assert_array_equal(projection.umap_sample(table, size=len(table)), range(len(table)))


def test_the_sample_holds_every_cluster_and_every_top_cluster_of_each_side():
    model = make_model(user_clusters=(12, 3), item_clusters=(6,), n_users=900, n_items=400)
    table, _ = projection.embedding_table(model, None, None)
    sample = projection.umap_sample(table, size=300, seed=1)
    chosen = table.iloc[sample]
    assert len(set(sample)) == len(sample) and sample.max() < len(table)
    clusters = table[table["level"] > 0]
    assert set(clusters.index) <= set(sample)  # every cluster of every level
    objects = table[table["level"] == 0]
    strata = objects.groupby(["kind", "top_cluster"]).size()
    in_sample = chosen[chosen["level"] == 0].groupby(["kind", "top_cluster"]).size()
    assert set(in_sample.index) == set(strata.index)  # every top cluster of users and items
    for stratum, count in strata.items():
        assert in_sample[stratum] >= min(count, projection.MIN_PER_STRATUM), stratum
    assert 300 <= len(sample) <= 300 + projection.MIN_PER_STRATUM * len(strata)
    # proportional: users outnumber items 900:400 in the population and in the sample
    share = (chosen["kind"] == "user").sum() / (chosen["level"] == 0).sum()
    assert abs(share - 900 / 1300) < 0.05
    np.testing.assert_array_equal(sample, projection.umap_sample(table, size=300, seed=1))


def test_placement_is_the_inverse_distance_weighted_mean_of_the_nearest_fitted_points():
    generator = np.random.default_rng(0)
    fitted, fitted_xy = generator.normal(size=(30, 4)), generator.normal(size=(30, 2))
    queries = generator.normal(size=(8, 4))
    placed = projection.place_from_neighbours(fitted, fitted_xy, queries, k=5)
    for query, position in zip(queries, placed):
        distances = np.linalg.norm(fitted - query, axis=1)
        nearest = np.argsort(distances)[:5]
        weights = 1 / distances[nearest]
        np.testing.assert_allclose(position, weights @ fitted_xy[nearest] / weights.sum())


def test_a_sampled_umap_map_keeps_the_fit_and_places_every_other_point():
    model = make_model(user_clusters=(6,), item_clusters=(4,), n_users=300, n_items=200)
    frame = projection.umap_map(model, None, None, sample_size=150, n_epochs=50)
    table, vectors = projection.embedding_table(model, None, None)
    assert len(frame) == len(table) == 300 + 200 + 6 + 4
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    fitted = projection.umap_sample(table, size=150)
    np.testing.assert_array_equal(np.flatnonzero(frame["umap_fitted"]), fitted)
    # the fitted rows are exactly UMAP's embedding of the sample alone
    alone = projection._fit_umap(vectors[fitted], 0, 15, "spectral", 50)
    np.testing.assert_allclose(frame.loc[fitted, ["x", "y"]].to_numpy(), alone)
    placed = frame[~frame["umap_fitted"]]
    assert len(placed) == len(frame) - len(fitted) > 0
    # placed points lie within the fitted points' extent (weighted means of them)
    low, high = alone.min(axis=0), alone.max(axis=0)
    assert ((placed[["x", "y"]] >= low - 1e-9) & (placed[["x", "y"]] <= high + 1e-9)).all().all()
    stated = projection.map_sample(frame)
    assert (stated["umap_rows"], stated["umap_fitted_rows"]) == (len(frame), len(fitted))
    assert "10 nearest fitted points" in stated["umap_placement"]


def test_points_of_finds_each_selected_point_by_kind_level_and_index():
    """The selection's rows of a map (the Map's rings): kind, level and index together, so
    user 3, item 3 and user cluster 3 are three points; in the map's order; none for a
    point the map lacks."""
    frame = pd.DataFrame(
        {
            "kind": ["user"] * 5 + ["item"] * 5 + ["user cluster"] * 4,
            "level": [0] * 10 + [1] * 4,
            "index": [*range(5), *range(5), *range(4)],
            "x": np.arange(14.0),
        }
    )
    picked = [
        {"kind": "item", "level": 0, "index": 3},
        {"kind": "user cluster", "level": 1, "index": 3},
        {"kind": "user", "level": 0, "index": 1},
        {"kind": "item", "level": 0, "index": 99},
    ]
    rows = projection.points_of(frame, picked)
    assert rows["x"].tolist() == [1.0, 8.0, 13.0]  # user 1, item 3, user cluster 3
    assert projection.points_of(frame, [{"kind": "user", "level": 1, "index": 2}]).empty


def test_joined_on_points_is_the_merge_on_kind_level_and_index_either_side_larger():
    """joined_on_points cuts the larger side to the other's indices before merging: the rows,
    columns and order of the plain merge, whichever side is the map."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "kind": ["user"] * 50 + ["item"] * 50,
            "level": 0,
            "index": [*range(50), *range(50)],
            "x": rng.random(100),
        }
    )
    members = pd.DataFrame(
        {"kind": "user", "level": 0, "index": [7, 3, 40, 99], "probability": [0.9, 0.5, 0.2, 1.0]}
    )
    keys = ["kind", "level", "index"]
    for left, right in ((members, frame), (frame, members)):
        joined = projection.joined_on_points(left, right)
        assert joined.equals(left.merge(right, on=keys))
    assert projection.joined_on_points(members, frame)["index"].tolist() == [7, 3, 40]
