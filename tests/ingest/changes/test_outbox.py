"""The change outbox: after each import commits, ``rows_changed`` receivers get the stream and the
keys created, updated and deleted, at least once, even if the worker dies right after the commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ingest.models import ChangeNotification, ImportFile, ImportStatus
from ingest.services.changes.outbox import dispatch_undelivered
from ingest.services.changes.signals import rows_changed
from ingest.services.importing.run import import_file
from ingest.services.intake.registration import register_local_file
from ingest.services.repair.reimport import reimport_files
from ingest.testing.imports import import_events, register_and_import, write_events
from ingest.testing.samples import orders_at
from website.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.calls: list[dict] = []
        self.fail = fail
        self.__qualname__ = "Receiver"  # Django logs a failing receiver by its __qualname__

    def __call__(self, sender, **kwargs) -> None:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def receiver():
    r = Receiver()
    rows_changed.connect(r, weak=False, dispatch_uid="test-receiver")
    yield r
    rows_changed.disconnect(dispatch_uid="test-receiver")


def test_receivers_get_the_keys_created_updated_and_deleted(receiver, tmp_path):
    now = timezone.now()
    first = import_events(orders_at([now, now], run="k"), tmp_path, "one")
    [call] = receiver.calls
    assert call["stream"] == "orders" and call["import_file_id"] == first.import_file_id and call["part"] == 1
    assert call["created"] == ["SO-k0000000", "SO-k0000001"]
    assert call["updated"] == [] and call["deleted"] == []

    # Version 2 of the first order, a delete of the second, and a stale repeat of nothing new.
    update = orders_at([now], run="k", version=2)
    delete = orders_at([now, now], run="k", version=3, delete=True)[1:]
    import_events(update + delete, tmp_path, "two")
    call = receiver.calls[-1]
    assert (call["created"], call["updated"], call["deleted"]) == ([], ["SO-k0000000"], ["SO-k0000001"])
    assert ChangeNotification.objects.filter(delivered_at__isnull=True).count() == 0

    # An import that changes nothing (all stale) sends nothing.
    before = len(receiver.calls)
    import_events(update, tmp_path, "three")
    assert len(receiver.calls) == before


def test_a_dry_run_sends_and_keeps_nothing(receiver, tmp_path):
    path = write_events(orders_at([timezone.now()], run="dry"), tmp_path, "dry")
    register_and_import(path, trigger="task", dry_run=True)
    assert receiver.calls == [] and not ChangeNotification.objects.exists()


def test_a_worker_dying_right_after_the_commit_loses_nothing(tmp_path):
    # The receiver kills the "worker" (SystemExit escapes everything) as the first delivery starts.
    dying = Receiver(fail=SystemExit(1))
    rows_changed.connect(dying, weak=False, dispatch_uid="dying")
    try:
        with pytest.raises(SystemExit):
            import_events(orders_at([timezone.now()] * 3, run="die"), tmp_path, "die")
    finally:
        rows_changed.disconnect(dispatch_uid="dying")
    f = ImportFile.objects.get()
    assert f.status == ImportStatus.IMPORTED  # the import had committed
    note = ChangeNotification.objects.get()
    assert note.delivered_at is None

    healthy = Receiver()
    rows_changed.connect(healthy, weak=False, dispatch_uid="healthy")
    try:
        # The sweep leaves fresh rows to their worker for a while...
        assert dispatch_undelivered() == (0, 0)
        ChangeNotification.objects.update(created_at=timezone.now() - timedelta(minutes=5))
        # ... then delivers them.
        assert dispatch_undelivered() == (1, 0)
        assert dispatch_undelivered(older_than=0) == (0, 0)
    finally:
        rows_changed.disconnect(dispatch_uid="healthy")
    [call] = healthy.calls
    assert call["created"] == ["SO-die0000000", "SO-die0000001", "SO-die0000002"]
    assert call["notification_id"] == note.pk
    assert ChangeNotification.objects.get().delivered_at is not None


def test_a_failing_receiver_is_retried_by_the_command(tmp_path, capsys):
    flaky = Receiver(fail=RuntimeError("website cache is down"))
    rows_changed.connect(flaky, weak=False, dispatch_uid="flaky")
    try:
        import_events(orders_at([timezone.now()], run="flaky"), tmp_path, "flaky")
        note = ChangeNotification.objects.get()
        assert note.delivered_at is None and note.attempts == 1 and "website cache is down" in note.last_error
        call_command("dispatch_changes")
        assert ChangeNotification.objects.get().attempts == 2
        flaky.fail = None
        call_command("dispatch_changes")
    finally:
        rows_changed.disconnect(dispatch_uid="flaky")
    assert "delivered 1, failed 0, undelivered now 0" in capsys.readouterr().out
    assert len(flaky.calls) == 3
    note = ChangeNotification.objects.get()
    assert note.delivered_at is not None and note.last_error == ""


def test_a_reimport_adds_parts_after_the_earlier_ones(receiver, tmp_path):
    outcome = import_events(orders_at([timezone.now()], run="re"), tmp_path, "re")
    Order.objects.all().delete()
    reimport_files(ImportFile.objects.filter(pk=outcome.import_file_id), sync=True)
    assert list(ChangeNotification.objects.order_by("part").values_list("part", flat=True)) == [1, 2]
    assert [c["created"] for c in receiver.calls] == [["SO-re0000000"], ["SO-re0000000"]]


def test_a_receiver_whose_database_write_fails_rolls_back_alone(tmp_path):
    # A receiver breaks the transaction (a duplicate key); the notification stays undelivered and
    # the dispatcher's own bookkeeping still commits.
    def breaks(sender, **kwargs) -> None:
        ChangeNotification.objects.create(import_file_id=kwargs["import_file_id"], stream="orders", part=kwargs["part"])

    rows_changed.connect(breaks, weak=False, dispatch_uid="breaks")
    try:
        import_events(orders_at([timezone.now()], run="db"), tmp_path, "db")
    finally:
        rows_changed.disconnect(dispatch_uid="breaks")
    note = ChangeNotification.objects.get()
    assert note.delivered_at is None and note.attempts == 1 and "IntegrityError" in note.last_error
    assert dispatch_undelivered(older_than=0) == (1, 0)


def test_with_no_receiver_the_outbox_is_marked_delivered_and_keeps_its_keys(tmp_path):
    assert not rows_changed.has_listeners(ChangeNotification)
    now = timezone.now()
    import_events(orders_at([now, now], run="q"), tmp_path, "quiet")
    note = ChangeNotification.objects.get()
    assert note.delivered_at is not None and note.attempts == 1
    assert note.created_keys == ["SO-q0000000", "SO-q0000001"] and note.updated_keys == note.deleted_keys == []


def test_composite_keys_are_stored_as_arrays(receiver, tmp_path):
    from tests.ingest.importing.test_run import ev, line_data, write

    lines = [ev("order-lines", {"orderNumber": "SO-c", "lineNumber": n}, line_data()) for n in (1, 2)]
    f, _ = register_local_file(write(tmp_path, "order-lines", lines))
    import_file(f.pk)
    [call] = receiver.calls
    assert call["created"] == [["SO-c", 1], ["SO-c", 2]] and call["updated"] == call["deleted"] == []
