"""A test-only change of System Two's contract, applied to the running code and database.

``contract_change(edit, columns=...)`` edits the document of ``transforms/streams.json`` (a copy:
the file is never written), loads it as ``load_streams`` would, and puts it in place everywhere the
streams are read: ``STREAMS`` and ``BY_RECORD_TYPE`` (updated in place, so every importer of them
sees it), the reader's and writer's layouts, the fast path, the transform's validation rules and
the loader's cached plans. ``columns`` adds model fields (a new field) or replaces them (a widened
type) on the website models and in the database, with Django's schema editor. Everything is put
back on exit. What a deploy of a contract change does, in one process: the tests of
``adopt_field``, the redrive of records waiting for a widened type, and the compatibility of files
across the change use it.

On SQLite the schema editor cannot run inside a transaction: use it in
``django_db(transaction=True)`` tests.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, models

from transforms import events
from transforms.streams import BY_RECORD_TYPE, STREAMS, STREAMS_FILE, StreamSpec, load_streams
from transforms.system_one import fast, record, writer


def streams_document() -> dict:
    return json.loads(STREAMS_FILE.read_text(encoding="utf-8"))


def stream_entry(document: dict, stream: str) -> dict:
    return next(s for s in document["streams"] if s["name"] == stream)


def field_entry(document: dict, stream: str, name: str) -> dict:
    return next(f for f in stream_entry(document, stream)["fields"] if f["name"] == name)


def _install(specs: dict[str, StreamSpec]) -> None:
    from ingest.services.importing import parsing
    from ingest.services.loading import tables, upsert

    STREAMS.clear()
    STREAMS.update(specs)
    BY_RECORD_TYPE.clear()
    BY_RECORD_TYPE.update({s.record_type: s for s in specs.values()})
    record.LAYOUTS.clear()
    record.LAYOUTS.update({rt: record.ReadLayout(spec) for rt, spec in BY_RECORD_TYPE.items()})
    fast.FAST.clear()
    fast.FAST.update({rt: fast.FastLayout(spec) for rt, spec in BY_RECORD_TYPE.items()})
    writer._LAYOUTS.clear()
    writer._LAYOUTS.update({name: writer._WriteLayout(spec) for name, spec in specs.items()})
    events._RULES.clear()
    events._RULES.update({name: events._StreamRules(spec) for name, spec in specs.items()})
    parsing._column_plan.cache_clear()
    parsing._values_builder.cache_clear()
    tables._table_sql.cache_clear()
    tables.referrers.cache_clear()
    upsert._PLANS.clear()


def _swap_field(model: type[models.Model], name: str, new: models.Field | None) -> models.Field | None:
    """Put ``new`` in place of the model's field ``name`` (None: remove it), in the class and the
    table; returns the field that was there (None if none)."""
    opts = model._meta
    old = next((f for f in opts.local_fields if f.name == name), None)
    with connection.schema_editor() as editor:
        if old is not None and new is not None:
            new.set_attributes_from_name(name)
            new.model = model
            editor.alter_field(model, old, new)
        elif new is not None:
            new.set_attributes_from_name(name)
            new.model = model
            editor.add_field(model, new)
        elif old is not None:
            editor.remove_field(model, old)
    if old is not None:
        opts.local_fields.remove(old)
        if hasattr(model, name):
            delattr(model, name)
    if new is not None:
        new.contribute_to_class(model, name)
        if new.column is None:  # pragma: no cover - set by contribute_to_class
            new.set_attributes_from_name(name)
    opts._expire_cache()  # type: ignore[attr-defined]
    return old


@contextmanager
def contract_change(
    edit: Callable[[dict], None], *, columns: dict[str, dict[str, models.Field]] | None = None
) -> Iterator[dict[str, StreamSpec]]:
    """Run the block under the contract ``edit`` makes of ``streams.json``'s document; ``columns``:
    {model name: {field name: new model field}} added or altered for it. Yields the new streams."""
    from website import models as website_models

    original = dict(STREAMS)
    document = copy.deepcopy(streams_document())
    edit(document)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "streams.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        specs = load_streams(path)
    if list(specs) != list(original):
        raise ValueError("a test contract change keeps the nine streams")
    swapped: list[tuple[type[models.Model], str, models.Field | None]] = []
    try:
        for model_name, fields in (columns or {}).items():
            model = getattr(website_models, model_name)
            for name, field in fields.items():
                swapped.append((model, name, _swap_field(model, name, field)))
        _install(specs)
        yield specs
    finally:
        _install(original)
        for model, name, old in reversed(swapped):
            _swap_field(model, name, old.clone() if old is not None else None)
