"""The hostile corpus (tests/hostile_corpus.py) through the app's uploader (issue 10): at least
one case of every class, CLEAN ones as one st.error naming the file (the previous dataset
kept), ACCEPTED ones as the new current dataset; never a page exception."""

from __future__ import annotations

import pytest
from hostile_corpus import Clean, corpus
from test_app import app, shown, texts, upload, visit

SUBSET = (
    "zip-encrypted",  # zips
    "zip-bomb",
    "zip-good",
    "compressed-gzip-good",  # compressed (issue 21)
    "compressed-gzip-bomb",
    "time-iso-9999",  # timestamps
    "time-milliseconds",
    "ids-markup",  # ids
    "ids-empty",
    "rating-1e200",  # ratings
    "rating-1e30-is-read",
    "ratings-500-at-1e30",  # read, with problems stated (issue 19)
    "ratings-varied-no-problem",
    "utf8-one-latin1-line",  # encodings
    "utf16-le-bom",
    "binary-png",  # not text
    "empty",  # structure
    "header-only-no-final-newline",
    "ragged-short",
    "unterminated-quote",
    "crlf",
    "megabyte-cell",
    "u.data-good",  # formats
    "ratings.dat-ragged",
    "implicit",
    "parquet-good",
    "parquet-truncated",
    "over-row-limit",  # limits
)
CASES = {case.key: case for case in corpus()}


def test_the_subset_covers_every_class_of_the_corpus():
    classes = {key.split("-")[0] for key in CASES}
    covered = {key.split("-")[0] for key in SUBSET}
    # The classes without a prefix of their own (structure, encodings) are listed by name.
    assert classes - covered <= {
        "whitespace",
        "header",
        "blank",
        "cr",
        "quoted",
        "duplicate",
        "nul",
        "unknown",
        "one",
        "latin1",
        "utf16",
        "duplicates",
    }, classes - covered
    assert {type(CASES[key].outcome) for key in SUBSET} == {Clean, type(CASES["crlf"].outcome)}


@pytest.mark.parametrize("key", SUBSET)
def test_a_hostile_upload_is_refused_cleanly_or_accepted(tmp_path, monkeypatch, key):
    case = CASES[key]
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    at = upload(app(tmp_path / "runs", monkeypatch).run(), (case.name, case.content))
    assert not at.exception, [e.value for e in at.exception]
    errors = [shown(e.value) for e in at.error]
    if isinstance(case.outcome, Clean):
        (error,) = errors
        where = f"{case.name}, line {case.outcome.line}:" if case.outcome.line else case.name
        assert error.startswith(where), error
        assert case.outcome.fragment in error, error
        assert "Nothing changed: still using **MovieLens latest-small" in texts(at)
        assert "dataset" not in at.session_state or at.session_state["dataset"].demo
    else:
        assert errors == []
        assert f"Current dataset: {case.name} (uploaded)" in texts(at)
        assert f"Users {len(set(case.outcome.users)):,}" in texts(at)
        if case.outcome.problems is not None:  # each stated under "Problems found", or none
            found = [shown(w.value) for w in at.warning if "Problems found" in w.value]
            assert len(found) == bool(case.outcome.problems), found
            for fragment in case.outcome.problems:
                assert fragment in found[0], (fragment, found)
    visit(at, "train")  # and the app keeps working
