"""The app's pages, in one list: the navigation (app.py) and the Train page's links to the
Explore pages (views/train.py) both read it."""

from __future__ import annotations

from typing import NamedTuple


class Page(NamedTuple):
    path: str  # relative to dashboard/, as st.Page and st.page_link take it
    title: str  # in the navigation
    icon: str
    short: str  # where several links share one row


PAGES = {
    "Data and training": [
        Page("views/data.py", "Data", ":material/dataset:", "Data"),
        Page("views/train.py", "Train", ":material/model_training:", "Train"),
    ],
    "Explore a run": [
        Page("views/map.py", "Map", ":material/scatter_plot:", "Map"),
        Page("views/affinity.py", "Cluster affinity", ":material/grid_on:", "Affinity"),
        Page("views/membership.py", "Membership", ":material/account_tree:", "Members"),
        Page("views/explain.py", "Explain", ":material/lightbulb:", "Explain"),
        Page("views/metrics.py", "Metrics", ":material/monitoring:", "Metrics"),
        Page("views/compare.py", "Compare runs", ":material/compare_arrows:", "Compare"),
    ],
}
