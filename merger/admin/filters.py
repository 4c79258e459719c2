"""The list filters of the merger’s admin: origin, flags and objections."""

from django.contrib import admin
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import FLAGS, TransferProposal
from ..selectors import (
    merger_current,
    merger_origins,
    proposal_has_notice,
    proposals_flagged,
    proposals_without_notice,
)


class OriginFilter(admin.SimpleListFilter):
    title = gettext_lazy("origine")
    parameter_name = "origin"

    def lookups(self, request, model_admin):
        merger = merger_current()
        return merger_origins(merger) if merger else []

    def queryset(self, request, queryset):
        return queryset.filter(origin=self.value()) if self.value() else queryset


class FlagFilter(admin.SimpleListFilter):
    title = gettext_lazy("signalement")
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Au moins un")),
            ("none", _("Aucun")),
            *(
                (name, capfirst(TransferProposal._meta.get_field(name).verbose_name))
                for name in FLAGS
            ),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return proposals_flagged(queryset)
        if value == "none":
            return queryset.exclude(pk__in=proposals_flagged(queryset).values("pk"))
        if value in FLAGS:
            return queryset.filter(**{value: True})
        return queryset


class LateObjectionFilter(admin.SimpleListFilter):
    """Objections that came once the transfer was executed: it stands, the committee reads
    them."""

    title = gettext_lazy("opposition après exécution")
    parameter_name = "late_objection"
    #: The field that dates a late objection, on the model of the list.
    field = "objection_after_execution"

    def lookups(self, request, model_admin):
        return [("yes", _("Reçue")), ("no", _("Aucune"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class ObjectionFilter(admin.SimpleListFilter):
    title = gettext_lazy("opposition")
    parameter_name = "objection"

    def lookups(self, request, model_admin):
        return [("yes", _("Opposition reçue")), ("no", _("Sans opposition"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(objected_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(objected_at__isnull=True)
        return queryset


class NoticeLateObjectionFilter(LateObjectionFilter):
    field = "objected_after_execution"


class InformedFilter(admin.SimpleListFilter):
    """Proposals whose members were informed (a notice made, whatever its state), or not."""

    title = gettext_lazy("information des membres")
    parameter_name = "informed"

    def lookups(self, request, model_admin):
        return [("yes", _("Membres informés")), ("no", _("Personne d’informé"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(proposal_has_notice())
        if self.value() == "no":
            return proposals_without_notice(queryset)
        return queryset
