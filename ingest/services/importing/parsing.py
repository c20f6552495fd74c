"""From a raw line of a System One file to a RowEvent, or a reason why the line is bad."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from ingest.services.importing.extras import DATA, ExtrasReader, compact
from ingest.services.importing.rows import RowEvent
from transforms.field_types import field_type
from transforms.streams import STREAMS, StreamSpec
from transforms.system_one.reader import SystemOneFormatError, read_record
from transforms.timestamps import to_datetime


class LineRejected(ValueError):
    """A line that cannot be imported; the message says why."""


# Types whose checked System One text PostgreSQL reads as the same value the converter gives.
TEXT_TYPES = frozenset({"money", "decimal", "date"})


@cache
def _column_plan(
    stream: str, text_values: bool = False
) -> tuple[tuple[str, str | None, str, Callable[[Any], Any] | None], ...]:
    """(data field, sub-field or None, attname, converter) for every stored value of a stream."""
    plan = []
    for path, attname, spec in STREAMS[stream].columns():
        kind = field_type(spec)
        convert = None if text_values and kind.name in TEXT_TYPES else kind.convert
        if text_values and kind.name == "timestamp":
            convert = _in_utc
        plan.append((path[0], path[1] if len(path) > 1 else None, attname, convert))
    return tuple(plan)


@cache
def _values_builder(stream: str, text_values: bool) -> Callable[[dict], dict[str, Any]]:
    """``_column_plan`` as straight-line code (a third of the loop's time): data -> column values.

    Raises what a converter raises; the caller then runs the loop, whose error names the field.
    Generated, as ``transforms/system_one/fast.py`` generates the reader's fast path."""
    namespace: dict[str, Any] = {}
    src = ["def build(data):", "    values = {}"]
    for i, (name, sub, attname, convert) in enumerate(_column_plan(stream, text_values)):
        src.append(f"    v = data.get({name!r})")
        if sub is not None:
            src.append(f"    v = v.get({sub!r}) if v is not None else None")
        if convert is not None:
            namespace[f"convert{i}"] = convert
            src.append("    if v is not None:")
            src.append(f"        v = convert{i}(v)")
        src.append(f"    values[{attname!r}] = v")
    src.append("    return values")
    exec(compile("\n".join(src), f"<column values of {stream}>", "exec"), namespace)  # noqa: S102
    return namespace["build"]


def _in_utc(value: str) -> datetime:
    """A checked timestamp as a datetime in UTC: the contract allows offsets up to 23:59, and
    PostgreSQL refuses any beyond 15:59 ("time zone displacement out of range")."""
    return to_datetime(value).astimezone(UTC)


def exact_in_postgres(timestamp: str) -> bool:
    """PostgreSQL reads this checked RFC 3339 timestamp to the same microsecond as ``to_datetime``:
    upper-case ``T`` and ``Z`` (or an offset), at most six fractional digits (``to_datetime``
    truncates more, PostgreSQL would round)."""
    if timestamp[10] != "T":
        return False
    if timestamp[-1] == "Z":
        zone = 1
    elif timestamp[-6] in "+-":
        zone = 6
        if timestamp[-5:-3] > "15":  # PostgreSQL takes offsets up to 15:59 only
            return False
    else:
        return False
    return len(timestamp) - zone <= len("YYYY-MM-DDTHH:MM:SS.ffffff")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


class LineParser:
    """Parses the lines of one file, all of which must belong to ``spec``'s stream."""

    def __init__(self, spec: StreamSpec, *, reject_nul: bool = False, text_values: bool = False) -> None:
        """``reject_nul``: PostgreSQL's text and jsonb cannot hold U+0000. ``text_values`` (for
        PostgreSQL's COPY): money, decimals and dates stay the checked text the database parses,
        and every event carries ``occurred_text``; spares building values only to format them again."""
        self.spec = spec
        self.plan = _column_plan(spec.name, text_values)
        self.build_values = _values_builder(spec.name, text_values)
        self.key_names = spec.key_names
        self.reject_nul = reject_nul
        self.text_values = text_values
        self.extras = ExtrasReader(spec)

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
        extras: str | None = None
        if record.event_type != "delete":
            data = record.data
            if data is None:  # read_record gives every upsert its data; said for the type checker
                raise LineRejected("an upsert without data")
            try:
                values = self._checked_values(data) if reject_nul else self.build_values(data)
            except (ValueError, ArithmeticError):
                values = self._checked_values(data)  # raises, naming the field
            if "|+" in text or record.unknown_columns:
                extras = self._extras(data, reject_nul)
        if reject_nul and any(isinstance(k, str) and "\x00" in k for k in key):
            raise LineRejected("key: U+0000 cannot be stored in PostgreSQL")
        if record.extras:  # envelope members: kept on the import's record, not on the row
            self.extras.envelope(line_number, record.event_id, record.extras)
        occurred_at = to_datetime(record.occurred_at)
        occurred_text = None
        if self.text_values:
            occurred_text = (
                record.occurred_at if exact_in_postgres(record.occurred_at) else occurred_at.astimezone(UTC).isoformat()
            )
        return RowEvent(
            line_number=line_number,
            key=key,
            is_delete=record.event_type == "delete",
            version=record.version,
            occurred_at=occurred_at,
            event_id=record.event_id,
            values=values,
            occurred_text=occurred_text,
            extras=extras,
        )

    def _extras(self, data: dict[str, Any], reject_nul: bool) -> str | None:
        found = self.extras.data_extras(data)
        if found is None:
            return None
        text = compact(found)
        if reject_nul and "\\u0000" in text:
            raise LineRejected("an unknown field holds U+0000, which cannot be stored in PostgreSQL")
        self.extras.tally.observe(DATA, found)
        return text

    def _checked_values(self, data: dict[str, Any]) -> dict[str, Any]:
        """The column values, each checked on its own: the error names the field (and U+0000 is one)."""
        values = {}
        for name, sub, attname, convert in self.plan:
            value = data.get(name)
            if sub is not None:
                value = value.get(sub) if value is not None else None
            if value is not None:
                if self.reject_nul and _has_nul(value):
                    raise LineRejected(f"{name}{'.' + sub if sub else ''}: U+0000 cannot be stored in PostgreSQL")
                if convert is not None:
                    try:
                        value = convert(value)
                    except (ValueError, ArithmeticError) as exc:
                        raise LineRejected(f"{name}: {exc}") from None
            values[attname] = value
        return values
