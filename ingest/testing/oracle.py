"""The oracle: the state the contract says a set of System Two events must leave behind.

``expected_state`` folds the events (``ingest.testing.event_generator`` makes them): per key the
highest (version, occurredAt, eventId) wins, whatever the order in which they are imported.
``ingest.testing.comparator`` compares the database with it. Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from transforms.events import parse_timestamp
from transforms.streams import STREAMS, StreamSpec


def _rank(event: dict) -> tuple:
    return (event["version"], parse_timestamp(event["occurredAt"]), event["eventId"])


@dataclass
class ExpectedRow:
    stream: str
    key: tuple
    is_deleted: bool
    is_placeholder: bool
    source_version: int | None
    source_event_id: str | None
    data: dict[str, Any] | None  # the winner's data for a live row; None for deleted rows and placeholders
    quote: tuple[str | None, int | None] = (None, None)  # orders only


@dataclass
class ExpectedState:
    rows: dict[str, dict[tuple, ExpectedRow]]
    # Placeholders a deleted row's retained data may still justify (which upsert a deleted row
    # keeps depends on arrival order, as the contract's "stale changes nothing" implies).
    optional_placeholders: dict[str, set[tuple]]


def _references(spec: StreamSpec, data: dict) -> list[tuple[str, Any]]:
    return [
        (f.references.stream, data.get(f.name))
        for f in spec.references
        if f.references is not None and data.get(f.name) is not None
    ]


def expected_state(events: Iterable[dict]) -> ExpectedState:
    """The fold: per key the highest (version, occurredAt, eventId) wins; placeholders for what
    live rows refer to; quotes of orders from their latest live estimate."""
    winners: dict[tuple[str, tuple], dict] = {}
    upserts_of: dict[tuple[str, tuple], list[dict]] = {}
    for event in events:
        if "_invalid" in event:
            continue
        spec = STREAMS[event["stream"]]
        key = tuple(event["key"][name] for name in spec.key_names)
        ident = (spec.name, key)
        current = winners.get(ident)
        if current is None or _rank(event) > _rank(current):
            winners[ident] = event
        if event["eventType"] == "upsert":
            upserts_of.setdefault(ident, []).append(event)

    rows: dict[str, dict[tuple, ExpectedRow]] = {name: {} for name in STREAMS}
    for (stream, key), event in winners.items():
        live = event["eventType"] == "upsert"
        rows[stream][key] = ExpectedRow(
            stream, key, not live, False, event["version"], event["eventId"], event["data"] if live else None
        )

    optional: dict[str, set[tuple]] = {name: set() for name in STREAMS}
    for stream, key in list(winners):
        row = rows[stream][key]
        spec = STREAMS[stream]
        if row.data is not None:
            for parent, value in _references(spec, row.data):
                if (value,) not in rows[parent]:
                    rows[parent][(value,)] = ExpectedRow(parent, (value,), False, True, None, None, None)
        else:
            for upsert in upserts_of.get((stream, key), []):
                for parent, value in _references(spec, upsert["data"]):
                    optional[parent].add((value,))
    for parent, keys in optional.items():
        optional[parent] = {k for k in keys if k not in rows[parent]}

    best: dict[str, tuple] = {}
    for key, row in rows["estimates"].items():
        if row.data is None or row.data.get("orderNumber") is None:
            continue
        order = row.data["orderNumber"]
        event = winners[("estimates", key)]
        candidate = (parse_timestamp(event["occurredAt"]), key[0], row.data["quoteNumber"], row.data["quoteVersion"])
        if order not in best or candidate[:2] > best[order][:2]:
            best[order] = candidate
    for order, (_when, _number, quote_number, quote_version) in best.items():
        rows["orders"][(order,)].quote = (quote_number, quote_version)
    return ExpectedState(rows, optional)
