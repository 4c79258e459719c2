"""The admin of organisations (with their memberships and contacts inline) and contacts."""

from django.contrib import admin
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from members.admin.memberships import MembershipInline
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.models import Contact, Membership, Organisation
from members.selectors import clusters_visible_to, user_sees_all_clusters


class ContactInline(admin.TabularInline):
    """The organisation's contacts; their user account is linked from the contact's own page."""

    model = Contact
    fields = Contact.DETAILS
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    cluster_lookup = "memberships__cluster"
    list_display = ("name", "siret", "siren", "postcode", "city", "headcount", "clusters")
    list_filter = (("memberships__cluster", ClusterScopedRelatedFilter),)
    search_fields = ("name", "siret", "siren", "memberships__member_number", "contacts__email")
    search_help_text = _("Raison sociale, SIRET, SIREN, n° d’adhérent ou e-mail d’un contact.")
    show_full_result_count = False
    inlines = (MembershipInline, ContactInline)
    # Only the merger committee's duplicate review attaches a record to another.
    readonly_fields = ("merged_into",)
    fieldsets = (
        (None, {"fields": ("name", "siret", "siren", "legal_form")}),
        (_("Adresse"), {"fields": ("address_line1", "address_line2", "postcode", "city")}),
        (_("Activité"), {"fields": ("headcount", "sector", "website")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.merged_into_id:
            return fieldsets
        return ((_("Fiche en double"), {"fields": ("merged_into",)}), *fieldsets)

    def get_queryset(self, request):
        memberships = Membership.objects.select_related("cluster")
        if not user_sees_all_clusters(request.user):
            memberships = memberships.filter(cluster__in=clusters_visible_to(request.user))
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("memberships", queryset=memberships))
        )

    @admin.display(description=_("clusters"))
    def clusters(self, organisation: Organisation) -> str:
        return ", ".join(m.cluster.name for m in organisation.memberships.all())


@admin.register(Contact)
class ContactAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    cluster_lookup = "organisation__memberships__cluster"
    list_display = (
        "email",
        "first_name",
        "last_name",
        "organisation",
        "role",
        "language",
        "has_account",
    )
    list_filter = (
        ("organisation__memberships__cluster", ClusterScopedRelatedFilter),
        "role",
        "language",
    )
    list_select_related = ("organisation",)
    search_fields = (
        "email",
        "first_name",
        "last_name",
        "organisation__name",
        "organisation__siret",
        "organisation__siren",
    )
    search_help_text = _("E-mail, nom, prénom, raison sociale, SIRET ou SIREN.")
    show_full_result_count = False
    autocomplete_fields = ("organisation",)
    # A contact's account is linked by its own sign-in, once it has proven the contact's address
    # (members.services.accounts): picked by staff, it could be anyone's, and its address shown.
    readonly_fields = ("user",)

    @admin.display(description=_("compte"), boolean=True, ordering="user")
    def has_account(self, contact: Contact) -> bool:
        return contact.user_id is not None
