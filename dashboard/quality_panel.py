"""How much to trust the clusters on screen: the verdict of interpret.trust beside every cluster
view, and the full cluster-quality tables of hmf_core.interpret.quality on the Metrics page."""

from __future__ import annotations

import streamlit as st

from dashboard.text import literal
from hmf_core import best_captured, cluster_trust, multi_valued_note, quality_tables


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
    """Metrics page: the verdict per side and level (MFDMC: view), then sharpness, which
    metadata each view captures best (MFDMC), metadata agreement against k-means and chance, and
    planted ARI where the run has planted labels. `depths`: the levels per side when quality.json
    lists none (it lists every grouping it measured). `computing`: the run's process is
    computing it now (its phase, hmf_core.runs.manager.run_status)."""
    st.subheader("Cluster quality")
    if not quality and computing:
        st.info(
            "Computing the cluster quality now (4 s at 100,000 ratings, about a minute at "
            "20 million): this page shows it when it is done.",
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
    word = "view" if quality.get("grouping") == "view" else "level"
    for side in ("user", "item"):
        for level in _measured(quality, side) or range(1, depths.get(side, 0) + 1):
            trust_note(quality, side, level, stability)
    try:
        tables = quality_tables(quality)
        if word == "view":  # do the parallel views find different roles?
            best = {"best": best_captured(quality)}
            tables = {"sharpness": tables.pop("sharpness"), **best, **tables}
    except Exception as exc:  # a damaged quality.json: say so, keep the page
        st.warning(
            literal(
                f"quality.json is damaged ({type(exc).__name__}: {exc}); recompute it with "
                "python -m hmf_core quality RUN_DIR."
            )
        )
        return
    captions = {
        "sharpness": f"Sharpness and movement from the start, per side and {word}.",
        "best": f"Which metadata each {word} captures best: the column its clusters agree with "
        "most (AMI), beside k-means on plain MF on that column (ratio: model / MF) and the "
        f"runner-up column. Different best columns: the {word}s found different roles.",
        "agreement": literal(  # column names are data
            "Argmax clusters against each metadata column: AMI / NMI / purity of the model, of "
            "k-means (same k) on its embeddings and on plain MF's, and of a size-matched random "
            "assignment. ami_model_over_mf is left empty (None) where MF's AMI is under 0.01, "
            "chance level, so that a ratio to noise is not shown. " + multi_valued_note(quality)
        ),
        "planted": "Adjusted Rand index against planted labels.",
    }
    for name, table in tables.items():
        if not table.empty:
            st.caption(captions[name])
            shown = table.rename(columns={"level": word})
            st.dataframe(shown, hide_index=True, width="stretch")


def _measured(quality: dict, side: str) -> list[int]:
    """The grouping numbers quality.json measured on `side`, in order."""
    records = [r for r in quality.get("sharpness") or [] if isinstance(r, dict)]
    found = {r.get("level") for r in records if r.get("side") == side}
    return sorted(level for level in found if isinstance(level, int))


def trust_notes(quality: dict, levels: dict[str, int], stability: dict | None = None) -> None:
    """The notes of several sides side by side: levels = {"user": 1, "item": 2}."""
    shown = {side: level for side, level in levels.items() if level > 0}
    for cell, (side, level) in zip(st.columns(max(1, len(shown))), shown.items()):
        with cell:
            trust_note(quality, side, level, stability)
