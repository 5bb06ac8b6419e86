"""How much to trust the clusters on screen: the verdict of interpret.trust beside every cluster
view, and the full cluster-quality tables of hmf_core.interpret.quality on the Metrics page."""

from __future__ import annotations

import streamlit as st

from dashboard.text import literal
from hmf_core import cluster_trust, quality_tables


def trust_note(quality: dict, side: str, level: int = 1, stability: dict | None = None) -> None:
    """One box with its reasons: green only when trusted (sharp, stable across seeds and beyond
    MF k-means on metadata: interpret.trust), yellow when near uniform or measured unstable,
    blue otherwise. `stability`: the run's stability.json."""
    trust = cluster_trust(quality, side, level, stability)
    if trust.trusted:
        box = st.success
    elif trust.verdict == "near uniform" or trust.unstable:
        box = st.warning
    else:
        box = st.info
    box(literal(trust.text), icon=None)


def quality_section(
    quality: dict, depths: dict[str, int], computing: bool = False, stability: dict | None = None
) -> None:
    """Metrics page: the verdict per side and level, then sharpness, metadata agreement against
    k-means and chance, and planted ARI where the run has planted labels. `computing`: the
    run's process is computing it now (its phase, hmf_core.runs.manager.run_status)."""
    st.subheader("Cluster quality")
    if not quality and computing:
        st.info(
            "Computing the cluster quality now (4 s at ML-100K size, about a minute at "
            "ML-20M size): this page shows it when it is done.",
            icon=":material/pending:",
        )
        return
    if not quality:
        st.info("No cluster quality for this run yet: it is computed when training ends.")
        return
    if not isinstance(quality, dict) or "error" in quality:
        reason = quality.get("error") if isinstance(quality, dict) else "not a JSON object"
        st.warning(literal(f"Cluster quality could not be computed or read: {reason}"))
        return
    for side in ("user", "item"):
        for level in range(1, depths.get(side, 0) + 1):
            trust_note(quality, side, level, stability)
    try:
        tables = quality_tables(quality)
    except Exception as exc:  # a damaged quality.json: say so, keep the page
        st.warning(
            literal(
                f"quality.json is damaged ({type(exc).__name__}: {exc}); recompute it with "
                "python -m hmf_core quality RUN_DIR."
            )
        )
        return
    captions = {
        "sharpness": "Sharpness and movement from the start, per side and level.",
        "agreement": "Argmax clusters against each metadata column: AMI / NMI / purity of the "
        "model, of k-means (same k) on its embeddings and on plain MF's, and of a size-matched "
        "random assignment. Several genres: one sample per genre.",
        "planted": "Adjusted Rand index against planted labels.",
    }
    for name, table in tables.items():
        if not table.empty:
            st.caption(captions[name])
            st.dataframe(table, hide_index=True, width="stretch")


def trust_notes(quality: dict, levels: dict[str, int], stability: dict | None = None) -> None:
    """The notes of several sides side by side: levels = {"user": 1, "item": 2}."""
    shown = {side: level for side, level in levels.items() if level > 0}
    for cell, (side, level) in zip(st.columns(max(1, len(shown))), shown.items()):
        with cell:
            trust_note(quality, side, level, stability)
