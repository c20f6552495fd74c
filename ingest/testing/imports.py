"""Importing a local file in this process, as ``manage.py import_file`` does: register it, import it."""

from __future__ import annotations

from pathlib import Path

from ingest.models import ImportFile
from ingest.services.importing.lifecycle import ImportOutcome
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from transforms.system_one.writer import write_record


def register_and_import(
    path: Path, *, stream: str = "", trigger: str = "test", dry_run: bool = False
) -> tuple[ImportFile, ImportOutcome]:
    """Registers the file (its stream told by its path unless ``stream`` says) and imports it; the
    file's row as the import left it, and what the import answered."""
    f, _ = register_local_file(path, stream=stream)
    outcome = import_file(f.pk, trigger=trigger, dry_run=dry_run)
    f.refresh_from_db()
    return f, outcome


def write_events(events: list[dict], folder: Path, name: str, *, stream: str = "orders") -> Path:
    """The events as one uncompressed System One file ``folder/{stream}/{name}.txt``."""
    path = folder / stream / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(write_record(e) for e in events))
    return path


def import_events(events: list[dict], folder: Path, name: str, *, trigger: str = "task") -> ImportOutcome:
    """Writes the (orders) events as one System One file under ``folder/orders/`` and imports it."""
    _f, outcome = register_and_import(write_events(events, folder, name), trigger=trigger)
    return outcome
