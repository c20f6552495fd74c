"""Names that say what the models hold (issue 17): a Firehose error-output record is a
FailedRecord (it was RejectedRecord), the object holding them an ErrorOutputFile (ErrorFile), an
SQS message the consumer could not read an UnreadableMessage (RejectedMessage).

RenameModel keeps every row (it renames the tables) and, through contenttypes, the content type;
the permissions' codenames are renamed here too so that the groups and users granted them keep
them (Django would otherwise create new permissions and leave the grants on the old ones).
"""

from django.db import migrations

RENAMES = [
    ("rejectedrecord", "failedrecord"),
    ("errorfile", "erroroutputfile"),
    ("rejectedmessage", "unreadablemessage"),
]
CODENAMES = {
    **{f"{action}_{old}": f"{action}_{new}" for old, new in RENAMES for action in ("add", "change", "delete", "view")},
    "redrive_rejectedrecord": "redrive_failedrecord",
}
# The permissions' names say the model's verbose name ("Can view rejected record").
VERBOSE = {
    "rejected record": "failed record",
    "error file": "error output file",
    "rejected message": "unreadable message",
}


def rename_permissions(apps, codenames: dict[str, str], verbose: dict[str, str]) -> None:
    Permission = apps.get_model("auth", "Permission")
    for old, new in codenames.items():
        for perm in Permission.objects.filter(codename=old, content_type__app_label="ingest"):
            if Permission.objects.filter(content_type=perm.content_type, codename=new).exists():
                continue  # already there (created by a post_migrate): the grants stay where they are
            perm.codename = new
            for was, now in verbose.items():
                perm.name = perm.name.replace(was, now)
            perm.save(update_fields=["codename", "name"])


def forwards(apps, schema_editor):
    rename_permissions(apps, CODENAMES, VERBOSE)


def backwards(apps, schema_editor):
    rename_permissions(apps, {new: old for old, new in CODENAMES.items()}, {new: old for old, new in VERBOSE.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0005_rejected_records_clock_outbox"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RenameModel("RejectedMessage", "UnreadableMessage"),
        migrations.RenameModel("ErrorFile", "ErrorOutputFile"),
        migrations.RenameModel("RejectedRecord", "FailedRecord"),
        migrations.AlterModelOptions(
            name="failedrecord",
            options={
                "ordering": ["-arrival_at", "-id"],
                "permissions": [("redrive_failedrecord", "Can redrive failed records")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
