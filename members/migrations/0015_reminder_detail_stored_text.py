"""The reminder ledger's detail becomes a stored text (``members.texts``): a code with its values,
shown in the reader's language, instead of a sentence written in the language of the worker.

Every detail stored before is the mail server's error, which the reminder pass wrote as it came:
each becomes the text ``reminder.send_error`` holding that error, so that no row loses what it
said. Going back writes the error alone again."""

from django.db import migrations, models


def _to_texts(apps, schema_editor):
    Reminder = apps.get_model("members", "Reminder")
    for pk, detail in Reminder.objects.exclude(detail="").values_list("pk", "detail").iterator():
        Reminder.objects.filter(pk=pk).update(
            detail_stored={"code": "reminder.send_error", "params": {"error": detail}}
        )


def _to_plain_text(apps, schema_editor):
    Reminder = apps.get_model("members", "Reminder")
    for pk, stored in Reminder.objects.values_list("pk", "detail_stored").iterator():
        if isinstance(stored, dict):
            detail = str((stored.get("params") or {}).get("error", stored.get("code", "")))
        else:
            detail = str(stored or "")
        Reminder.objects.filter(pk=pk).update(detail=detail)


class Migration(migrations.Migration):
    dependencies = [("members", "0014_payment_changes")]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="detail_stored",
            field=models.JSONField(blank=True, default=str),
        ),
        migrations.RunPython(_to_texts, _to_plain_text),
        migrations.RemoveField(model_name="reminder", name="detail"),
        migrations.RenameField(model_name="reminder", old_name="detail_stored", new_name="detail"),
        migrations.AlterField(
            model_name="reminder",
            name="detail",
            field=models.JSONField(
                blank=True,
                default=str,
                help_text="Dernière erreur du serveur d’envoi.",
                verbose_name="détail",
            ),
        ),
    ]
