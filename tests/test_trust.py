"""hmf_core.interpret.trust: the verdict on a level of clusters, from hand-made quality figures."""

from __future__ import annotations

from hmf_core.interpret.trust import cluster_trust, trust_line


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


def test_the_short_line_names_each_side_and_leaves_out_plain_mf():
    line = trust_line(quality(0.72), {"item": 1, "user": 0})
    assert line == (
        "Cluster quality: items crisp (top membership 0.72); details on the Metrics page."
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
        "Cluster quality: items unknown; details on the Metrics page."
    )
