"""Issue 21 item 2: nothing MovieLens-specific in dashboard/. Every identifier, string (docstrings
and f-strings included) and comment of every dashboard module is read token by token; a movie word
or a MovieLens column, file or dataset name there fails the test, whatever data the app is given.
What is MovieLens-specific lives in hmf_core (formats, metadata readers, published figures) and
reaches the pages as data."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboard"

# Movie words, MovieLens's column names (genre(s), gender, occupation, zip code), its file names
# and its datasets' names: a substring anywhere in an identifier, string or comment, any case.
MOVIELENS = re.compile(
    r"movie|film|genre|gender|occupation|zip_?code|movielens|\bml-?\d+[km]\b"
    r"|\bu\.(?:data|item|user)\b|\bmovies\.(?:dat|csv)\b|\b(?:users|ratings)\.dat\b",
    re.IGNORECASE,
)
# "title" (MovieLens's item name column) in text; a chart's or page's title is a plotly or
# streamlit keyword, an identifier, or the plotly key "title" alone in a string: not text.
TITLE = re.compile(r"\btitles?\b", re.IGNORECASE)
PLOTLY_KEY = {'"title"', "'title'"}
FIELD = re.compile(r"\{[^{}]*\}")  # an f-string's field: code (still read for MOVIELENS)

# (module relative to dashboard/, word found) -> why the module may spell it. Keep it short.
ALLOWED = {
    # The Data page lists the file formats hmf_core reads by the names users know them by
    # (u.data, ratings.dat, movies.csv, a MovieLens .zip) and cites the bundled demo dataset
    # (MovieLens latest-small, Harper & Konstan 2015): what the formats and the demo are.
    ("views/data.py", "movielens"),
    ("views/data.py", "u.data"),
    ("views/data.py", "u.item"),
    ("views/data.py", "u.user"),
    ("views/data.py", "ratings.dat"),
    ("views/data.py", "movies.dat"),
    ("views/data.py", "users.dat"),
    ("views/data.py", "ratings.csv"),
    ("views/data.py", "movies.csv"),
    ("views/data.py", "movie"),  # movieId, a header hmf_core recognises; the demo's "9,742 movies"
    # The presets' help cites the figures that chose them and where they were measured
    # (README, "Cluster recipe"); the figures are facts about that dataset, not this one.
    ("recipe.py", "ml-100k"),
}


def spelled(source: str) -> list[tuple[int, str, str]]:
    """(line, word, token text) for each MovieLens word in the source's identifiers, strings
    and comments."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
            continue
        words = [m.group(0).lower() for m in MOVIELENS.finditer(token.string)]
        if token.type != tokenize.NAME and token.string not in PLOTLY_KEY:
            text = FIELD.sub("", token.string) if _f_string(token.string) else token.string
            words += [m.group(0).lower() for m in TITLE.finditer(text)]
        found += [(token.start[0], word, token.string) for word in words]
    return found


def _f_string(text: str) -> bool:
    return "f" in text[: text.index(text[-1])].lower()  # the prefix before the first quote


def test_no_dashboard_module_spells_a_movielens_word():
    offending = []
    modules = sorted(DASHBOARD.rglob("*.py"))
    assert len(modules) > 20  # the whole dashboard is read, its views included
    for path in modules:
        module = path.relative_to(DASHBOARD).as_posix()
        for line, word, text in spelled(path.read_text(encoding="utf-8")):
            if (module, word) not in ALLOWED:
                offending.append(f"dashboard/{module}:{line}: {word!r} in {text[:80]!r}")
    assert not offending, "MovieLens-specific text in dashboard/:\n" + "\n".join(offending)


def test_the_check_sees_movie_words_wherever_they_are_spelled():
    """The reader catches a word in an identifier, a string, an f-string, a docstring and a
    comment, in any case; a plotly "title" key and a `title=` keyword are not text."""
    source = (
        '"""Several genres: one sample per genre."""\n'
        "genre_ami = 1  # the Movie table\n"
        'label = f"a title {x}"; name = f"{title}: {count}"\n'
        "st.caption('From u.data')\n"
        'figure.update_layout(title="fine", xaxis={"title": None})\n'
    )
    words = [(line, word) for line, word, _ in spelled(source)]
    assert words == [
        (1, "genre"),
        (1, "genre"),
        (2, "genre"),
        (2, "movie"),
        (3, "title"),
        (4, "u.data"),
    ]
