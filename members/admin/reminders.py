"""The reminders' admin: each cluster's reminder policy with its steps, and the ledger of the
reminders recorded by the daily pass, on the cluster scoping of :mod:`members.admin.scoping`.

Superusers (the operator) alone change a policy; membership staff read their clusters' policy
and the merger committee every cluster's. A policy's page lists what its texts may name and shows
each step as a member would read it, rendered by the sending code
(:func:`members.services.reminders.reminder_previews`).

The ledger is read-only: the pass writes it, the tasks record what they sent. Staff of a cluster
see what their cluster's pass would send today, try each text on themselves and, once they
confirm, queue that pass in Celery (:meth:`ReminderAdmin.pass_view`: the same pass as beat's,
which records and sends nothing twice however often it runs); they put its failed entries back
in the queue (:func:`members.services.reminders.reminders_resend`);
an entry is never deleted on its own, since the next pass would record and send it again, but
goes with its term. The list's number of queries does not grow with its rows.
"""

import smtplib
from itertools import groupby
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from kombu.exceptions import OperationalError

from cluster.errors import BoundedIntegerField, parameters_read
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.formatting import long_date, short_date, short_datetime
from members.models import Cluster, Reminder, ReminderPolicy, ReminderStep, Term
from members.models.reminders import REMINDER_PLACEHOLDERS, offset_label
from members.selectors import (
    clusters_managed_by,
    clusters_without_reminder_policy,
    reminders_due,
    reminders_due_by_step,
)
from members.services.reminders import reminder_previews, reminder_test_send, reminders_resend
from members.tasks import reminders_pass

#: Memberships per page in the list of reminders due.
PASS_PAGE_SIZE = 50

# What each placeholder of REMINDER_PLACEHOLDERS becomes in a reminder, for the policy's page.
PLACEHOLDER_HELP = {
    "organisation": gettext_lazy("la raison sociale de l’organisation adhérente"),
    "cluster": gettext_lazy("le nom du cluster"),
    "member_number": gettext_lazy("le numéro d’adhérent"),
    "contact_name": gettext_lazy(
        "le prénom et le nom du contact à qui l’e-mail est écrit (à défaut, la raison sociale)"
    ),
    "end_date": gettext_lazy(
        "la date de fin de la dernière période d’adhésion, en toutes lettres dans la langue du "
        "contact (« 31 décembre 2026 »)"
    ),
    "days": gettext_lazy(
        "le nombre de jours avant ou depuis cette date, sans signe (30 pour J−30 comme pour J+30)"
    ),
    "renewal_url": gettext_lazy(
        "le lien personnel de renouvellement (il figure aussi, en bouton, sous chaque message)"
    ),
}
assert set(PLACEHOLDER_HELP) == set(REMINDER_PLACEHOLDERS), "a placeholder without its help"


# --- Policies and their steps -------------------------------------------------------------------


class ReminderStepFormSet(forms.BaseInlineFormSet):
    """Refuses two steps at the same offset next to the offset typed twice, in plain words (the
    database's constraint would otherwise be named by its field names)."""

    def clean(self):
        seen = set()
        for form in self.forms:
            # Said even when the step has other errors, so that all are said at once.
            offset = getattr(form, "cleaned_data", {}).get("offset_days")
            if offset is None or self._should_delete_form(form):
                continue
            if offset in seen:
                form.add_error(
                    "offset_days",
                    _("Une autre relance a déjà ce décalage (%(offset)s) : une seule par jour.")
                    % {"offset": offset_label(offset)},
                )
            seen.add(offset)
        super().clean()


class ReminderStepInline(admin.StackedInline):
    model = ReminderStep
    formset = ReminderStepFormSet
    fieldsets = (
        (None, {"fields": ("offset_days",)}),
        (gettext_lazy("En français"), {"fields": ("subject_fr", "body_fr")}),
        (gettext_lazy("En anglais"), {"fields": ("subject_en", "body_en")}),
    )
    formfield_overrides = {
        # Room for the whole subject, with its placeholders, on one line.
        models.CharField: {"widget": forms.TextInput(attrs={"class": "vLargeTextField"})},
    }

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0


@admin.display(description=gettext_lazy("variables des textes"))
def placeholders_help(policy: ReminderPolicy | None = None) -> str:
    rows = format_html_join(
        "",
        "<tr><td><code>{{{}}}</code></td><td>{}</td></tr>",
        ((name, PLACEHOLDER_HELP[name]) for name in REMINDER_PLACEHOLDERS),
    )
    return format_html(
        '<p class="reminder-placeholders-intro">{}</p>'
        '<table class="reminder-placeholders"><thead><tr><th scope="col">{}</th>'
        '<th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
        _(
            "L’objet et le message de chaque relance peuvent contenir ces variables, entre "
            "accolades : chacune est remplacée, pour chaque contact, par ce qu’elle désigne. "
            "Une autre variable est refusée."
        ),
        _("Variable"),
        _("Devient"),
        rows,
    )


class ReminderPolicyAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """A cluster's reminder policy and its steps; changed by superusers only (the groups hold
    only the view permissions); a new cluster gets its policy when it is created."""

    list_display = ("cluster", "is_active", "sender_or_default", "offsets", "max_lateness_days")
    list_select_related = ("cluster",)
    inlines = (ReminderStepInline,)
    fieldsets = (
        (None, {"fields": ("cluster", "is_active", "sender", "max_lateness_days")}),
        (gettext_lazy("Textes des relances"), {"fields": (placeholders_help,)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    def get_readonly_fields(self, request, obj=None):
        # A policy stays with the cluster it was made for.
        return (placeholders_help, "cluster") if obj is not None else (placeholders_help,)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "sender":
            kwargs["widget"] = forms.TextInput(attrs={"class": "vLargeTextField"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "cluster":
            kwargs["queryset"] = clusters_without_reminder_policy()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=gettext_lazy("expéditeur"), ordering="sender")
    def sender_or_default(self, policy: ReminderPolicy) -> str:
        if policy.sender:
            return policy.sender
        return _("Par défaut : %(address)s") % {"address": policy.from_email}

    @admin.display(description=gettext_lazy("relances"))
    def offsets(self, policy: ReminderPolicy) -> str:
        return ", ".join(offset_label(step.offset_days) for step in policy.steps.all()) or "–"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["reminder_previews"] = previews_by_step(reminder_previews(policy=obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


def previews_by_step(previews: list) -> list[tuple[ReminderStep, list]]:
    """``previews`` (:func:`members.services.reminders.reminder_previews`) grouped by step."""
    return [
        (step, list(step_previews))
        for step, step_previews in groupby(previews, key=lambda preview: preview.step)
    ]


class ReminderPassQuery(forms.Form):
    """What the pass page reads from its address: the cluster (one the user manages; by default
    the first) and the page of the list of reminders due."""

    cluster = BoundedIntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        message=gettext_lazy("Le cluster est désigné par un nombre entier positif."),
    )
    page = BoundedIntegerField(
        min_value=1,
        max_value=100_000,
        required=False,
        message=gettext_lazy("La page est un nombre entier de 1 à 100 000."),
    )
    confirm = forms.BooleanField(required=False)


class ReminderPassAction(forms.Form):
    """What the pass page posts: a test of a step's text, in a language, to oneself; or the pass,
    confirmed."""

    action = forms.ChoiceField(choices=[("test", "test"), ("start", "start")])
    step = BoundedIntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        message=gettext_lazy("La relance est désignée par un nombre entier positif."),
    )
    language = forms.ChoiceField(choices=settings.LANGUAGES, required=False)


# --- The ledger ---------------------------------------------------------------------------------


class ReminderOffsetFilter(admin.SimpleListFilter):
    """Filters the ledger on the offset of its entries, among those it holds."""

    title = gettext_lazy("relance")
    parameter_name = "offset"

    def lookups(self, request, model_admin):
        offsets = (
            model_admin.get_queryset(request)
            .order_by("offset_days")
            .values_list("offset_days", flat=True)
            .distinct()
        )
        return [(str(offset), offset_label(offset)) for offset in offsets]

    def queryset(self, request, queryset):
        try:
            return queryset.filter(offset_days=int(self.value()))
        except (TypeError, ValueError):
            return queryset


class ReminderAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """The journal of the reminders: what the pass recorded, and what became of each."""

    cluster_lookup = "term__membership__cluster"
    list_display = (
        "organisation",
        "member_number",
        "cluster",
        "offset",
        "due_on_short",
        "scheduled_on_short",
        "state_badge",
        "sent_at_short",
        "attempts",
        "recipients_list",
        "outcome",
    )
    list_filter = (
        ("term__membership__cluster", ClusterScopedRelatedFilter),
        ReminderOffsetFilter,
        "state",
        "reason",
    )
    date_hierarchy = "scheduled_on"
    search_fields = (
        "term__membership__organisation__name",
        "term__membership__organisation__siret",
        "term__membership__member_number",
        "recipients",
        "term__membership__organisation__contacts__email",
    )
    search_help_text = gettext_lazy(
        "Raison sociale, SIRET, n° d’adhérent, e-mail d’un destinataire ou d’un contact."
    )
    show_full_result_count = False
    empty_value_display = "–"
    actions = ("resend_failed",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "membership_link",
                    "term_link",
                    "cluster",
                    "offset",
                    "step_link",
                    "due_on",
                    "scheduled_on",
                )
            },
        ),
        (
            gettext_lazy("Envoi"),
            {
                "fields": (
                    "state_badge",
                    "queued_at",
                    "attempts",
                    "sent_at",
                    "recipients_list",
                    "reason",
                    "detail",
                    "created_at",
                )
            },
        ),
    )
    readonly_fields = tuple(field for _name, options in fieldsets for field in options["fields"])

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("term__membership__organisation", "term__membership__cluster", "step")
        )

    def changelist_view(self, request, extra_context=None):
        # Rather than "select the reminder sent to view", which pending entries are not yet.
        extra_context = {"title": Reminder._meta.verbose_name_plural.capitalize()} | (
            extra_context or {}
        )
        if self.has_resend_permission(request):
            extra_context["reminder_pass_url"] = reverse("admin:members_reminder_pass")
        return super().changelist_view(request, extra_context)

    # --- Permissions: read-only; "resend" for failed entries ---

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Asked about each entry when a term, membership or organisation is deleted: the entries
        # go with their term. Never on their own (see delete_view).
        if obj is None:
            return False
        term_admin = self.admin_site.get_model_admin(Term)
        return term_admin.has_delete_permission(request, obj.term)

    def delete_view(self, request, object_id, extra_context=None):
        # The next pass would record a deleted entry again, and send it again.
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Rather than "view reminder sent", which a pending or failed entry is not.
        context["title"] = _("Relance %(offset)s de %(membership)s") % {
            "offset": offset_label(obj.offset_days),
            "membership": obj.term.membership,
        }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("members.resend_reminder")

    # --- A cluster's pass, from the admin ---

    def get_urls(self):
        return [
            path(
                "passage/",
                self.admin_site.admin_view(self.pass_view),
                name="members_reminder_pass",
            ),
            *super().get_urls(),
        ]

    def pass_view(self, request):
        """What the pass of one of the user's clusters would record and send today: the count
        by step and language, the memberships (paginated), each step's e-mail in French and in
        English for a membership due (else the cluster's latest), a test sent to oneself; then,
        confirmed, the pass queued in Celery. Staff see and start only their clusters' pass
        (another cluster: 404); those who may not resend reminders get 403."""
        if not self.has_resend_permission(request):
            raise PermissionDenied
        query = parameters_read(ReminderPassQuery, request.GET)
        clusters = clusters_managed_by(request.user).filter(reminder_policy__isnull=False)
        if query["cluster"] is None:
            cluster = clusters.order_by("kind", "name").first()
            if cluster is None:
                raise Http404
        else:
            cluster = clusters.filter(pk=query["cluster"]).first()
            if cluster is None:
                raise Http404
        policy = cluster.reminder_policy
        today = timezone.localdate()
        due = reminders_due(on=today, cluster_ids=[cluster.pk])
        page_url = f"{request.path}?{urlencode({'cluster': cluster.pk})}"
        if request.method == "POST":
            action = parameters_read(ReminderPassAction, request.POST)
            if action["action"] == "start":
                return self._pass_start(request, cluster)
            step = policy.steps.filter(pk=action["step"]).first() if action["step"] else None
            if step is None:
                raise Http404
            return self._pass_test(request, step, action["language"] or "fr", due, page_url)
        by_step = reminders_due_by_step(on=today, cluster_id=cluster.pk)
        languages = [code for code, _name in settings.LANGUAGES]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Passage des relances de %(cluster)s") % {"cluster": cluster},
            "cluster": cluster,
            "clusters": clusters.order_by("kind", "name") if clusters.count() > 1 else [],
            "policy": policy,
            "today": long_date(today),
            "by_step": by_step,
            "languages": languages,
            "count_rows": [
                (row, [row.emails.get(code, 0) for code in languages]) for row in by_step
            ],
            "to_send": sum(row.to_send for row in by_step),
            "recorded": sum(row.recorded for row in by_step),
            "emails": sum(sum(row.emails.values()) for row in by_step),
            "without_contact": sum(row.without_contact for row in by_step),
            "page_url": page_url,
            "ledger_url": _ledger_url(cluster),
        }
        if query["confirm"]:
            return TemplateResponse(request, "admin/members/reminder/pass_confirm.html", context)
        paginator = Paginator(
            due.select_related("membership__organisation").order_by(
                "end_date", "membership__member_number", "pk"
            ),
            PASS_PAGE_SIZE,
        )
        page = paginator.get_page(query["page"] or 1)
        context |= {
            "page": page,
            "due_rows": [
                (term, offset_label(term.reminder_offset), term.reminder_recorded)
                for term in page.object_list
            ],
            "reminder_previews": previews_by_step(
                reminder_previews(policy=policy, terms=_due_first(due, cluster))
            ),
            "user_email": request.user.email,
        }
        return TemplateResponse(request, "admin/members/reminder/pass.html", context)

    def _pass_test(self, request, step: ReminderStep, language: str, due, page_url: str):
        if not request.user.email:
            messages.error(
                request, _("Votre compte n’a pas d’adresse e-mail : aucun essai envoyé.")
            )
            return HttpResponseRedirect(page_url)
        try:
            reminder_test_send(
                step=step,
                language=language,
                email=request.user.email,
                terms=_due_first(due, step.policy.cluster),
            )
        except (smtplib.SMTPException, OSError) as error:
            messages.error(
                request,
                _("L’essai n’a pas pu partir : %(error)s") % {"error": error},
            )
        else:
            messages.success(
                request,
                _("Essai de la relance %(offset)s (%(language)s) envoyé à %(email)s.")
                % {
                    "offset": step,
                    "language": dict(settings.LANGUAGES)[language],
                    "email": request.user.email,
                },
            )
        return HttpResponseRedirect(page_url)

    def _pass_start(self, request, cluster: Cluster):
        try:
            reminders_pass.delay_on_commit(cluster_ids=[cluster.pk])
        except OperationalError as error:
            messages.error(
                request,
                _(
                    "La file des tâches (Celery) est injoignable : %(error)s. Rien n’a été "
                    "envoyé ; réessayez plus tard (le passage quotidien passera de toute façon)."
                )
                % {"error": error},
            )
            return HttpResponseRedirect(request.get_full_path())
        messages.success(
            request,
            _(
                "Passage des relances de %(cluster)s lancé : les relances dues sont enregistrées "
                "dans le journal puis envoyées, chacune une fois, même si le passage quotidien "
                "tourne en même temps."
            )
            % {"cluster": cluster},
        )
        return HttpResponseRedirect(_ledger_url(cluster))

    @admin.action(
        description=gettext_lazy("Renvoyer les relances en échec"), permissions=["resend"]
    )
    def resend_failed(self, request, queryset):
        if not request.user.is_superuser:
            # The list holds every cluster's entries for the committee: resend only one's own.
            queryset = self.cluster_scope(queryset, clusters_managed_by(request.user))
        resent = reminders_resend(reminders=queryset)
        if not resent:
            messages.warning(
                request,
                _("Aucune des relances sélectionnées n’est en échec : aucune n’a été renvoyée."),
            )
            return
        message = ngettext(
            "%(count)d relance en échec remise en file d’envoi.",
            "%(count)d relances en échec remises en file d’envoi.",
            resent,
        ) % {"count": resent}
        if resent < len(queryset):
            message += " " + _("Les autres relances sélectionnées n’étaient pas en échec.")
        messages.success(request, message)

    # --- Columns and fields ---

    @admin.display(
        description=gettext_lazy("organisation"), ordering="term__membership__organisation__name"
    )
    def organisation(self, reminder: Reminder) -> str:
        return reminder.term.membership.organisation.name

    @admin.display(
        description=gettext_lazy("n° d’adhérent"), ordering="term__membership__member_number"
    )
    def member_number(self, reminder: Reminder) -> str:
        return reminder.term.membership.member_number

    @admin.display(description=gettext_lazy("cluster"), ordering="term__membership__cluster__name")
    def cluster(self, reminder: Reminder) -> Cluster:
        return reminder.term.membership.cluster

    @admin.display(description=gettext_lazy("relance"), ordering="offset_days")
    def offset(self, reminder: Reminder) -> str:
        return offset_label(reminder.offset_days)

    # Dates in figures, so that a row of the list stays on one line.
    @admin.display(description=Reminder._meta.get_field("due_on").verbose_name, ordering="due_on")
    def due_on_short(self, reminder: Reminder) -> str:
        return short_date(reminder.due_on)

    @admin.display(
        description=Reminder._meta.get_field("scheduled_on").verbose_name, ordering="scheduled_on"
    )
    def scheduled_on_short(self, reminder: Reminder) -> str:
        return short_date(reminder.scheduled_on)

    @admin.display(description=Reminder._meta.get_field("sent_at").verbose_name, ordering="sent_at")
    def sent_at_short(self, reminder: Reminder) -> str:
        if reminder.sent_at is None:
            return "–"
        return short_datetime(reminder.sent_at)

    @admin.display(description=gettext_lazy("état"), ordering="state")
    def state_badge(self, reminder: Reminder) -> str:
        return format_html(
            '<span class="reminder-state reminder-state-{}">{}</span>',
            reminder.state,
            reminder.get_state_display(),
        )

    @admin.display(description=gettext_lazy("destinataires"))
    def recipients_list(self, reminder: Reminder) -> str:
        return ", ".join(reminder.recipients) or "–"

    @admin.display(description=gettext_lazy("raison"), ordering="reason")
    def outcome(self, reminder: Reminder) -> str:
        if not reminder.reason and not reminder.detail:
            return "–"
        detail = format_html(
            '<div class="reminder-detail" title="{}">{}</div>',
            reminder.detail,
            Truncator(reminder.detail).chars(90),
        )
        return format_html("{}{}", reminder.get_reason_display(), detail if reminder.detail else "")

    @admin.display(description=gettext_lazy("adhésion"))
    def membership_link(self, reminder: Reminder) -> str:
        membership = reminder.term.membership
        url = reverse("admin:members_membership_change", args=[membership.pk])
        return format_html('<a href="{}">{}</a>', url, membership)

    @admin.display(description=gettext_lazy("période"))
    def term_link(self, reminder: Reminder) -> str:
        url = reverse("admin:members_term_change", args=[reminder.term_id])
        return format_html('<a href="{}">{}</a>', url, reminder.term)

    @admin.display(description=gettext_lazy("texte"))
    def step_link(self, reminder: Reminder) -> str:
        if reminder.step is None:
            return _("Relance retirée de la politique")
        url = reverse("admin:members_reminderpolicy_change", args=[reminder.step.policy_id])
        label = _("Politique de relance de %(cluster)s") % {
            "cluster": reminder.term.membership.cluster
        }
        return format_html('<a href="{}">{}</a>', url, label)


def _due_first(due, cluster: Cluster):
    """The terms whose values the previews show: a membership due today first, else the
    cluster's latest."""
    if due.exists():
        return due.order_by("end_date", "pk")
    return Term.objects.filter(membership__cluster=cluster).order_by("-end_date", "-pk")


def _ledger_url(cluster: Cluster) -> str:
    """The ledger, filtered on ``cluster``."""
    return (
        reverse("admin:members_reminder_changelist")
        + "?"
        + urlencode({"term__membership__cluster__id__exact": cluster.pk})
    )


admin.site.register(ReminderPolicy, ReminderPolicyAdmin)
admin.site.register(Reminder, ReminderAdmin)
