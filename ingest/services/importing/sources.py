"""Opening an import's bytes: a local file or an S3 object, streamed, GZIP or not.

GZIP is recognised by its magic bytes, not by the key's suffix: Firehose names its objects
without ``.gz`` unless told to, and a hand-placed file may be either.

A GZIP stream cut short (truncated, or garbage after its last complete member) reads as
ending there: ``source_damage(stream)`` then says what was wrong, and the importer records it
as an error after importing the complete lines before it, which are intact. Corrupt GZIP data
(a CRC or length mismatch, invalid deflate data) raises ``CorruptSource``: the data read so
far cannot be trusted either, so the file fails and nothing of it is imported.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files.storage import storages

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 16


class SourceMissing(Exception):
    """The object or file is not there (or not readable) any more: a permanent failure."""


class CorruptSource(ValueError):
    """The GZIP data is corrupt: none of it can be trusted, so the file fails as a whole."""


class _ReadAdapter(io.RawIOBase):
    """Lets io.BufferedReader sit on anything with ``read(n)``, like botocore's StreamingBody."""

    def __init__(self, body) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


def s3_storage(bucket: str):
    """django-storages' S3 storage for ``bucket``, with the ingest's timeouts and endpoint.

    The endpoint is read from ``settings.AWS_ENDPOINT_URL`` at call time, so a process (or a
    test) that points the settings at another AWS gets it without rebuilding STORAGES.
    """
    default: Any = storages["ingest"]  # django-storages' S3Storage (untyped)
    endpoint = settings.AWS_ENDPOINT_URL or None
    if bucket == default.bucket_name and (default.endpoint_url or None) == endpoint:
        return default
    ingest = cast(dict[str, Any], settings.STORAGES["ingest"])
    options = dict(ingest.get("OPTIONS", {}))
    options["bucket_name"] = bucket
    options["endpoint_url"] = endpoint
    return type(default)(**options)


def open_s3_body(bucket: str, key: str, etag: str = "") -> BinaryIO:
    """A streaming body of the object; with an ETag, only the content that was announced."""
    return open_s3_object(bucket, key, etag)[0]


def open_s3_object(bucket: str, key: str, etag: str = "") -> tuple[BinaryIO, int | None]:
    """``open_s3_body``, and the object's stored size (None if S3 did not say)."""
    from botocore.exceptions import ClientError

    storage = s3_storage(bucket)
    kwargs = {}
    if etag:
        kwargs["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
    try:
        # The client itself: a boto3 resource builds its classes again on every call (~3 ms a file).
        response = storage.connection.meta.client.get_object(Bucket=bucket, Key=key, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in {"NoSuchKey", "404", "NotFound", "NoSuchBucket", "AccessDenied", "403"}:
            raise SourceMissing(f"s3://{bucket}/{key}: {code}") from exc
        if code in {"PreconditionFailed", "412"} or status == 412:
            changed = f"s3://{bucket}/{key}: its content changed since it was announced (ETag {etag})"
            raise SourceMissing(changed) from exc
        raise
    return response["Body"], response.get("ContentLength")


def open_local(path: str) -> BinaryIO:
    try:
        return Path(path).open("rb")
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise SourceMissing(f"{path}: {exc.strerror or exc}") from exc


class CheckedGzip:
    """A GZIP reader that ends where the stream is cut short instead of raising, and says why.

    ``read1`` hands over each piece as soon as it is decompressed, so the data before the cut
    is delivered; only a line cut by it is lost. Corrupt data raises ``CorruptSource``."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._gzip = gzip.GzipFile(fileobj=fileobj, mode="rb")
        self.damage = ""

    def read(self, size: int = -1) -> bytes:
        """At most ``size`` bytes (fewer at the end or the damage); everything up to it when ``size < 0``."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_BUFFER), b""))
        if self.damage:
            return b""
        try:
            return self._gzip.read1(size)
        except EOFError as exc:  # truncated: what came before is what was compressed
            self.damage = f"GZIP truncated ({exc})"
            return b""
        except (gzip.BadGzipFile, zlib.error) as exc:
            if str(exc).startswith("Not a gzipped file"):  # garbage after a complete, checked member
                self.damage = f"GZIP followed by data that is not GZIP ({exc})"
                return b""
            raise CorruptSource(
                f"the GZIP data is corrupt ({type(exc).__name__}: {exc}); lines read before it may be garbled "
                "too, so nothing of the file was imported: replace the object and re-import it"
            ) from exc

    def close(self) -> None:
        self._gzip.close()


def source_damage(stream: object) -> str:
    """What made a GZIP stream end early; '' for a stream read to its proper end (or not GZIP)."""
    return getattr(stream, "damage", "")


def decompressed(raw: BinaryIO) -> BinaryIO:
    """The stream itself, or a GZIP reader over it when it starts with the GZIP magic bytes."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(_ReadAdapter(raw), READ_BUFFER)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return CheckedGzip(buffered)  # type: ignore[return-value]
    return buffered


def counted(raw: BinaryIO, progress: Callable[[int], None]) -> BinaryIO:
    """``raw``, telling ``progress(n)`` of every ``n`` stored bytes read from it."""
    return _Counted(raw, progress)  # type: ignore[return-value]


class _Counted:
    """Reports each read's size (the stored bytes, GZIP or not) to ``progress``: a command's bar."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None]) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self._progress(len(data))
        return data

    def close(self) -> None:
        self._raw.close()


@contextmanager
def open_source(
    bucket: str, key: str, etag: str = "", progress: Callable[[int], None] | None = None
) -> Iterator[BinaryIO]:
    """The bytes of an import, decompressed, as a stream that is closed afterwards; ``progress(n)``
    is told of every ``n`` stored bytes read."""
    raw = open_s3_body(bucket, key, etag) if bucket else open_local(key)
    if progress is not None:
        raw = counted(raw, progress)
    stream = decompressed(raw)
    try:
        yield stream
    finally:
        stream.close()
        raw.close()
