"""The System One record format: one self-describing line per event (docs/system-one-format.md).

``lines`` splits a file into raw lines, ``writer`` writes a record, ``reader`` reads one back
(with ``record`` its result type and layouts, ``fast`` its generated fast path) and
``escaping`` is the backslash escaping they share.  The names below are imported on first use,
so that the transform Lambda, which only writes, does not pay for compiling the reader's
patterns at cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lines import OverlongLine, iter_lines
    from .reader import read_record
    from .record import SystemOneFormatError, SystemOneRecord
    from .writer import write_record

__all__ = ["OverlongLine", "SystemOneFormatError", "SystemOneRecord", "iter_lines", "read_record", "write_record"]

_MODULES = {
    "OverlongLine": "lines",
    "iter_lines": "lines",
    "SystemOneFormatError": "record",
    "SystemOneRecord": "record",
    "read_record": "reader",
    "write_record": "writer",
}


def __getattr__(name: str) -> object:
    # The writer is imported lazily too: transforms.field_types imports .escaping, and the
    # writer imports transforms.events, which imports transforms.field_types.
    module = _MODULES.get(name)
    if module is not None:
        return getattr(import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
