"""`st.fragment` for parts of a page whose widgets should rerun that part only (latency,
benchmarks/results/latency.md), with a damaged run file shown as app.py shows it: an exception
inside a fragment never reaches app.py's handler."""

from __future__ import annotations

import functools

import streamlit as st

from dashboard.text import literal
from hmf_core import DamagedFile


def page_fragment(function):
    """`function` as an st.fragment that says which run file is damaged instead of raising."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except DamagedFile as damage:
            message = literal(f"This page cannot be shown: {damage}.")
            st.error(message, icon=":material/broken_image:")

    return st.fragment(guarded)
