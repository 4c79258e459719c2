"""The admin of memberships and their terms: a membership's terms inline, saved and deleted
through :mod:`members.services.terms`; filters on today's status and on the latest term's plan;
the standard export of a selection.

Changelists run a constant number of queries whatever the number of rows: every column reads
what ``list_select_related``, an annotation or a prefetch already loaded.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from members.admin.billing import term_invoice_column, term_invoiced_note
from members.admin.scoping import (
    ClusterScopedAdminMixin,
    ClusterScopedRelatedFilter,
    choice_label,
    is_key,
    limit_plans_to_cluster,
    with_cluster_labels,
    with_status,
)
from members.formatting import short_date
from members.imports.export import CONTENT_TYPES, export_filename, export_memberships
from members.models import Membership, MembershipStatus, Plan, Term
from members.selectors import (
    clusters_visible_to,
    membership_reminders,
    memberships_cluster,
    memberships_lapsed_between,
    memberships_on_plan,
    memberships_renewal_due,
    memberships_with_plan_and_paid_through,
    month_first_day,
    month_last_day,
    next_month_first_day,
    terms_in_membership_status,
    terms_with_membership_status,
    user_sees_all_clusters,
)
from members.services.terms import term_delete, term_delete_check, term_save
from members.services.years import first_term


class MembershipPlanFilter(admin.SimpleListFilter):
    """Filters memberships on the plan of their latest term (the plan they are or were on)."""

    title = _("formule")
    parameter_name = "plan"

    def lookups(self, request, model_admin):
        plans = Plan.objects.all()
        if not user_sees_all_clusters(request.user):
            plan_admin = model_admin.admin_site.get_model_admin(Plan)
            plans = plan_admin.cluster_scope(plans, clusters_visible_to(request.user))
        return [(str(plan.pk), choice_label(plan)) for plan in with_cluster_labels(plans)]

    def queryset(self, request, queryset):
        if not is_key(Plan._meta.pk, self.value()):
            return queryset
        return memberships_on_plan(queryset, plan_id=int(self.value()))


class MembershipStatusFilter(admin.SimpleListFilter):
    """Filters memberships on today's status, as annotated by the status selector."""

    title = _("statut")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return MembershipStatus.choices

    def queryset(self, request, queryset):
        if self.value() in MembershipStatus.values:
            return self.status_filter(queryset, self.value())
        return queryset

    def status_filter(self, queryset: QuerySet, status: str) -> QuerySet:
        return queryset.filter(status=status)


class MembershipDueFilter(admin.SimpleListFilter):
    """Filters memberships on what is due this month or the next: the renewals due (their latest
    term ends then) and the memberships that lapsed this month. The dashboard's figures link
    here, counted by the same selectors."""

    title = _("échéance")
    parameter_name = "due"
    RENEWAL_THIS_MONTH = "renewal_this_month"
    RENEWAL_NEXT_MONTH = "renewal_next_month"
    LAPSED_THIS_MONTH = "lapsed_this_month"

    def lookups(self, request, model_admin):
        return [
            (self.RENEWAL_THIS_MONTH, _("À renouveler ce mois-ci")),
            (self.RENEWAL_NEXT_MONTH, _("À renouveler le mois prochain")),
            (self.LAPSED_THIS_MONTH, _("Expirée ce mois-ci")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == self.RENEWAL_THIS_MONTH:
            return memberships_renewal_due(
                queryset, start=month_first_day(today), end=month_last_day(today)
            )
        if self.value() == self.RENEWAL_NEXT_MONTH:
            next_month = next_month_first_day(today)
            return memberships_renewal_due(
                queryset, start=next_month, end=month_last_day(next_month)
            )
        if self.value() == self.LAPSED_THIS_MONTH:
            lapsed = memberships_lapsed_between(start=month_first_day(today), on=today)
            return queryset.filter(pk__in=lapsed.values("pk"))
        return queryset


class TermMembershipStatusFilter(MembershipStatusFilter):
    """Filters terms on today's status of their membership."""

    title = _("statut de l’adhésion")
    parameter_name = "membership_status"

    def status_filter(self, queryset: QuerySet, status: str) -> QuerySet:
        return terms_in_membership_status(queryset, status=status)


@admin.display(description=_("statut"), ordering="status")
def status_label(membership: Membership) -> str:
    return MembershipStatus(membership.status).label


class TermForm(ModelForm):
    """A term in the admin. Once it has an invoice, what the invoice prints (its fee, plan and
    period) shows disabled, the reason beside it (the "invoice" column, the fields' tooltip).

    A browser sends nothing for a disabled field, and Django keeps the stored value; a value
    posted for one anyway (a forged request) is not dropped in silence: it goes to the term's own
    validation (:meth:`members.models.Term.clean`), which refuses it with a message on the field.
    The rows must have their ``invoice`` selected (``select_related("invoice")``).

    A new term's end and fee may be left blank: they are then those of a term starting on its
    start date by its cluster's membership year (:func:`members.services.years.first_term`: a
    year on the anniversary, the rest of the fixed year at the prorated fee).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            for name in ("end_date", "fee"):
                if name in self.fields:
                    self.fields[name].required = False
        invoice = getattr(self.instance, "invoice", None) if self.instance.pk else None
        self.invoice_number = invoice.number if invoice is not None else ""
        if self.invoice_number:
            note = term_invoiced_note(self.invoice_number)
            for name in Term.INVOICED_FIELDS:
                if name in self.fields:
                    self.fields[name].disabled = True
                    # A plan's select sits in the admin's wrapper of related-object links.
                    widget = self.fields[name].widget
                    getattr(widget, "widget", widget).attrs["title"] = note

    def clean(self):
        cleaned_data = super().clean()
        for name in Term.INVOICED_FIELDS:
            field = self.fields.get(name)
            if field is None or not field.disabled:
                continue
            posted = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            if posted in field.empty_values:
                continue
            try:
                cleaned_data[name] = field.clean(posted)
            except ValidationError as error:
                self.add_error(name, error)
        if self.instance.pk is None:
            self._first_term_fill(cleaned_data)
        return cleaned_data

    def _first_term_fill(self, cleaned_data: dict) -> None:
        """Fill a new term's blank end and fee with those its cluster's rule proposes."""
        blank = [name for name in ("end_date", "fee") if cleaned_data.get(name) is None]
        membership = cleaned_data.get("membership")
        plan, start = cleaned_data.get("plan"), cleaned_data.get("start_date")
        if not blank or self.errors:
            return
        if membership is None or membership.cluster_id is None or plan is None or start is None:
            for name in blank:
                self.add_error(name, self.fields[name].error_messages["required"])
            return
        proposed = first_term(cluster=membership.cluster, annual_fee=plan.annual_fee, start=start)
        end = cleaned_data.get("end_date") or proposed.end
        if "fee" in blank and end != proposed.end:
            self.add_error(
                "fee",
                _(
                    "Indiquez la cotisation : elle n’est proposée que pour la période que la règle "
                    "du cluster donne (jusqu’au %(end)s)."
                )
                % {"end": short_date(proposed.end)},
            )
            return
        cleaned_data["end_date"] = self.instance.end_date = end
        if "fee" in blank:
            cleaned_data["fee"] = self.instance.fee = proposed.fee


class TermInlineFormSet(BaseInlineFormSet):
    """Checks what each term's own validation cannot see: the other terms of the same form; and
    refuses to delete a term that has an invoice (its deletion box shows disabled)."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if getattr(form, "invoice_number", "") and DELETION_FIELD_NAME in form.fields:
            form.fields[DELETION_FIELD_NAME].widget.attrs["disabled"] = True

    def clean(self):
        # Before the base class's checks, which would refuse the deletion of an invoiced term
        # without saying why (Django's "protected related objects").
        refusals = []
        for form in self.forms:
            if self.can_delete and form.instance.pk and self._should_delete_form(form):
                try:
                    term_delete_check(term=form.instance)
                except ValidationError as error:
                    refusals.extend(error.messages)
        if refusals:
            raise ValidationError(refusals)
        super().clean()
        periods = []
        for form in self.forms:
            if not form.is_valid() or not form.cleaned_data or self._should_delete_form(form):
                continue
            if form.instance.cancelled_on is not None:
                # Cancelled by a credit note: another term may cover its dates.
                continue
            start, end = form.cleaned_data["start_date"], form.cleaned_data["end_date"]
            for other_start, other_end in periods:
                if start <= other_end and other_start <= end:
                    form.add_error(
                        "start_date",
                        _("Cette période chevauche la période du %(start)s au %(end)s.")
                        % {"start": short_date(other_start), "end": short_date(other_end)},
                    )
                    break
            else:
                periods.append((start, end))


class TermInline(ClusterScopedAdminMixin, admin.TabularInline):
    """A membership's terms, saved and deleted through :mod:`members.services.terms` (see
    :meth:`MembershipAdmin.save_formset`)."""

    model = Term
    cluster_lookup = "membership__cluster"
    form = TermForm
    formset = TermInlineFormSet
    fields = ("plan", "start_date", "end_date", "fee", "is_paid", "paid_on")
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")

    def get_fields(self, request, obj=None):
        return (*super().get_fields(request, obj), term_invoice_column(request.user, note=True))

    def get_readonly_fields(self, request, obj=None):
        return (
            *super().get_readonly_fields(request, obj),
            term_invoice_column(request.user, note=True),
        )

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            limit_plans_to_cluster(formset.form, obj.cluster_id)
        return formset


class MembershipInline(ClusterScopedAdminMixin, admin.TabularInline):
    model = Membership
    fields = (
        "cluster",
        "member_number",
        "member_since",
        "site",
        "cancelled_on",
        "transferred_on",
        status_label,
    )
    readonly_fields = (status_label,)
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return with_status(super().get_queryset(request))


@admin.register(Membership)
class MembershipAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    # The columns staff work with; the SIRET, site and seniority are on the membership's page
    # (and the SIRET in the search), so that the list fits a 1280 px window.
    list_display = (
        "member_number",
        "organisation",
        status_label,
        "latest_plan",
        "paid_through_short",
        "cluster",
    )
    list_filter = (
        MembershipStatusFilter,
        MembershipDueFilter,
        ("cluster", ClusterScopedRelatedFilter),
        MembershipPlanFilter,
        ("site", ClusterScopedRelatedFilter),
    )
    list_select_related = ("organisation", "cluster", "site")
    search_fields = (
        "member_number",
        # A successor's membership is found by the numbers of the memberships it took over.
        "transferred_from__member_number",
        "organisation__name",
        "organisation__siret",
        "organisation__siren",
        "organisation__contacts__email",
    )
    search_help_text = _(
        "N° d’adhérent (ancien n° compris), raison sociale, SIRET, SIREN ou e-mail d’un contact."
    )
    show_full_result_count = False
    # By the unique index (cluster, number) rather than the cluster's name: the first page is read
    # from the index instead of sorting every membership.
    ordering = ("cluster_id", "member_number")
    autocomplete_fields = ("organisation",)
    readonly_fields = (status_label, "reminders", "transferred_to", "transferred_from_numbers")
    inlines = (TermInline,)
    actions = ("export_standard_xlsx", "export_standard_csv")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "organisation",
                    "cluster",
                    "site",
                    "member_number",
                    "member_since",
                    status_label,
                )
            },
        ),
        (
            _("Fin de l’adhésion"),
            {
                "fields": (
                    "cancelled_on",
                    "transferred_on",
                    "transferred_to",
                    "transferred_from_numbers",
                )
            },
        ),
        (_("Notes"), {"fields": ("notes",)}),
    )

    def get_queryset(self, request):
        return memberships_with_plan_and_paid_through(with_status(super().get_queryset(request)))

    def save_formset(self, request, form, formset, change):
        if formset.model is not Term:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for term in formset.deleted_objects:
            term_delete(term=term)
        for term in (*formset.new_objects, *(term for term, _fields in formset.changed_objects)):
            term_save(term=term)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not request.user.has_perm("members.view_reminder"):
            return fieldsets
        return (*fieldsets, (_("Relances de renouvellement"), {"fields": ("reminders",)}))

    @admin.display(description=_("relances"))
    def reminders(self, membership: Membership) -> str:
        """The membership's ledger entries, latest first, each linked to its page."""
        entries = membership_reminders(membership=membership)
        lines = [
            (
                reverse("admin:members_reminder_change", args=[entry.pk]),
                entry,
                " · ".join(filter(None, (entry.get_state_display(), entry.get_reason_display()))),
            )
            for entry in entries
        ]
        if not lines:
            return _("Aucune relance enregistrée.")
        return format_html_join("", '<div><a href="{}">{}</a> · {}</div>', lines)

    @admin.display(description=_("reprise des adhésions"))
    def transferred_from_numbers(self, membership: Membership) -> str:
        """The memberships this one took over in the merger, each linked to its page."""
        sources = membership.transferred_from.select_related("cluster").order_by("cluster__name")
        lines = [
            (reverse("admin:members_membership_change", args=[m.pk]), m.cluster, m.member_number)
            for m in sources
        ]
        if not lines:
            return "–"
        return format_html_join(", ", '<a href="{}">{} · {}</a>', lines)

    @admin.display(description=_("formule"), ordering="plan_name")
    def latest_plan(self, membership: Membership) -> str:
        return membership.plan_name or "–"

    @admin.display(description=_("payée jusqu’au"), ordering="paid_through")
    def paid_through_short(self, membership: Membership) -> str:
        return short_date(membership.paid_through) if membership.paid_through else "–"

    @admin.action(
        description=_("Exporter la sélection (format standard, XLSX)"), permissions=["view"]
    )
    def export_standard_xlsx(self, request, queryset):
        return export_download(queryset, file_format="xlsx")

    @admin.action(
        description=_("Exporter la sélection (format standard, CSV)"), permissions=["view"]
    )
    def export_standard_csv(self, request, queryset):
        return export_download(queryset, file_format="csv")


def export_download(queryset: QuerySet[Membership], *, file_format: str) -> HttpResponse:
    """The memberships of ``queryset`` (the admin's, so those the user may see) as a standard
    export file to download, named after their cluster when they are all of one."""
    cluster = memberships_cluster(queryset)
    return HttpResponse(
        export_memberships(queryset, file_format=file_format),
        content_type=CONTENT_TYPES[file_format],
        headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True,
                filename=export_filename(cluster=cluster, file_format=file_format),
            )
        },
    )


@admin.register(Term)
class TermAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """Terms across memberships; saved and deleted through :mod:`members.services.terms`."""

    cluster_lookup = "membership__cluster"
    form = TermForm
    # Dates in figures, the cluster in the plan's name ("DigitalPlace · PME"), the payment's date
    # on the term's page, so that the list fits a 1280 px window.
    list_display = (
        "membership",
        "plan",
        "start_date_short",
        "end_date_short",
        "fee",
        "is_paid",
        "membership_status",
    )
    list_filter = (
        TermMembershipStatusFilter,
        ("membership__cluster", ClusterScopedRelatedFilter),
        ("plan", ClusterScopedRelatedFilter),
        "is_paid",
        "end_date",
    )
    list_select_related = ("membership__organisation", "membership__cluster", "plan", "invoice")
    search_fields = (
        "membership__member_number",
        "membership__organisation__name",
        "membership__organisation__siret",
        "membership__organisation__siren",
    )
    search_help_text = _("N° d’adhérent, raison sociale, SIRET ou SIREN.")
    show_full_result_count = False
    autocomplete_fields = ("membership",)

    def get_queryset(self, request):
        return terms_with_membership_status(
            super()
            .get_queryset(request)
            # The change form reads the invoice too (TermForm); a changelist whose queryset
            # selects some relations already does not add list_select_related.
            .select_related(*self.list_select_related)
        )

    def get_list_display(self, request):
        return (*super().get_list_display(request), term_invoice_column(request.user))

    def get_readonly_fields(self, request, obj=None):
        # Shown after the form's fields (ModelAdmin.get_fields adds the read-only ones).
        return (
            *super().get_readonly_fields(request, obj),
            term_invoice_column(request.user, note=True),
        )

    def save_model(self, request, obj, form, change):
        term_save(term=obj)

    def delete_model(self, request, obj):
        term_delete(term=obj)

    def delete_queryset(self, request, queryset):
        for term in queryset:
            term_delete(term=term)

    def get_deleted_objects(self, objs, request):
        """Django's list of what a deletion takes, where an invoiced term is the reason it is
        refused (the page then deletes nothing), whatever the user's permissions."""
        deleted, counts, permissions_needed, protected = super().get_deleted_objects(objs, request)
        refusals = []
        for term in objs:
            try:
                term_delete_check(term=term)
            except ValidationError as error:
                refusals.extend(error.messages)
        if refusals:
            return deleted, counts, set(), refusals
        return deleted, counts, permissions_needed, protected

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            limit_plans_to_cluster(form, obj.membership.cluster_id)
        return form

    @admin.display(
        description=Term._meta.get_field("start_date").verbose_name, ordering="start_date"
    )
    def start_date_short(self, term: Term) -> str:
        return short_date(term.start_date)

    @admin.display(description=Term._meta.get_field("end_date").verbose_name, ordering="end_date")
    def end_date_short(self, term: Term) -> str:
        return short_date(term.end_date)

    @admin.display(description=_("statut de l’adhésion"), ordering="membership_status")
    def membership_status(self, term: Term) -> str:
        return MembershipStatus(term.membership_status).label


# The billing admin (invoices, payments, issuing a term's invoice; its column of a term's invoice
# serves the terms above), the imports' admin (upload → preview → confirm, and their history,
# living with the imports) and the reminders' admin (policies, the ledger) build on the mixin
