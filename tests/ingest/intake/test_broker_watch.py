"""The broker watch on a private redis-server (SIGKILLed and restarted here), and the sweep's query
for the files lost with it."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import ImportFile, ImportStatus
from ingest.services.intake.broker_watch import BrokerWatch
from ingest.services.intake.registration import S3Object, register_s3_object
from ingest.services.intake.sweep import files_to_enqueue, lost_with_the_broker
from ingest.testing.processes import start_redis
from ingest.testing.utilities import free_port


@pytest.fixture
def private_redis(tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path)
    state = {"server": server}

    def restart():
        state["server"].signal(signal.SIGKILL)
        state["server"].proc.wait(10)
        state["server"] = start_redis(port, tmp_path)

    yield f"redis://127.0.0.1:{port}/0", restart
    state["server"].stop()


def test_only_redis_brokers_are_watched():
    assert BrokerWatch.for_broker("memory://") is None
    assert BrokerWatch.for_broker("sqs://") is None
    assert BrokerWatch.for_broker("redis://127.0.0.1:1/0") is not None


def test_a_restart_is_seen_once_and_kept_until_rung(private_redis):
    url, restart = private_redis
    watch = BrokerWatch(url)
    first = watch.lost_before()
    # The first look: tasks set before the server started went to another one.
    assert first is not None and first <= timezone.now()
    watch.enqueued_again()
    assert watch.lost_before() is None  # same server, nothing lost

    restart()
    seen = timezone.now()
    lost = watch.lost_before()
    assert lost is not None and lost >= seen
    assert watch.lost_before() == lost  # kept while the files are not enqueued_again (a sweep failed)
    watch.enqueued_again()
    assert watch.lost_before() is None


def test_an_unreachable_broker_is_not_a_restart():
    watch = BrokerWatch(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    assert watch.lost_before() is None
    assert watch.run_id == ""


def _file(n: int, **fields) -> ImportFile:
    f, _ = register_s3_object(S3Object(bucket="b", key=f"orders/2026/12/02/08/f-{n}.gz", etag=f"e{n}", size=10))
    ImportFile.objects.filter(pk=f.pk).update(**fields)
    return f


@pytest.mark.django_db
def test_the_files_lost_with_the_broker():
    now = timezone.now()
    restart = now - timedelta(seconds=10)
    before = _file(1, enqueued_at=now - timedelta(seconds=30))
    after = _file(2, enqueued_at=now - timedelta(seconds=5))
    retry_due = _file(3, enqueued_at=now + timedelta(seconds=60), updated_at=now - timedelta(seconds=20))
    retry_new = _file(4, enqueued_at=now + timedelta(seconds=60), updated_at=now - timedelta(seconds=2))
    _file(5, enqueued_at=None)  # no task yet: the sweep's own business
    _file(6, enqueued_at=now - timedelta(seconds=30), status=ImportStatus.IMPORTED)
    _file(7, enqueued_at=now - timedelta(seconds=30), status=ImportStatus.RUNNING)  # the orphan check's

    assert lost_with_the_broker(restart) == [before.pk, retry_due.pk]
    # A restart seen now: every pending file with a task or a retry set so far.
    assert lost_with_the_broker(now) == [before.pk, after.pk, retry_due.pk, retry_new.pk]
    ringing = files_to_enqueue(
        requeue_after=600, max_redeliveries=5, abandoned_after=120, orphans_only=True, broker_lost_before=restart
    )
    assert ringing == [before.pk, retry_due.pk]
    # Without a restart the orphans-only look leaves them alone (the sweep's 600 s are not up).
    assert files_to_enqueue(requeue_after=600, max_redeliveries=5, abandoned_after=120, orphans_only=True) == []
