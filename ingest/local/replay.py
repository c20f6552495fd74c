"""The replay cache of the local import API: each signature is accepted once.

A signature is kept until its timestamp leaves the tolerance window; after that the timestamp
check refuses the request anyway, so the row can go. The table is shared by every process
(gunicorn workers, the demo's threads), and its primary key settles a race between two copies
of one request: exactly one insert wins.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from ingest.models import SeenSignature


def first_use(signature: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """Records ``signature``; False if it was recorded before (a replay)."""
    SeenSignature.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            SeenSignature.objects.create(signature=signature, expires_at=expires_at)
    except IntegrityError:
        return False
    return True
