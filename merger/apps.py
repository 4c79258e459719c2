from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MergerConfig(AppConfig):
    name = "merger"
    verbose_name = _("Fusion")

    def ready(self) -> None:
        from merger import texts  # noqa: F401  (registers the merger's stored texts)
        from merger.roles import merger_roles_ensure

        post_migrate.connect(merger_roles_ensure, sender=self, dispatch_uid="merger_roles_ensure")
