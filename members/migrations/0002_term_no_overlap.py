"""The database refuses overlapping terms in one membership (see members.db)."""

from django.db import migrations

from members.db import term_overlap_guard_install, term_overlap_guard_remove


def forwards(apps, schema_editor):
    term_overlap_guard_install(schema_editor)


def backwards(apps, schema_editor):
    term_overlap_guard_remove(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
