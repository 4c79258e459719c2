from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MergerConfig(AppConfig):
    name = "merger"
    verbose_name = _("Fusion")
