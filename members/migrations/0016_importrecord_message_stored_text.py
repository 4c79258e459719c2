"""An import record's message (why a file could not be imported) becomes stored texts
(``members.texts``), shown in the reader's language. The messages stored before are kept as they
were written, shown as they are; going back writes each message in French."""

from django.db import migrations, models
from django.utils import translation


def _to_json(apps, schema_editor):
    ImportRecord = apps.get_model("members", "ImportRecord")
    for pk, message in ImportRecord.objects.exclude(message="").values_list("pk", "message"):
        ImportRecord.objects.filter(pk=pk).update(message_stored=message)


def _to_text(apps, schema_editor):
    from members.texts import text_render

    ImportRecord = apps.get_model("members", "ImportRecord")
    with translation.override("fr"):
        for pk, stored in ImportRecord.objects.values_list("pk", "message_stored"):
            ImportRecord.objects.filter(pk=pk).update(message=text_render(stored))


class Migration(migrations.Migration):
    dependencies = [("members", "0015_reminder_detail_stored_text")]

    operations = [
        migrations.AddField(
            model_name="importrecord",
            name="message_stored",
            field=models.JSONField(blank=True, default=str),
        ),
        migrations.RunPython(_to_json, _to_text),
        migrations.RemoveField(model_name="importrecord", name="message"),
        migrations.RenameField(
            model_name="importrecord", old_name="message_stored", new_name="message"
        ),
        migrations.AlterField(
            model_name="importrecord",
            name="message",
            field=models.JSONField(
                blank=True,
                default=str,
                help_text="Pourquoi le fichier n’a pas pu être importé.",
                verbose_name="message",
            ),
        ),
        migrations.AlterField(
            model_name="importrecord",
            name="refused",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="[{row, column, message}]: message a stored text (members.texts)",
                verbose_name="refus",
            ),
        ),
    ]
