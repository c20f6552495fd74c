"""Columns of one stream's rows that the contract derives from another stream's rows, declared here.

Each rule names the stream whose rows decide (``source``), the column of those rows that
names the target row (``via``), and how to recompute the target's columns. After a batch of
``source`` the loader recomputes every target row that an applied event named, before or after
the change; the loader itself knows no stream by name.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.services.loading.dialect import Db, collate_c
from ingest.services.loading.tables import parent_table, qn, table_sql


@dataclass(frozen=True)
class DerivedColumns:
    source: str  # the stream whose rows decide
    via: str  # the source's column that names the target row
    target: str  # the stream whose columns are derived
    columns: tuple[str, ...]
    recompute: Callable[[Db, list[Any]], None]
    # Source batches of one target decide together; serialising them across workers makes the
    # recomputation see every committed source row (PostgreSQL advisory lock).
    lock_id: int


def _quotes_from_estimates(db: Db, order_numbers: list[Any]) -> None:
    """An order's quote is that of the latest live estimate naming it (ties: higher estimateNumber)."""
    orders, order_key = parent_table("orders", db.connection)
    estimates = table_sql("estimates", db.connection).table
    collate = collate_c(db.is_postgres)
    pick = (
        f"FROM {estimates} e WHERE e.order_id = {orders.table}.{qn(order_key)}"
        " AND NOT e.is_deleted AND NOT e.is_placeholder"
        f" ORDER BY e.source_occurred_at DESC, e.estimate_number{collate} DESC LIMIT 1"
    )
    for where, params in db.key_filter(order_key, orders.db_types[order_key], order_numbers):
        db.execute(
            f"UPDATE {orders.table} SET quote_number = (SELECT e.quote_number {pick}),"
            f" quote_version = (SELECT e.quote_version {pick}) WHERE {where}",
            params,
        )


QUOTES = DerivedColumns(
    source="estimates",
    via="order_id",
    target="orders",
    columns=("quote_number", "quote_version"),
    recompute=_quotes_from_estimates,
    lock_id=zlib.crc32(b"ingest:estimates"),
)

RULES: tuple[DerivedColumns, ...] = (QUOTES,)


def rules_for(stream: str) -> tuple[DerivedColumns, ...]:
    """The rules whose target columns depend on ``stream``'s rows."""
    return tuple(rule for rule in RULES if rule.source == stream)
