"""Migration 0006 renames three models (issue 17): the rows and the grants of their permissions stay."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("ingest", "0005_rejected_records_clock_outbox")]
AFTER = [("ingest", "0006_rename_failed_records_unreadable_messages")]
AUTH = [("auth", "0012_alter_user_first_name_max_length"), ("contenttypes", "0002_remove_content_type_name")]


@pytest.mark.django_db(transaction=True)
def test_renamed_models_keep_their_rows_and_their_permission_grants():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE + AUTH).apps
    # The content types and permissions of the old models, as a deployed site has them.
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    Group = old.get_model("auth", "Group")
    record_type, _ = ContentType.objects.get_or_create(app_label="ingest", model="rejectedrecord")
    redrive = Permission.objects.create(content_type=record_type, codename="redrive_rejectedrecord", name="Can redrive")
    view = Permission.objects.create(
        content_type=record_type, codename="view_rejectedrecord", name="Can view rejected record"
    )
    group = Group.objects.create(name="operators")
    group.permissions.add(redrive, view)

    error_file = old.get_model("ingest", "ErrorFile").objects.create(bucket="b", key="errors/x.gz", etag="e")
    old.get_model("ingest", "RejectedRecord").objects.create(error_file=error_file, line_number=1, stream="orders")
    old.get_model("ingest", "RejectedMessage").objects.create(
        queue_url="q", message_id="m", body="{", error="not JSON", received_at=timezone.now()
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER + AUTH).apps
    assert new.get_model("ingest", "FailedRecord").objects.get().error_file.key == "errors/x.gz"
    assert new.get_model("ingest", "UnreadableMessage").objects.get().error == "not JSON"
    granted = set(
        new.get_model("auth", "Group").objects.get(name="operators").permissions.values_list("codename", "name")
    )
    assert granted == {("redrive_failedrecord", "Can redrive"), ("view_failedrecord", "Can view failed record")}
    call_command("migrate", verbosity=0)  # leave the database as the other tests expect it
