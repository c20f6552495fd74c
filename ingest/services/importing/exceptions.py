"""What can go wrong while importing a file, and which of it is worth trying again."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError


class ImportBusy(Exception):
    """Another worker holds this file's lock right now."""


class TransientImportError(Exception):
    """The import failed for a reason that may pass (network, S3, database): retry later."""


class PermanentImportError(Exception):
    """The file cannot be imported as it is; retrying will not help."""


# The database went away (restart, failover, network): the connection is unusable, the next one works.
DATABASE_GONE = (OperationalError, InterfaceError)


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a database error (Django's wrapper or psycopg's own); None elsewhere."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)


def is_conflict(exc: BaseException) -> bool:
    """Deadlock or serialisation failure between two transactions."""
    return sqlstate(exc) in {"40P01", "40001"}


def is_lock_busy(exc: BaseException) -> bool:
    """``NOWAIT`` found the row locked (lock_not_available)."""
    return sqlstate(exc) == "55P03"


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying later: the database, the network or S3 being unwell."""
    if isinstance(exc, TransientImportError | OperationalError | InterfaceError):
        return True
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in {"SlowDown", "RequestTimeout", "Throttling", "InternalError"}
    if isinstance(exc, BotoCoreError):
        # IncompleteReadError: the body ended before its Content-Length (a download cut short).
        name = type(exc).__name__.lower()
        return "timeout" in name or "connection" in name or "incompleteread" in name
    return isinstance(exc, ConnectionResetError | TimeoutError)
