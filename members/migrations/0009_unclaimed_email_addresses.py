"""Remove the e-mail addresses that accounts claimed beside their own and never verified.

Until members could no longer add addresses to their account, one could add another person's
address (unverified) and have that person's first sign-in verify it on his account. Such a claim
is removed: an account keeps the address it was opened for (its username) and the addresses it
verified. A user whose e-mail field named a removed address gets back its primary verified one.
"""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Lower


def remove_claims(apps, schema_editor):
    EmailAddress = apps.get_model("account", "EmailAddress")
    User = apps.get_model("auth", "User")
    claims = EmailAddress.objects.filter(verified=False).exclude(email__iexact=F("user__username"))
    claimed = list(claims.values_list("user_id", Lower("email")))
    claims.delete()
    for user_id, email in claimed:
        user = User.objects.filter(pk=user_id).annotate(lower_email=Lower("email")).first()
        if user is None or user.lower_email != email:
            continue
        primary = (
            EmailAddress.objects.filter(user_id=user_id, verified=True)
            .order_by("-primary", "pk")
            .first()
        )
        user.email = primary.email if primary else ""
        user.save(update_fields=["email"])
        if primary and not primary.primary:
            EmailAddress.objects.filter(user_id=user_id).update(primary=False)
            EmailAddress.objects.filter(pk=primary.pk).update(primary=True)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_merger_links"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(remove_claims, migrations.RunPython.noop)]
