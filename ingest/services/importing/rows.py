"""A parsed System One record, reduced to what the loader writes: key, version and column values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class RowEvent:
    """One event for one row, with its values already converted to Python types by column."""

    line_number: int
    key: tuple[Any, ...]
    is_delete: bool
    version: int
    occurred_at: datetime
    event_id: str
    values: dict[str, Any] | None  # model attname -> value; None for a delete
    # occurredAt as text that PostgreSQL reads to the same microsecond; set (with money, decimals
    # and dates left as their text in ``values``) only by a parser for PostgreSQL, for every event.
    occurred_text: str | None = None
    # The event's unknown data members (``source_extras``) as compact JSON text; None (the common
    # case) when it carries none. See ``ingest.services.importing.extras``.
    extras: str | None = None

    @property
    def rank(self) -> tuple[int, datetime, str]:
        """The order in which events of one key supersede each other (the contract's rule)."""
        return (self.version, self.occurred_at, self.event_id)


def as_utc(value: datetime) -> datetime:
    """Raw SQLite cursors return naive UTC datetimes; PostgreSQL returns aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def stored_rank(version: int | None, occurred_at: datetime | None, event_id: str | None) -> tuple[Any, ...] | None:
    """The rank of the event a stored row holds; None for a placeholder (any event beats it)."""
    if version is None:
        return None
    return (version, as_utc(occurred_at) if occurred_at else datetime.min.replace(tzinfo=UTC), event_id or "")
