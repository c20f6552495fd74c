"""Realistic bursts of System Two events, and the state the contract says they must leave behind.

``generate_events`` makes what System Two would send for all nine streams, in a shuffled
arrival order: several versions per entity, exact duplicates (retries), stale versions,
deletes (some re-created later), equal versions told apart by occurredAt, references to
entities whose own events never come (placeholders), children before parents, estimates
before their orders, references that change between versions, and text full of the
characters a line format trips over. ``ingest.testing.oracle.expected_state`` is the fold of
such events: what the database must hold whatever the order in which they are imported.

Used by the demo, the benchmarks and the tests; plain Python, no Django.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from transforms.streams import STREAMS

BASE_TIME = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TRICKY_TEXT = [
    "Acme, Inc.",
    "Pipes | and | bars",
    'She said "hello"',
    "tab\there",
    "two\nlines",
    "carriage\r\nreturn",
    "back\\slash",
    "equals=sign",
    "line\u2028separator",
    "emoji 📓✨",
    "Ünïcödé Straße",
    "",
]
WORDS = ["journal", "planner", "notebook", "linen", "leather", "gold", "foil", "deboss", "ribbon", "dotted", "grid"]


def _money(rng: random.Random, low: int = 0, high: int = 50_000) -> str:
    places = rng.choice([0, 1, 2, 2, 2, 4])
    whole = rng.randint(low, high)
    if places == 0:
        return str(whole)
    return f"{whole}.{rng.randint(0, 10**places - 1):0{places}d}"


def _text(rng: random.Random, tricky: bool) -> str:
    if tricky and rng.random() < 0.15:
        return rng.choice(TRICKY_TEXT)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).title()


def _timestamp(moment: datetime, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.5:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if style < 0.8:
        offset = timedelta(hours=rng.choice([-5, 2, 9]))
        local = moment.astimezone(UTC).replace(tzinfo=None) + offset
        sign = "+" if offset >= timedelta(0) else "-"
        hours = abs(int(offset.total_seconds())) // 3600
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{hours:02d}:00"
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Pools:
    customers: list[str]
    orders: list[str]
    invoices: list[str]
    ghost_customers: list[str]  # referenced, never sent: placeholders
    ghost_orders: list[str]


@dataclass
class _Entity:
    stream: str
    key: dict[str, Any]
    data: dict[str, Any]
    version: int = 0
    moment: datetime = BASE_TIME
    events: list[dict] = field(default_factory=list)


def _pick_order(rng: random.Random, pools: _Pools) -> str:
    if pools.ghost_orders and rng.random() < 0.05:
        return rng.choice(pools.ghost_orders)
    return rng.choice(pools.orders)


def _pick_customer(rng: random.Random, pools: _Pools) -> str:
    if pools.ghost_customers and rng.random() < 0.05:
        return rng.choice(pools.ghost_customers)
    return rng.choice(pools.customers)


def _data(stream: str, key: dict[str, Any], rng: random.Random, pools: _Pools, tricky: bool) -> dict[str, Any]:
    t = lambda: _text(rng, tricky)  # noqa: E731
    day = date(2026, 11, 1) + timedelta(days=rng.randint(0, 40))
    if stream == "customers":
        return {
            "name": t() or "Customer",
            "email": rng.choice([None, f"buyer{rng.randint(1, 999)}@example.com"]),
            "phone": rng.choice([None, "+1 555 0100"]),
            "status": rng.choice(["ACTIVE", "ACTIVE", "INACTIVE", "ON_HOLD"]),
            "creditLimit": rng.choice([None, _money(rng)]),
            "currency": rng.choice(["USD", "USD", "CAD", "EUR"]),
            "billingAddress": {
                "line1": t(),
                "line2": rng.choice([None, t()]),
                "city": rng.choice(["Boston", "Toronto", "Zürich"]),
                "region": rng.choice([None, "MA", "ON"]),
                "postalCode": rng.choice([None, "02110"]),
                "countryCode": rng.choice(["US", "CA", "CH"]),
            },
        }
    if stream == "orders":
        subtotal = Decimal(_money(rng))
        tax = (subtotal * Decimal("0.07")).quantize(Decimal("0.01"))
        return {
            "customerNumber": _pick_customer(rng, pools),
            "orderDate": day.isoformat(),
            "status": rng.choice(["OPEN", "IN_PRODUCTION", "SHIPPED", "CLOSED", "CANCELLED"]),
            "currency": "USD",
            "subtotal": str(subtotal),
            "tax": str(tax),
            "shipping": "12.50",
            "total": str(subtotal + tax + Decimal("12.50")),
            "poNumber": rng.choice([None, f"PO-{rng.randint(1000, 9999)}", t()]),
            "requestedShipDate": rng.choice([None, (day + timedelta(days=14)).isoformat()]),
            "rush": rng.random() < 0.2,
        }
    if stream == "order-lines":
        quantity = rng.randint(1, 500)
        unit = Decimal(_money(rng, 1, 40))
        return {
            "sku": f"JRN-{rng.randint(100, 999)}",
            "description": t(),
            "quantity": quantity,
            "unitPrice": str(unit),
            "extendedPrice": str(unit * quantity),
            "imprintMethod": rng.choice([None, "DEBOSS", "FOIL", "SCREEN"]),
            "imprintColors": rng.sample(["BLACK", "GOLD", "SILVER", "PMS 186", "WHITE"], rng.randint(0, 3)),
        }
    if stream == "invoices":
        total = _money(rng)
        return {
            "orderNumber": _pick_order(rng, pools),
            "customerNumber": _pick_customer(rng, pools),
            "invoiceDate": day.isoformat(),
            "dueDate": (day + timedelta(days=30)).isoformat(),
            "status": rng.choice(["OPEN", "PARTIAL", "PAID", "VOID"]),
            "currency": "USD",
            "total": total,
            "balanceDue": rng.choice([total, "0"]),
        }
    if stream == "invoice-lines":
        return {
            "orderLineNumber": rng.choice([None, rng.randint(1, 5)]),
            "sku": f"JRN-{rng.randint(100, 999)}",
            "description": t(),
            "quantity": rng.randint(1, 500),
            "unitPrice": _money(rng, 1, 40),
            "amount": _money(rng),
        }
    if stream == "shipments":
        shipped = BASE_TIME + timedelta(hours=rng.randint(0, 500))
        return {
            "orderNumber": _pick_order(rng, pools),
            "carrier": rng.choice(["UPS", "FEDEX", "USPS", "DHL", "FREIGHT", "OTHER"]),
            "service": rng.choice([None, "GROUND", "2DAY"]),
            "trackingNumbers": [f"1Z{rng.randint(10**9, 10**10 - 1)}" for _ in range(rng.randint(0, 2))],
            "shippedAt": rng.choice([None, _timestamp(shipped, rng)]),
            "status": rng.choice(["PENDING", "SHIPPED", "DELIVERED", "RETURNED"]),
            "packageCount": rng.randint(1, 12),
            "weightLb": rng.choice([None, _money(rng, 0, 300)]),
        }
    if stream == "shipping-addresses":
        return {
            "orderNumber": _pick_order(rng, pools),
            "name": t(),
            "company": rng.choice([None, t()]),
            "line1": t(),
            "line2": rng.choice([None, t()]),
            "city": rng.choice(["Boston", "Toronto", "Zürich"]),
            "region": rng.choice([None, "MA"]),
            "postalCode": rng.choice([None, "02110"]),
            "countryCode": rng.choice(["US", "CA"]),
            "phone": rng.choice([None, "+1 555 0199"]),
            "residential": rng.random() < 0.3,
        }
    if stream == "virtual-requests":
        requested = BASE_TIME + timedelta(hours=rng.randint(0, 100))
        return {
            "orderNumber": _pick_order(rng, pools),
            "lineNumber": rng.randint(1, 5),
            "status": rng.choice(["REQUESTED", "IN_PROGRESS", "PROOF_SENT", "APPROVED", "REJECTED"]),
            "requestedAt": _timestamp(requested, rng),
            "dueAt": rng.choice([None, _timestamp(requested + timedelta(days=2), rng)]),
            "artworkFiles": [f"art/{rng.randint(1, 99)}.pdf" for _ in range(rng.randint(0, 2))],
            "instructions": rng.choice([None, t()]),
        }
    if stream == "estimates":
        return {
            "orderNumber": rng.choice([None, _pick_order(rng, pools), _pick_order(rng, pools)]),
            "customerNumber": _pick_customer(rng, pools),
            "quoteNumber": f"Q-{rng.randint(1000, 9999)}",
            "quoteVersion": rng.randint(1, 6),
            "status": rng.choice(["DRAFT", "SENT", "ACCEPTED", "DECLINED"]),
            "total": _money(rng),
        }
    raise ValueError(f"unknown stream {stream}")


# Share of events per stream, roughly what a journal maker's ERP produces.
STREAM_WEIGHTS = {
    "customers": 1,
    "orders": 2,
    "order-lines": 5,
    "invoices": 1.5,
    "invoice-lines": 3,
    "shipments": 1.5,
    "shipping-addresses": 1,
    "virtual-requests": 1,
    "estimates": 1.5,
}


def _new_key(stream: str, index: int, rng: random.Random, pools: _Pools) -> dict[str, Any]:
    if stream == "customers":
        return {"customerNumber": pools.customers[index % len(pools.customers)]}
    if stream == "orders":
        return {"orderNumber": pools.orders[index % len(pools.orders)]}
    if stream == "order-lines":
        return {"orderNumber": _pick_order(rng, pools), "lineNumber": rng.randint(1, 6)}
    if stream == "invoices":
        return {"invoiceNumber": pools.invoices[index % len(pools.invoices)]}
    if stream == "invoice-lines":
        return {"invoiceNumber": rng.choice(pools.invoices), "lineNumber": rng.randint(1, 4)}
    prefix = {"shipments": "SH", "shipping-addresses": "ADDR", "virtual-requests": "VR", "estimates": "EST"}[stream]
    name = STREAMS[stream].key[0].name
    return {name: f"{prefix}-{index:06d}"}


def _event(entity: _Entity, event_type: str, rng: random.Random) -> dict:
    event = {
        "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "stream": entity.stream,
        "eventType": event_type,
        "occurredAt": _timestamp(entity.moment, rng),
        "version": entity.version,
        "key": dict(entity.key),
    }
    if event_type == "upsert":
        event["data"] = {**copy.deepcopy(entity.data), **entity.key}
    elif rng.random() < 0.5:
        event["data"] = None
    return event


def _evolve(entity: _Entity, rng: random.Random, pools: _Pools, tricky: bool) -> None:
    """A new version: a few fields change, and now and then a reference moves."""
    fresh = _data(entity.stream, entity.key, rng, pools, tricky)
    for name, value in fresh.items():
        is_reference = name in {"customerNumber", "orderNumber"}
        if rng.random() < (0.1 if is_reference else 0.4):
            entity.data[name] = value


def generate_events(
    n: int, *, seed: int = 0, invalid_fraction: float = 0.0, tricky_text: bool = True, streams: Iterable[str] = ()
) -> list[dict]:
    """About ``n`` System Two events in a shuffled arrival order (exactly n with invalid ones included).

    Invalid events (``invalid_fraction`` of n) break the contract in one way each; they are
    marked with ``"_invalid": "<why>"`` so callers can count them (drop that key before sending).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    wanted = list(streams) or list(STREAMS)
    weights = [STREAM_WEIGHTS[s] for s in wanted]
    n_invalid = int(n * invalid_fraction)
    n_valid = max(0, n - n_invalid)
    scale = max(4, n // 12)
    pools = _Pools(
        customers=[f"C-{i:05d}" for i in range(max(2, scale // 2))],
        orders=[f"SO-{100000 + i}" for i in range(scale)],
        invoices=[f"INV-{i:06d}" for i in range(max(2, scale // 2))],
        ghost_customers=[f"C-GHOST-{i}" for i in range(3)],
        ghost_orders=[f"SO-GHOST-{i}" for i in range(3)],
    )
    entities: dict[tuple[str, tuple], _Entity] = {}
    counters = dict.fromkeys(wanted, 0)
    events: list[dict] = []
    while len(events) < n_valid:
        stream = rng.choices(wanted, weights)[0]
        if stream in {"customers", "orders", "invoices"} or rng.random() < 0.6:
            key = _new_key(stream, counters[stream], rng, pools)
            counters[stream] += 1
        else:
            existing = [e for (s, _), e in entities.items() if s == stream] if rng.random() < 0.5 else []
            key = rng.choice(existing).key if existing else _new_key(stream, counters[stream], rng, pools)
            counters[stream] += 1
        ident = (stream, tuple(key.values()))
        entity = entities.get(ident)
        if entity is None:
            entity = _Entity(stream, key, _data(stream, key, rng, pools, tricky_text))
            entity.moment = BASE_TIME + timedelta(seconds=rng.randint(0, 3600))
            entities[ident] = entity
        else:
            _evolve(entity, rng, pools, tricky_text)
        roll = rng.random()
        if roll < 0.05 and entity.events:
            # An equal version later in time: the later occurredAt must win.
            entity.moment += timedelta(milliseconds=rng.randint(1, 5000))
        else:
            entity.version += rng.choice([1, 1, 1, 2, 5])
            entity.moment += timedelta(seconds=rng.randint(1, 600))
        event_type = "delete" if rng.random() < 0.08 else "upsert"
        event = _event(entity, event_type, rng)
        entity.events.append(event)
        events.append(event)
        if rng.random() < 0.06:
            events.append(copy.deepcopy(event))  # System Two retried the call
    events = events[:n_valid]
    for i in range(n_invalid):
        events.append(_invalid_event(rng, i, rng.choice(events) if events else None))
    rng.shuffle(events)
    return events


INVALID_KINDS = (
    "money as a JSON number",
    "version 0",
    "unknown eventType",
    "bad date",
    "stream differs from the URL",
    "key and data disagree",
    "missing required field",
)


def _invalid_event(rng: random.Random, index: int, template: dict | None) -> dict:
    """An event that breaks the contract in one named way (based on a valid one)."""
    if template is None or template.get("data") is None:
        template = {
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "stream": "orders",
            "eventType": "upsert",
            "occurredAt": "2026-11-27T10:15:30.123Z",
            "version": 1,
            "key": {"orderNumber": f"SO-BAD-{index}"},
            "data": {
                **_data("orders", {}, rng, _Pools(["C-1"], ["SO-1"], ["I-1"], [], []), False),
                "orderNumber": f"SO-BAD-{index}",
            },
        }
    event = copy.deepcopy(template)
    event["eventId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    kind = INVALID_KINDS[index % len(INVALID_KINDS)]
    spec = STREAMS[event["stream"]]
    if kind == "money as a JSON number":
        money = [f.name for f in spec.fields if f.type == "money" and not f.optional]
        if money:
            event["data"][money[0]] = 12.5
        else:
            event["version"] = 0
    elif kind == "version 0":
        event["version"] = 0
    elif kind == "unknown eventType":
        event["eventType"] = "merge"
    elif kind == "bad date":
        event["occurredAt"] = "27/11/2026 10:15"
    elif kind == "stream differs from the URL":
        event["_url_stream"] = "customers" if event["stream"] != "customers" else "orders"
    elif kind == "key and data disagree":
        first = spec.key[0].name
        event["data"][first] = f"{event['data'][first]}-OTHER" if spec.key[0].type == "string" else -1
    elif kind == "missing required field":
        required = [f.name for f in spec.fields if not f.optional]
        event["data"].pop(required[0], None)
    event["_invalid"] = kind
    return event
