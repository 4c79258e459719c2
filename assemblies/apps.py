from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AssembliesConfig(AppConfig):
    name = "assemblies"
    verbose_name = _("Assemblées générales")

    def ready(self) -> None:
        from assemblies.roles import consultation_roles_ensure

        post_migrate.connect(
            consultation_roles_ensure, sender=self, dispatch_uid="consultation_roles_ensure"
        )
