"""The natural keys a merge changed, kept as the JSON array text the database wrote.

The change outbox stores them as JSON and the importer itself never looks at them, so they travel
database -> Python -> database as text: decoding and re-encoding 200,000 keys cost a tenth of a
large import. A one-field key is its value, a longer key an array (the outbox's own shape);
``decode_keys`` gives tuples to whoever wants to look.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

EMPTY = "[]"


def key_list(is_postgres: bool, exprs: Sequence[str], condition: str) -> str:
    """An aggregate: the natural keys (``exprs``) of the rows where ``condition`` holds, as JSON text."""
    if is_postgres:
        key = exprs[0] if len(exprs) == 1 else f"json_build_array({', '.join(exprs)})"
        return f"COALESCE(json_agg({key}) FILTER (WHERE {condition}), '[]')::text"
    key = exprs[0] if len(exprs) == 1 else f"json_array({', '.join(exprs)})"
    return f"json_group_array({key}) FILTER (WHERE {condition})"


def join_arrays(texts: Iterable[str | None]) -> str:
    """One JSON array holding the elements of every array in ``texts``, in order."""
    inner = [body for text in texts if text and (body := text.strip()[1:-1].strip())]
    return "[" + ", ".join(inner) + "]"


def decode_keys(texts: Iterable[str | None]) -> list[tuple[Any, ...]]:
    """The keys of JSON array texts, as tuples."""
    keys: list[tuple[Any, ...]] = []
    for text in texts:
        if text and text != EMPTY:
            keys += [tuple(k) if isinstance(k, list) else (k,) for k in json.loads(text)]
    return keys
