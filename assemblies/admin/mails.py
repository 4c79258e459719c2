"""The ledger of the assemblies' e-mails in the admin: each voice's convocation and reminders,
what became of each, read-only (the failed ones go back in the queue by an action); the board
secretary's staff see their own clusters' only, the merger committee reads all. Above the list,
the voices convened without a voter (nobody to e-mail), for staff to reach otherwise."""

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from assemblies.mails import assembly_mails_resend
from assemblies.models import Assembly, AssemblyMail, AssemblyMailKind, AssemblyState
from assemblies.selectors import voices_without_voter
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.formatting import short_datetime
from members.selectors import clusters_managed_by, clusters_visible_to, user_sees_all_clusters


@admin.register(AssemblyMail)
class AssemblyMailAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """The journal of the convocations and reminders: one row per e-mail to one voter."""

    cluster_lookup = "voice__assembly__cluster"
    list_display = (
        "organisation",
        "assembly",
        "step",
        "email",
        "language",
        "state",
        "sent_at_short",
        "reason",
    )
    list_filter = (
        ("voice__assembly__cluster", ClusterScopedRelatedFilter),
        "kind",
        "state",
        "reason",
    )
    list_select_related = ("voice__organisation", "voice__assembly__cluster")
    search_fields = ("voice__organisation__name", "email", "voice__assembly__title")
    search_help_text = gettext_lazy("Raison sociale, e-mail ou intitulé de l’assemblée.")
    show_full_result_count = False
    actions = ("resend_failed",)
    fields = (
        "organisation",
        "assembly",
        "kind",
        "days_before",
        "email",
        "language",
        "state",
        "reason",
        "error",
        "attempts",
        "queued_at",
        "sent_at",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The ledger is what makes each e-mail go once: a deleted reminder would go again.
        return False

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("assemblies.resend_assemblymail")

    @admin.action(
        description=gettext_lazy("Renvoyer les convocations et rappels en échec"),
        permissions=["resend"],
    )
    def resend_failed(self, request, queryset):
        if not request.user.is_superuser:
            queryset = self.cluster_scope(queryset, clusters_managed_by(request.user))
        resent = assembly_mails_resend(mails=queryset)
        if not resent:
            messages.warning(
                request, _("Aucun des e-mails sélectionnés n’est en échec : aucun n’a été renvoyé.")
            )
            return
        messages.success(
            request,
            ngettext(
                "%(count)d e-mail en échec remis en file d’envoi.",
                "%(count)d e-mails en échec remis en file d’envoi.",
                resent,
            )
            % {"count": resent},
        )

    def changelist_view(self, request, extra_context=None):
        assemblies = Assembly.objects.filter(
            state__in=[AssemblyState.CONVENED, AssemblyState.VOTING]
        )
        if not user_sees_all_clusters(request.user):
            assemblies = assemblies.filter(cluster__in=clusters_visible_to(request.user))
        silent = list(
            voices_without_voter(assemblies=assemblies)
            .select_related("organisation", "assembly")
            .order_by("assembly__starts_at", "organisation__name")[:51]
        )
        if silent:
            names = ", ".join(
                f"{voice.organisation} ({voice.assembly.title})" for voice in silent[:50]
            )
            messages.warning(
                request,
                _(
                    "Sans contact votant, ces voix n’ont reçu aucune convocation : "
                    "%(names)s%(more)s."
                )
                % {"names": names, "more": " …" if len(silent) > 50 else ""},
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("organisation"), ordering="voice__organisation__name")
    def organisation(self, entry: AssemblyMail) -> str:
        return str(entry.voice.organisation)

    @admin.display(description=gettext_lazy("assemblée"), ordering="voice__assembly__starts_at")
    def assembly(self, entry: AssemblyMail) -> str:
        return str(entry.voice.assembly)

    @admin.display(description=gettext_lazy("e-mail"), ordering="days_before")
    def step(self, entry: AssemblyMail) -> str:
        if entry.kind == AssemblyMailKind.REMINDER:
            return _("Rappel J-%(days)s") % {"days": entry.days_before}
        return entry.get_kind_display()

    @admin.display(description=gettext_lazy("envoyé le"), ordering="sent_at")
    def sent_at_short(self, entry: AssemblyMail) -> str:
        return short_datetime(entry.sent_at) if entry.sent_at else "–"
