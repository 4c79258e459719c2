"""The database refuses to change the fee, plan or period of an invoiced term, or to delete it
(see members.db)."""

from django.db import migrations

from members.db import term_invoiced_guard_install, term_invoiced_guard_remove


def forwards(apps, schema_editor):
    term_invoiced_guard_install(schema_editor)


def backwards(apps, schema_editor):
    term_invoiced_guard_remove(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("members", "0010_checkout_sessions")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
