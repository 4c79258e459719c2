"""The admin of clusters, their sites and their plans."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.models import Cluster, Plan, ReminderPolicy, Site
from members.services.follow_ups import payment_follow_up_policy_ensure
from members.services.reminders import reminder_policy_ensure


@admin.register(Cluster)
class ClusterAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    cluster_lookup = "pk"
    list_display = (
        "name",
        "kind",
        "slug",
        "member_number_prefix",
        "invoice_prefix",
        "grace_days",
    )
    search_fields = ("name", "slug", "legal_name")
    autocomplete_fields = ("staff",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "kind")}),
        (_("Coordonnées"), {"fields": ("legal_name", "siren", "address", "email", "website")}),
        (
            _("Numérotation et facturation"),
            {
                "fields": (
                    "member_number_prefix",
                    "invoice_prefix",
                    "iban",
                    "bic",
                    "vat_mention",
                    "stripe_account",
                )
            },
        ),
        (_("Adhésions"), {"fields": ("grace_days", "staff", "reminder_policy_link")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # Who staffs a cluster, what other commands know it by, and the Stripe account its card
        # payments go to are for superusers to say.
        if request.user.is_superuser:
            return ("reminder_policy_link",)
        return ("slug", "kind", "staff", "stripe_account", "reminder_policy_link")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # A new cluster reminds its members by the default policies until they are changed.
            reminder_policy_ensure(cluster=obj)
            payment_follow_up_policy_ensure(cluster=obj)

    @admin.display(description=_("relances de renouvellement"))
    def reminder_policy_link(self, cluster: Cluster) -> str:
        policy = ReminderPolicy.objects.filter(cluster=cluster).first() if cluster.pk else None
        if policy is None:
            return "–"
        url = reverse("admin:members_reminderpolicy_change", args=[policy.pk])
        return format_html('<a href="{}">{}</a>', url, _("Politique de relance"))


@admin.register(Site)
class SiteAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "cluster")
    list_filter = (("cluster", ClusterScopedRelatedFilter),)
    list_select_related = ("cluster",)
    search_fields = ("name",)


@admin.register(Plan)
class PlanAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "cluster",
        "category",
        "annual_fee",
        "headcount_min",
        "headcount_max",
        "is_active",
        "position",
    )
    list_filter = (("cluster", ClusterScopedRelatedFilter), "category", "is_active")
    list_select_related = ("cluster",)
    search_fields = ("name",)
