"""The user and item pickers of Explain and Membership when a run has more users or items than
a list can hold (issue 23: ML-20M has 138,493 users; a selectbox sends every option to the
browser on every rerun): a search first, then at most PICKER_OPTIONS matches. Under AppTest,
with PICKER_OPTIONS lowered to 5 so that the tiny run's users exceed it."""

from __future__ import annotations

import pytest
from test_app import app, texts, visit

from dashboard import loads, queries, widgets
from hmf_core.runs.rundir import RunDir


def test_a_long_list_of_users_or_items_is_searched_then_picked(finished_runs, monkeypatch):
    monkeypatch.setattr(widgets, "PICKER_OPTIONS", 5)
    users = RunDir(finished_runs / "tiny").users()
    assert len(users) > 5
    at = app(finished_runs, monkeypatch)
    at.query_params["run"] = "tiny"
    at.run()
    visit(at, "explain")
    picker = at.selectbox(key="explain_user_0")
    assert len(picker.options) == 5  # the first five, not every user
    find = at.text_input(key="explain_user_0_find")
    assert find.label == f"Find a user ({len(users):,})"

    # By #index: that one user, picked.
    target = int(users["index"].iloc[-1])
    find.input(f"#{target}").run()
    assert at.selectbox(key="explain_user_0").value == target
    assert at.selectbox(key="explain_user_0").options == [f"{users['label'].iloc[-1]} (#{target})"]

    # By part of a name (any case): every match listed, and only matches.
    label = str(users["label"].iloc[3])
    part = label[len(label) // 2 :].upper()
    at.text_input(key="explain_user_0_find").input(part).run()
    expected = users[users["label"].astype(str).str.contains(part, case=False, regex=False)]
    options = at.selectbox(key="explain_user_0").options
    assert len(options) == min(len(expected), 5) >= 1
    assert all(part.lower() in option.lower() for option in options)

    # Nothing matches: said, and the list stays as it was.
    at.text_input(key="explain_user_0_find").input("no such user at all").run()
    assert "No user matches 'no such user at all'" in texts(at)
    assert len(at.selectbox(key="explain_user_0").options) == 5
    assert not at.exception

    # Membership's picker of one user or item is the same widget.
    visit(at, "membership")
    assert at.text_input(key="object_pick_user_0_find").label.startswith("Find a user (")
    at.text_input(key="object_pick_user_0_find").input(f"#{target}").run()
    assert at.selectbox(key="object_pick_user_0").value == target
    assert not at.exception


def test_the_pickers_labels_are_shared_read_only_not_copied_at_each_rerun(finished_runs):
    """A picker's labels are read at every rerun of Explain and Membership: st.cache_data
    copied them each time (0.03 s at 137,000 users), the shared read-only mapping is not."""
    key = loads.model_key(RunDir(finished_runs / "tiny"))
    users = queries.labels(key, "user")
    assert queries.labels(key, "user") is users
    with pytest.raises(TypeError):
        users[0] = "changed"  # shared by every session: nobody may change it
    table = RunDir(finished_runs / "tiny").users()
    assert list(users.items()) == list(zip(table["index"], table["label"].astype(str)))
    assert widgets.matching(users, "  ") == []  # no search: nothing matched, no table built
