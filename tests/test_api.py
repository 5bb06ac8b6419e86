"""The public API (hmf_core.api) and the recommend / export commands, on a small run whose
original ids differ from the model's rows: users 1001..., items "m1", "m2"..."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CLI_ENV as ENV
from conftest import DEMO_MOVIES, DEMO_RATINGS, REPO, hmf_cli

import hmf_core
from hmf_core.common.errors import DataFormatError, RunError
from hmf_core.common.files import write_json


def cli(*args: str) -> subprocess.CompletedProcess:
    return hmf_cli(*args, timeout=120)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> hmf_core.Run:
    ratings = pd.read_csv(DEMO_RATINGS)
    ratings = ratings[ratings["userId"] <= 25].copy()
    ratings["userId"] += 1000  # user 1001 is model row 0
    ratings["movieId"] = "m" + ratings["movieId"].astype(str)  # string ids
    movies = pd.read_csv(DEMO_MOVIES)
    movies["movieId"] = "m" + movies["movieId"].astype(str)
    folder = tmp_path_factory.mktemp("api") / "run"
    return hmf_core.train(
        ratings,
        items=movies,
        run_dir=folder,
        preset="interpretable",  # one level: the tests below read level 1 as the only one
        max_epochs=2,
        user_clusters=[4],
        item_clusters=[8],
        lr=1e-2,
        split="random",
        projection=False,
    )


def direct_scores(run: hmf_core.Run, user_row: int) -> np.ndarray:
    """Every item's score for one user, computed here from the model's parameters."""
    model = run.model
    with torch.no_grad():
        users = model.users(torch.arange(model.config.n_users)).double()  # (M, d)
        items = model.items(torch.arange(model.config.n_items)).double()  # (N, d)
        scores = items @ users[user_row]  # (N,)
        if model.config.use_bias:
            scores += model.global_bias + model.user_bias[user_row] + model.item_bias
    return scores.numpy()


def test_recommend_is_the_top_unseen_items_by_model_score(run):
    users = pd.read_csv(run.path / "users.csv", dtype={"id": str})
    items = pd.read_csv(run.path / "items.csv", dtype={"id": str})
    row = int(users.loc[users["id"] == "1003", "index"].iloc[0])
    pairs = pd.read_parquet(run.path / "interactions.parquet")
    seen_rows = set(pairs.loc[pairs["user"] == row, "item"])
    scores = direct_scores(run, row)
    unseen = [r for r in np.argsort(-scores, kind="stable") if r not in seen_rows]
    expected = items.set_index("index").loc[unseen[:10]]

    top = run.recommend(1003, k=10)
    assert list(top["rank"]) == list(range(1, 11))
    assert list(top["item"]) == list(expected["id"])  # original ids ("m..."), not rows
    assert list(top["label"]) == list(expected["title"])
    np.testing.assert_allclose(top["score"], scores[unseen[:10]], rtol=1e-5)
    seen_ids = set(items.set_index("index").loc[sorted(seen_rows), "id"])
    assert len(seen_ids) > 10 and not seen_ids & set(top["item"])
    everything = run.recommend(1003, k=len(items), exclude_seen=False)
    assert seen_ids <= set(everything["item"])  # exclude_seen=False keeps them


def test_recommend_many_is_recommend_per_user_and_ids_are_int_or_str(run):
    many = run.recommend_many([1001, "1002", np.int64(1025)], k=5)
    assert list(many["user"].unique()) == [1001, 1002, 1025]
    for user, part in many.groupby("user", sort=False):
        alone = run.recommend(str(user), k=5)
        assert list(part["item"]) == list(alone["item"])
        np.testing.assert_allclose(part["score"], alone["score"])
    assert run.users().index.tolist()[:2] == [1001, 1002]  # whole-number ids come back as int
    assert run.items().index[0] == "m1" and run.items().loc["m1", "title"] == "Toy Story (1995)"


def test_unknown_ids_name_the_id_and_how_to_list_the_known_ones(run):
    with pytest.raises(KeyError) as caught:
        run.recommend(5)
    assert isinstance(caught.value, ValueError)
    text = str(caught.value)
    assert "unknown user id 5" in text and "run.users()" in text and "users.csv" in text
    with pytest.raises(hmf_core.UnknownId, match=r"unknown item id 1: .*run\.items\(\)"):
        run.predict(1001, 1)  # the items are "m1"...: 1 is not one of them
    with pytest.raises(hmf_core.UnknownId, match="unknown user id '01001'"):
        run.clusters(user="01001")  # "01001" is another id than 1001


def test_predict_is_the_sum_of_explains_terms(run):
    for user, item in ((1001, "m1"), (1010, "m260")):
        prediction = run.predict(user, item)
        row = run.users().index.get_loc(user)
        item_row = run.items().index.get_loc(item)
        assert prediction == pytest.approx(direct_scores(run, row)[item_row], rel=1e-5)
        terms = run.explain(user, item)
        assert {"user_cluster", "item_cluster", "contribution"} <= set(terms.columns)
        assert terms["contribution"].sum() == pytest.approx(prediction, rel=1e-5)
        assert (terms["user_cluster"] == "bias").sum() == 1  # the interpretable preset's biases


def test_clusters_embeddings_and_cluster_table(run):
    membership = run.clusters(user=1001)
    assert list(membership.columns) == ["level", "cluster", "probability"]
    assert membership.groupby("level")["probability"].sum().to_numpy() == pytest.approx([1.0])
    assert len(run.clusters(item="m1")) == 8
    vectors = run.embeddings("item")
    assert vectors.index.name == "id" and len(vectors) == len(run.items())
    with torch.no_grad():
        row = run.items().index.get_loc("m1")
        own = run.model.items(torch.tensor([row]))[0].double().numpy()
    np.testing.assert_allclose(vectors.loc["m1"].to_numpy(), own, rtol=1e-6)
    assert run.embeddings("user", level=1).shape == (4, vectors.shape[1])
    assert run.memberships("item").sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert len(run.cluster_table("item", 1)) == 8
    assert not run.quality()["sharpness"].empty


def test_export_projector_rows_align_with_labels(run, tmp_path):
    run.export(tmp_path, "projector")
    vectors = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t")
    metadata = pd.read_csv(
        tmp_path / "metadata.tsv", sep="\t", dtype=str, keep_default_na=False, quoting=3
    )
    assert len(vectors) == len(metadata) == len(run.users()) + len(run.items()) + 4 + 8
    assert list(metadata.columns[:4]) == ["id", "kind", "level", "label"]
    for kind, key in (("item", "m260"), ("user", 1007)):
        (position,) = np.flatnonzero((metadata["kind"] == kind) & (metadata["id"] == str(key)))
        np.testing.assert_allclose(
            vectors[position], run.embeddings(kind).loc[key].to_numpy(), rtol=1e-6, atol=1e-7
        )
    (position,) = np.flatnonzero(metadata["id"] == "m260")
    assert metadata.loc[position, "label"] == run.items().loc["m260", "label"]
    clusters = metadata[metadata["kind"] == "item cluster"]
    assert list(clusters["id"]) == [f"L1:{c}" for c in range(8)]
    np.testing.assert_allclose(
        vectors[clusters.index], run.embeddings("item", level=1).to_numpy(), rtol=1e-6, atol=1e-7
    )


def test_export_parquet_round_trip(run, tmp_path):
    written = {path.name for path in run.export(tmp_path, "parquet")}
    assert written == {
        f"{side}_{part}.parquet"
        for side in ("user", "item")
        for part in ("embeddings", "clusters_level1", "membership_level1")
    }
    items = pd.read_parquet(tmp_path / "item_embeddings.parquet").set_index("id")
    pd.testing.assert_frame_equal(items.drop(columns="label"), run.embeddings("item"))
    users = pd.read_parquet(tmp_path / "user_membership_level1.parquet").set_index("id")
    pd.testing.assert_frame_equal(users, run.memberships("user", 1))
    clusters = pd.read_parquet(tmp_path / "item_clusters_level1.parquet")
    assert list(clusters.columns[:3]) == ["cluster", "name", "size"]
    assert clusters["size"].sum() == pytest.approx(len(run.items()))


def test_recommend_command_formats(run, tmp_path):
    shown = cli("recommend", str(run.path), "--user", "1003", "--format", "json", "--k", "4")
    assert shown.returncode == 0, shown.stderr
    records = json.loads(shown.stdout)
    assert [r["item"] for r in records] == list(run.recommend(1003, k=4)["item"])
    assert records[0]["user"] == 1003 and records[0]["label"]

    users = tmp_path / "users.txt"
    users.write_text("userId\n1001\n\n1002\n")
    shown = cli("recommend", str(run.path), "--users-file", str(users), "--format", "csv")
    assert shown.returncode == 0, shown.stderr
    table = pd.read_csv(__import__("io").StringIO(shown.stdout))
    assert list(table.columns[:5]) == ["user", "rank", "item", "label", "score"]
    assert table.groupby("user").size().to_dict() == {1001: 10, 1002: 10}
    expected = run.recommend_many([1001, 1002], k=10)
    assert list(table["item"]) == list(expected["item"])

    users.write_text("user,note\n1001,a\n7,b\n")
    shown = cli("recommend", str(run.path), "--users-file", str(users))
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.count("\n") == 1
    assert "users.txt, line 3" in shown.stderr and "unknown user id '7'" in shown.stderr


def test_damaged_or_unfinished_runs_are_refused_in_one_line(run, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(run.path, damaged)
    with open(damaged / "best.ckpt", "r+b") as handle:
        handle.truncate(100)
    shown = cli("export", str(damaged), "--format", "projector", "--out", str(tmp_path / "x"))
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1, shown.stderr
    assert "best.ckpt" in shown.stderr and not (tmp_path / "x").exists()

    live = tmp_path / "live"
    shutil.copytree(run.path, live)
    write_json(live / "progress.json", {"state": "running", "pid": os.getpid()})
    with pytest.raises(RunError, match="still training"):
        hmf_core.open_run(live)
    write_json(live / "progress.json", {"state": "failed", "error": "diverged at epoch 3"})
    with pytest.raises(RunError, match="did not finish .diverged at epoch 3"):
        hmf_core.open_run(live)


def test_train_uses_the_readers_checks_and_the_settings_names(tmp_path):
    frame = pd.DataFrame({"who": [1, 2], "what": [3, 4]})
    with pytest.raises(DataFormatError, match="ratings.parquet"):
        hmf_core.train(frame, run_dir=tmp_path / "a", max_epochs=1)
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        hmf_core.train(frame, run_dir=tmp_path / "b", epochs=1)


def test_import_hmf_core_is_light():
    code = (
        "import sys, hmf_core; heavy = {'torch', 'pytorch_lightning', 'streamlit', 'pandas'}; "
        "print(sorted(heavy & set(sys.modules))); "
        "from hmf_core import open_run; "
        "print(sorted({'pytorch_lightning', 'streamlit', 'umap'} & set(sys.modules)))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120
    )
    assert shown.stdout.splitlines() == ["[]", "[]"], shown.stderr


def test_quickstart_example_runs(tmp_path):
    shown = subprocess.run(
        [sys.executable, "examples/quickstart.py", "--users", "30", "--epochs", "2"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    text = shown.stdout
    assert "top 10 for user 1 (predicted rating, not clipped" in text
    top = text.split("top 10 for user 1")[1].split("\n\n")[0].splitlines()[2:]
    assert len(top) == 10 and [line.split()[0] for line in top] == [str(r) for r in range(1, 11)]
    assert "(19" in top[0] or "(20" in top[0]  # a title with its year
    assert "terms add up to" in text and "vectors.tsv: " in text and "metadata.tsv: " in text


def test_recommend_rating_is_the_score_clipped_to_the_data_scale(run):
    """A rating shown to a user stays on the data's scale (5.45 on a 0.5-5 scale read 5.45);
    `score` stays the model's raw output, which predict and explain's terms add up to."""
    from hmf_core.interpret.scale import shown_prediction

    bold = hmf_core.open_run(run.path)  # its own model: the module's run is left as trained
    with torch.no_grad():
        for parameter in bold.model.parameters():
            parameter.mul_(4.0)  # scores far above the scale
    low, high = bold.rating_scale
    assert (low, high) == (0.5, 5.0)
    top = bold.recommend(1003, k=len(bold.items()), exclude_seen=False)
    assert top["score"].max() > high
    np.testing.assert_allclose(top["rating"], np.clip(top["score"], low, high))
    best = top.iloc[0]
    assert best["rating"] == high and bold.predict(1003, best["item"]) == pytest.approx(
        best["score"], rel=1e-5
    )
    assert shown_prediction(5.4512, (0.5, 5.0)) == ("5.00 (model 5.45, clipped to the 0.5-5 scale)")
    assert shown_prediction(3.4123, (0.5, 5.0)) == "3.412"
