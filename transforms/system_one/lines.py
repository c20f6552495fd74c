"""Split a binary file into raw lines, streaming, with an optional bound on a line's length.

A file of one enormous line (a few hundred kilobytes of GZIP can inflate to gigabytes of
zeros without a newline) must not be held whole: with ``max_line_bytes`` set, a line longer
than that comes back as an ``OverlongLine`` (its first bytes and its length) and memory stays
O(chunk_size + max_line_bytes) whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, overload

__all__ = ["CHUNK_SIZE", "EXCERPT_BYTES", "OverlongLine", "iter_lines"]

CHUNK_SIZE = 64 * 1024
EXCERPT_BYTES = 4096


@dataclass(frozen=True)
class OverlongLine:
    """A line longer than ``max_line_bytes``, which ``iter_lines`` did not keep."""

    excerpt: bytes  # the first EXCERPT_BYTES bytes of the line (all of it when shorter)
    length: int  # the line's full length in bytes, without its newline (b"\n" or b"\r\n")


class ByteReader(Protocol):
    """What iter_lines reads from: any binary file object (a file, a GzipFile, a stream)."""

    def read(self, size: int = ..., /) -> bytes: ...


@overload
def iter_lines(
    fileobj: ByteReader, chunk_size: int = ..., max_line_bytes: None = None
) -> Iterator[tuple[int, bytes]]: ...


@overload
def iter_lines(
    fileobj: ByteReader, chunk_size: int = ..., *, max_line_bytes: int
) -> Iterator[tuple[int, bytes | OverlongLine]]: ...


@overload
def iter_lines(
    fileobj: ByteReader, chunk_size: int, max_line_bytes: int
) -> Iterator[tuple[int, bytes | OverlongLine]]: ...


def iter_lines(
    fileobj: ByteReader, chunk_size: int = CHUNK_SIZE, max_line_bytes: int | None = None
) -> Iterator[tuple[int, bytes]] | Iterator[tuple[int, bytes | OverlongLine]]:
    """Yield ``(line_number, raw_bytes)`` for each line of a binary file, reading ``chunk_size`` at a time.

    Lines are split on ``b"\\n"`` only (a ``"\\r"`` before it stays in the bytes; ``read_record``
    drops it); numbers start at 1; empty lines are yielded; a last line without ``"\\n"`` is
    yielded too, and a file that ends in ``"\\n"`` has no empty line after it.

    With ``max_line_bytes``, a line whose length without its newline (``b"\\n"`` or ``b"\\r\\n"``)
    exceeds it is yielded as an ``OverlongLine`` instead of its bytes; it is never held whole.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if max_line_bytes is None:
        return _unbounded(fileobj, chunk_size)
    if max_line_bytes < 0:
        raise ValueError(f"max_line_bytes must not be negative, got {max_line_bytes}")
    return _bounded(fileobj, chunk_size, max_line_bytes)


def _unbounded(fileobj: ByteReader, chunk_size: int) -> Iterator[tuple[int, bytes]]:
    pending: list[bytes] = []
    number = 0
    read = fileobj.read
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(pieces[0])
            pieces[0] = b"".join(pending)
            pending = []
        last = pieces.pop()
        for piece in pieces:
            number += 1
            yield number, piece
        if last:
            pending.append(last)
    if pending:
        yield number + 1, b"".join(pending)


def _bounded(fileobj: ByteReader, chunk_size: int, limit: int) -> Iterator[tuple[int, bytes | OverlongLine]]:
    # Two states.  Normal: the line so far is in ``pending`` (at most limit + 1 bytes: the +1 is
    # a "\r" that may turn out to be half of a "\r\n").  Overlong (``excerpt`` is not None): only
    # the excerpt, the length so far and whether the last byte so far is "\r" are kept.
    pending: list[bytes] = []
    held = 0
    excerpt: bytes | None = None
    length = 0
    last_cr = False
    number = 0
    read = fileobj.read
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        last = pieces.pop()
        for piece in pieces:
            number += 1
            if excerpt is not None:
                if piece:
                    length += len(piece)
                    last_cr = piece[-1] == 13
                    if len(excerpt) < EXCERPT_BYTES:
                        excerpt += piece[: EXCERPT_BYTES - len(excerpt)]
                size = length - last_cr
                yield number, OverlongLine(excerpt[:size], size)
                excerpt = None
                continue
            if pending:
                pending.append(piece)
                piece = b"".join(pending)
                pending = []
                held = 0
            if len(piece) > limit and len(piece) - piece.endswith(b"\r") > limit:
                size = len(piece) - piece.endswith(b"\r")
                yield number, OverlongLine(piece[: min(size, EXCERPT_BYTES)], size)
            else:
                yield number, piece
        if not last:
            continue
        if excerpt is not None:
            length += len(last)
            last_cr = last[-1] == 13
            if len(excerpt) < EXCERPT_BYTES:
                excerpt += last[: EXCERPT_BYTES - len(excerpt)]
            continue
        pending.append(last)
        held += len(last)
        if held > limit + 1:  # too long even if it ends in "\r\n": stop keeping it
            joined = b"".join(pending)
            excerpt = joined[:EXCERPT_BYTES]
            length = held
            last_cr = joined[-1] == 13
            pending = []
            held = 0
    # The last line has no "\n", so a "\r" at its end is part of it.
    if excerpt is not None:
        yield number + 1, OverlongLine(excerpt, length)
    elif pending:
        line = b"".join(pending)
        yield number + 1, (OverlongLine(line[:EXCERPT_BYTES], len(line)) if len(line) > limit else line)
