"""One batch of one stream's events: winners per key, the merges, placeholders, derived columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

from ingest.services.importing.rows import RowEvent
from ingest.services.loading.derived import rules_for
from ingest.services.loading.dialect import Db
from ingest.services.loading.keys import EMPTY, decode_keys
from ingest.services.loading.references import applied_references, ensure_placeholders, remove_orphan_placeholders
from ingest.services.loading.tables import TableSql, table_sql
from ingest.services.loading.upsert import MergeResult, merge
from transforms.streams import StreamSpec


@dataclass
class BatchCounts:
    created: int = 0
    updated: int = 0
    stale: int = 0
    deleted: int = 0
    placeholders: int = 0
    # Natural keys the batch changed, filled only when asked (``collect_keys``): JSON array texts
    # (see ``keys``), decoded by the properties below.
    created_json: list[str] = field(default_factory=list)
    updated_json: list[str] = field(default_factory=list)
    deleted_json: list[str] = field(default_factory=list)

    def add(self, other: BatchCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.stale += other.stale
        self.deleted += other.deleted
        self.placeholders += other.placeholders
        self.created_json += other.created_json
        self.updated_json += other.updated_json
        self.deleted_json += other.deleted_json

    @property
    def created_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys(self.created_json)

    @property
    def updated_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys(self.updated_json)

    @property
    def deleted_keys(self) -> list[tuple[Any, ...]]:
        return decode_keys(self.deleted_json)

    def has_keys(self) -> bool:
        return any(text != EMPTY for text in (*self.created_json, *self.updated_json, *self.deleted_json))

    def clear_keys(self) -> None:
        self.created_json.clear()
        self.updated_json.clear()
        self.deleted_json.clear()


def pick_winners(events: list[RowEvent]) -> tuple[dict[tuple[Any, ...], RowEvent], int]:
    """Within a batch only the highest-ranked event of a key can matter: those, and how many lost."""
    winners: dict[tuple[Any, ...], RowEvent] = {}
    beaten = 0
    for ev in events:
        current = winners.get(ev.key)
        if current is None:
            winners[ev.key] = ev
        else:
            beaten += 1
            if ev.rank > current.rank:
                winners[ev.key] = ev
    return winners, beaten


class Winners(Protocol):
    """A batch's winning events (one per key) as the merges take them."""

    upserts: int
    deletes: int

    def merge(
        self, db: Db, sql: TableSql, import_id: int | None, *, delete: bool, collect: bool, watched: tuple[str, ...]
    ) -> MergeResult: ...

    def references(self, db: Db, sql: TableSql, upserted: MergeResult, col: str) -> set[Any]:
        """The values of ``col`` in the rows that now hold the upserts (``upserted``: their merge)."""
        ...


class _EventWinners:
    def __init__(self, winners: dict[tuple[Any, ...], RowEvent]) -> None:
        upserts = [ev for ev in winners.values() if not ev.is_delete]
        deletes = [ev for ev in winners.values() if ev.is_delete] if len(upserts) < len(winners) else []
        self.events = {False: upserts, True: deletes}
        self.upserts, self.deletes = len(self.events[False]), len(self.events[True])

    def merge(
        self, db: Db, sql: TableSql, import_id: int | None, *, delete: bool, collect: bool, watched: tuple[str, ...]
    ) -> MergeResult:
        return merge(db, sql, self.events[delete], import_id, delete=delete, collect=collect, watched=watched)

    def references(self, db: Db, sql: TableSql, upserted: MergeResult, col: str) -> set[Any]:
        return applied_references(db, sql, self.events[False], col)


def apply_batch(
    events: list[RowEvent],
    spec: StreamSpec,
    import_id: int | None,
    *,
    collect_keys: bool = False,
    connection: BaseDatabaseWrapper | None = None,
) -> BatchCounts:
    """Apply a batch of one stream's events; must run inside a transaction."""
    winners, beaten = pick_winners(events)
    counts = BatchCounts(stale=beaten)
    if winners:
        apply_winners(_EventWinners(winners), spec, import_id, counts, collect_keys, connection)
    return counts


def apply_winners(
    batch: Winners,
    spec: StreamSpec,
    import_id: int | None,
    counts: BatchCounts,
    collect_keys: bool = False,
    connection: BaseDatabaseWrapper | None = None,
) -> None:
    """Merge a batch's winners into their table and add what it did to ``counts``; must run inside
    a transaction."""
    db = Db(connection or default_connection)
    try:
        _apply(db, spec, batch, import_id, counts, collect_keys)
    finally:
        db.close()


def _apply(
    db: Db,
    spec: StreamSpec,
    batch: Winners,
    import_id: int | None,
    counts: BatchCounts,
    collect: bool,
) -> None:
    sql = table_sql(spec.name, db.connection)
    rules = rules_for(spec.name)
    if db.is_postgres:
        for rule in rules:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [rule.lock_id])
    watched = tuple(dict.fromkeys(rule.via for rule in rules))

    up = batch.merge(db, sql, import_id, delete=False, collect=collect, watched=watched)
    if up.unheld:
        parent_of = {r.attname: r.parent for r in sql.refs}
        for col in up.unheld:
            refs = batch.references(db, sql, up, col)
            up.placeholders += ensure_placeholders(db, parent_of[col], refs, import_id)
    gone = batch.merge(db, sql, import_id, delete=True, collect=collect, watched=watched)

    counts.created += up.created
    counts.updated += up.applied - up.created
    counts.deleted += gone.applied
    counts.stale += batch.upserts - up.applied + batch.deletes - gone.applied
    counts.placeholders += up.placeholders
    if collect:
        counts.created_json.append(up.created_json)
        counts.updated_json.append(up.updated_json)
        counts.deleted_json.append(gone.applied_json)

    parent_of = {r.attname: r.parent for r in sql.refs}
    for col, moved in up.moved_from.items():
        remove_orphan_placeholders(db, parent_of[col], moved)

    for rule in rules:
        affected: set[Any] = set(up.touched.get(rule.via, ())) | gone.touched.get(rule.via, set())
        affected |= up.moved_from.get(rule.via, set())
        if affected:
            rule.recompute(db, sorted(affected))
