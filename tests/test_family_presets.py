"""Presets per family (issue 20): "paper" and "interpretable" give MFDMC its own recipe
(training.settings.FAMILY_PRESETS), HMF and twostage keep theirs, and the CLI's --preset with
--family mfdmc lays that recipe under the flags typed (an MFDMC flag not typed never overwrites
it with its default)."""

from __future__ import annotations

import argparse

import pytest

from hmf_core.cli import build_parser, given_options, settings_from_args
from hmf_core.models.registry import MFDMC_FIELDS
from hmf_core.training.settings import (
    MFDMC_TUNED,
    PRESETS,
    TrainSettings,
    preset_fields,
    with_preset,
)

DEFAULTS = TrainSettings()

# The method note's section 7 (/work/shared/paper/mfdmc-method.md), decision by decision.
SECTION_7 = {
    "use_bias": False,  # 5: biases off, like FunkMF and HMF
    "init_std": 1.0,  # N(0, 1), the authors' HMF start
    "spread_weight": 0.01,  # 6: lambda_s = lambda_p = lambda_e = 0.01, rho = 1
    "proximity_weight": 0.01,
    "view_entropy_weight": 0.01,
    "spread_margin": 1.0,
    "prune_from": 40,  # 7: from epoch 40, theta = 0.5, K_min = 2
    "prune_threshold": 0.5,
    "min_centres": 2,
    "views": 4,  # 3: V = 4, K0 = 10
    "user_centres": 10,
    "item_centres": 10,
}


def test_mfdmc_paper_preset_is_the_method_notes_section_7():
    chosen = with_preset("paper", family="mfdmc", data="r.csv")
    for name, value in SECTION_7.items():
        assert getattr(chosen, name) == value, name
    assert chosen.logit_lr is None and chosen.preset == "paper"
    chosen.validate()


def test_mfdmc_interpretable_preset_has_biases_fast_logits_and_the_tuned_values():
    chosen = with_preset("interpretable", family="mfdmc", data="r.csv")
    assert (chosen.use_bias, chosen.init_std, chosen.logit_lr) == (True, 0.1, 1e-2)
    assert MFDMC_TUNED == {"prune_from": 5}
    for name, value in MFDMC_TUNED.items():
        assert getattr(chosen, name) == value, name
    # the spectral warm start is read (a block of the vectors per view); HMF's entropy weight
    # is not MFDMC's: left at its default, not refused
    assert (chosen.warm_start, chosen.entropy_weight) == ("spectral", 0.0)
    chosen.validate()
    paper = with_preset("paper", family="mfdmc")
    assert {n for n in MFDMC_FIELDS if getattr(paper, n) != getattr(chosen, n)} == set(MFDMC_TUNED)


def test_a_field_given_wins_over_the_mfdmc_preset():
    chosen = with_preset("paper", family="mfdmc", prune_from=-1, views=2, use_bias=True)
    assert (chosen.prune_from, chosen.views, chosen.use_bias) == (-1, 2, True)
    assert chosen.spread_weight == 0.01  # the rest of the recipe stays


@pytest.mark.parametrize("name", list(PRESETS))
def test_hmf_and_twostage_presets_are_unchanged(name):
    hmf = with_preset(name)
    assert preset_fields(name) == PRESETS[name] == preset_fields(name, "hmf")
    assert all(getattr(hmf, k) == v for k, v in PRESETS[name].items())
    assert all(getattr(hmf, n) == getattr(DEFAULTS, n) for n in MFDMC_FIELDS)  # no MFDMC leak
    twostage = with_preset(name, family="twostage")
    assert preset_fields(name, "twostage") == {
        k: v for k, v in PRESETS[name].items() if k in ("use_bias", "init_std")
    }
    assert all(getattr(twostage, n) == getattr(DEFAULTS, n) for n in MFDMC_FIELDS)


def test_an_unknown_preset_is_refused_in_one_line_for_every_family():
    for family in (None, "hmf", "mfdmc"):
        with pytest.raises(ValueError, match=r"^preset must be one of paper, interpretable"):
            preset_fields("fast", family)


# --- the CLI ----------------------------------------------------------------------------------


def typed(*argv: str) -> TrainSettings:
    """The settings of `train ARGV` as `main` makes them (only the options typed override)."""
    parser = build_parser()
    args = parser.parse_args(["train", "--data", "r.csv", *argv])
    return settings_from_args(args, given_options(parser, ["train", "--data", "r.csv", *argv]))


def test_the_cli_preset_with_family_mfdmc_gives_its_recipe():
    paper = typed("--family", "mfdmc", "--preset", "paper")
    assert {n: getattr(paper, n) for n in SECTION_7} == SECTION_7
    default = typed("--family", "mfdmc")  # --preset's default, stable: MFDMC's interpretable
    assert default.preset == "stable" and default.warm_start == "spectral"
    assert (default.prune_from, default.view_entropy_weight) == (5, 0.01)
    assert (default.use_bias, default.logit_lr) == (True, 1e-2)
    # a flag typed wins over the recipe, even at TrainSettings' default value
    mixed = typed("--family", "mfdmc", "--prune-from", "40", "--views", "2")
    assert (mixed.prune_from, mixed.views, mixed.warm_start) == (40, 2, "spectral")


def test_an_mfdmc_flag_not_typed_never_overwrites_the_recipe_even_without_given():
    """settings_from_args without `given` (the sweep's trials, tests) takes every option that
    has a value: the MFDMC flags have none unless typed, so the recipe's values stay."""
    args = build_parser().parse_args(["train", "--data", "r.csv", "--family", "mfdmc"])
    assert args.prune_from is None and args.views is None and args.view_combine is None
    chosen = settings_from_args(args)
    assert (chosen.prune_from, chosen.warm_start) == (5, "spectral")
    trial = settings_from_args(argparse.Namespace(**{**vars(args), "views": 2}))  # a sweep point
    assert (trial.views, trial.prune_from) == (2, 5)
    hmf = settings_from_args(build_parser().parse_args(["train", "--data", "r.csv"]))
    assert all(getattr(hmf, n) == getattr(DEFAULTS, n) for n in MFDMC_FIELDS)
    hmf.validate()  # MFDMC's fields at their defaults: not refused for HMF


def test_a_typed_preset_replaces_the_config_files_mfdmc_recipe():
    parser = build_parser()
    argv = ["train", "--preset", "paper"]
    config = {"data": "r.csv", "family": "mfdmc", "preset": "interpretable", "prune_from": 5}
    config |= {"view_entropy_weight": 0.05, "dim": 8}
    args = parser.parse_args(argv)
    chosen = settings_from_args(args, given_options(parser, argv), config)
    assert (chosen.preset, chosen.prune_from, chosen.view_entropy_weight) == ("paper", 40, 0.01)
    assert chosen.dim == 8  # not a recipe field: the file's
    args = parser.parse_args(["train"])
    kept = settings_from_args(args, given_options(parser, ["train"]), config)
    assert (kept.preset, kept.prune_from, kept.dim) == ("interpretable", 5, 8)
