"""The payment follow-ups' admin: each cluster's policy with its steps, which the cluster's
staff change, and the ledger of the follow-ups recorded by the daily pass, read-only.

A policy's page lists what its texts may name and shows each step as a member would read it, in
French and in English, rendered by the sending code
(:func:`members.services.follow_ups.payment_follow_up_previews`), each with a button that sends
it to oneself (:meth:`PaymentFollowUpPolicyAdmin.test_view`). Staff of another cluster get a 404,
the merger committee reads. An invoice's page lists its follow-ups (:func:`follow_ups_table`);
staff put the failed ones back in the queue from the ledger.
"""

import smtplib
from itertools import groupby

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cluster.errors import parameters_read
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.formatting import short_date, short_datetime
from members.models import (
    Invoice,
    PaymentFollowUp,
    PaymentFollowUpPolicy,
    PaymentFollowUpStep,
)
from members.models.follow_ups import FOLLOW_UP_PLACEHOLDERS
from members.models.reminders import offset_label
from members.selectors import clusters_managed_by
from members.services.follow_ups import (
    payment_follow_up_previews,
    payment_follow_up_test_send,
    payment_follow_ups_resend,
)

# What each placeholder of FOLLOW_UP_PLACEHOLDERS becomes in a follow-up, for the policy's page.
PLACEHOLDER_HELP = {
    "organisation": gettext_lazy("la raison sociale du client, telle que sur la facture"),
    "cluster": gettext_lazy("le nom du cluster"),
    "member_number": gettext_lazy("le numéro d’adhérent"),
    "contact_name": gettext_lazy(
        "le prénom et le nom du contact à qui l’e-mail est écrit (à défaut, la raison sociale)"
    ),
    "invoice_number": gettext_lazy("le numéro de la facture"),
    "amount_left": gettext_lazy(
        "ce qui reste à payer sur la facture le jour de l’envoi (« 300,00 € »)"
    ),
    "due_date": gettext_lazy(
        "la date d’échéance de la facture, en toutes lettres dans la langue du contact"
    ),
    "days_late": gettext_lazy(
        "le nombre de jours depuis l’échéance, le jour du passage (15 pour J+15 envoyée à son jour)"
    ),
    "payment_url": gettext_lazy(
        "le lien vers la facture dans l’espace adhérent, où la régler (il figure aussi, en "
        "bouton, sous chaque message)"
    ),
}
assert set(PLACEHOLDER_HELP) == set(FOLLOW_UP_PLACEHOLDERS), "a placeholder without its help"


# --- Policies and their steps -------------------------------------------------------------------


class PaymentFollowUpStepFormSet(forms.BaseInlineFormSet):
    """Refuses two steps on the same day next to the day typed twice, in plain words."""

    def clean(self):
        seen = set()
        for form in self.forms:
            days = getattr(form, "cleaned_data", {}).get("days_after_due")
            if days is None or self._should_delete_form(form):
                continue
            if days in seen:
                form.add_error(
                    "days_after_due",
                    _(
                        "Une autre relance de paiement a déjà ce jour (%(day)s) : une seule par "
                        "jour."
                    )
                    % {"day": offset_label(days)},
                )
            seen.add(days)
        super().clean()


class PaymentFollowUpStepInline(admin.StackedInline):
    model = PaymentFollowUpStep
    formset = PaymentFollowUpStepFormSet
    extra = 0
    fieldsets = (
        (None, {"fields": ("days_after_due",)}),
        (gettext_lazy("En français"), {"fields": ("subject_fr", "body_fr")}),
        (gettext_lazy("En anglais"), {"fields": ("subject_en", "body_en")}),
    )
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"class": "vLargeTextField"})},
    }

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "days_after_due":
            # The bounds the model's validators hold, said by the form (a positive field's own
            # would say "0" to whoever typed "-5").
            kwargs |= {"min_value": 1, "max_value": 365}
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.display(description=gettext_lazy("variables des textes"))
def placeholders_help(policy: PaymentFollowUpPolicy | None = None) -> str:
    rows = format_html_join(
        "",
        "<tr><td><code>{{{}}}</code></td><td>{}</td></tr>",
        ((name, PLACEHOLDER_HELP[name]) for name in FOLLOW_UP_PLACEHOLDERS),
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


class FollowUpTest(forms.Form):
    """What a test button of the policy's page posts: ``test`` is ``<step id>:<language>``."""

    test = forms.RegexField(regex=r"^\d{1,9}:[a-z]{2}$")


class PaymentFollowUpPolicyAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """A cluster's payment follow-up policy and its steps, changed by the cluster's staff; every
    cluster has one (created with it), none is added or deleted here."""

    list_display = ("cluster", "is_active", "sender_or_default", "days", "max_lateness_days")
    list_select_related = ("cluster",)
    inlines = (PaymentFollowUpStepInline,)
    fieldsets = (
        (None, {"fields": ("cluster", "is_active", "sender", "max_lateness_days")}),
        (gettext_lazy("Textes des relances de paiement"), {"fields": (placeholders_help,)}),
    )
    readonly_fields = ("cluster", placeholders_help)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "sender":
            kwargs["widget"] = forms.TextInput(attrs={"class": "vLargeTextField"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=gettext_lazy("expéditeur"), ordering="sender")
    def sender_or_default(self, policy: PaymentFollowUpPolicy) -> str:
        if policy.sender:
            return policy.sender
        return _("Par défaut : %(address)s") % {"address": policy.from_email}

    @admin.display(description=gettext_lazy("relances de paiement"))
    def days(self, policy: PaymentFollowUpPolicy) -> str:
        return ", ".join(offset_label(step.days_after_due) for step in policy.steps.all()) or "–"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            previews = payment_follow_up_previews(policy=obj)
            context["follow_up_previews"] = [
                (step, list(step_previews))
                for step, step_previews in groupby(previews, key=lambda preview: preview.step)
            ]
            if self.has_change_permission(request, obj):
                context["test_url"] = reverse(
                    "admin:members_paymentfollowuppolicy_test", args=[obj.pk]
                )
                context["user_email"] = request.user.email
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "<int:policy_id>/essai/",
                self.admin_site.admin_view(self.test_view),
                name="members_paymentfollowuppolicy_test",
            ),
            *super().get_urls(),
        ]

    def test_view(self, request, policy_id: int):
        """Send one step, in one language, to the user's own address (POST only), then back to
        the policy's page. Another cluster's policy is a 404; who may not change it, a 403."""
        if request.method != "POST":
            raise Http404
        policy = self.get_object(request, str(policy_id))
        if not self.has_change_permission(request, policy):
            raise PermissionDenied
        step_id, language = parameters_read(FollowUpTest, request.POST)["test"].split(":")
        if language not in dict(settings.LANGUAGES):
            raise Http404
        step = get_object_or_404(PaymentFollowUpStep, policy=policy, pk=int(step_id))
        back = reverse("admin:members_paymentfollowuppolicy_change", args=[policy.pk])
        if not request.user.email:
            messages.error(
                request, _("Votre compte n’a pas d’adresse e-mail : aucun essai envoyé.")
            )
            return HttpResponseRedirect(back)
        try:
            payment_follow_up_test_send(step=step, language=language, email=request.user.email)
        except (smtplib.SMTPException, OSError) as error:
            messages.error(request, _("L’essai n’a pas pu partir : %(error)s") % {"error": error})
        else:
            messages.success(
                request,
                _("Essai de la relance de paiement %(day)s (%(language)s) envoyé à %(email)s.")
                % {
                    "day": step,
                    "language": dict(settings.LANGUAGES)[language],
                    "email": request.user.email,
                },
            )
        return HttpResponseRedirect(back)


# --- The ledger ---------------------------------------------------------------------------------


class PaymentFollowUpAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """The journal of the payment follow-ups: what the pass recorded, and what became of each.
    Read-only; failed entries with an address go back in the queue by the action."""

    cluster_lookup = "invoice__cluster"
    list_display = (
        "invoice_link",
        "customer",
        "day",
        "email",
        "state",
        "sent_at_short",
        "reason",
    )
    list_filter = (("invoice__cluster", ClusterScopedRelatedFilter), "state", "reason")
    list_select_related = ("invoice",)
    date_hierarchy = "scheduled_on"
    search_fields = ("invoice__number", "invoice__customer_details__name", "email")
    search_help_text = gettext_lazy("Numéro de facture, raison sociale ou e-mail.")
    show_full_result_count = False
    actions = ("resend_failed",)
    fields = (
        "invoice_link",
        "day",
        "due_on",
        "scheduled_on",
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
        # The next pass would record a deleted entry again, and send it again.
        return False

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("members.resend_paymentfollowup")

    @admin.action(
        description=gettext_lazy("Renvoyer les relances de paiement en échec"),
        permissions=["resend"],
    )
    def resend_failed(self, request, queryset):
        if not request.user.is_superuser:
            queryset = self.cluster_scope(queryset, clusters_managed_by(request.user))
        resent = payment_follow_ups_resend(follow_ups=queryset)
        if not resent:
            messages.warning(
                request,
                _("Aucune des relances sélectionnées n’est en échec avec une adresse : aucune n’a "
                  "été renvoyée."),
            )  # fmt: skip
            return
        messages.success(
            request,
            ngettext(
                "%(count)d relance de paiement en échec remise en file d’envoi.",
                "%(count)d relances de paiement en échec remises en file d’envoi.",
                resent,
            )
            % {"count": resent},
        )

    @admin.display(description=gettext_lazy("facture"), ordering="invoice__number")
    def invoice_link(self, follow_up: PaymentFollowUp) -> str:
        url = reverse("admin:members_invoice_change", args=[follow_up.invoice_id])
        return format_html('<a href="{}">{}</a>', url, follow_up.invoice.number)

    @admin.display(description=gettext_lazy("client"))
    def customer(self, follow_up: PaymentFollowUp) -> str:
        return follow_up.invoice.customer_details.get("name", "")

    @admin.display(description=gettext_lazy("relance"), ordering="days_after_due")
    def day(self, follow_up: PaymentFollowUp) -> str:
        return offset_label(follow_up.days_after_due)

    @admin.display(
        description=PaymentFollowUp._meta.get_field("sent_at").verbose_name, ordering="sent_at"
    )
    def sent_at_short(self, follow_up: PaymentFollowUp) -> str:
        return short_datetime(follow_up.sent_at) if follow_up.sent_at else "–"


def follow_ups_table(invoice: Invoice) -> str:
    """The follow-ups of ``invoice``, for its admin page: each step, to whom, in what state,
    when sent (or why not). One query."""
    rows = [
        (
            offset_label(follow_up.days_after_due),
            short_date(follow_up.scheduled_on),
            follow_up.email or "–",
            follow_up.get_state_display(),
            short_datetime(follow_up.sent_at) if follow_up.sent_at else "–",
            follow_up.get_reason_display() or "",
        )
        for follow_up in invoice.follow_ups.order_by("days_after_due", "pk")
    ]
    if not rows:
        return _("Aucune relance de paiement.")
    return format_html(
        '<table class="payment-follow-ups"><thead><tr><th scope="col">{}</th>'
        '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
        '<th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
        _("Relance"),
        _("Programmée le"),
        _("Destinataire"),
        _("État"),
        _("Envoyée le"),
        _("Raison"),
        format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
        ),
    )


admin.site.register(PaymentFollowUpPolicy, PaymentFollowUpPolicyAdmin)
admin.site.register(PaymentFollowUp, PaymentFollowUpAdmin)
