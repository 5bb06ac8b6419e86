"""hmf_core.interpret.explanation: three views of eq. (11) whose bars add up to the prediction."""

from __future__ import annotations

import pytest
import torch

from hmf_core.interpret.explanation import (
    bias_terms,
    explain_by_view,
    explains_by_view,
    explanation_views,
    view_totals,
)
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


# --- MFDMC: a prediction as a sum over views ------------------------------------------------


def mfdmc(combine: str = "concat", use_bias: bool = True):
    from hmf_core.models.mfdmc import MFDMC, MFDMCConfig

    torch.manual_seed(2)
    config = MFDMCConfig(30, 20, dim=8, views=4, user_centres=5, item_centres=3, combine=combine)
    model = MFDMC(MFDMCConfig(**{**config.to_dict(), "use_bias": use_bias}))
    if use_bias:
        with torch.no_grad():
            model.global_bias.fill_(3.5)
            model.user_bias.normal_()
            model.item_bias.normal_()
    return model


@pytest.mark.parametrize("combine", ["concat", "sum"])
@pytest.mark.parametrize("use_bias", [False, True])
def test_a_prediction_by_view_adds_up_to_the_model_score(combine, use_bias):
    """The parts of explain_by_view (the per-view cluster pairs, the cross-view terms when views
    share coordinates, the biases) sum to model(u, i), and view_totals' bars too."""
    model = mfdmc(combine, use_bias)
    for user, item in [(0, 0), (3, 5), (29, 19)]:
        score = float(model(torch.tensor([user]), torch.tensor([item]))[0])
        parts = explain_by_view(model, user, item)
        assert parts["contribution"].sum() == pytest.approx(score, abs=1e-5)
        totals = view_totals(parts)
        assert totals["contribution"].sum() == pytest.approx(score, abs=1e-5)
        assert totals["part"].tolist()[:4] == ["view 1", "view 2", "view 3", "view 4"]
        assert (totals["kind"] == "bias").sum() == (3 if use_bias else 0)
        # Each view pairs its own 5 user and 3 item centres: 4 x 15 pairs.
        pairs = parts[parts["user_cluster"].notna()]
        assert len(pairs) == 4 * 5 * 3
        assert pairs.groupby("view").size().tolist() == [15] * 4
        across = "across views" in parts["view"].tolist()
        assert across == (combine == "sum")  # concat: each view owns its slice, no cross terms


def test_a_view_total_is_the_inner_product_of_the_views_slices():
    model = mfdmc("concat", use_bias=False)
    totals = view_totals(explain_by_view(model, 4, 7))
    u, v = model.object_vectors("user")[4], model.object_vectors("item")[7]  # (8,), (8,)
    for view in range(4):
        piece = slice(2 * view, 2 * view + 2)
        expected = float(u[piece] @ v[piece])
        assert totals["contribution"][view] == pytest.approx(expected, abs=1e-5)


def test_only_models_with_views_are_explained_by_view():
    hmf = HMF(HMFConfig(10, 10, dim=3, user_clusters=(5,), item_clusters=(4,)))
    assert not explains_by_view(hmf) and explains_by_view(mfdmc())
    with pytest.raises(ValueError, match="groupings are views.*this one has levels"):
        explain_by_view(hmf, 0, 0)
    with pytest.raises(ValueError, match="item index must be between 0 and 19, got 20"):
        explain_by_view(mfdmc(), 0, 20)
