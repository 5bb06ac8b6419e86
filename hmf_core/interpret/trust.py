"""How much to trust a level of clusters, in words: a verdict and the figures behind it.

Reads the dict interpret.quality writes (quality.json) and says, for one side and level (MFDMC:
view, the word in quality.json's "grouping"), whether memberships are crisp, mixed or near
uniform, how far they moved from their start, and how well the argmax clusters agree with each
metadata column against k-means on plain MF and chance. With the run's stability.json
(interpret.stability) it adds the one overall judgement: *trusted* only when the clusters are
all three of
- sharp: crisp memberships (mean top membership >= CRISP);
- stable: other seeds find them again (mean pairwise ARI of top clusters >= STABLE_ARI);
- meaningful: on at least one metadata column their AMI beats k-means on plain MF's embeddings
  (the MF comparison's "mf_kmeans" records), i.e. the model found structure MF + k-means did not;
and otherwise names the checks that fail or were not measured ("sharp, but unstable across
seeds (mean ARI 0.29)"). The dashboard shows these sentences beside every cluster view; they
are plain text (column names come from user files, so the caller must show them literally).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hmf_core.interpret.quality import find_record

CRISP = 0.5  # mean top membership from which clusters read as crisp (issue 7's target)
DIFFUSE_FACTOR = 3.0  # below 3x the uniform 1/k (or below 0.2), memberships are near uniform
# Mean pairwise ARI from which clusters count as stable across seeds: a chosen line, not a
# standard (ARI 1 = the same partition, ~0 = chance). Measured here: planted 3x3 groups give
# 1.000; planted 4x4 groups on which two seeds merged groups gave 0.66-0.86 (tests/test_stability).
STABLE_ARI = 0.8
MEASURE_STABILITY = (
    "run `python -m hmf_core stability RUN_DIR` (or Measure stability on the Metrics page)"
)


@dataclass
class Trust:
    verdict: str  # sharpness: "crisp", "mixed", "near uniform" or "unknown"
    sentences: list[str] = field(default_factory=list)
    # the overall judgement: sharp AND stable AND beyond MF k-means on some metadata column
    trusted: bool = False
    failing: list[str] = field(default_factory=list)  # short reasons it is not trusted
    unstable: bool = False  # stability was measured and is below STABLE_ARI

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def cluster_trust(quality: dict, side: str, level: int = 1, stability: dict | None = None) -> Trust:
    """The verdict on `side` ("user" or "item") clusters at `level`, with its reasons, led by
    the overall judgement (module docstring); `stability`: the run's stability.json (None or {}:
    not measured, so never trusted). A damaged quality.json (wrong types, missing fields) gives
    "unknown" and says so."""
    try:
        return _judged(_cluster_trust(quality, side, level), quality, side, level, stability)
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        return Trust(
            "unknown",
            [
                f"quality.json is damaged ({type(exc).__name__}: {exc}); recompute it with "
                "python -m hmf_core quality RUN_DIR."
            ],
            failing=["quality.json damaged"],
        )


def _judged(trust: Trust, quality: dict, side: str, level: int, stability) -> Trust:
    """`trust` with the overall judgement put first: its three checks, passed and failed."""
    if trust.verdict == "unknown":
        trust.failing = trust.failing or ["cluster quality unknown"]
        return trust
    passed, failed, short = [], [], []
    if trust.verdict == "crisp":
        passed.append("sharp")
    else:
        failed.append(f"not sharp (memberships {trust.verdict})")
        short.append("not sharp")
    stable, trust.unstable = _stability_check(stability, side, level)
    (passed if stable[0] else failed).append(stable[1])
    short += [] if stable[0] else [stable[2]]
    agrees = _agreement_check(quality, side, level)
    (passed if agrees[0] else failed).append(agrees[1])
    short += [] if agrees[0] else [agrees[2]]
    trust.trusted, trust.failing = not failed, short
    if trust.trusted:
        head = f"Trusted: {passed[0]}, {passed[1]}, and {passed[2]}."
    else:
        head = "Not trusted yet: " + (", ".join(passed) + ", but " if passed else "")
        head += "; ".join(failed) + "."
    trust.sentences.insert(0, head)
    return trust


def _stability_check(stability, side: str, level: int) -> tuple[tuple[bool, str, str], bool]:
    """((passed, phrase, short reason), measured-and-unstable) from a stored stability.json."""
    if isinstance(stability, dict) and stability.get("error"):
        text = f"stability unreadable ({stability['error']})"
        return (False, text, "stability unreadable"), False
    sides = stability.get("sides") if isinstance(stability, dict) else None
    levels = sides.get(side) if isinstance(sides, dict) else None
    found = [
        record
        for record in (levels if isinstance(levels, list) else [])
        if isinstance(record, dict) and record.get("level") == level
    ]
    ari, what = _stable_ari(found[0]) if found else (None, "")
    if not isinstance(ari, (int, float)):
        return (False, f"stability not measured: {MEASURE_STABILITY}", "stability not measured"), (
            False
        )
    runs = stability.get("runs", "?")
    if ari >= STABLE_ARI:
        return (True, f"stable across seeds ({what} {ari:.2f} over {runs} runs)", ""), False
    text = f"unstable across seeds ({what} {ari:.2f} over {runs} runs; stable from {STABLE_ARI})"
    return (False, text, f"unstable (mean ARI {ari:.2f})"), True


def _stable_ari(record: dict) -> tuple[float | None, str]:
    """The ARI stability is judged by, and its words: the mean pairwise ARI of the level; for a
    view (parallel groupings, which each seed numbers its own way), the mean ARI with the
    best-agreeing view of each other seed (interpret.stability.best_partners) when stored."""
    partners = record.get("best_partners")
    partners = partners if isinstance(partners, list) else []
    aris = [p.get("ari") for p in partners if isinstance(p, dict)]
    aris = [a for a in aris if isinstance(a, (int, float))]
    if aris:
        return sum(aris) / len(aris), "mean ARI with the best-agreeing view of each other seed"
    return record.get("mean_ari"), "mean ARI"


def _agreement_check(quality: dict, side: str, level: int) -> tuple[bool, str, str]:
    """(passed, phrase, short reason): does any metadata column agree with the clusters more
    than with k-means on plain MF's embeddings (AMI)?"""
    columns = quality.get("columns", {}).get(side, [])
    if not columns:
        text = f"agreement not measured: no {side} metadata columns"
        return False, text, "no metadata to check"
    beyond, compared = [], 0
    for column in columns:
        scores = {
            method: find_record(
                quality.get("agreement", []), side=side, level=level, column=column, method=method
            ).get("ami")
            for method in ("model", "mf_kmeans")
        }
        if scores["model"] is None or scores["mf_kmeans"] is None:
            continue
        compared += 1
        if scores["model"] > scores["mf_kmeans"]:
            beyond.append(f"{column} (AMI {scores['model']:.3f} vs {scores['mf_kmeans']:.3f})")
    if beyond:
        return True, "agree with metadata beyond k-means on plain MF: " + ", ".join(beyond), ""
    if not compared:
        text = (
            "agreement beyond k-means on plain MF not measured (the run trained no MF comparison)"
        )
        return False, text, "no MF comparison"
    text = "no closer to any metadata column than k-means on plain MF"
    return False, text, "no better than MF k-means"


def _word(quality: dict) -> str:
    """What the run's grouping numbers count: "view" for MFDMC, else "level" (quality.json's
    "grouping")."""
    word = quality.get("grouping")
    return word if word in ("level", "view") else "level"


def _cluster_trust(quality: dict, side: str, level: int) -> Trust:
    if not isinstance(quality, dict) or not quality or "error" in quality:
        quality = quality if isinstance(quality, dict) else {}
        reason = quality.get("error") if quality else "no cluster quality was computed"
        return Trust(
            "unknown", [f"Cluster quality unavailable: {reason}."], failing=["quality unknown"]
        )
    sharp = find_record(quality.get("sharpness", []), side=side, level=level)
    if not sharp:
        where = f"{_word(quality)} {level}"
        return Trust("unknown", [f"No {side} clusters at {where}."], failing=["no clusters"])
    k, top = sharp["clusters"], sharp["mean_max"]
    if top >= CRISP:
        verdict = "crisp"
    elif top < max(0.2, DIFFUSE_FACTOR / k):
        verdict = "near uniform"
    else:
        verdict = "mixed"
    sentences = [
        f"{side.capitalize()} clusters, {_word(quality)} {level}: memberships are {verdict} "
        f"(mean top membership {top:.2f}; uniform would be {1 / k:.3f}; "
        f"{sharp['share_max_above_half']:.0%} of {side}s have a cluster above 0.5; "
        f"{sharp['clusters_used']} of {k} clusters are someone's top cluster)."
    ]
    if verdict == "near uniform":
        remedy = (
            "train longer or with a larger --view-entropy-weight (it sharpens each view's weights)"
            if _word(quality) == "view"
            else "train with the interpretable preset"
        )
        sentences.append(
            "Each member belongs to many clusters almost equally, so a cluster's members and "
            f"names say little; {remedy} for crisper clusters."
        )
    moved = find_record(quality.get("movement", []), side=side, level=level)
    if moved.get("logit_correlation") is not None:
        start = "random start" if quality.get("start", "none") == "none" else "warm start"
        sentences.append(
            f"Memberships moved from their {start}: logit correlation "
            f"{moved['logit_correlation']:.2f}, {moved['argmax_unchanged']:.0%} of top "
            "clusters unchanged."
        )
    for column in quality.get("columns", {}).get(side, []):
        model = find_record(quality.get("agreement", []), side=side, level=level, column=column)
        if not model:
            continue
        scores = {
            method: find_record(
                quality["agreement"], side=side, level=level, column=column, method=method
            ).get("ami")
            for method in ("model", "mf_kmeans", "kmeans", "random")
        }
        baseline = (
            f"k-means on plain MF {_number(scores['mf_kmeans'])}"
            if scores["mf_kmeans"] is not None
            else f"k-means on these embeddings {_number(scores['kmeans'])}"
        )
        sentences.append(
            f"Agreement with {column}: AMI {_number(scores['model'])} "
            f"({baseline}, random {_number(scores['random'])})."
        )
    return Trust(verdict, sentences)


def trust_line(quality: dict, levels: dict[str, int], stability: dict | None = None) -> str:
    """One short line for pages where space is scarce (the map): each side's sharpness, mean
    top membership and overall judgement, e.g. "Cluster quality: users mixed (top membership
    0.45), not trusted: not sharp, stability not measured; items crisp (top membership 0.72),
    trusted; details on the Metrics page." Sides at level 0 (plain MF) are left out."""
    quality = quality if isinstance(quality, dict) else {}
    parts = []
    for side, level in levels.items():
        if level < 1:
            continue
        trust = cluster_trust(quality, side, level, stability)
        sharp = find_record(quality.get("sharpness") or [], side=side, level=level)
        top = sharp.get("mean_max") if trust.verdict != "unknown" else None
        figure = f" (top membership {top:.2f})" if isinstance(top, (int, float)) else ""
        judged = "trusted" if trust.trusted else "not trusted: " + ", ".join(trust.failing)
        parts.append(f"{side}s {trust.verdict}{figure}, {judged}")
    if not parts:
        return ""
    return "Cluster quality: " + "; ".join(parts) + "; details on the Metrics page."
