"""dashboard.text.literal: text from files as typed in Streamlit's markdown (issue 9 point 6).
The browser test (tests/test_browser.py) checks the rendered DOM; these pin the escapes."""

from __future__ import annotations

import re

import pytest

from dashboard.text import WORD_JOINER, literal

SAMPLES = (
    "**x** [link](http://example.com) $x^2$",
    "<b>bold</b> <i>it</i> <script>window.__pwned=1</script>",
    ":red[colour] :smile: :material/home:",
    "write to me@example.com or see www.example.com",
    "שלום עולם مرحبا 🎬🍿",
)


def reader_sees(markdown: str) -> str:
    """Backslash escapes resolved and the invisible word joiner dropped."""
    return re.sub(r"\\([^\sA-Za-z0-9])", r"\1", markdown).replace(WORD_JOINER, "")


@pytest.mark.parametrize("text", SAMPLES)
def test_literal_reads_as_typed(text):
    assert reader_sees(literal(text)) == text


def test_directive_colons_are_escaped():
    # Escaping only the brackets left ":red" to Streamlit, which swallowed it.
    assert literal(":red[colour]") == r"\:red\[colour\]"


def test_bare_urls_and_addresses_are_broken_for_the_linkifier():
    # Streamlit links these after resolving escapes: what it reads must not hold the patterns.
    resolved = re.sub(r"\\(.)", r"\1", literal("http://x.com www.x.com me@x.com"))
    assert "://" not in resolved and "www." not in resolved.lower()
    assert "@" not in resolved.replace(WORD_JOINER + "@", "")


def test_hover_keeps_quotes_literal_and_tags_as_text():
    # plotly decodes numeric entities but showed "&quot;" as typed: the demo's 11'09"01 title
    # read 11'09&quot;01 on the map and a TV 42" product would have too.
    from dashboard.text import hover

    assert hover("11'09\"01 - September 11 (2002)") == "11'09\"01 - September 11 (2002)"
    assert hover('TV 42" <b>x</b> & y') == 'TV 42" &lt;b&gt;x&lt;/b&gt; &amp; y'


def test_map_hovers_show_a_double_quote_as_typed():
    import pandas as pd

    from dashboard.map_figure import hover_texts

    rows = pd.DataFrame(
        {"label": ["11'09\"01 - September 11 (2002)"], "kind": ["item"], "level": [0]}
        | {"index": [3], "top_cluster": [-1], "size": [1.0]}
    )
    (text,) = hover_texts(rows)
    assert "11'09\"01 - September 11 (2002)" in text and "&quot;" not in text
