"""*Informations des membres*: the notices sent, as proof, and the objections received."""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from members.models import Organisation

from ..models import MergerNotice
from .base import MergerHistoryAdmin
from .filters import NoticeLateObjectionFilter, ObjectionFilter


@admin.register(MergerNotice)
class MergerNoticeAdmin(MergerHistoryAdmin):
    list_display = ("email", "organisation", "language", "state", "sent_at", "objected_at")
    list_filter = ("state", ObjectionFilter, "language", NoticeLateObjectionFilter)
    list_select_related = ("proposal__organisation",)
    search_fields = ("email", "proposal__organisation__name")
    show_full_result_count = False
    fields = (
        "proposal",
        "email",
        "language",
        "state",
        "queued_at",
        "sent_at",
        "subject",
        "body",
        "error",
        "objected_at",
        "objection_text",
        "objected_after_execution",
    )
    readonly_fields = fields

    @admin.display(
        description=gettext_lazy("organisation"), ordering="proposal__organisation__name"
    )
    def organisation(self, notice: MergerNotice) -> Organisation:
        return notice.proposal.organisation
