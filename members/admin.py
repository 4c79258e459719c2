"""Admin site of the domain core, for membership staff, the merger committee and superusers.

Who sees what is decided in one place, :class:`ClusterScopedAdminMixin`, from
:mod:`members.selectors`: membership staff see and change their own clusters' data, the merger
committee reads every cluster's, superusers do everything. A membership's status comes from
:func:`members.selectors.memberships_with_status` only, as an SQL annotation.

Changelists run a constant number of queries whatever the number of rows: every column reads
what ``list_select_related``, an annotation or a prefetch already loaded.
"""

from django.contrib import admin
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Exists, Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.forms import BaseInlineFormSet, ModelChoiceField, ModelForm
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from members.imports.export import CONTENT_TYPES, export_filename, export_memberships
from members.models import (
    Cluster,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    Plan,
    Reminder,
    ReminderPolicy,
    Site,
    Term,
)
from members.selectors import (
    clusters_managed_by,
    clusters_visible_to,
    memberships_with_status,
    user_sees_all_clusters,
)
from members.services.reminders import reminder_policy_ensure
from members.services.terms import term_delete, term_delete_check, term_save

# Choices of these models are shown with their cluster: both clusters have a "Startup" plan, and
# the successor has sites named like the source clusters' ones.
LABELLED_WITH_CLUSTER = (Plan, Site)


def in_clusters(model: type[Model], lookup: str, clusters: QuerySet[Cluster]) -> Q:
    """The condition "``model``'s rows belong to one of ``clusters``", ``lookup`` being the path
    from ``model`` to its cluster (``"cluster"``, ``"membership__cluster"``, ``"pk"`` for the
    clusters themselves, …).

    A path through a reverse foreign key (an organisation's ``memberships``) becomes an ``Exists``
    subquery rather than a join, so that no row comes twice; a row with no related row at all (an
    organisation not yet a member anywhere) belongs to every cluster, so that a freshly created one
    does not vanish from its creator's sight.
    """
    path = lookup.split("__")
    for index, name in enumerate(path):
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        if field.one_to_many:
            outer = "__".join(path[:index]) or "pk"
            related = field.related_model._default_manager.filter(
                **{field.field.name: OuterRef(outer)}
            )
            rest = "__".join(path[index + 1 :])
            return Q(Exists(related.filter(**{f"{rest}__in": clusters}))) | ~Exists(related)
        model = field.related_model
    return Q(**{f"{lookup}__in": clusters})


def choice_label(obj: Model) -> str:
    """How a choice reads in a select or a filter: "DigitalPlace · Startup" for a plan or site."""
    return f"{obj.cluster} · {obj}" if isinstance(obj, LABELLED_WITH_CLUSTER) else str(obj)


def with_cluster_labels(queryset: QuerySet) -> QuerySet:
    """``queryset`` loading what :func:`choice_label` reads."""
    if queryset.model in LABELLED_WITH_CLUSTER:
        return queryset.select_related("cluster")
    return queryset


def with_status(queryset: QuerySet[Membership]) -> QuerySet[Membership]:
    """``queryset`` annotated with today's ``status``."""
    return memberships_with_status(on=timezone.localdate(), queryset=queryset)


def limit_plans_to_cluster(form_class, cluster_id: int) -> None:
    """Offer only the plans of the membership's cluster in a term form (when it is editable)."""
    field = form_class.base_fields.get("plan")
    if field is not None:
        field.queryset = field.queryset.filter(cluster_id=cluster_id)


def is_key(field: models.Field, value) -> bool:
    """Whether ``value``, as posted, can be a value of the key ``field``: of its type, and for a
    number, one that its column can hold."""
    try:
        key = field.to_python(value)
    except ValidationError:
        return False
    if key is None:
        return False
    if isinstance(key, int):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return (low is None or key >= low) and (high is None or key <= high)
    return True


class ReadableValuesAutocompleteMixin:
    """Django's autocomplete widget shows a posted form again with the records its values name,
    looked up as they were posted (``AutocompleteMixin.optgroups``): letters posted for an
    identifier turned the form's errors into a 500. This one looks up only the values that can
    be keys; the field's own validation says what is wrong with the others."""

    def optgroups(self, name, value, attr=None):
        opts = self.field.remote_field.model._meta
        key = opts.get_field(getattr(self.field.remote_field, "field_name", opts.pk.attname))
        return super().optgroups(name, [v for v in value if is_key(key, v)], attr)


class AutocompleteSelect(ReadableValuesAutocompleteMixin, widgets.AutocompleteSelect):
    pass


class AutocompleteSelectMultiple(
    ReadableValuesAutocompleteMixin, widgets.AutocompleteSelectMultiple
):
    pass


class ClusterScopedAdminMixin:
    """Limits a model admin or an inline to the clusters its user may see and change.

    ``cluster_lookup`` is the path from the model to its cluster. The querysets (list, change
    form, autocomplete) hold the rows of the clusters the user sees; an object of another cluster
    is a 404 even if its URL is typed; change and delete permissions are refused on rows outside
    the clusters the user manages; foreign key choices of the forms are limited to them too.
    Autocomplete fields show a posted form again whatever was posted in them
    (:class:`ReadableValuesAutocompleteMixin`).
    """

    cluster_lookup = "cluster"
    # "example.org" typed in a web-site field means https:// (Django 6's default, without the
    # deprecated transitional setting).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def cluster_scope(self, queryset: QuerySet, clusters: QuerySet[Cluster]) -> QuerySet:
        return queryset.filter(in_clusters(queryset.model, self.cluster_lookup, clusters))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if user_sees_all_clusters(request.user):
            return queryset
        return self.cluster_scope(queryset, clusters_visible_to(request.user))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # The admin would redirect to its index with "does not exist, perhaps deleted": a
            # 404 says the same, and says it the same way for another cluster's object.
            raise Http404(_("Aucun objet ne correspond à cette adresse."))
        return obj

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(
            request, obj, to_change=False
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(
            request, obj, to_change=True
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(
            request, obj, to_change=True
        )

    def _in_scope(self, request, obj, *, to_change: bool) -> bool:
        user = request.user
        # Inlines are asked about their parent object, which the parent's admin checks.
        if obj is None or not isinstance(obj, self.model) or user.is_superuser:
            return True
        if to_change:
            clusters = clusters_managed_by(user)
        elif user_sees_all_clusters(user):
            return True
        else:
            clusters = clusters_visible_to(user)
        # A change form asks several times per object: one query per request is enough.
        answers = request.__dict__.setdefault("_cluster_scope_answers", {})
        key = (self.model, obj.pk, to_change)
        if key not in answers:
            objects = self.model._default_manager.filter(pk=obj.pk)
            answers[key] = self.cluster_scope(objects, clusters).exists()
        return answers[key]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = AutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        related_model = db_field.related_model
        if "queryset" not in kwargs and self.admin_site.is_registered(related_model):
            related_admin = self.admin_site.get_model_admin(related_model)
            if isinstance(related_admin, ClusterScopedAdminMixin):
                queryset = related_model._default_manager.all()
                if not request.user.is_superuser:
                    queryset = related_admin.cluster_scope(
                        queryset, clusters_managed_by(request.user)
                    )
                kwargs["queryset"] = queryset
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if isinstance(field, ModelChoiceField):
            field.queryset = with_cluster_labels(field.queryset)
            field.label_from_instance = choice_label
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = AutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClusterScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A filter on a cluster, plan or site offering only those of the clusters the user sees."""

    def field_choices(self, field, request, model_admin):
        related_model = field.related_model
        queryset = related_model._default_manager.all()
        if not user_sees_all_clusters(request.user):
            related_admin = model_admin.admin_site.get_model_admin(related_model)
            queryset = related_admin.cluster_scope(queryset, clusters_visible_to(request.user))
        return [(obj.pk, choice_label(obj)) for obj in with_cluster_labels(queryset)]


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
        latest_plan = (
            Term.objects.filter(membership=OuterRef("pk"))
            .order_by("-end_date")
            .values("plan_id")[:1]
        )
        return queryset.alias(latest_plan=Subquery(latest_plan)).filter(
            latest_plan=int(self.value())
        )


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


class TermMembershipStatusFilter(MembershipStatusFilter):
    """Filters terms on today's status of their membership."""

    title = _("statut de l’adhésion")
    parameter_name = "membership_status"

    def status_filter(self, queryset: QuerySet, status: str) -> QuerySet:
        # Each membership's status is derived once, not once per term through the annotation.
        memberships = with_status(Membership.objects.all()).filter(status=status)
        return queryset.filter(membership__in=memberships.values("pk"))


@admin.display(description=_("statut"), ordering="status")
def status_label(membership: Membership) -> str:
    return MembershipStatus(membership.status).label


def term_invoiced_note(number: str) -> str:
    """What the admin says beside an invoiced term: why its fee, plan and period are disabled."""
    return _(
        "Facturée sous le n° %(number)s : le montant, la formule et la période ne peuvent plus "
        "changer ; une correction passe par un avoir."
    ) % {"number": number}


class TermForm(ModelForm):
    """A term in the admin. Once it has an invoice, what the invoice prints (its fee, plan and
    period) shows disabled, the reason beside it (the "invoice" column, the fields' tooltip).

    A browser sends nothing for a disabled field, and Django keeps the stored value; a value
    posted for one anyway (a forged request) is not dropped in silence: it goes to the term's own
    validation (:meth:`members.models.Term.clean`), which refuses it with a message on the field.
    The rows must have their ``invoice`` selected (``select_related("invoice")``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        return cleaned_data


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
            start, end = form.cleaned_data["start_date"], form.cleaned_data["end_date"]
            for other_start, other_end in periods:
                if start <= other_end and other_start <= end:
                    form.add_error(
                        "start_date",
                        _("Cette période chevauche la période du %(start)s au %(end)s.")
                        % {"start": f"{other_start:%d/%m/%Y}", "end": f"{other_end:%d/%m/%Y}"},
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


class ContactInline(admin.TabularInline):
    """The organisation's contacts; their user account is linked from the contact's own page."""

    model = Contact
    fields = (
        "civility",
        "first_name",
        "last_name",
        "job_title",
        "email",
        "phone",
        "role",
        "language",
    )
    extra = 0


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
            # A new cluster reminds its members by the default policy until it is changed.
            reminder_policy_ensure(cluster=obj)

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


@admin.register(Membership)
class MembershipAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "member_number",
        "organisation",
        "organisation_siret",
        "cluster",
        "site",
        "member_since",
        status_label,
    )
    list_filter = (
        MembershipStatusFilter,
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
        return with_status(super().get_queryset(request))

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
        entries = Reminder.objects.filter(term__membership=membership).order_by("-due_on", "-pk")
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

    @admin.display(description=_("SIRET"), ordering="organisation__siret")
    def organisation_siret(self, membership: Membership) -> str:
        return membership.organisation.siret

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
    cluster_ids = queryset.order_by().values("cluster_id").distinct()
    clusters = list(Cluster.objects.filter(pk__in=cluster_ids)[:2])
    cluster = clusters[0] if len(clusters) == 1 else None
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
    list_display = (
        "membership",
        "cluster",
        "plan",
        "start_date",
        "end_date",
        "fee",
        "is_paid",
        "paid_on",
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
        status = with_status(Membership.objects.filter(pk=OuterRef("membership_id")).order_by())
        return (
            super()
            .get_queryset(request)
            # The change form reads the invoice too (TermForm); a changelist whose queryset
            # selects some relations already does not add list_select_related.
            .select_related(*self.list_select_related)
            .annotate(membership_status=Subquery(status.values("status")[:1]))
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

    @admin.display(description=_("cluster"), ordering="membership__cluster__name")
    def cluster(self, term: Term) -> Cluster:
        return term.membership.cluster

    @admin.display(description=_("statut de l’adhésion"), ordering="membership_status")
    def membership_status(self, term: Term) -> str:
        return MembershipStatus(term.membership_status).label


# The billing admin (invoices, payments, issuing a term's invoice; its column of a term's invoice
# serves the terms above), the imports' admin (upload → preview → confirm, and their history,
# living with the imports) and the reminders' admin (policies, the ledger) build on the mixin
# above.
from members.admin_billing import InvoiceAdmin, PaymentAdmin, term_invoice_column  # noqa: E402, F401
from members.admin_reminders import ReminderAdmin, ReminderPolicyAdmin  # noqa: E402, F401
from members.imports.admin import ImportRecordAdmin  # noqa: E402, F401
