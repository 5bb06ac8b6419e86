"""What every model family (hmf_core.models.registry.FAMILIES) must do, as a mixin (in the spirit
of implicit's RecommenderBaseTestMixin): tests/test_families.py has one class per family,
`class TestX(FamilyContract)`, which sets `family` and `train_flags` (the family-specific hook:
the CLI flags of its tiny run). Each class trains one tiny real run through the command line
(Lightning, a few epochs on planted synthetic data, in a tmp run directory) and checks it
through the ClusterModel interface (hmf_core/models/interface.py) only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import hmf_cli
from streamlit import config
from streamlit.testing.v1 import AppTest

from hmf_core.data.synthetic import planted_ratings, to_csv
from hmf_core.models.interface import SIDES, decompose, n_objects
from hmf_core.runs.rundir import RunDir, load_checkpoint, read_checkpoint

PAGES = ("data", "train", "map", "affinity", "membership", "explain", "metrics", "compare")
EPOCHS = 4


class FamilyContract:
    family: str = ""  # the registry key under test
    train_flags: tuple[str, ...] = ()  # the family-specific hook: its tiny run's CLI flags

    @pytest.fixture(scope="class")
    def run_dir(self, tmp_path_factory):
        """A finished tiny run of the family (with its MF comparison), trained by the CLI."""
        root = tmp_path_factory.mktemp(f"family-{self.family}")
        to_csv(planted_ratings(n_users=120, n_items=80, density=0.3, seed=1), root / "r.csv")
        flags = ["--data", root / "r.csv", "--run-dir", root / "runs" / "tiny"]
        flags += ["--family", self.family, "--split", "random", "--max-epochs", EPOCHS]
        flags += ["--lr", "0.02", "--dim", "8", "--compare-mf", "--no-projection"]
        done = hmf_cli("train", *flags, *self.train_flags)
        assert done.returncode == 0, done.stderr[-3000:]
        return root / "runs" / "tiny"

    @pytest.fixture(scope="class")
    def loaded(self, run_dir):
        """The model and hyperparameters rebuilt from best.ckpt alone."""
        return load_checkpoint(RunDir(run_dir).file("checkpoint"))

    # ------------------------------------------------------------------ the tests

    def test_the_family_key_is_in_settings_meta_and_the_checkpoint(self, run_dir, loaded):
        run = RunDir(run_dir)
        assert json.loads(run.file("settings").read_text())["family"] == self.family
        assert run.meta()["family"] == self.family
        checkpoint = read_checkpoint(run.file("checkpoint"))
        assert checkpoint["hyper_parameters"]["family"] == self.family
        model, hparams = loaded
        assert model.family == self.family and hparams["family"] == self.family

    def test_the_checkpoint_alone_rebuilds_the_tested_model(self, run_dir, loaded):
        """Config round trip: the rebuilt model's config is the saved one, and its RMSE on the
        run's test rows is the test RMSE training recorded for that checkpoint."""
        model, hparams = loaded
        assert model.config.to_dict() == hparams["config"]
        assert type(model.config)(**hparams["config"]) == model.config
        run = RunDir(run_dir)
        test = run.interactions().query("stage == 'test'")
        with torch.no_grad():
            scores = model(
                torch.as_tensor(test["user"].to_numpy().copy()),
                torch.as_tensor(test["item"].to_numpy().copy()),
            )  # (T,)
        ratings = torch.as_tensor(test["rating"].to_numpy(), dtype=torch.float64)
        rmse = float(torch.sqrt(torch.mean((scores.double() - ratings) ** 2)))
        assert rmse == pytest.approx(run.test_metrics()["test_rmse"], abs=1e-5)

    def test_memberships_are_distributions_over_clusters_in_the_scoring_space(self, loaded):
        model, _ = loaded
        for side in SIDES:
            found = model.groupings(side)
            assert found, f"the tiny {self.family} run has {side} clusters"
            for grouping in found:
                rows = n_objects(model, side)
                assert grouping.membership.shape == (rows, grouping.n_clusters)
                assert grouping.cluster_vectors.shape == (grouping.n_clusters, model.config.dim)
                assert (grouping.membership >= 0).all()
                sums = grouping.membership.double().sum(1)  # (M,)
                assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)

    def test_every_grouping_pair_decomposes_each_score_exactly(self, loaded):
        model, _ = loaded
        exact = type(model)(model.config)
        exact.load_state_dict(model.state_dict())
        exact = exact.double().eval()
        pairs = [(0, 0), (7, 3), (n_objects(model, "user") - 1, n_objects(model, "item") - 1)]
        user_groupings = range(len(model.groupings("user")) + 1)  # 0: the object itself
        item_groupings = range(len(model.groupings("item")) + 1)
        for user, item in pairs:
            with torch.no_grad():
                score = float(exact(torch.tensor([user]), torch.tensor([item]))[0])
            for g in user_groupings:
                for h in item_groupings:
                    parts = decompose(exact, user, item, g, h)
                    total = parts["pairs"].sum() + parts["user_own"] + parts["item_own"]
                    biases = sum(parts["biases"].values(), torch.zeros((), **F64))
                    total = float((total + biases).detach())
                    assert total == pytest.approx(score, abs=1e-6), (user, item, g, h)

    def test_the_mf_comparison_is_plain_mf_of_the_hmf_family(self, run_dir):
        mf, hparams = load_checkpoint(RunDir(run_dir / "mf").file("checkpoint"))
        assert hparams["family"] == "hmf" and mf.family == "hmf"
        assert mf.groupings("user") == [] and mf.groupings("item") == []

    @pytest.mark.usefixtures("data_in_tmp")
    def test_every_dashboard_page_opens_on_a_run_of_the_family(self, run_dir, monkeypatch):
        monkeypatch.setenv("HMF_RUNS_DIR", str(run_dir.parent))
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.query_params["run"] = run_dir.name
        at.run()
        shown = config.get_option("client.showErrorDetails")
        config.set_option("client.showErrorDetails", "full")  # the app's own: the type only
        failed = {}
        try:
            for page in PAGES:
                at.switch_page(f"views/{page}.py").run()
                if at.exception:
                    error = at.exception[0].proto
                    where = [line.split("\n")[0].strip() for line in error.stack_trace[-2:]]
                    failed[page] = f"{error.message[:150]} at {' / '.join(where)}"
        finally:
            config.set_option("client.showErrorDetails", shown)
        assert not failed, failed


F64 = {"dtype": torch.float64}
APP = __import__("conftest").REPO / "dashboard" / "app.py"


def adjusted_rand(labels: np.ndarray, planted: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(planted, labels))
