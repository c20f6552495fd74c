"""From a raw line of a System One file to a RowEvent, or a reason why the line is bad."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from ingest.services.rows import RowEvent
from transforms.field_types import field_type
from transforms.streams import STREAMS, StreamSpec
from transforms.system_one.reader import SystemOneFormatError, read_record
from transforms.timestamps import to_datetime


class LineRejected(ValueError):
    """A line that cannot be imported; the message says why."""


def raw_text(raw: bytes) -> str:
    """The line as text for the error record; bytes that are not UTF-8 shown as \\x escapes."""
    return raw.decode("utf-8", errors="backslashreplace")


@cache
def _column_plan(stream: str) -> tuple[tuple[str, str | None, str, Callable[[Any], Any] | None], ...]:
    """(data field, sub-field or None, attname, converter) for every stored value of a stream."""
    plan = []
    for path, attname, spec in STREAMS[stream].columns():
        plan.append((path[0], path[1] if len(path) > 1 else None, attname, field_type(spec).convert))
    return tuple(plan)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


class LineParser:
    """Parses the lines of one file, all of which must belong to ``spec``'s stream."""

    def __init__(self, spec: StreamSpec, *, reject_nul: bool = False) -> None:
        self.spec = spec
        self.plan = _column_plan(spec.name)
        self.key_names = spec.key_names
        # PostgreSQL's text and jsonb cannot hold U+0000.
        self.reject_nul = reject_nul

    def parse(self, raw: bytes, line_number: int) -> RowEvent:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineRejected(f"not UTF-8: {exc}") from None
        try:
            record = read_record(text)
        except SystemOneFormatError as exc:
            raise LineRejected(f"not a System One record: {exc}") from None
        if record.stream != self.spec.name:
            raise LineRejected(f"a {record.stream} record (type {record.record_type}) in a {self.spec.name} file")
        # read_record has checked every value against the layout (types, enums, codes, money,
        # dates, timestamps), the same rules as the transform's validation.
        key = tuple(record.key[name] for name in self.key_names)
        # Escaped in the line, so a NUL can only be there if the escape for it is.
        reject_nul = self.reject_nul and "\\u0000" in text
        values: dict[str, Any] | None = None
        if record.event_type != "delete":
            data = record.data
            if data is None:  # read_record gives every upsert its data; said for the type checker
                raise LineRejected("an upsert without data")
            values = {}
            for name, sub, attname, convert in self.plan:
                value = data.get(name)
                if sub is not None:
                    value = value.get(sub) if value is not None else None
                if value is not None:
                    if reject_nul and _has_nul(value):
                        raise LineRejected(f"{name}{'.' + sub if sub else ''}: U+0000 cannot be stored in PostgreSQL")
                    if convert is not None:
                        try:
                            value = convert(value)
                        except (ValueError, ArithmeticError) as exc:
                            raise LineRejected(f"{name}: {exc}") from None
                values[attname] = value
        if reject_nul and any(isinstance(k, str) and "\x00" in k for k in key):
            raise LineRejected("key: U+0000 cannot be stored in PostgreSQL")
        return RowEvent(
            line_number=line_number,
            key=key,
            is_delete=record.event_type == "delete",
            version=record.version,
            occurred_at=to_datetime(record.occurred_at),
            event_id=record.event_id,
            values=values,
        )
