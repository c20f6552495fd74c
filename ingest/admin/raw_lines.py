"""How the ingest's admin shows text that came from files: raw lines, excerpts, error messages.

Escaped with ``format_html``, never ``mark_safe``; a page never loads more of a line than it shows.
"""

from __future__ import annotations

from django.db.models.functions import Substr
from django.utils.html import format_html

from ingest.admin.helpers import (
    truncate,
)

# Line errors shown inline on a file's page; the rest are in the line error list.
INLINE_LINE_ERRORS = 200
# A raw line longer than this is cut on the page (the full text stays in the database).
RAW_LINE_DISPLAY_CHARS = 4000


def raw_excerpt_block(excerpt: str):
    """A line error's raw text as the queryset annotated it: ``raw_excerpt`` (one character more
    than is shown, which tells a cut text from one that fits)."""
    if len(excerpt) > RAW_LINE_DISPLAY_CHARS:
        shown = excerpt[:RAW_LINE_DISPLAY_CHARS]
        return format_html(
            '<pre class="ingest-raw-line">{}…</pre><small>(cut here; longer in the database)</small>', shown
        )
    return format_html('<pre class="ingest-raw-line">{}</pre>', excerpt)


def with_raw_excerpt(queryset, chars: int = RAW_LINE_DISPLAY_CHARS + 1):
    """Line errors without their raw text, but its first ``chars`` characters as ``raw_excerpt``:
    a page never loads more of a line than it shows (old rows may hold hundreds of megabytes)."""
    return queryset.defer("raw_text").annotate(raw_excerpt=Substr("raw_text", 1, chars))


def raw_line_block(text: str | None):
    shown = truncate(text, RAW_LINE_DISPLAY_CHARS)
    cut = len(text or "") - RAW_LINE_DISPLAY_CHARS
    if cut > 0:
        return format_html('<pre class="ingest-raw-line">{}</pre><small>({} more characters)</small>', shown, cut)
    return format_html('<pre class="ingest-raw-line">{}</pre>', shown)
