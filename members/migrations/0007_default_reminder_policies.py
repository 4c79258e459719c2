"""Every existing cluster gets the default reminder policy (members/reminder_defaults.py), which
staff then edit in the admin. Clusters created later get it from the admin (see
members.services.reminders.reminder_policy_ensure)."""

from django.db import migrations

from members.reminder_defaults import DEFAULT_MAX_LATENESS_DAYS, DEFAULT_STEPS


def create_policies(apps, schema_editor):
    Cluster = apps.get_model("members", "Cluster")
    ReminderPolicy = apps.get_model("members", "ReminderPolicy")
    ReminderStep = apps.get_model("members", "ReminderStep")
    for cluster in Cluster.objects.filter(reminder_policy__isnull=True):
        policy = ReminderPolicy.objects.create(
            cluster=cluster, max_lateness_days=DEFAULT_MAX_LATENESS_DAYS
        )
        ReminderStep.objects.bulk_create(
            ReminderStep(policy=policy, **step) for step in DEFAULT_STEPS
        )


class Migration(migrations.Migration):
    dependencies = [("members", "0006_reminders")]

    operations = [migrations.RunPython(create_policies, migrations.RunPython.noop)]
