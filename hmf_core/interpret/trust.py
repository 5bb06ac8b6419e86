"""How much to trust a level of clusters, in words: a verdict and the figures behind it.

Reads the dict interpret.quality writes (quality.json) and says, for one side and level, whether
memberships are crisp, mixed or near uniform, how far they moved from their start, and how well
the argmax clusters agree with each metadata column against k-means on plain MF and chance. The
dashboard shows these sentences beside every cluster view; they are plain text (column names
come from user files, so the caller must show them literally).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hmf_core.interpret.quality import find_record

CRISP = 0.5  # mean top membership from which clusters read as crisp (issue 7's target)
DIFFUSE_FACTOR = 3.0  # below 3x the uniform 1/k (or below 0.2), memberships are near uniform


@dataclass
class Trust:
    verdict: str  # "crisp", "mixed", "near uniform" or "unknown"
    sentences: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def cluster_trust(quality: dict, side: str, level: int = 1) -> Trust:
    """The verdict on `side` ("user" or "item") clusters at `level`, with its reasons; a
    damaged quality.json (wrong types, missing fields) gives "unknown" and says so."""
    try:
        return _cluster_trust(quality, side, level)
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        return Trust(
            "unknown",
            [
                f"quality.json is damaged ({type(exc).__name__}: {exc}); recompute it with "
                "python -m hmf_core quality RUN_DIR."
            ],
        )


def _cluster_trust(quality: dict, side: str, level: int) -> Trust:
    if not isinstance(quality, dict) or not quality or "error" in quality:
        quality = quality if isinstance(quality, dict) else {}
        reason = quality.get("error") if quality else "no cluster quality was computed"
        return Trust("unknown", [f"Cluster quality unavailable: {reason}."])
    sharp = find_record(quality.get("sharpness", []), side=side, level=level)
    if not sharp:
        return Trust("unknown", [f"No {side} clusters at level {level}."])
    k, top = sharp["clusters"], sharp["mean_max"]
    if top >= CRISP:
        verdict = "crisp"
    elif top < max(0.2, DIFFUSE_FACTOR / k):
        verdict = "near uniform"
    else:
        verdict = "mixed"
    sentences = [
        f"{side.capitalize()} clusters, level {level}: memberships are {verdict} "
        f"(mean top membership {top:.2f}; uniform would be {1 / k:.3f}; "
        f"{sharp['share_max_above_half']:.0%} of {side}s have a cluster above 0.5; "
        f"{sharp['clusters_used']} of {k} clusters are someone's top cluster)."
    ]
    if verdict == "near uniform":
        sentences.append(
            "Each member belongs to many clusters almost equally, so a cluster's members and "
            "names say little; train with the interpretable preset for crisper clusters."
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


def trust_line(quality: dict, levels: dict[str, int]) -> str:
    """One short line for pages where space is scarce (the map): each side's verdict and mean
    top membership, e.g. "Clusters, level 1: users mixed (top membership 0.45), items crisp
    (0.57)." Sides at level 0 (plain MF) are left out."""
    quality = quality if isinstance(quality, dict) else {}
    parts = []
    for side, level in levels.items():
        if level < 1:
            continue
        trust = cluster_trust(quality, side, level)
        sharp = find_record(quality.get("sharpness") or [], side=side, level=level)
        top = sharp.get("mean_max") if trust.verdict != "unknown" else None
        figure = f" (top membership {top:.2f})" if isinstance(top, (int, float)) else ""
        parts.append(f"{side}s {trust.verdict}{figure}")
    if not parts:
        return ""
    return "Cluster quality: " + ", ".join(parts) + "; details on the Metrics page."
