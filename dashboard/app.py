"""HMF Explorer: see what a Hierarchical Matrix Factorization model learned.

Start it from the repository root:  streamlit run dashboard/app.py
Runs are written under $HMF_RUNS_DIR (default ./runs) and found again after a restart.
It listens on localhost only (.streamlit/config.toml); shared (--server.address 0.0.0.0), it
asks for a password first (dashboard.gate, dashboard.sharing).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import gate, prepare, state  # the installed package (`pip install -e .`)
from dashboard.pages import PAGES
from dashboard.text import literal
from hmf_core import DEMO, DamagedFile

# The tab's icon, served by the app itself: a ":material/...:" icon made the browser fetch it from
# fonts.gstatic.com (a failed request a page offline). Beside the demo's folder: assets/ in a
# checkout, hmf_core/demo/ installed (pyproject's package-data).
ICON = Path(DEMO.ratings).parent.parent / "favicon.png"


def run() -> None:
    st.set_page_config(page_title="HMF Explorer", page_icon=str(ICON), layout="wide")
    if gate.admit() is None:  # shared and not signed in: the prompt (or why not) and no more
        return
    navigation = st.navigation(
        {
            section: [st.Page(page.path, title=page.title, icon=page.icon) for page in pages]
            for section, pages in PAGES.items()
        }
    )
    state.restore_dataset()
    with st.sidebar:
        # the Data and Train pages' dataset; the run picked below says what it was trained on
        st.caption(f"Data to train on: **{literal(state.current_dataset().label)}**")
        picked = state.run_selector()
    try:
        navigation.run()
    except DamagedFile as damage:  # a page that needs a damaged run file says which and why
        st.error(literal(f"This page cannot be shown: {damage}."), icon=":material/broken_image:")
        return
    prepare.run_pages(picked)  # the page drawn: the other pages' first views made meanwhile
    prepare.freeze_startup_objects()  # once: later full collections skip the modules


if __name__ == "__main__":
    run()
