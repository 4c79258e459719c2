"""*Adoptions par les assemblées*: the resolution by which each source cluster's extraordinary
general assembly adopted the merger, with its result; read by the committee, and by membership
staff for their own clusters. The committee records them from the merger's page."""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.admin.scoping import ClusterScopedAdminMixin
from members.formatting import short_date

from ..models import MergerAdoption
from ..selectors import resolution_result
from .base import MergerHistoryAdmin


@admin.register(MergerAdoption)
class MergerAdoptionAdmin(ClusterScopedAdminMixin, MergerHistoryAdmin):
    # One row per source cluster: their results are counted row by row.
    list_display = (
        "cluster",
        "assembly",
        "resolution",
        "result",
        "recorded_at",
    )
    list_select_related = ("cluster", "resolution__assembly", "recorded_by")
    fields = ("merger", "cluster", "assembly", "resolution", "result", "recorded_by", "recorded_at")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("assemblée"))
    def assembly(self, adoption: MergerAdoption) -> str:
        assembly = adoption.resolution.assembly
        return f"{assembly.title} ({short_date(assembly.starts_at)})"

    @admin.display(description=gettext_lazy("résultat"))
    def result(self, adoption: MergerAdoption) -> str:
        result = resolution_result(resolution=adoption.resolution)
        return _("pour : %(for)s, contre : %(against)s, abstention : %(abstain)s · %(adopted)s") % {
            "for": result.votes_for,
            "against": result.against,
            "abstain": result.abstain,
            "adopted": _("adoptée") if result.adopted else _("non adoptée"),
        }
