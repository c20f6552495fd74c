"""Registering files to import: one ImportFile per object content, whoever announces it and how often."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ingest.models import ImportFile
from transforms.streams import STREAM_NAMES


def stream_for_key(key: str) -> str:
    """The stream of an S3 key from its first path segment (``orders/2026/11/27/10/...``); '' if none."""
    first = key.lstrip("/").split("/", 1)[0]
    return first if first in STREAM_NAMES else ""


def stream_for_path(path: Path) -> str:
    """The stream of a local file: the folder nearest to it that names a stream; '' if none.

    A copy of the bucket keeps Firehose's layout (``…/orders/2026/11/27/10/file``), so the
    nearest such folder is the key's first segment whatever folders hold the copy.
    """
    for part in reversed(path.parts[:-1]):
        if part in STREAM_NAMES:
            return part
    return ""


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str = ""
    size: int | None = None
    version_id: str = ""
    sequencer: str = ""
    event_time: datetime | None = None


# Firehose writes the records its transform rejected here (errors/{stream}/processing-failed/...).
ERRORS_PREFIX = "errors/"
# Not a file to import: the consumer hands these to ingest.services.intake.error_output.register_error_object.
ERRORS_REFUSAL = "errors/ object: Firehose's error output, kept as failed records"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _field_limit(name: str) -> int:
    field = ImportFile._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None, f"{name} is not a bounded text column"
    return field.max_length


def refusal(obj: S3Object, *, bucket: str) -> str:
    """Why an announced object is not a file to import ('' if it is one).

    Only objects of the ingest ``bucket`` under one of the nine stream prefixes are files; a
    notification may still name anything (a misconfigured bucket, a forged message), and what
    it names must neither be imported nor break the consumer (a value the database cannot
    hold would fail every delivery of the message)."""
    if obj.bucket != bucket:
        return f"bucket {obj.bucket!r} is not the ingest bucket {bucket!r}"
    for name in ("bucket", "key", "etag", "version_id", "sequencer"):
        value = getattr(obj, name)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"the {name} is not valid Unicode"
        if _CONTROL_RE.search(value):
            return f"the {name} holds control characters"
        if len(value) > _field_limit(name):
            return f"the {name} is longer than {_field_limit(name)} characters"
    if obj.size is not None and not 0 <= obj.size < 1 << 63:
        return f"size {obj.size} is out of range"
    key = obj.key
    if key.startswith("/"):
        return "the key starts with '/'"
    segments = key.split("/")
    if any(segment in {"", ".", ".."} for segment in segments):
        return "the key has an empty, '.' or '..' segment"
    if key.startswith(ERRORS_PREFIX):
        return ERRORS_REFUSAL
    if segments[0] not in STREAM_NAMES or len(segments) < 2:
        return f"the key is not under one of the nine stream prefixes ({', '.join(f'{s}/' for s in STREAM_NAMES)})"
    return ""


def _get_or_create(lookup: dict, defaults: dict) -> tuple[ImportFile, bool]:
    try:
        with transaction.atomic():
            return ImportFile.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:
        # Another process registered the same object between our SELECT and INSERT.
        return ImportFile.objects.get(**lookup), False


def register_s3_object(obj: S3Object, *, registered_by: str = "notification") -> tuple[ImportFile, bool]:
    """The ImportFile of this object content, created if it is the first announcement of it."""
    etag = obj.etag.strip('"')
    now = timezone.now()
    defaults = {
        "stream": stream_for_key(obj.key),
        "size": obj.size,
        "version_id": obj.version_id or "",
        "sequencer": obj.sequencer or "",
        "s3_event_time": obj.event_time,
        "received_at": now,
        "registered_by": registered_by,
    }
    return _get_or_create({"bucket": obj.bucket, "key": obj.key, "etag": etag}, defaults)


def register_local_file(path: Path, *, stream: str = "", registered_by: str = "command") -> tuple[ImportFile, bool]:
    """The ImportFile of a local file, identified by its absolute path and content hash."""
    path = path.resolve()
    digest, size = sha256_of(path)
    now = timezone.now()
    defaults = {
        "stream": stream or stream_for_path(path),
        "size": size,
        "received_at": now,
        "registered_by": registered_by,
    }
    return _get_or_create({"bucket": "", "key": str(path), "etag": digest}, defaults)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri}")
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise ValueError(f"an S3 URI needs a bucket and a key: {uri}")
    return bucket, key
