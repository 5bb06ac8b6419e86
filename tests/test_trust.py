"""hmf_core.interpret.trust: the verdict on a level of clusters, from hand-made quality figures."""

from __future__ import annotations

from hmf_core.interpret.trust import STABLE_ARI, cluster_trust, trust_line


def quality(mean_max: float, k: int = 100, correlation: float = 0.93) -> dict:
    return {
        "start": "none",
        "columns": {"item": ["genres"]},
        "sharpness": [
            {
                "side": "item",
                "level": 1,
                "clusters": k,
                "mean_max": mean_max,
                "share_max_above_half": 0.0,
                "clusters_used": k,
            }
        ],
        "movement": [
            {"side": "item", "level": 1, "logit_correlation": correlation, "argmax_unchanged": 0.6}
        ],
        "agreement": [
            {"side": "item", "level": 1, "column": "genres", "method": m, "ami": a}
            for m, a in (("model", 0.11), ("mf_kmeans", 0.03), ("kmeans", 0.05), ("random", 0.0))
        ],
    }


def test_verdicts_follow_the_mean_top_membership():
    assert cluster_trust(quality(0.72), "item").verdict == "crisp"
    assert cluster_trust(quality(0.3), "item").verdict == "mixed"
    diffuse = cluster_trust(quality(0.08), "item")
    assert diffuse.verdict == "near uniform"
    assert "interpretable preset" in diffuse.text
    assert "uniform would be 0.010" in diffuse.text


def test_the_reasons_name_movement_and_agreement_against_mf_kmeans():
    text = cluster_trust(quality(0.72), "item").text
    assert "random start: logit correlation 0.93, 60% of top clusters unchanged" in text
    assert "Agreement with genres: AMI 0.110 (k-means on plain MF 0.030, random 0.000)" in text


def test_missing_or_failed_quality_is_said_not_raised():
    assert cluster_trust({}, "item").verdict == "unknown"
    failed = cluster_trust({"error": "ValueError: boom"}, "user")
    assert failed.verdict == "unknown" and "boom" in failed.text
    assert cluster_trust(quality(0.5), "user").verdict == "unknown"  # no user records


def stability(mean_ari: float, side: str = "item", level: int = 1) -> dict:
    """A stored stability.json (hmf_core.interpret.stability) with one side and level."""
    return {"runs": 3, "sides": {side: [{"level": level, "mean_ari": mean_ari, "pairs": []}]}}


def test_sharp_stable_and_agreeing_clusters_are_trusted():
    trust = cluster_trust(quality(0.72), "item", 1, stability(0.97))
    assert trust.trusted and trust.failing == [] and trust.verdict == "crisp"
    assert trust.sentences[0] == (
        "Trusted: sharp, stable across seeds (mean ARI 0.97 over 3 runs), and agree with "
        "metadata beyond k-means on plain MF: genres (AMI 0.110 vs 0.030)."
    )


def test_sharp_but_unstable_clusters_are_not_trusted_and_say_why():
    trust = cluster_trust(quality(0.72), "item", 1, stability(0.29))
    assert not trust.trusted and trust.unstable
    assert trust.sentences[0].startswith(
        "Not trusted yet: sharp, agree with metadata beyond k-means on plain MF: genres (AMI "
        "0.110 vs 0.030), but unstable across seeds (mean ARI 0.29 over 3 runs"
    )
    assert trust.failing == ["unstable (mean ARI 0.29)"]
    assert not cluster_trust(quality(0.72), "item", 1, stability(STABLE_ARI - 0.01)).trusted
    assert cluster_trust(quality(0.72), "item", 1, stability(STABLE_ARI)).trusted


def test_unmeasured_stability_is_never_trusted_and_names_the_command():
    for stored in (None, {}, stability(0.97, level=2), stability(0.97, side="user")):
        trust = cluster_trust(quality(0.72), "item", 1, stored)
        assert not trust.trusted and not trust.unstable
        assert "stability not measured: run `python -m hmf_core stability RUN_DIR`" in trust.text
        assert trust.failing == ["stability not measured"]
    assert not cluster_trust(quality(0.72), "item").trusted  # callers without stability
    damaged = cluster_trust(quality(0.72), "item", 1, {"error": "stability.json: bad JSON"})
    assert not damaged.trusted and "stability unreadable (stability.json: bad JSON)" in damaged.text


def test_unsharp_or_no_better_than_mf_kmeans_is_not_trusted():
    mixed = cluster_trust(quality(0.3), "item", 1, stability(0.97))
    assert not mixed.trusted and mixed.failing == ["not sharp"]
    assert mixed.sentences[0].startswith("Not trusted yet: stable across seeds")
    assert "but not sharp (memberships mixed)" in mixed.sentences[0]
    weak = quality(0.72)
    for record in weak["agreement"]:
        record["ami"] = {"model": 0.02}.get(record["method"], record["ami"])
    trust = cluster_trust(weak, "item", 1, stability(0.97))
    assert not trust.trusted and trust.failing == ["no better than MF k-means"]
    assert "no closer to any metadata column than k-means on plain MF" in trust.text
    no_mf = quality(0.72)
    no_mf["agreement"] = [r for r in no_mf["agreement"] if r["method"] != "mf_kmeans"]
    trust = cluster_trust(no_mf, "item", 1, stability(0.97))
    assert not trust.trusted and "the run trained no MF comparison" in trust.text
    no_columns = {**quality(0.72), "columns": {}}
    trust = cluster_trust(no_columns, "item", 1, stability(0.97))
    assert not trust.trusted and "no item metadata columns" in trust.text


def test_the_short_line_names_each_side_and_leaves_out_plain_mf():
    line = trust_line(quality(0.72), {"item": 1, "user": 0})
    assert line == (
        "Cluster quality: items crisp (top membership 0.72), not trusted: stability not "
        "measured; details on the Metrics page."
    )
    assert trust_line(quality(0.72), {"item": 1}, stability(0.97)) == (
        "Cluster quality: items crisp (top membership 0.72), trusted; details on the Metrics page."
    )
    assert trust_line(quality(0.72), {"user": 0}) == ""


def test_a_damaged_quality_file_is_said_not_raised():
    damaged = quality(0.7)
    del damaged["sharpness"][0]["clusters"]
    trust = cluster_trust(damaged, "item")
    assert trust.verdict == "unknown" and "quality.json is damaged" in trust.text
    for broken in ([], {"sharpness": "x"}, {"sharpness": [3]}, None):
        assert cluster_trust(broken, "item").verdict == "unknown"
    assert trust_line([], {"item": 1}) == (
        "Cluster quality: items unknown, not trusted: quality unknown; details on the Metrics page."
    )
