"""hmf_core.interpret.explanation: three views of eq. (11) whose bars add up to the prediction."""

from __future__ import annotations

import pytest
import torch

from hmf_core.interpret.explanation import bias_terms, explanation_views
from hmf_core.interpret.queries import explain_pair
from hmf_core.models.hmf import HMF, HMFConfig


@pytest.mark.parametrize("use_bias", [False, True])
def test_every_view_adds_up_to_the_prediction(use_bias):
    torch.manual_seed(0)
    model = HMF(HMFConfig(30, 20, dim=4, user_clusters=(8,), item_clusters=(6,), use_bias=use_bias))
    if use_bias:
        with torch.no_grad():
            model.global_bias.fill_(3.5)
            model.user_bias.normal_()
            model.item_bias.normal_()
    prediction = float(model(torch.tensor([3]), torch.tensor([5])))
    pairs = explain_pair(model, 3, 5)
    views = explanation_views(pairs, bias_terms(model, 3, 5), top=3)
    assert set(views) == {"by user cluster", "by item cluster", "top pairs"}
    for name, view in views.items():
        assert view.bars["contribution"].sum() == pytest.approx(prediction, abs=1e-5), name
        assert view.prediction == pytest.approx(prediction, abs=1e-5)
        kinds = view.bars["kind"].tolist()
        assert kinds[:3] == ["cluster"] * 3 and kinds[3] == "rest"
        assert (kinds.count("bias") == 3) == use_bias
        assert 0 < view.covered <= 1
    assert views["by user cluster"].total == 8 and views["by item cluster"].total == 6
    assert views["top pairs"].total == 48
    assert "rest (45 more)" in views["top pairs"].bars["part"].tolist()


def test_shown_parts_are_the_largest_and_coverage_is_their_share():
    torch.manual_seed(1)
    model = HMF(HMFConfig(10, 10, dim=3, user_clusters=(5,), item_clusters=(4,)))
    pairs = explain_pair(model, 0, 0)
    view = explanation_views(pairs, top=2)["by user cluster"]
    parts = pairs.groupby("user_cluster")["contribution"].sum().abs().sort_values()
    shown = view.bars[view.bars["kind"] == "cluster"]["contribution"].abs()
    assert sorted(shown.round(8)) == sorted(parts.tail(2).round(8))
    assert view.covered == pytest.approx(parts.tail(2).sum() / parts.sum())
    assert "2 of 5 parts shown" in view.summary


def test_parts_are_labelled_by_cluster_names():
    torch.manual_seed(2)
    model = HMF(HMFConfig(6, 6, dim=3, user_clusters=(2,), item_clusters=(2,)))
    names = {"user_cluster": {0: "Drama fans", 1: "Kids"}, "item_cluster": {0: "Noir"}}
    views = explanation_views(explain_pair(model, 0, 0), names=names)
    assert set(views["by user cluster"].bars["part"]) == {"user c0 (Drama fans)", "user c1 (Kids)"}
    assert set(views["by item cluster"].bars["part"]) == {"item c0 (Noir)", "item c1"}
    assert "user c0 (Drama fans) × item c0 (Noir)" in set(views["top pairs"].bars["part"])
