"""The System One record format: one self-describing line per event (docs/system-one-format.md).

``write_record`` is imported eagerly; the reader (``read_record``, ``SystemOneRecord``,
``SystemOneFormatError``) and the line splitter (``iter_lines``, ``OverlongLine``) on first
use, so that the transform Lambda, which only writes, does not pay for compiling the reader's
patterns at cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .writer import write_record

if TYPE_CHECKING:
    from .lines import OverlongLine, iter_lines
    from .reader import SystemOneFormatError, SystemOneRecord, read_record

__all__ = ["OverlongLine", "SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record", "write_record"]

_LAZY = {
    "OverlongLine": "lines",
    "iter_lines": "lines",
    "SystemOneFormatError": "reader",
    "SystemOneRecord": "reader",
    "read_record": "reader",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
