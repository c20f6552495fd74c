"""The System One record format: one self-describing line per event (docs/system-one-format.md).

``write_record`` is imported eagerly; the reader (``read_record``, ``SystemOneRecord``,
``SystemOneFormatError``, ``iter_lines``) on first use, so that the transform Lambda, which
only writes, does not pay for compiling the reader's patterns at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .writer import write_record

if TYPE_CHECKING:
    from .reader import SystemOneFormatError, SystemOneRecord, iter_lines, read_record

__all__ = ["SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record", "write_record"]

_READER_NAMES = frozenset({"SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record"})


def __getattr__(name: str) -> object:
    if name in _READER_NAMES:
        from . import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
