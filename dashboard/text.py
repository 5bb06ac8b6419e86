"""Text from user files (titles, ids, file names, cell values, error messages that quote them)
shown literally: never markdown, LaTeX or HTML."""

from __future__ import annotations

import html
import re

_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")  # ":" too: :red[x], :smile:


# Streamlit links bare URLs and e-mail addresses in markdown after escapes are resolved
# ("http\\://x\\.com" still became a link). An invisible WORD JOINER (U+2060) inside
# "://", "www." and before "@" breaks those patterns; the text reads the same.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?=://)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)


def literal(text: object) -> str:
    """`text` escaped so that Streamlit's markdown shows it as typed (no bold, links, LaTeX,
    HTML tags, or directives such as :red[...] or :material/icon:, whose colons are escaped:
    with its brackets escaped but not its colon, :red[x] still lost its ":red"), and no
    link made of a bare URL or e-mail address (see WORD_JOINER)."""
    return _MARKUP.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, str(text)))


def hover(text: object) -> str:
    """`text` for plotly's hover and label HTML: tags shown as typed, never rendered."""
    return html.escape(str(text), quote=True)
