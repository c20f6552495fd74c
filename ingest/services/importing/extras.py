"""Unknown members of System Two events: what the importer keeps of them and what it tallies.

The contract lets System Two add members anywhere; the transform carries them into the System
One line as extras (``+name=json`` in data, ``+object.name=json`` inside a known object,
``@name=json`` in the envelope; docs/system-one-format.md). The importer keeps them:

* the data extras of an upsert on its row, in the JSON column ``source_extras`` (nested ones
  under their object: ``{"billingAddress": {"gateCode": "4411#"}}``), written by the same
  version-guarded merge as the other columns and replaced with each applied version;
* the envelope extras on the import's record (``ingest.models.contract_drift.EnvelopeExtras``), since
  they describe the event, not the entity.

Both feed the "contract drift" tally of the import (``ExtrasTally``): per dotted path the JSON
types seen, how many events carried it and one sample value, written once per import
(``ingest.services.observing.contract_drift``).

A line has data extras exactly when it holds ``|+`` (a raw ``|`` only separates fields, and every
extra's name starts with ``+`` or ``@``) or the reader found plain fields of a newer layout in it
(``SystemOneRecord.unknown_columns``), so an event without any costs one substring test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from transforms.streams import StreamSpec

DATA = "data"
ENVELOPE = "envelope"

# Kept per path: one sample value, cut to this many characters of JSON.
SAMPLE_CHARS = 500


def json_type(value: object) -> str:
    """The JSON type of a value; ``integer`` and ``number`` apart, since a widening shows there."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class PathTally:
    types: set[str] = field(default_factory=set)
    events: int = 0
    sample: Any = None


@dataclass
class ExtrasTally:
    """What one import saw that the layout does not name. Written by the parser (its thread), read
    by the import once every line is parsed."""

    paths: dict[tuple[str, str], PathTally] = field(default_factory=dict)  # (scope, dotted path) ->
    # Envelope extras of the lines parsed since the last ``take_envelopes``: (line, eventId, extras).
    envelopes: list[tuple[int, str, dict]] = field(default_factory=list)

    def observe(self, scope: str, extras: dict, prefix: str = "") -> None:
        for name, value in extras.items():
            path = prefix + name
            if scope == DATA and not prefix and isinstance(value, dict) and name in self._objects:
                self.observe(scope, value, name + ".")  # members of a known object
                continue
            tally = self.paths.get((scope, path))
            if tally is None:
                tally = self.paths[(scope, path)] = PathTally(sample=value)
            tally.types.add(json_type(value))
            tally.events += 1

    def take_envelopes(self) -> list[tuple[int, str, dict]]:
        taken, self.envelopes = self.envelopes, []
        return taken

    _objects: frozenset[str] = frozenset()


class ExtrasReader:
    """Takes a stream's unknown members out of a parsed record's data."""

    def __init__(self, spec: StreamSpec) -> None:
        self.names = frozenset(f.name for f in spec.all_fields)
        self.objects = tuple((f.name, frozenset(s.name for s in f.fields)) for f in spec.fields if f.type == "object")
        self.tally = ExtrasTally()
        self.tally._objects = frozenset(name for name, _known in self.objects)

    def data_extras(self, data: dict) -> dict | None:
        """The unknown members of ``data`` (those inside a known object under the object's name)."""
        names = self.names
        extras = {k: v for k, v in data.items() if k not in names}
        for name, known in self.objects:
            obj = data.get(name)
            if obj:
                inside = {k: v for k, v in obj.items() if k not in known}
                if inside:
                    extras[name] = inside
        return extras or None

    def envelope(self, line_number: int, event_id: str, extras: dict) -> None:
        self.tally.observe(ENVELOPE, extras)
        self.tally.envelopes.append((line_number, event_id, extras))
