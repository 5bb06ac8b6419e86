"""Cluster quality: known answers on hand-made memberships, a tiny real run, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from hmf_core.cli import main
from hmf_core.common.files import read_json
from hmf_core.data.column_types import detect_column
from hmf_core.data.columns import age_buckets, categorical_columns, expand_values, planted_columns
from hmf_core.data.synthetic import planted_hierarchy, to_csv, write_planted_labels
from hmf_core.interpret.quality import (
    agreement_scores,
    kmeans_labels,
    model_quality,
    movement,
    purity,
    quality_tables,
    random_agreement,
    sharpness,
)
from hmf_core.models.hmf import HMF, HMFConfig
from hmf_core.runs.quality_files import rebuild_start, record_quality, run_quality
from hmf_core.runs.rundir import RunDir
from hmf_core.runs.train_run import train_run
from hmf_core.training.settings import with_preset

# ---------------------------------------------------------------- known answers


def test_one_hot_memberships_are_fully_crisp():
    assigned = np.array([0, 0, 1, 3, 3, 3])
    probabilities = np.eye(4)[assigned]  # (6, 4), cluster 2 empty
    result = sharpness(probabilities)
    assert result["mean_max"] == 1.0 and result["share_max_above_half"] == 1.0
    assert result["mean_effective_clusters"] == pytest.approx(1.0)
    assert result["clusters_used"] == 3 and result["clusters"] == 4 and result["objects"] == 6
    assert result["sizes"] == [2, 1, 0, 3] and result["soft_sizes"] == [2.0, 1.0, 0.0, 3.0]


def test_uniform_memberships_have_k_effective_clusters():
    k = 5
    result = sharpness(np.full((7, k), 1 / k))
    assert result["mean_max"] == pytest.approx(1 / k)
    assert result["mean_effective_clusters"] == pytest.approx(k)
    assert result["share_max_above_half"] == 0.0
    assert result["soft_sizes"] == pytest.approx([7 / k] * k)


def test_effective_clusters_of_a_two_way_split():
    probabilities = np.array([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]])
    entropy = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    result = sharpness(probabilities)
    assert result["mean_effective_clusters"] == pytest.approx((2 + np.exp(entropy)) / 2)
    assert result["mean_max"] == pytest.approx(0.7) and result["share_max_above_half"] == 0.5


def test_movement_of_identical_and_of_reversed_logits():
    logits = np.random.default_rng(0).normal(size=(50, 6))
    same = movement(logits, logits.copy())
    assert same["logit_correlation"] == pytest.approx(1.0) and same["argmax_unchanged"] == 1.0
    reversed_ = movement(-logits, logits)
    assert reversed_["logit_correlation"] == pytest.approx(-1.0)
    assert reversed_["argmax_unchanged"] == 0.0  # the largest logit became the smallest
    half = logits.copy()
    half[:25] = -half[:25]
    assert movement(half, logits)["argmax_unchanged"] == 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        movement(logits, logits[:10])


def test_perfect_agreement_scores_one_whatever_the_names():
    classes = np.array(["a", "a", "b", "b", "c", "c", "c"])
    clusters = np.array([5, 5, 0, 0, 2, 2, 2])
    assert agreement_scores(clusters, classes) == pytest.approx(
        {"purity": 1.0, "nmi": 1.0, "ami": 1.0}
    )


def test_purity_counts_the_majority_class_of_each_cluster():
    clusters = np.array([0, 0, 0, 1, 1])
    classes = np.array(["a", "a", "b", "b", "b"])
    assert purity(clusters, classes) == pytest.approx(4 / 5)
    assert purity(np.zeros(5, int), classes) == pytest.approx(3 / 5)  # one cluster: majority


def test_random_clusters_carry_no_information():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 3000).astype(str)
    clusters = rng.integers(0, 10, 3000)
    assert abs(agreement_scores(clusters, classes)["ami"]) < 0.01
    # The size-matched baseline of perfectly informative clusters is still ~0.
    informative = np.array([int(c) for c in classes])
    rows = np.arange(3000)
    baseline = random_agreement(informative, rows, classes, seed=0)
    assert abs(baseline["ami"]) < 0.01 and baseline["purity"] < 0.3
    assert random_agreement(informative, rows, classes, seed=0) == baseline  # seeded


def test_genres_expand_to_one_sample_per_genre_and_items_without_are_left_out():
    genres = pd.Series(["Comedy|Drama", "Drama", np.nan, "(no genres listed)", "Action"])
    rows, labels = expand_values(genres, multi_valued=True)
    assert rows.tolist() == [0, 0, 1, 4]
    assert labels.tolist() == ["Comedy", "Drama", "Drama", "Action"]
    # An item in two genres counts once for each, with its one cluster.
    clusters = np.array([0, 1, 1, 1, 2])
    assert agreement_scores(clusters[rows], labels)["purity"] == pytest.approx(3 / 4)


def test_age_buckets_follow_ml1m_groups():
    ages = pd.Series([1, 17, 18, 24, 25, 44, 45, 49, 50, 55, 56, 80, np.nan])
    buckets = age_buckets(ages).tolist()
    assert buckets[:12] == [
        "<18",
        "<18",
        "18-24",
        "18-24",
        "25-34",
        "35-44",
        "45-49",
        "45-49",
        "50-55",
        "50-55",
        "56+",
        "56+",
    ]
    assert pd.isna(buckets[12])


def test_categorical_columns_are_picked_generically():
    n = 40
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "index": np.arange(n),
            "id": np.arange(100, 100 + n),
            "label": [f"item {i}" for i in range(n)],
            "title": [f"Movie {i}" for i in range(n)],
            "genres": ["Comedy|Drama", "Drama", "Action|Comedy", np.nan] * (n // 4),
            "genre": ["Comedy", "Drama", "Action", np.nan] * (n // 4),
            "age": rng.integers(10, 70, n),
            "gender": ["M", "F"] * (n // 2),
            "zip": [f"{i:05d}" for i in range(n)],
            "release_date": [f"01-Jan-{1950 + i}" for i in range(n)],  # one per row: free text
            "constant": ["x"] * n,
            "planted_level1": rng.integers(0, 4, n),
        }
    )
    columns = categorical_columns(frame)
    assert set(columns) == {"genres", "age", "gender"}
    assert columns["genres"]["multi_valued"] and not columns["gender"]["multi_valued"]
    assert len(columns["genres"]["rows"]) == 5 * (n // 4)  # 2 + 1 + 2 samples per 4 items
    age = detect_column(frame["age"])  # bucketed by its type, not by its name
    assert age.kind == "numeric" and set(columns["age"]["labels"]) == set(age.labels)
    assert set(planted_columns(frame)) == {"planted_level1"}


def test_kmeans_is_seeded_and_finds_separated_blobs():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 30)
    points = np.eye(4)[truth] * 10 + rng.normal(0, 0.1, (120, 4))
    labels = kmeans_labels(points, 4, seed=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert np.array_equal(labels, kmeans_labels(points, 4, seed=0))
    assert len(set(kmeans_labels(points[:3], 10, seed=0))) <= 3  # k above the objects: clamped


def test_many_objects_use_minibatch_kmeans(monkeypatch):
    import sklearn.cluster

    import hmf_core.interpret.quality as quality

    monkeypatch.setattr(quality, "MINIBATCH_ABOVE", 50)
    # kmeans_labels imports k-means where it runs: would fail if the full k-means ran
    monkeypatch.setattr(sklearn.cluster, "KMeans", None)
    truth = np.repeat(np.arange(3), 40)
    points = np.eye(3)[truth] * 10 + np.random.default_rng(1).normal(0, 0.1, (120, 3))
    assert adjusted_rand_score(truth, quality.kmeans_labels(points, 3, seed=0)) == 1.0


def _set_side(side, memberships, root):
    """Connection logits log S (so softmax gives back S) and the root embeddings."""
    with torch.no_grad():
        for logits, membership in zip(side.connections, memberships):
            logits.copy_(torch.log(torch.tensor(membership).clamp_min(1e-30)))
        side.root.copy_(torch.tensor(root))


def test_a_model_set_to_the_planted_hierarchy_predicts_its_ratings_and_scores_perfectly():
    """HMF's generative model (eq. 3-4, 6) with the planted S1, S2, U2 as its parameters gives
    the generator's mean ratings, and its quality is the known answer: one-hot objects (their
    level-2 membership is their parent's weight), ARI 1 at both levels, AMI 1 against a column
    that is the planted coarse label, random ~ 0."""
    planted = planted_hierarchy(
        n_users=60, n_items=48, user_clusters=(6, 3), item_clusters=(8, 2), seed=0
    )
    config = HMFConfig(n_users=60, n_items=48, dim=8, user_clusters=(6, 3), item_clusters=(8, 2))
    model = HMF(config)
    for side, truth in ((model.users, planted.users), (model.items, planted.items)):
        one_hot = np.eye(len(truth.fine_to_coarse))[truth.fine]  # S1: (M, m_1)
        _set_side(side, [one_hot, truth.fine_to_coarse], truth.coarse_embeddings)
    users, items = np.meshgrid(np.arange(60), np.arange(48), indexing="ij")
    with torch.no_grad():
        predicted = model(torch.tensor(users.ravel()), torch.tensor(items.ravel()))
    assert np.allclose(predicted.numpy().reshape(60, 48), planted.expected_ratings(), atol=1e-5)

    user_metadata = pd.DataFrame(
        {
            "planted_level1": planted.users.fine,
            "planted_level2": planted.users.coarse,
            "group": np.array(["a", "b", "c"])[planted.users.coarse],
        }
    )
    quality = model_quality(model, seed=0, initial=model, users=user_metadata)
    crisp = [r for r in quality["sharpness"] if r["side"] == "user"]
    dominant = planted.users.fine_to_coarse.max(1)[planted.users.fine]  # (M,) parent weight
    assert [r["mean_max"] for r in crisp] == pytest.approx([1.0, dominant.mean()])
    assert [r["clusters_used"] for r in crisp] == [6, 3]
    assert all(r["logit_correlation"] == pytest.approx(1.0) for r in quality["movement"])

    def ari(level, column, method):
        (value,) = [
            r["ari"]
            for r in quality["planted"]
            if (r["level"], r["column"], r["method"]) == (level, column, method)
        ]
        return value

    assert ari(1, "planted_level1", "model") == pytest.approx(1.0)
    assert ari(2, "planted_level2", "model") == pytest.approx(1.0)
    assert ari(1, "planted_level1", "kmeans") == pytest.approx(1.0)  # 6 distinct points
    assert abs(ari(1, "planted_level1", "random")) < 0.1
    (group,) = [
        r
        for r in quality["agreement"]
        if (r["level"], r["column"], r["method"]) == (2, "group", "model")
    ]
    assert group["ami"] == pytest.approx(1.0) and group["purity"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="metadata has 59 rows for 60 objects"):
        model_quality(model, seed=0, users=user_metadata.iloc[:59])
    assert not quality["mf_comparison"] and "mf_kmeans" not in {
        r["method"] for r in quality["agreement"]
    }


def test_tables_pivot_methods_and_give_the_ratio_to_mf():
    base = {"side": "item", "level": 1, "multi_valued": True, "samples": 9, "classes": 3}
    amis = {"model": 0.06, "kmeans": 0.02, "mf_kmeans": 0.03, "random": 0.0}
    records = [
        {**base, "column": column, "method": method, "purity": 0.5, "nmi": 0.1, "ami": ami}
        for column, scale in (("genres", 1.0), ("decade", -1.0), ("age", 0.2))
        for method, ami in amis.items()
        for ami in [ami * scale]
    ]
    table = quality_tables({"agreement": records})["agreement"].set_index("column")
    assert table.loc["genres", "ami_model_over_mf"] == pytest.approx(2.0)
    assert np.isnan(table.loc["decade", "ami_model_over_mf"])  # MF's AMI <= 0: no ratio
    assert np.isnan(table.loc["age", "ami_model_over_mf"])  # MF's AMI 0.006: chance level
    assert table.loc["genres", "ami_kmeans"] == 0.02 and table.loc["genres", "samples"] == 9
    assert quality_tables({})["sharpness"].empty


# ---------------------------------------------------------------- a tiny real run


class CaptureStart(Callback):
    """The HMF's connection logits as training starts (before any step)."""

    def __init__(self):
        self.start = None

    def on_fit_start(self, trainer, pl_module):
        if self.start is None and pl_module.model.config.user_depth > 0:
            self.start = {
                k: v.detach().cpu().clone() for k, v in pl_module.model.state_dict().items()
            }


@pytest.fixture(scope="module", params=["paper", "interpretable"])
def tiny_run(tmp_path_factory, request):
    """Users depth 2 (6, 3 clusters), items depth 1 (6), with an MF comparison; planted labels
    as the run's metadata; once per preset (the interpretable one warm-starts the logits)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("quality")
    planted = planted_hierarchy(
        n_users=120, n_items=90, user_clusters=(6, 3), item_clusters=(6, 3), density=0.4, seed=1
    )
    to_csv(planted, root / "ratings.csv")
    write_planted_labels(planted, root / "users.csv", root / "items.csv")
    settings = with_preset(
        request.param,
        data=str(root / "ratings.csv"),
        users=str(root / "users.csv"),
        items=str(root / "items.csv"),
        seed=3,
        dim=8,
        user_depth=2,
        item_depth=1,
        user_clusters=[6, 3],
        item_clusters=[6],
        lr=3e-2,
        weight_decay=0.0,
        max_epochs=3,
        patience=20,
        projection=False,
        split="random",
        compare_mf=True,
    )
    capture = CaptureStart()
    train_run(settings, root / "run", callbacks=[capture])
    return {"root": root, "run": root / "run", "planted": planted, "start": capture.start}


def test_the_start_is_rebuilt_exactly_from_the_seed(tiny_run):
    """Bit-exact under both presets: the random draw, and the interpretable warm start."""
    rebuilt = rebuild_start(tiny_run["run"]).state_dict()
    assert tiny_run["start"] is not None and set(rebuilt) == set(tiny_run["start"])
    for name, value in tiny_run["start"].items():
        assert torch.equal(rebuilt[name], value), name
    trained = RunDir(tiny_run["run"]).load_model()
    assert not torch.equal(trained.users.connections[0], rebuilt["users.connections.0"])
    quality = read_json(tiny_run["run"] / "quality.json")
    assert quality["start"] == RunDir(tiny_run["run"]).settings()["warm_start"]


def test_training_writes_quality_json_with_the_run(tiny_run):
    quality = read_json(tiny_run["run"] / "quality.json")
    assert "error" not in quality and quality["mf_comparison"] is True
    levels = {(r["side"], r["level"]) for r in quality["sharpness"]}
    assert levels == {("user", 1), ("user", 2), ("item", 1)}
    assert {(r["side"], r["level"]) for r in quality["movement"]} == levels


def test_run_quality_matches_direct_computation(tiny_run):
    run, planted = tiny_run["run"], tiny_run["planted"]
    quality = run_quality(run)
    assert json.loads((run / "quality.json").read_text()) == quality
    model = RunDir(run).load_model()
    start = rebuild_start(run)
    with torch.no_grad():
        coarse = model.users.object_to_level(2)  # (M, 3)
        record = next(r for r in quality["sharpness"] if (r["side"], r["level"]) == ("user", 2))
        assert record["mean_max"] == pytest.approx(coarse.max(1).values.mean().item(), rel=1e-5)
        assert sum(record["sizes"]) == model.config.n_users and len(record["sizes"]) == 3
        moved = next(r for r in quality["movement"] if (r["side"], r["level"]) == ("item", 1))
        trained_logits = model.items.connections[0].flatten().double()
        initial_logits = start.items.connections[0].flatten().double()
        expected = torch.corrcoef(torch.stack([trained_logits, initial_logits]))[0, 1].item()
        assert moved["logit_correlation"] == pytest.approx(expected, rel=1e-6)
    # Planted ARI per level, against the labels of the users the split kept (model order).
    user_ids = RunDir(run).users()["id"].astype(int).to_numpy()  # ids are strings
    truth = planted.users.coarse[user_ids]
    wanted = ("user", 2, "planted_level2", "model")
    ari = next(
        r["ari"]
        for r in quality["planted"]
        if (r["side"], r["level"], r["column"], r["method"]) == wanted
    )
    assert ari == pytest.approx(adjusted_rand_score(truth, coarse.argmax(1).numpy()))
    methods = {r["method"] for r in quality["planted"]}
    assert methods == {"model", "kmeans", "mf_kmeans", "random"}
    randoms = [r["ari"] for r in quality["planted"] if r["method"] == "random"]
    assert max(abs(a) for a in randoms) < 0.1


def test_run_quality_with_the_reviewers_own_metadata(tiny_run):
    run, planted = tiny_run["run"], tiny_run["planted"]
    rng = np.random.default_rng(0)
    n = len(planted.users.fine)
    users = pd.DataFrame(
        {
            "userId": np.arange(n),
            "gender": np.where(planted.users.coarse == 0, "F", "M"),  # informative
            "age": rng.integers(12, 70, n),
            "zip": [f"{i:05d}" for i in range(n)],
        }
    )
    users.to_csv(tiny_run["root"] / "reviewer_users.csv", index=False)
    quality = run_quality(run, users=tiny_run["root"] / "reviewer_users.csv")
    assert quality["metadata"]["user"].endswith("reviewer_users.csv")
    assert quality["columns"] == {
        "user": ["gender", "age"],
        "item": ["planted_level1", "planted_level2"],
    }
    user_rows = [r for r in quality["agreement"] if r["side"] == "user"]
    assert {r["column"] for r in user_rows} == {"gender", "age"}  # zip: one value per user
    assert {r["method"] for r in user_rows} == {"model", "kmeans", "mf_kmeans", "random"}
    model = RunDir(run).load_model()
    with torch.no_grad():
        clusters = model.users.object_to_level(1).argmax(1).numpy()
    user_ids = RunDir(run).users()["id"].astype(int).to_numpy()
    gender = np.where(planted.users.coarse[user_ids] == 0, "F", "M")
    record = next(
        r for r in user_rows if (r["level"], r["column"], r["method"]) == (1, "gender", "model")
    )
    assert record["ami"] == pytest.approx(adjusted_mutual_info_score(gender, clusters))
    assert record["samples"] == len(user_ids) and record["classes"] == 2
    tables = quality_tables(quality)
    assert {"ami_model", "ami_kmeans", "ami_mf_kmeans", "ami_random"} <= set(tables["agreement"])
    assert len(tables["agreement"]) == 2 * 2  # two levels x two columns on the user side
    assert len(tables["sharpness"]) == 3 and "logit_correlation" in tables["sharpness"]
    assert set(tables["planted"]["side"]) == {"item"}  # the reviewer's users have no labels


def test_a_quality_failure_is_recorded_and_does_not_raise(tiny_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("settings.json", "best.ckpt", "users.csv", "interactions.parquet"):  # no items.csv
        (broken / name).write_bytes((tiny_run["run"] / name).read_bytes())
    result = record_quality(broken)
    assert "items.csv is damaged (missing)" in result["error"]
    assert read_json(broken / "quality.json") == result
    with pytest.raises(Exception, match="could not be computed"):
        quality_tables(result)


def test_cli_quality_prints_tables_and_writes_the_file(tiny_run, capsys):
    (tiny_run["run"] / "quality.json").unlink()
    assert main(["quality", str(tiny_run["run"])]) == 0
    out = capsys.readouterr().out
    assert "sharpness:" in out and "planted:" in out and "ari_mf_kmeans" in out
    assert "mean_max" in out and (tiny_run["run"] / "quality.json").exists()
    assert "user metadata compared: planted_level1, planted_level2" in out


def test_cli_quality_user_errors_are_one_line(tiny_run, tmp_path, capsys):
    assert main(["quality", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "best.ckpt" in error and error.count("\n") == 1
    strangers = tmp_path / "strangers.csv"
    strangers.write_text("userId,gender\nu1,F\nu2,M\n")
    assert main(["quality", str(tiny_run["run"]), "--users", str(strangers)]) == 2
    error = capsys.readouterr().err
    assert "strangers.csv: none of the run's" in error and error.count("\n") == 1
    missing = tmp_path / "missing.csv"
    assert main(["quality", str(tiny_run["run"]), "--items", str(missing)]) == 2
    error = capsys.readouterr().err
    assert "missing.csv" in error and "Traceback" not in error and error.count("\n") == 1
