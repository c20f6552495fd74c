"""Adopting a field: its new column filled from the extras stored on every row (``manage.py adopt_field``).

Before a field is in ``transforms/streams.json``, its values travel as extras and are kept on each
row in ``source_extras`` (``ingest.services.importing.extras``). Once the field is in the layout and the
model and the migration has run, new events fill the column; this fills it for the rows written
before, from the extras of each row's current version, and takes the field out of their extras.

In batches of rows by primary key, one transaction each: read the rows whose extras hold the
field, check each value against the field's type (the transform's own check), then one UPDATE
for the batch that writes only rows still at the version read (same ``source_version`` and
``source_event_id``) and still holding the field. A newer version that an import wrote meanwhile
is left as the importer wrote it (PostgreSQL re-checks the condition on the row it locks), and so
is a row whose value does not fit the type (counted, and left in its extras). Rows done lose the
field from their extras, so a second run finds nothing to do (idempotent) and a run stopped half
way resumes where it stopped.
"""

# SQL here is assembled from model metadata (table and column names), never from input; values and
# the field's JSON path travel as bound parameters.
# ruff: noqa: S608
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from ingest.services.loading.dialect import Db
from ingest.services.loading.tables import EXTRAS_COLUMN, qn
from transforms.field_types import FieldType, field_type
from transforms.invalid import InvalidEvent
from transforms.streams import STREAM_NAMES, STREAMS, FieldSpec

BATCH_SIZE = 20_000
MAX_INVALID_SHOWN = 10


class AdoptError(ValueError):
    """The field cannot be adopted (yet): the message says what to do first."""


@dataclass
class AdoptReport:
    stream: str
    field: str
    column: str
    dry_run: bool
    found: int = 0  # rows whose extras held the field
    adopted: int = 0  # rows whose column was filled (dry run: would be)
    newer: int = 0  # rows a newer version replaced between the read and the write: left as written
    invalid: int = 0  # values that do not fit the field's type: left in the extras
    invalid_examples: list[str] = dataclasses.field(default_factory=list)
    batches: int = 0
    last_id: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.found / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _Target:
    table: str
    column: str
    db_type: str
    path: tuple[str, ...]
    spec: FieldSpec
    prep: Callable[[Any], Any]  # the column's value as the database takes it


def _target(stream: str, name: str) -> _Target:
    from website.models import MODELS_BY_STREAM

    if stream not in STREAM_NAMES:
        raise AdoptError(f"unknown stream {stream!r}: one of {', '.join(STREAM_NAMES)}")
    spec = STREAMS[stream]
    path = tuple(name.split("."))
    found = next(((attname, s) for p, attname, s in spec.columns() if p == path), None)
    if found is None:
        raise AdoptError(
            f"{name!r} is not a field of {stream} in transforms/streams.json: add it there and to the model"
            f" {spec.model}, run makemigrations and migrate, deploy, then adopt it"
        )
    attname, field_spec = found
    if name in spec.key_names:
        raise AdoptError(f"{name!r} is a key field of {stream}: every row has it already")
    if field_spec.references is not None:
        raise AdoptError(f"{name!r} refers to another stream: adopting references is not supported")
    model = MODELS_BY_STREAM[stream]
    model_field = next((f for f in model._meta.concrete_fields if f.attname == attname), None)
    if model_field is None:
        raise AdoptError(
            f"the model {spec.model} has no field {attname!r} for {name!r}: add it, run makemigrations and"
            " migrate, then adopt it"
        )
    db_type = model_field.db_type(connection)
    assert db_type is not None
    convert = field_type(field_spec).convert or (lambda v: v)
    if connection.vendor == "postgresql":
        prep = _pg_text(convert)
    else:

        def prep(value: Any) -> Any:
            return model_field.get_db_prep_save(convert(value), connection)

    return _Target(qn(model._meta.db_table), attname, db_type, path, field_spec, prep)


def _pg_text(convert: Callable[[Any], Any]) -> Callable[[Any], str]:
    """The value as text PostgreSQL casts to the column's type (all values travel as one text array)."""

    def prep(value: Any) -> str:
        value = convert(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, int | Decimal | str):
            return str(value)
        raise TypeError(f"cannot adopt a {type(value).__name__}")

    return prep


def adopt_field(
    stream: str,
    name: str,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    after_id: int = 0,
    progress: Callable[[AdoptReport], None] | None = None,
) -> AdoptReport:
    """Fill the column of ``stream``'s field ``name`` (dotted inside an object: ``billingAddress.gateCode``)
    from the extras of every row that holds it; see the module's doc."""
    target = _target(stream, name)
    report = AdoptReport(stream, name, target.column, dry_run, last_id=after_id)
    clock = time.monotonic()
    db = Db(connection)
    try:
        while True:
            with transaction.atomic():
                rows = _read(db, target, report.last_id, batch_size)
                if not rows:
                    break
                report.batches += 1
                report.last_id = rows[-1][0]
                report.found += len(rows)
                valid = _checked(target, rows, report)
                if valid and not dry_run:
                    written = _write(db, target, valid)
                    report.adopted += written
                    report.newer += len(valid) - written
                elif dry_run:
                    report.adopted += len(valid)
            if progress is not None:
                report.seconds = time.monotonic() - clock
                progress(report)
    finally:
        db.close()
    report.seconds = time.monotonic() - clock
    return report


def rows_holding(stream: str, name: str, *, after_id: int = 0) -> int:
    """How many rows (after ``after_id``) hold the field in their extras: the total of a command's
    bar. One scan of the table, the cost of a second run that finds nothing to do."""
    t = _target(stream, name)
    db = Db(connection)
    try:
        holds, params = _holds(db, t, EXTRAS_COLUMN)
        db.execute(f"SELECT count(*) FROM {t.table} WHERE id > %s AND {holds}", [after_id, *params])
        return int(db.fetchall()[0][0])
    finally:
        db.close()


def _json_path(path: tuple[str, ...]) -> str:
    """SQLite's JSON path of a field of the extras."""
    return "$" + "".join("." + json.dumps(p) for p in path)


def _holds(db: Db, t: _Target, extras: str) -> tuple[str, list[Any]]:
    """The condition (and its parameters) that the extras column ``extras`` holds the field."""
    if db.is_postgres:
        return f"{extras} #> %s IS NOT NULL", [list(t.path)]
    return f"json_type({extras}, %s) IS NOT NULL", [_json_path(t.path)]


def _read(db: Db, t: _Target, after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """(id, version, eventId, the field's JSON text, the whole extras' JSON text on SQLite)."""
    holds, params = _holds(db, t, EXTRAS_COLUMN)
    if db.is_postgres:
        db.execute(
            f"SELECT id, source_version, source_event_id, CAST({EXTRAS_COLUMN} #> %s AS text) FROM {t.table}"
            f" WHERE id > %s AND {holds} ORDER BY id LIMIT %s",
            [list(t.path), after_id, *params, limit],
        )
        return db.fetchall()
    db.execute(
        f"SELECT id, source_version, source_event_id, json_extract({EXTRAS_COLUMN}, %s), {EXTRAS_COLUMN}"
        f" FROM {t.table} WHERE id > %s AND {holds} ORDER BY id LIMIT %s",
        [_json_path(t.path), after_id, *params, limit],
    )
    return db.fetchall()


def _checked(t: _Target, rows: list[tuple[Any, ...]], report: AdoptReport) -> list[tuple[Any, ...]]:
    """The rows whose value fits the field, as (id, version, eventId, column value[, new extras])."""
    kind = field_type(t.spec)
    label = ".".join(t.path)
    out: list[tuple[Any, ...]] = []
    sqlite = connection.vendor != "postgresql"
    for row in rows:
        pk, version, event_id, text = row[:4]
        try:
            if sqlite:
                extras = json.loads(row[4])
                value = extras
                for part in t.path:
                    value = value[part]
            else:
                value = json.loads(text)
            if value is None:
                if not t.spec.optional:
                    raise InvalidEvent("is required and must not be null", label)
                column = None
            else:
                column = t.prep(_valid(kind, value, label))
        except (InvalidEvent, ValueError, ArithmeticError, TypeError) as exc:
            report.invalid += 1
            if len(report.invalid_examples) < MAX_INVALID_SHOWN:
                report.invalid_examples.append(f"row id {pk}: {exc}")
            continue
        if sqlite:
            out.append((pk, version, event_id, column, _without(extras, t.path)))
        else:
            out.append((pk, version, event_id, column))
    return out


def _valid(kind: FieldType, value: object, label: str) -> object:
    """The value, checked by the field's type. A string that is not valid as sent may be the text
    of a column a newer layout wrote (read by an older reader, kept as text): its System One text
    is decoded as the field's (``250`` for an int, ``T`` for a bool); lists are not, their text
    lost its escapes."""
    try:
        kind.check(value, label)
        return value
    except InvalidEvent:
        if not isinstance(value, str) or kind.decode is None or kind.decode_escaped:
            raise
        try:
            return kind.decode(value, label)
        except ValueError:
            pass
        raise


def _without(extras: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """(SQLite) the extras without the field, as JSON text; None when nothing is left."""
    if len(path) == 1:
        rest = {k: v for k, v in extras.items() if k != path[0]}
    else:
        inner = {k: v for k, v in extras[path[0]].items() if k != path[1]}
        rest = {k: v for k, v in extras.items() if k != path[0]}
        if inner:
            rest[path[0]] = inner
    return json.dumps(rest, ensure_ascii=False, separators=(",", ":")) if rest else None


def _write(db: Db, t: _Target, rows: list[tuple[Any, ...]]) -> int:
    col, x = qn(t.column), EXTRAS_COLUMN
    if db.is_postgres:
        if len(t.path) == 1:
            rest = f"t.{x} - %s"
            rest_params: list[Any] = [t.path[0]]
        else:  # inside an object: the object goes too once it is empty
            rest = f"CASE WHEN (t.{x} #- %s) -> %s = '{{}}'::jsonb THEN t.{x} - %s ELSE t.{x} #- %s END"
            rest_params = [list(t.path), t.path[0], t.path[0], list(t.path)]
        ids, versions, event_ids, values = (list(c) for c in zip(*rows, strict=True))
        holds, params = _holds(db, t, f"t.{x}")
        db.execute(
            f"UPDATE {t.table} AS t SET {col} = CAST(v.val AS {t.db_type}), {x} = NULLIF({rest}, '{{}}'::jsonb)"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(id, ver, eid, val)"
            f" WHERE t.id = v.id AND t.source_version = v.ver AND t.source_event_id = v.eid AND {holds}",
            [*rest_params, ids, versions, event_ids, values, *params],
        )
        return db.rowcount
    db.temp_table("adopt", ["id", "ver", "eid", "val", "rest"])
    db.insert_rows("adopt", 5, rows)
    holds, params = _holds(db, t, f"{t.table}.{x}")
    db.execute(
        f"UPDATE {t.table} SET {col} = a.val, {x} = a.rest FROM temp.adopt a WHERE {t.table}.id = a.id"
        f" AND {t.table}.source_version = a.ver AND {t.table}.source_event_id = a.eid AND {holds}",
        params,
    )
    return db.rowcount
