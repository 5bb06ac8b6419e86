"""Text from user files (names, ids, file names, cell values, error messages that quote them)
shown literally: never markdown, LaTeX or HTML."""

from __future__ import annotations

import html
import re

_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:@])")
# Streamlit's markdown turns URLs, www. names and e-mail addresses into links after escapes are
# read: a word joiner (U+2060, zero width) inside each keeps them text.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def literal(text: object) -> str:
    """`text` escaped so that Streamlit's markdown shows it as typed (no bold, links, LaTeX,
    HTML tags, or directives such as :red[...], whose brackets are escaped)."""
    return _MARKUP.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, str(text)))


def hover(text: object) -> str:
    """`text` for plotly's hover and label HTML: tags shown as typed, never rendered. Only
    `&`, `<` and `>` are escaped: plotly decodes numeric entities but not `&quot;`, which it
    showed as typed (`11'09&quot;01`); a quote outside a tag is plain text to it."""
    return html.escape(str(text), quote=False)
