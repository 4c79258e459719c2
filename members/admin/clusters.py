"""The admin of clusters, their sites and their plans."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members.admin.accounting import AccountingSettingsInline
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
    inlines = (AccountingSettingsInline,)
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
                    "late_payment_rate",
                    "recovery_fee_mention",
                    "stripe_account",
                )
            },
        ),
        (
            _("Adhésions"),
            {
                "fields": (
                    "grace_days",
                    "unpaid_renewal_expiry_days",
                    "staff",
                    "reminder_policy_link",
                )
            },
        ),
        (
            _("Année d’adhésion"),
            {
                "fields": (
                    "membership_year",
                    ("year_start_day", "year_start_month"),
                    "proration",
                    ("proration_cutoff_day", "proration_cutoff_month"),
                )
            },
        ),
    )
    #: The membership year sets what every member pays: for superusers to say.
    year_fields = (
        "membership_year",
        "year_start_day",
        "year_start_month",
        "proration",
        "proration_cutoff_day",
        "proration_cutoff_month",
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "late_payment_rate":
            # A rate typed as French staff write it: "12,5".
            kwargs["localize"] = True
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Who staffs a cluster, what other commands know it by, and the Stripe account its card
        # payments go to are for superusers to say.
        if request.user.is_superuser:
            return ("reminder_policy_link",)
        return (
            "slug",
            "kind",
            "staff",
            "stripe_account",
            "reminder_policy_link",
            *self.year_fields,
        )

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
