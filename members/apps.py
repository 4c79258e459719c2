from django.apps import AppConfig
from django.core import checks
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import IntegerField
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

#: The migration that installs the guard of invoiced terms: until it has run, nothing reinstalls it.
TERM_INVOICED_GUARD_MIGRATION = ("members", "0011_term_invoiced_frozen")
#: The migration from which the overlap guard leaves cancelled terms out.
TERM_OVERLAP_UNCANCELLED_MIGRATION = ("members", "0017_credit_notes_and_refunds")


def _term_guards_ensure(sender, using="default", **kwargs) -> None:
    """Put back the triggers of terms that SQLite drops when Django rebuilds the table."""
    from members.db import term_invoiced_guard_install, term_overlap_guard_install

    connection = connections[using]
    applied = MigrationRecorder(connection).applied_migrations()
    with connection.schema_editor() as schema_editor:
        term_overlap_guard_install(
            schema_editor, uncancelled_only=TERM_OVERLAP_UNCANCELLED_MIGRATION in applied
        )
        if TERM_INVOICED_GUARD_MIGRATION in applied:
            term_invoiced_guard_install(schema_editor)


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Adhérents")

    def ready(self) -> None:
        from members.checks import (
            card_payment_webhook_check,
            client_address_check,
            rate_limit_cache_check,
            site_url_check,
        )
        from members.db import IntegerIn
        from members.roles import roles_ensure

        # Identifiers too large for any column match nothing, on SQLite too (members.db).
        IntegerField.register_lookup(IntegerIn)

        checks.register(rate_limit_cache_check, checks.Tags.caches, deploy=True)
        checks.register(card_payment_webhook_check, deploy=True)
        checks.register(client_address_check, checks.Tags.security, deploy=True)
        checks.register(site_url_check, deploy=True)

        post_migrate.connect(roles_ensure, sender=self, dispatch_uid="members_roles_ensure")
        post_migrate.connect(_term_guards_ensure, sender=self, dispatch_uid="members_term_guards")
