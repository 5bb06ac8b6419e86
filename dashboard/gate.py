"""The door of the app (dashboard.sharing decides, this renders): a local app opens at once; a
shared one shows a password prompt, and nothing else, until the session gives the password,
and only an explanation when it has none. app.py calls `admit()` before `st.navigation`."""

from __future__ import annotations

import os
from collections.abc import Mapping

import streamlit as st
from streamlit import config

from dashboard.sharing import NO_PASSWORD, Access, fingerprint, password_matches
from dashboard.text import literal

ADMITTED = "sharing_admitted"  # session state: the fingerprint of the password it gave


def _secrets_file() -> Mapping:
    """`.streamlit/secrets.toml` (st.secrets), {} when there is none or it cannot be read."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # Streamlit's StreamlitSecretNotFoundError: absent or unreadable
        return {}


def current_access() -> Access:
    """Where the app stands now (shared?, password, limits); ValueError for a bad limit."""
    return Access.decide(st.get_option("server.address"), os.environ, _secrets_file())


def admit() -> Access | None:
    """The app's access when this session may see the app; else the page shows why not (the
    password prompt, a refusal, or how to set a password) and None comes back."""
    try:
        access = current_access()
    except ValueError as error:  # a limit set to nonsense: said, and nothing served
        st.title("HMF Explorer")
        st.error(literal(f"This shared app cannot start: {error}."), icon=":material/block:")
        return None
    if not access.shared:
        return access
    _cap_uploads(access.limits.upload_mb)
    if access.password is None:
        st.title("HMF Explorer")
        st.error(
            NO_PASSWORD.format(address=literal(access.address or "unset: every interface")),
            icon=":material/lock:",
        )
        return None
    if st.session_state.get(ADMITTED) == fingerprint(access.password):
        return access
    _sign_in(access.password)
    return None


def _cap_uploads(upload_mb: int) -> None:
    """Streamlit's own upload endpoint takes files up to server.maxUploadSize from any open
    session, signed in or not: while shared, it takes no more than the shared limit."""
    if config.get_option("server.maxUploadSize") > upload_mb:
        config.set_option("server.maxUploadSize", upload_mb, "HMF_SHARED_UPLOAD_MB")


def _sign_in(password: str) -> None:
    st.title("HMF Explorer")
    st.caption("This app is shared with the people who know its password.")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password", key="sign_in_password")
        pressed = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if not pressed:
        return
    if password_matches(given, password):
        st.session_state[ADMITTED] = fingerprint(password)
        st.rerun()
    st.error("Wrong password: the app stays closed.", icon=":material/lock:")
