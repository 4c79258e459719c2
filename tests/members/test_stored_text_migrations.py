"""The migrations that store the reminder ledger's detail and an import's message as text codes
keep every row and what it said, both ways. On PostgreSQL: going back through the later
migrations, SQLite cannot drop a column that a check constraint of the table names."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from members.models import ImportRecord, Reminder, ReminderReason, ReminderState, ReminderStep
from members.texts import Text
from tests.factories import TermFactory, cluster

BEFORE_MESSAGE = [("members", "0015_reminder_detail_stored_text")]
BEFORE = [("members", "0014_payment_changes")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def migrate_to_latest() -> None:
    """Forward through the migrations under test and every later one: the tests after these
    find the schema they expect."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_details_survive_the_migration_both_ways(postgresql):
    step = ReminderStep.objects.filter(policy__cluster=cluster("digitalplace")).first()
    reminders = []
    for detail in (Text("reminder.send_error", error="SMTPRecipientsRefused: 550").stored(), ""):
        term = TermFactory(membership__cluster=cluster("digitalplace"), year=2026)
        reminders.append(
            Reminder.objects.create(
                term=term,
                step=step,
                offset_days=step.offset_days,
                due_on=term.end_date + dt.timedelta(days=step.offset_days),
                scheduled_on=dt.date(2026, 12, 1),
                state=ReminderState.FAILED,
                reason=ReminderReason.SMTP_ERROR,
                detail=detail,
            )
        )
    try:
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, detail FROM members_reminder ORDER BY id")
            assert cursor.fetchall() == [
                (reminders[0].pk, "SMTPRecipientsRefused: 550"),
                (reminders[1].pk, ""),
            ]
    finally:
        migrate_to_latest()
    failed, blank = Reminder.objects.order_by("pk")
    assert failed.detail == {
        "code": "reminder.send_error",
        "params": {"error": "SMTPRecipientsRefused: 550"},
    }
    assert blank.detail == ""


@pytest.mark.django_db(transaction=True)
def test_the_import_messages_survive_the_migration_both_ways(postgresql):
    def record(message):
        return ImportRecord.objects.create(
            cluster=cluster("digitalplace"),
            profile="digitalplace",
            source=ImportRecord.Source.COMMAND,
            file_name="f.xlsx",
            file_sha256="0" * 64,
            file_size=1,
            status=ImportRecord.Status.UNUSABLE,
            message=message,
        )

    coded = record([Text("import.file_empty", name="f.xlsx").stored()])
    blank = record("")
    try:
        migrate(BEFORE_MESSAGE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, message FROM members_importrecord ORDER BY id")
            assert cursor.fetchall() == [
                (coded.pk, "Le fichier « f.xlsx » est vide."),
                (blank.pk, ""),
            ]
    finally:
        migrate_to_latest()
    # Written in French before the codes: kept as written.
    assert list(ImportRecord.objects.order_by("pk").values_list("message", flat=True)) == [
        "Le fichier « f.xlsx » est vide.",
        "",
    ]
