"""What is stored of a bad line: a bounded excerpt, as text any database can hold.

A hostile file may hold a line of hundreds of megabytes, or bytes PostgreSQL refuses (U+0000
in text): the line error keeps the first ``EXCERPT_BYTES`` of the line, says how long the line
was, and escapes NUL, so that recording the error can neither exhaust memory nor fail the file.
"""

from __future__ import annotations

from transforms.system_one import OverlongLine

# The bytes of a bad line kept in ImportLineError.raw_text; the message gives the full length.
EXCERPT_BYTES = 4096
# A message quoting the line cannot grow past this either.
MESSAGE_CHARS = 2000


def storable_text(text: str) -> str:
    """``text`` with U+0000 written as ``\\x00`` (PostgreSQL's text and jsonb cannot hold it) and
    a lone surrogate (JSON's ``"\\ud800"``) as ``\\ud800`` (it cannot be written as UTF-8)."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def excerpt_text(raw: bytes) -> str:
    """The first ``EXCERPT_BYTES`` of a line as storable text (bytes that are not UTF-8 as ``\\x`` escapes)."""
    return storable_text(raw[:EXCERPT_BYTES].decode("utf-8", errors="backslashreplace"))


def _message(message: str, length: int) -> str:
    message = storable_text(message)
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    if length > EXCERPT_BYTES:
        message += f" [the line has {length} bytes; its first {EXCERPT_BYTES} are kept]"
    return message


def rejected_line(line_number: int, raw: bytes, message: str) -> tuple[int, str, str]:
    """(line number, raw text, message) of a line the parser rejected."""
    return line_number, excerpt_text(raw), _message(message, len(raw))


def overlong_line(line_number: int, line: OverlongLine, limit: int) -> tuple[int, str, str]:
    """(line number, raw text, message) of a line cut off at ``limit`` bytes (INGEST_MAX_LINE_BYTES)."""
    message = f"line too long: {line.length} bytes, more than INGEST_MAX_LINE_BYTES ({limit}); not imported"
    return line_number, excerpt_text(line.excerpt), _message(message, line.length)


def damaged_source(line_number: int, partial: bytes, damage: str) -> tuple[int, str, str]:
    """(line number, raw text, message) where a damaged GZIP stream stops being readable.

    ``partial`` is what was read of that line before the damage (possibly nothing): it is not
    imported, since its end is lost."""
    message = (
        f"the file is damaged here ({damage}): the lines before were imported; "
        "this line and anything after it could not be read"
    )
    return line_number, excerpt_text(partial), _message(message, len(partial))
