"""The nine System Two streams, loaded from ``streams.json`` (their one definition).

Terraform reads the same JSON file with ``jsondecode(file(...))``; the transform
and the importer read it through this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The types and the limits of their values are defined with their rules, in field_types.
from .field_types import (
    FIELD_TYPES,
    INT_MAX,
    INT_MIN,
    MAX_CODE_LENGTH,
    MAX_KEY_LENGTH,
    MONEY_DECIMAL_PLACES,
    MONEY_MAX_DIGITS,
)

STREAMS_FILE = Path(__file__).with_name("streams.json")

__all__ = [
    "BY_RECORD_TYPE",
    "FIELD_TYPES",
    "INT_MAX",
    "INT_MIN",
    "MAX_CODE_LENGTH",
    "MAX_KEY_LENGTH",
    "MONEY_DECIMAL_PLACES",
    "MONEY_MAX_DIGITS",
    "STREAMS",
    "STREAMS_FILE",
    "STREAM_NAMES",
    "FieldSpec",
    "Reference",
    "StreamSpec",
    "load_streams",
    "snake_case",
]


def snake_case(name: str) -> str:
    """``balanceDue`` -> ``balance_due``, ``line1`` -> ``line1``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class Reference:
    """A field that names another entity by its natural key."""

    stream: str
    relation: str  # the ForeignKey's name on the website model: ``customer``, ``order``, ``invoice``


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    optional: bool = False
    values: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    references: Reference | None = None
    column_prefix: str = ""

    @property
    def attname(self) -> str:
        """The website model's attribute (and column) that holds this field."""
        if self.references is not None:
            return f"{self.references.relation}_id"
        return snake_case(self.name)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    record_type: str
    model: str
    key: tuple[FieldSpec, ...]
    fields: tuple[FieldSpec, ...]
    layout_version: int
    key_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_names", tuple(f.name for f in self.key))

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        """Key fields first, then the data fields, in layout order."""
        return self.key + self.fields

    @property
    def references(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.all_fields if f.references is not None)

    def columns(self) -> list[tuple[tuple[str, ...], str, FieldSpec]]:
        """Every stored value as (path in the event's data, model attname, spec); objects flattened."""
        out: list[tuple[tuple[str, ...], str, FieldSpec]] = []
        for spec in self.all_fields:
            if spec.type == "object":
                for sub in spec.fields:
                    out.append(((spec.name, sub.name), spec.column_prefix + snake_case(sub.name), sub))
            else:
                out.append(((spec.name,), spec.attname, spec))
        return out


def _field(raw: dict[str, Any]) -> FieldSpec:
    if raw["type"] not in FIELD_TYPES:
        raise ValueError(f"unknown field type {raw['type']!r} in {STREAMS_FILE.name}")
    ref = raw.get("references")
    return FieldSpec(
        name=raw["name"],
        type=raw["type"],
        optional=bool(raw.get("optional", False)),
        values=tuple(raw.get("values", ())),
        fields=tuple(_field(f) for f in raw.get("fields", ())),
        references=Reference(ref["stream"], ref["relation"]) if ref else None,
        column_prefix=raw.get("column_prefix", ""),
    )


def load_streams(path: Path = STREAMS_FILE) -> dict[str, StreamSpec]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    layout = int(raw["layoutVersion"])
    streams = {
        s["name"]: StreamSpec(
            name=s["name"],
            record_type=s["recordType"],
            model=s["model"],
            key=tuple(_field(f) for f in s["key"]),
            fields=tuple(_field(f) for f in s["fields"]),
            layout_version=layout,
        )
        for s in raw["streams"]
    }
    return streams


STREAMS: dict[str, StreamSpec] = load_streams()
STREAM_NAMES: tuple[str, ...] = tuple(STREAMS)
BY_RECORD_TYPE: dict[str, StreamSpec] = {s.record_type: s for s in STREAMS.values()}
