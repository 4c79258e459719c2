"""The billing admin: invoices, the payments staff record on them, the credit notes that cancel
or reduce them, and the issuing of a term's invoice, on the cluster scoping of
:mod:`members.admin.scoping`.

An invoice never changes once issued: every field of its page is read-only. Its page takes new
payments in an inline that goes through :func:`members.services.billing.invoice_payment_record`,
so that partial payments add up and the invoice, its term and the membership's status follow;
existing payments are corrected or removed, with a reason, on a page of their own (through
:func:`members.services.billing.invoice_payment_correct` and ``invoice_payment_remove``), and
the invoice's page shows each change (what was recorded, what it became, who, when, why). The
list and the pages read what was paid, what is left and what was over-paid from
:func:`members.selectors.invoices_with_balance`: the list's number of queries does not grow with
the rows, and an invoice paid beyond its amount shows as over-paid ("Trop-perçu", a filter of its
own) with the amount to refund.

A credit note is issued from its invoice's page (:meth:`InvoiceAdmin.credit_note_view`, through
:func:`members.services.billing.credit_note_issue` or ``credit_note_issue_and_reinvoice``) by
staff of the invoice's cluster; the list of credit notes is read-only.
"""

from decimal import Decimal

import stripe
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members import documents, formatting
from members.admin.accounting import accounting_export_view
from members.admin.follow_ups import follow_ups_table
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentChangeKind,
    PaymentMethod,
    Refund,
    Term,
)
from members.payments import StripeCheckout
from members.selectors import (
    card_payments_refundable,
    clusters_managed_by,
    invoice_with_balance,
    invoice_with_refunds,
    invoices_awaiting_transfer,
    invoices_to_carry_over_to,
    invoices_unpaid,
    invoices_with_balance,
)
from members.services.billing import (
    credit_note_issue,
    credit_note_issue_and_reinvoice,
    credit_note_version,
    invoice_issue,
    invoice_issue_check,
    invoice_payment_correct,
    invoice_payment_record,
    invoice_payment_remove,
    payment_correction_refusal,
    payment_version,
)
from members.services.refunds import (
    card_refund_payment,
    invoice_payment_carry_over,
    invoice_refund_card,
    invoice_refund_record,
    membership_reopen,
    membership_reopen_refusal,
    refund_version,
)
from members.tasks import invoice_notice_send
from members.views.billing import pdf_response


def with_payments(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """``queryset`` annotated with ``paid_amount``, ``amount_left``, ``overpaid_amount`` and
    ``status`` (:func:`members.selectors.invoices_with_balance`), and ``customer_name`` (from the
    frozen customer details, to sort on)."""
    return invoices_with_balance(queryset).annotate(
        customer_name=KeyTextTransform("name", "customer_details"),
    )


class InvoiceStatusFilter(admin.SimpleListFilter):
    title = gettext_lazy("statut")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return InvoiceStatus.choices

    def queryset(self, request, queryset):
        if self.value() in InvoiceStatus.values:
            return queryset.filter(status=self.value())
        return queryset


class InvoiceToCollectFilter(admin.SimpleListFilter):
    """Filters the invoices left to pay, in full or in part, and among them those awaiting a
    bank transfer (no card payment page open). The dashboard's figures link here, counted by the
    same selectors."""

    title = gettext_lazy("paiement attendu")
    parameter_name = "to_collect"
    UNPAID = "unpaid"
    TRANSFER = "transfer"

    def lookups(self, request, model_admin):
        return [
            (self.UNPAID, _("Reste à payer")),
            (self.TRANSFER, _("Virement attendu")),
        ]

    def queryset(self, request, queryset):
        if self.value() == self.UNPAID:
            return queryset.filter(pk__in=invoices_unpaid().values("pk"))
        if self.value() == self.TRANSFER:
            return queryset.filter(pk__in=invoices_awaiting_transfer().values("pk"))
        return queryset


# --- The invoice of a term, in the memberships' and terms' pages --------------------------------


def term_invoiced_note(number: str) -> str:
    """What the admin says beside an invoiced term: why its fee, plan and period are disabled."""
    return _(
        "Facturée sous le n° %(number)s : le montant, la formule et la période ne peuvent plus "
        "changer ; une correction passe par un avoir."
    ) % {"number": number}


def _term_invoice(term: Term, *, may_issue: bool, note: bool = False) -> str:
    invoice = getattr(term, "invoice", None)
    if invoice is not None:
        url = reverse("admin:members_invoice_change", args=[invoice.pk])
        link = format_html('<a href="{}">{}</a>', url, invoice.number)
        if term.cancelled_on is not None:
            # Without naming the credit note: lists show this column, one query per row.
            return format_html(
                '{}<br><span class="help">{}</span>',
                link,
                _("Période annulée le %(date)s par un avoir : elle ne compte plus.")
                % {"date": formatting.short_date(term.cancelled_on)},
            )
        if note:
            return format_html(
                '{}<br><span class="help">{}</span>', link, term_invoiced_note(invoice.number)
            )
        return link
    # A paid term without an invoice was paid before invoices were issued here (an import):
    # an invoice dated today would ask for money already received.
    if may_issue and term.pk and not term.is_paid:
        url = reverse("admin:members_invoice_issue", args=[term.pk])
        return format_html('<a href="{}">{}</a>', url, _("Émettre la facture"))
    return "–"


@admin.display(description=gettext_lazy("facture"))
def term_invoice(term: Term) -> str:
    return _term_invoice(term, may_issue=False)


@admin.display(description=gettext_lazy("facture"))
def term_invoice_or_issue(term: Term) -> str:
    return _term_invoice(term, may_issue=True)


@admin.display(description=gettext_lazy("facture"))
def term_invoice_noted(term: Term) -> str:
    return _term_invoice(term, may_issue=False, note=True)


@admin.display(description=gettext_lazy("facture"))
def term_invoice_noted_or_issue(term: Term) -> str:
    return _term_invoice(term, may_issue=True, note=True)


def term_invoice_column(user, *, note: bool = False) -> object:
    """The "invoice" column of terms for ``user``: the invoice's number linked to it, and for
    those who may issue invoices, a link to issue the invoice of an unpaid term without one;
    with ``note`` (where a term is edited), why an invoiced term's fee, plan and period no longer
    change. The rows must have their ``invoice`` selected (``select_related("invoice")``)."""
    if user.has_perm("members.add_invoice"):
        return term_invoice_noted_or_issue if note else term_invoice_or_issue
    return term_invoice_noted if note else term_invoice


# --- Payments -----------------------------------------------------------------------------------


class PaymentInline(admin.TabularInline):
    """The payments of an invoice: staff of its cluster add some here; a recorded one is
    corrected or removed on its own page, with a reason (:meth:`InvoiceAdmin.payment_change_view`),
    never in this list."""

    model = Payment
    fields = ("amount", "received_on", "method", "reference", "recording")
    readonly_fields = ("recording",)
    verbose_name = gettext_lazy("paiement")
    verbose_name_plural = gettext_lazy("paiements reçus")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is None or obj.is_paid or obj.is_cancelled else 1

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("enregistrement"))
    def recording(self, payment: Payment) -> str:
        """Who recorded the payment (or the provider's reference of a card payment), and the
        link to correct or remove it, or why it cannot be: one column, so that the list fits
        the window."""
        if not payment.pk:
            return ""
        lines = [
            format_html("<div>{}</div>", payment.recorded_by or "–"),
        ]
        if payment.provider_reference:
            lines.append(format_html('<div class="help">{}</div>', payment.provider_reference))
        if self.request_user.has_perm("members.change_payment"):
            refusal = payment_correction_refusal(payment)
            if refusal:
                lines.append(format_html('<div class="help">{}</div>', refusal))
            else:
                url = reverse(
                    "admin:members_invoice_payment", args=[payment.invoice_id, payment.pk]
                )
                lines.append(
                    format_html('<div><a href="{}">{}</a></div>', url, _("Corriger ou supprimer"))
                )
        return format_html_join("", "{}", ((line,) for line in lines))

    def get_formset(self, request, obj=None, **kwargs):
        # The column above depends on who reads the page.
        self.request_user = request.user
        return super().get_formset(request, obj, **kwargs)


class PaymentChangeForm(forms.Form):
    """A payment's correction (its new amount, date, method and reference) or removal, with the
    reason, as seen at ``version`` (:func:`members.services.billing.payment_version`)."""

    amount = forms.DecimalField(
        label=gettext_lazy("Montant (€)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    received_on = forms.DateField(
        label=gettext_lazy("Reçu le"), widget=AdminDateWidget, required=False
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Moyen de paiement"), choices=PaymentMethod.choices, required=False
    )
    reference = forms.CharField(label=gettext_lazy("Référence"), max_length=200, required=False)
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Obligatoire : il reste dans l’historique de la facture, avec votre nom et la date."
        ),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if not data.get("remove"):
            for name in ("amount", "received_on", "method"):
                if name not in self.errors and data.get(name) in (None, ""):
                    self.add_error(name, _("Ce champ est obligatoire pour une correction."))
        return data


class CreditNoteForm(forms.Form):
    """A credit note on an invoice: its amount (all that is still invoiced, or part of it), the
    reason, and for a credit note of all of it, whether the term is cancelled or invoiced again
    at a corrected fee; as seen at ``version``
    (:func:`members.services.billing.credit_note_version`)."""

    CANCEL = "cancel"
    REINVOICE = "reinvoice"

    amount = forms.DecimalField(
        label=gettext_lazy("Montant de l’avoir (€)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=True,
    )
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Obligatoire : il est imprimé sur l’avoir envoyé à l’adhérent."),
    )
    outcome = forms.ChoiceField(
        label=gettext_lazy("La période facturée"),
        choices=[
            (CANCEL, gettext_lazy("annuler la période")),
            (REINVOICE, gettext_lazy("refacturer la période au montant corrigé")),
        ],
        initial=CANCEL,
        widget=forms.RadioSelect,
        help_text=gettext_lazy("Pour un avoir de tout le montant restant seulement."),
    )
    fee = forms.DecimalField(
        label=gettext_lazy("Montant corrigé (€)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=True,
        required=False,
        help_text=gettext_lazy("La nouvelle facture de la période, émise aussitôt."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)

    def __init__(self, *args, remaining: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.remaining = remaining

    def clean(self):
        data = super().clean()
        if data.get("outcome") == self.REINVOICE and "amount" in data:
            if data["amount"] != self.remaining:
                self.add_error(
                    "outcome",
                    _(
                        "Pour refacturer la période, l’avoir porte sur tout le montant restant "
                        "(%(remaining)s)."
                    )
                    % {"remaining": formatting.money(self.remaining)},
                )
            elif data.get("fee") is None and "fee" not in self.errors:
                self.add_error("fee", _("Indiquez le montant corrigé de la période."))
        return data


# --- Refunds ------------------------------------------------------------------------------------


class RefundKind:
    """The ways to give back what was over-paid on an invoice, each with its page."""

    CARD = "carte"
    TRANSFER = "virement"
    CARRY_OVER = "report"
    REOPEN = "rouvrir"
    ALL = (CARD, TRANSFER, CARRY_OVER, REOPEN)


class RefundForm(forms.Form):
    """A refund's confirmation: its amount, the reason, and the invoice's refunds as the page
    showed them (``version``, :func:`members.services.refunds.refund_version`); the fields of
    the other ways are added by :func:`refund_form`."""

    amount = forms.DecimalField(
        label=gettext_lazy("Montant (€)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=True,
    )
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Obligatoire : il reste avec le remboursement, avec votre nom et la date."
        ),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)


def refund_form(kind: str, data, *, invoice: Invoice, initial: dict) -> RefundForm:
    """The confirmation form of the refund ``kind`` of ``invoice``."""
    form = RefundForm(data, initial=initial)
    if kind == RefundKind.TRANSFER:
        form.fields["refunded_on"] = forms.DateField(
            label=gettext_lazy("Remboursé le"), widget=AdminDateWidget
        )
        form.fields["reference"] = forms.CharField(
            label=gettext_lazy("Référence du virement"), max_length=200, required=False
        )
    elif kind == RefundKind.CARRY_OVER:
        form.fields["to_invoice"] = forms.TypedChoiceField(
            label=gettext_lazy("Facture à régler"),
            coerce=int,
            choices=[
                (
                    target.pk,
                    _("%(number)s · %(description)s · reste %(left)s")
                    % {
                        "number": target.number,
                        "description": target.description,
                        "left": formatting.money(target.amount_left),
                    },
                )
                for target in invoices_to_carry_over_to(invoice=invoice)
            ],
        )
    elif kind == RefundKind.REOPEN:
        # The amount carried over is what is left to refund, up to the new invoice's amount.
        del form.fields["amount"]
    form.order_fields(["to_invoice", "amount", "refunded_on", "reference", "reason"])
    return form


# --- Invoices -----------------------------------------------------------------------------------


class InvoiceAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "cluster",
        "customer",
        "amount_display",
        "paid_amount_display",
        "status",
        "issued_on",
        "due_on",
        "pdf_link",
    )
    list_filter = (
        ("cluster", ClusterScopedRelatedFilter),
        "year",
        InvoiceStatusFilter,
        InvoiceToCollectFilter,
    )
    list_select_related = ("cluster",)
    search_fields = (
        "number",
        "customer_details__name",
        "customer_details__siret",
        "customer_details__member_number",
    )
    search_help_text = gettext_lazy("Numéro de facture, raison sociale, SIRET ou n° d’adhérent.")
    show_full_result_count = False
    inlines = (PaymentInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "cluster",
                    "term_link",
                    "description",
                    "language",
                    "amount_display",
                    "issued_on",
                    "due_on",
                    "document_links",
                )
            },
        ),
        (
            gettext_lazy("Avoirs"),
            {"fields": ("cancelled_display", "amount_due_display", "credit_notes_display")},
        ),
        (
            gettext_lazy("Paiement"),
            {
                "fields": (
                    "status",
                    "paid_amount_display",
                    "overpaid_display",
                    "refund_actions",
                    "refunds_display",
                    "paid_on",
                    "notice_sent_at",
                    "confirmation_sent_at",
                    "payment_history",
                    "payment_follow_ups",
                )
            },
        ),
        (gettext_lazy("Émetteur"), {"fields": ("issuer",)}),
        (gettext_lazy("Client"), {"fields": ("customer_block",)}),
    )
    # An invoice never changes: everything it shows is read-only.
    readonly_fields = tuple(field for _name, options in fieldsets for field in options["fields"])

    def get_queryset(self, request):
        return with_payments(super().get_queryset(request))

    def has_add_permission(self, request):
        # Invoices are issued from a term (see issue_view), never typed in.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing to save: an invoice never changes; its payments go through save_formset."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not Payment:
            return super().save_formset(request, form, formset, change)
        invoice = form.instance
        formset.save(commit=False)
        recorded = [
            invoice_payment_record(
                invoice=invoice,
                amount=payment.amount,
                received_on=payment.received_on,
                method=payment.method,
                reference=payment.reference,
                recorded_by=request.user,
            )
            for payment in formset.new_objects
        ]
        # The history of the invoice names the payments as they were recorded.
        formset.new_objects = recorded
        if recorded:
            self._payments_message(request, invoice)

    def _payments_message(self, request, invoice: Invoice) -> None:
        invoice = invoice_with_balance(invoice=invoice)
        if invoice.overpaid_amount:
            messages.warning(
                request,
                _("Trop-perçu de %(amount)s sur la facture %(number)s.")
                % {"amount": formatting.money(invoice.overpaid_amount), "number": invoice.number},
            )
        elif invoice.is_paid:
            messages.info(
                request,
                _(
                    "La facture %(number)s est payée : l’adhésion est à jour et la confirmation "
                    "de paiement, avec l’attestation, part par e-mail."
                )
                % {"number": invoice.number},
            )
        else:
            messages.info(
                request,
                _("Reste à payer sur la facture %(number)s : %(amount)s.")
                % {"amount": formatting.money(invoice.amount_left), "number": invoice.number},
            )

    # --- Columns and fields ---

    @admin.display(description=gettext_lazy("client"), ordering="customer_name")
    def customer(self, invoice: Invoice) -> str:
        return invoice.customer_details.get("name", "")

    @admin.display(description=gettext_lazy("montant"), ordering="amount")
    def amount_display(self, invoice: Invoice) -> str:
        return formatting.money(invoice.amount)

    @admin.display(description=gettext_lazy("payé à ce jour"), ordering="paid_amount")
    def paid_amount_display(self, invoice: Invoice) -> str:
        return formatting.money(invoice.paid_amount)

    @admin.display(description=gettext_lazy("trop-perçu à rembourser"))
    def overpaid_display(self, invoice: Invoice) -> str:
        if not invoice.overpaid_amount:
            return "–"
        return format_html("<strong>{}</strong>", formatting.money(invoice.overpaid_amount))

    @admin.display(description=gettext_lazy("relances de paiement"))
    def payment_follow_ups(self, invoice: Invoice) -> str:
        return follow_ups_table(invoice)

    @admin.display(description=gettext_lazy("remboursement"))
    def refund_actions(self, invoice: Invoice) -> str:
        """What is left to refund (the over-paid amount less the card refunds pending), and for
        staff of the invoice's cluster, the ways to refund it."""
        if not invoice.overpaid_amount:
            return "–"
        now = invoice_with_refunds(invoice=invoice)
        lines = [
            format_html(
                '<div class="refund-left">{} <strong>{}</strong></div>',
                _("À rembourser :"),
                formatting.money(now.refund_left),
            )
        ]
        if now.refund_pending_amount:
            lines.append(
                format_html(
                    '<div class="help">{}</div>',
                    _("dont %(amount)s en cours de remboursement par carte")
                    % {"amount": formatting.money(now.refund_pending_amount)},
                )
            )
        if now.refund_left > 0 and getattr(invoice, "may_refund", False):
            links = [(RefundKind.TRANSFER, _("Enregistrer un remboursement par virement"))]
            if StripeCheckout.is_configured() and card_refund_payment(invoice=invoice):
                links.insert(0, (RefundKind.CARD, _("Rembourser par carte")))
            if invoices_to_carry_over_to(invoice=invoice).exists():
                links.append((RefundKind.CARRY_OVER, _("Reporter sur une autre facture")))
            if not membership_reopen_refusal(invoice):
                links.append((RefundKind.REOPEN, _("Rouvrir l’adhésion avec une nouvelle facture")))
            lines.append(
                format_html(
                    '<div class="refund-actions">{}</div>',
                    format_html_join(
                        " ",
                        '<a class="button" href="{}">{}</a>',
                        (
                            (
                                reverse("admin:members_invoice_refund", args=[invoice.pk, kind]),
                                label,
                            )
                            for kind, label in links
                        ),
                    ),
                )
            )
        return format_html_join("", "{}", ((line,) for line in lines))

    @admin.display(description=gettext_lazy("remboursements"))
    def refunds_display(self, invoice: Invoice) -> str:
        refunds = list(invoice.refunds.select_related("recorded_by").order_by("created_at", "pk"))
        if not refunds:
            return "–"
        rows = [
            (
                formatting.short_date(refund.refunded_on),
                refund.get_method_display(),
                formatting.money(refund.amount),
                format_html(
                    '<span class="refund-state refund-{}">{}</span>',
                    refund.state,
                    refund.get_state_display(),
                ),
                " · ".join(filter(None, (refund.reference, refund.provider_reference))) or "–",
                str(refund.recorded_by or _("Stripe")),
                refund.reason,
            )
            for refund in refunds
        ]
        head = format_html_join(
            "",
            '<th scope="col">{}</th>',
            (
                (label,)
                for label in (
                    _("Le"),
                    _("Moyen"),
                    _("Montant"),
                    _("État"),
                    _("Référence"),
                    _("Par"),
                    _("Motif"),
                )
            ),
        )
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 7 + "</tr>", rows)
        return format_html(
            '<table class="refunds"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
            head,
            body,
        )

    def get_object(self, request, object_id, from_field=None):
        invoice = super().get_object(request, object_id, from_field)
        # The invoice's page shows the ways to refund to those who may refund: staff of its
        # cluster with the right (the committee reads).
        invoice.may_refund = request.user.has_perm(
            "members.add_refund"
        ) and self.has_change_permission(request, invoice)
        return invoice

    @admin.display(description=gettext_lazy("corrections des paiements"))
    def payment_history(self, invoice: Invoice) -> str:
        changes = list(
            invoice.payment_changes.select_related("changed_by", "old_recorded_by").order_by(
                "changed_at", "pk"
            )
        )
        if not changes:
            return "–"

        def values(amount, received_on, method) -> str:
            return f"{formatting.money(amount)} · {formatting.short_date(received_on)} · " + str(
                PaymentMethod(method).label
            )

        rows = []
        for change in changes:
            was = values(change.old_amount, change.old_received_on, change.old_method)
            if change.old_reference:
                was += f" · {change.old_reference}"
            if change.kind == PaymentChangeKind.REMOVED:
                became = _("supprimé")
            else:
                became = values(change.new_amount, change.new_received_on, change.new_method)
                if change.new_reference:
                    became += f" · {change.new_reference}"
            rows.append(
                (
                    formatting.short_datetime(change.changed_at),
                    str(change.changed_by),
                    change.get_kind_display(),
                    was,
                    (
                        _("enregistré le %(when)s par %(who)s")
                        % {
                            "when": formatting.short_datetime(change.old_recorded_at),
                            "who": change.old_recorded_by,
                        }
                        if change.old_recorded_by
                        else _("enregistré le %(when)s")
                        % {"when": formatting.short_datetime(change.old_recorded_at)}
                    ),
                    became,
                    change.reason,
                )
            )
        head = format_html_join(
            "",
            '<th scope="col">{}</th>',
            (
                (label,)
                for label in (
                    _("Le"),
                    _("Par"),
                    _("Modification"),
                    _("Paiement enregistré"),
                    _("Devenu"),
                    _("Motif"),
                )
            ),
        )
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}<br><span class="help">{}</span></td>'
            "<td>{}</td><td>{}</td></tr>",
            rows,
        )
        return format_html(
            '<table class="payment-history"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
            head,
            body,
        )

    def may_issue_credit_note(self, request, invoice: Invoice) -> bool:
        """Whether the user may issue a credit note on ``invoice``: staff of its cluster (who may
        change it), with the permission to; the committee only reads."""
        return request.user.has_perm("members.add_creditnote") and self.has_change_permission(
            request, invoice
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "credit_note_url": (
                reverse("admin:members_invoice_credit_note", args=[invoice.pk])
                if not invoice.is_cancelled and self.may_issue_credit_note(request, invoice)
                else ""
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=gettext_lazy("annulation"))
    def cancelled_display(self, invoice: Invoice) -> str:
        if not invoice.is_cancelled:
            return "–"
        cancelling = invoice.credit_notes.order_by("-pk").first()
        return format_html(
            "<strong>{}</strong>",
            _("Annulée par l’avoir %(number)s du %(date)s.")
            % {"number": cancelling.number, "date": formatting.short_date(cancelling.issued_on)},
        )

    @admin.display(description=gettext_lazy("montant dû après avoirs"))
    def amount_due_display(self, invoice: Invoice) -> str:
        return formatting.money(invoice.amount_due)

    @admin.display(description=gettext_lazy("avoirs"))
    def credit_notes_display(self, invoice: Invoice) -> str:
        credit_notes = list(invoice.credit_notes.select_related("issued_by").order_by("pk"))
        if not credit_notes:
            return "–"
        head = format_html_join(
            "",
            '<th scope="col">{}</th>',
            (
                (label,)
                for label in (_("Numéro"), _("Émis le"), _("Montant"), _("Motif"), _("Par"), "")
            ),
        )
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td><a href="{}">PDF</a></td></tr>',
            (
                (
                    reverse("admin:members_creditnote_change", args=[credit_note.pk]),
                    credit_note.number,
                    formatting.short_date(credit_note.issued_on),
                    formatting.money(credit_note.amount),
                    credit_note.reason,
                    credit_note.issued_by or credit_note.get_origin_display(),
                    reverse("admin:members_creditnote_pdf", args=[credit_note.pk]),
                )
                for credit_note in credit_notes
            ),
        )
        return format_html(
            '<table class="credit-notes"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
            head,
            body,
        )

    @admin.display(description=gettext_lazy("statut"))
    def status(self, invoice: Invoice) -> str:
        return InvoiceStatus(invoice.status).label

    @admin.display(description=gettext_lazy("PDF"))
    def pdf_link(self, invoice: Invoice) -> str:
        url = reverse("admin:members_invoice_pdf", args=[invoice.pk])
        return format_html(
            '<a href="{}" aria-label="{}">PDF</a>',
            url,
            _("Télécharger la facture %(number)s") % {"number": invoice.number},
        )

    @admin.display(description=gettext_lazy("documents"))
    def document_links(self, invoice: Invoice) -> str:
        links = [(reverse("admin:members_invoice_pdf", args=[invoice.pk]), _("Facture (PDF)"))]
        if invoice.is_paid and not invoice.is_cancelled:
            links.append(
                (
                    reverse("admin:members_invoice_certificate", args=[invoice.pk]),
                    _("Attestation d’adhésion (PDF)"),
                )
            )
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description=gettext_lazy("période d’adhésion"))
    def term_link(self, invoice: Invoice) -> str:
        term = invoice.term
        url = reverse("admin:members_membership_change", args=[term.membership_id])
        return format_html('<a href="{}">{} · {}</a>', url, term.membership, term)

    @admin.display(description=gettext_lazy("mentions de l’émetteur"))
    def issuer(self, invoice: Invoice) -> str:
        details = invoice.issuer_details
        return _details_lines(
            [
                ("", details.get("name")),
                (_("SIREN"), details.get("siren")),
                ("", details.get("address")),
                (_("E-mail"), details.get("email")),
                (_("Mention de TVA"), details.get("vat_mention")),
                (_("IBAN"), formatting.iban(details.get("iban", ""))),
                (_("BIC"), details.get("bic")),
                *(("", mention) for mention in documents.late_payment_mentions(details)),
            ]
        )

    @admin.display(description=gettext_lazy("coordonnées du client"))
    def customer_block(self, invoice: Invoice) -> str:
        details = invoice.customer_details
        town = " ".join(filter(None, (details.get("postcode"), details.get("city"))))
        return _details_lines(
            [
                ("", details.get("name")),
                (_("SIRET"), details.get("siret")),
                ("", details.get("address_line1")),
                ("", details.get("address_line2")),
                ("", town),
                (_("N° d’adhérent"), details.get("member_number")),
            ]
        )

    # --- Views: the PDFs, and issuing a term's invoice ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/pdf/", view(self.pdf_view), name="members_invoice_pdf"),
            path(
                "<path:object_id>/attestation/",
                view(self.certificate_view),
                name="members_invoice_certificate",
            ),
            path("emettre/<int:term_id>/", view(self.issue_view), name="members_invoice_issue"),
            path(
                "export-comptable/",
                view(self.accounting_export_view),
                name="members_invoice_accounting_export",
            ),
            path(
                "<path:object_id>/avoir/",
                view(self.credit_note_view),
                name="members_invoice_credit_note",
            ),
            path(
                "<path:object_id>/paiements/<int:payment_id>/",
                view(self.payment_change_view),
                name="members_invoice_payment",
            ),
            path(
                "<path:object_id>/rembourser/<str:kind>/",
                view(self.refund_view),
                name="members_invoice_refund",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "accounting_export": clusters_managed_by(request.user).exists(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def accounting_export_view(self, request):
        return accounting_export_view(self, request)

    def payment_change_view(self, request, object_id: str, payment_id: int):
        """Correct or remove a payment of an invoice of the user's clusters, with a reason;
        another invoice's payment, or another cluster's invoice, is not found (404)."""
        invoice = self.get_object(request, unquote(object_id))
        if invoice is None:
            raise Http404
        if not (
            self.has_change_permission(request, invoice)
            and request.user.has_perm("members.change_payment")
            and request.user.has_perm("members.delete_payment")
        ):
            raise PermissionDenied
        invoice_url = reverse("admin:members_invoice_change", args=[invoice.pk])
        payment = invoice.payments.select_related("recorded_by").filter(pk=payment_id).first()
        if payment is None and not invoice.payment_changes.filter(payment_key=payment_id).exists():
            raise Http404
        if payment is None and request.method != "POST":
            # Removed: the invoice's history says by whom, when and why.
            return HttpResponseRedirect(invoice_url)
        form = PaymentChangeForm(request.POST or None, initial=_payment_initial(payment))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["remove"]:
                    change = invoice_payment_remove(
                        invoice=invoice,
                        payment_key=payment_id,
                        version=data["version"],
                        reason=data["reason"],
                        changed_by=request.user,
                    )
                else:
                    change = invoice_payment_correct(
                        invoice=invoice,
                        payment_key=payment_id,
                        version=data["version"],
                        amount=data["amount"],
                        received_on=data["received_on"],
                        method=data["method"],
                        reference=data["reference"],
                        reason=data["reason"],
                        changed_by=request.user,
                    )
            except ValidationError as refusal:
                code = getattr(refusal, "code", None)
                if code in ("payment_changed", "payment_removed"):
                    # Changed by someone else (or by a first click) since the page was opened:
                    # nothing was done; the page shows the payment as it is now.
                    messages.error(request, " ".join(refusal.messages))
                    if code == "payment_removed":
                        return HttpResponseRedirect(invoice_url)
                    return HttpResponseRedirect(request.path)
                _form_refusal(form, refusal)
            else:
                # The invoice's history (Django's) names the payment; what it was, what it
                # became and why are in the invoice's page (PaymentChange).
                entry = {"name": str(Payment._meta.verbose_name), "object": str(change)}
                if change.kind == PaymentChangeKind.REMOVED:
                    self.log_change(request, invoice, [{"deleted": entry}])
                else:
                    entry["fields"] = [
                        str(Payment._meta.get_field(name).verbose_name)
                        for name in ("amount", "received_on", "method", "reference")
                        if getattr(change, f"old_{name}") != getattr(change, f"new_{name}")
                    ]
                    self.log_change(request, invoice, [{"changed": entry}])
                messages.success(
                    request,
                    (
                        _("Paiement supprimé, motif conservé dans l’historique de la facture.")
                        if change.kind == PaymentChangeKind.REMOVED
                        else _("Paiement corrigé, motif conservé dans l’historique de la facture.")
                    ),
                )
                self._payments_message(request, invoice)
                return HttpResponseRedirect(invoice_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "invoice": invoice,
            "invoice_url": invoice_url,
            "payment": payment,
            "refusal": payment_correction_refusal(payment) if payment else "",
            "form": form,
            "media": self.media + form.media,
            "title": _("Corriger ou supprimer un paiement"),
        }
        return TemplateResponse(request, "admin/members/invoice/payment_change.html", context)

    def credit_note_view(self, request, object_id: str):
        """Issue a credit note on an invoice of the user's clusters, with a reason: for part of
        what is still invoiced, or all of it, then cancelling its term or invoicing it again at
        a corrected fee. Another cluster's invoice is not found (404); the committee, who reads
        every cluster's, may not issue (403). A second submission of the page (a double click,
        a second tab) issues nothing and says what was issued meanwhile."""
        invoice = self.get_object(request, unquote(object_id))
        if not self.may_issue_credit_note(request, invoice):
            raise PermissionDenied
        invoice_url = reverse("admin:members_invoice_change", args=[invoice.pk])
        if invoice.is_cancelled:
            messages.error(
                request,
                _("La facture %(number)s est déjà annulée : aucun avoir n’a été émis.")
                % {"number": invoice.number},
            )
            return HttpResponseRedirect(invoice_url)
        remaining = invoice.amount_due
        form = CreditNoteForm(
            request.POST or None,
            remaining=remaining,
            initial={"amount": remaining, "version": credit_note_version(invoice=invoice)},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            issue = {
                "invoice": invoice,
                "reason": data["reason"],
                "issued_by": request.user,
                "version": data["version"],
            }
            try:
                if data["outcome"] == CreditNoteForm.REINVOICE:
                    credit_note, reissued = credit_note_issue_and_reinvoice(
                        **issue, fee=data["fee"]
                    )
                else:
                    credit_note = credit_note_issue(**issue, amount=data["amount"])
                    reissued = None
            except ValidationError as refusal:
                if getattr(refusal, "code", None) in ("credit_note_changed", "invoice_cancelled"):
                    messages.error(request, " ".join(refusal.messages))
                    return HttpResponseRedirect(invoice_url)
                _form_refusal(form, refusal)
            else:
                self.log_change(
                    request,
                    invoice,
                    [
                        {
                            "added": {
                                "name": str(CreditNote._meta.verbose_name),
                                "object": str(credit_note),
                            }
                        }
                    ],
                )
                messages.success(
                    request,
                    _("Avoir %(number)s de %(amount)s émis ; il part par e-mail aux contacts.")
                    % {
                        "number": credit_note.number,
                        "amount": formatting.money(credit_note.amount),
                    },
                )
                if reissued is not None:
                    self.log_addition(request, reissued, [{"added": {}}])
                    messages.success(
                        request,
                        _("Période refacturée : facture %(number)s de %(amount)s émise.")
                        % {
                            "number": reissued.number,
                            "amount": formatting.money(reissued.amount),
                        },
                    )
                    return HttpResponseRedirect(
                        reverse("admin:members_invoice_change", args=[reissued.pk])
                    )
                return HttpResponseRedirect(invoice_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "invoice": invoice,
            "invoice_url": invoice_url,
            "remaining": remaining,
            "form": form,
            "media": self.media + form.media,
            "title": _("Émettre un avoir"),
        }
        return TemplateResponse(request, "admin/members/invoice/credit_note.html", context)

    def refund_view(self, request, object_id: str, kind: str):
        """Confirm, with a reason, a refund of what was over-paid on an invoice of the user's
        clusters: by card (Stripe's Refund API), by transfer, carried over to another invoice
        of the organisation, or the cancelled membership re-opened with a new invoice. Another
        cluster's invoice is not found (404); a user who may only read it is refused (403)."""
        if kind not in RefundKind.ALL:
            raise Http404
        invoice = self.get_object(request, unquote(object_id))
        if not invoice.may_refund:
            raise PermissionDenied
        invoice_url = reverse("admin:members_invoice_change", args=[invoice.pk])
        now = invoice_with_refunds(invoice=invoice)
        refusal = ""
        if now.refund_left <= 0:
            refusal = _("Il ne reste rien à rembourser sur cette facture.")
        elif kind == RefundKind.CARD and not (
            StripeCheckout.is_configured() and card_refund_payment(invoice=invoice)
        ):
            refusal = _("Aucun paiement par carte de cette facture ne peut être remboursé.")
        elif kind == RefundKind.REOPEN:
            refusal = membership_reopen_refusal(invoice)
        elif kind == RefundKind.CARRY_OVER and not invoices_to_carry_over_to(invoice=invoice):
            refusal = _("Aucune autre facture de cet adhérent n’est à régler.")
        left = now.refund_left
        if kind == RefundKind.CARD and not refusal:
            left = min(left, max(p.refundable for p in card_payments_refundable(invoice=invoice)))
        initial = {
            "amount": left,
            "version": refund_version(invoice=invoice),
            "refunded_on": timezone.localdate(),
        }
        form = refund_form(
            kind,
            request.POST if request.method == "POST" else None,
            invoice=invoice,
            initial=initial,
        )
        if request.method == "POST" and not refusal and form.is_valid():
            done = self._refund_do(request, kind, invoice, form)
            if done:
                return HttpResponseRedirect(done)
        titles = {
            RefundKind.CARD: _("Rembourser par carte"),
            RefundKind.TRANSFER: _("Enregistrer un remboursement par virement"),
            RefundKind.CARRY_OVER: _("Reporter sur une autre facture"),
            RefundKind.REOPEN: _("Rouvrir l’adhésion avec une nouvelle facture"),
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "invoice": invoice,
            "invoice_url": invoice_url,
            "kind": kind,
            "balance": now,
            "refusal": refusal,
            "form": form,
            "media": self.media + form.media,
            "title": titles[kind],
        }
        return TemplateResponse(request, "admin/members/invoice/refund_confirm.html", context)

    def _refund_do(self, request, kind: str, invoice: Invoice, form: RefundForm) -> str | None:
        """Make the refund ``kind`` confirmed in ``form``; the URL to go to, or ``None`` (the
        form then says why not)."""
        data = form.cleaned_data
        common = {"invoice": invoice, "reason": data["reason"], "version": data["version"]}
        invoice_url = reverse("admin:members_invoice_change", args=[invoice.pk])
        try:
            if kind == RefundKind.CARD:
                refund = invoice_refund_card(
                    **common, amount=data["amount"], recorded_by=request.user
                )
                done = _(
                    "Remboursement de %(amount)s demandé à Stripe : en cours jusqu’à sa "
                    "confirmation."
                )
            elif kind == RefundKind.TRANSFER:
                refund = invoice_refund_record(
                    **common,
                    amount=data["amount"],
                    refunded_on=data["refunded_on"],
                    reference=data["reference"],
                    recorded_by=request.user,
                )
                done = _("Remboursement de %(amount)s par virement enregistré.")
            elif kind == RefundKind.CARRY_OVER:
                target = Invoice.objects.filter(pk=data["to_invoice"]).first()
                if target is None:
                    form.add_error("to_invoice", _("Cette facture n’existe plus."))
                    return None
                refund, _payment = invoice_payment_carry_over(
                    from_invoice=invoice,
                    to_invoice=target,
                    amount=data["amount"],
                    reason=data["reason"],
                    by=request.user,
                    version=data["version"],
                )
                done = _("%(amount)s reportés sur la facture %(number)s.")
            else:
                new_invoice = membership_reopen(**common, by=request.user)
                self.log_addition(request, new_invoice, [{"added": {}}])
                messages.success(
                    request,
                    _("Adhésion rouverte : facture %(number)s émise et réglée par report.")
                    % {"number": new_invoice.number},
                )
                return reverse("admin:members_invoice_change", args=[new_invoice.pk])
        except stripe.StripeError as exc:
            form.add_error(
                None,
                _("Stripe a refusé le remboursement, rien n’a été remboursé : %(error)s")
                % {"error": exc.user_message or exc.__class__.__name__},
            )
            return None
        except ValidationError as refusal:
            if getattr(refusal, "code", None) == "refund_changed":
                messages.error(request, " ".join(refusal.messages))
                return request.path
            _form_refusal(form, refusal)
            return None
        self.log_change(
            request,
            invoice,
            [{"added": {"name": str(refund._meta.verbose_name), "object": str(refund)}}],
        )
        messages.success(
            request,
            done
            % {
                "amount": formatting.money(refund.amount),
                "number": refund.reference,
            },
        )
        return invoice_url

    def _viewable(self, request, object_id: str) -> Invoice:
        invoice = self.get_object(request, unquote(object_id))
        if not self.has_view_or_change_permission(request, invoice):
            raise PermissionDenied
        return invoice

    def pdf_view(self, request, object_id: str):
        invoice = self._viewable(request, object_id)
        return pdf_response(
            documents.invoice_pdf(invoice), filename=documents.invoice_filename(invoice)
        )

    def certificate_view(self, request, object_id: str):
        term = self._viewable(request, object_id).term
        try:
            content = documents.certificate_pdf(term)
        except ValidationError:  # an unpaid term
            raise PermissionDenied from None
        return pdf_response(content, filename=documents.certificate_filename(term))

    def issue_view(self, request, term_id: int):
        """Confirm, then issue the invoice of an unpaid term of a cluster the user manages, and
        e-mail it to the organisation's contacts if asked."""
        term_admin = self.admin_site.get_model_admin(Term)
        term = term_admin.get_object(request, str(term_id))
        if not (
            request.user.has_perm("members.add_invoice")
            and term_admin.has_change_permission(request, term)
        ):
            raise PermissionDenied
        try:
            existing = invoice_issue_check(term=term)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(
                reverse("admin:members_membership_change", args=[term.membership_id])
            )
        if existing is not None:
            return HttpResponseRedirect(reverse("admin:members_invoice_change", args=[existing.pk]))
        if request.method == "POST":
            invoice = invoice_issue(term=term)
            if request.POST.get("notify"):
                invoice_notice_send.delay_on_commit(invoice.pk)
            self.log_addition(request, invoice, [{"added": {}}])
            messages.success(request, _("Facture %(number)s émise.") % {"number": invoice.number})
            return HttpResponseRedirect(reverse("admin:members_invoice_change", args=[invoice.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "term": term,
            "membership": term.membership,
            "fee": formatting.money(term.fee),
            "title": _("Émettre la facture"),
        }
        return TemplateResponse(request, "admin/members/invoice/issue_confirm.html", context)


def _payment_initial(payment: Payment | None) -> dict:
    if payment is None:
        return {}
    return {
        "amount": payment.amount,
        "received_on": payment.received_on,
        "method": payment.method,
        "reference": payment.reference,
        "version": payment_version(payment_key=payment.pk),
    }


def _form_refusal(form: forms.Form, refusal: ValidationError) -> None:
    """Put a service's refusal on ``form``: on its field when it names one of the form's."""
    if hasattr(refusal, "error_dict"):
        for name, errors in refusal.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, refusal.messages)


def _details_lines(rows: list[tuple[str, str | None]]) -> str:
    """The non-blank ``rows`` (label, value), one per line, labelled when a label is given."""
    lines = []
    for label, value in rows:
        for line in (value or "").splitlines():
            if line.strip():
                lines.append((label, line.strip()))
                label = ""
    return format_html_join(
        "",
        "<div>{}{}</div>",
        ((format_html(_("{} : "), label) if label else "", line) for label, line in lines),
    )


class PaymentAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """Every payment recorded, to reconcile with the bank's statements; read-only (payments are
    recorded from their invoice's page)."""

    cluster_lookup = "invoice__cluster"
    list_display = (
        "received_on",
        "invoice_link",
        "customer",
        "amount_display",
        "method",
        "reference",
        "provider_reference",
        "recorded_by",
        "created_at",
    )
    list_filter = (
        ("invoice__cluster", ClusterScopedRelatedFilter),
        "method",
        "received_on",
    )
    list_select_related = ("invoice", "recorded_by")
    search_fields = ("invoice__number", "reference", "provider_reference")
    search_help_text = gettext_lazy("Numéro de facture, référence du virement ou du prestataire.")
    show_full_result_count = False
    ordering = ("-received_on", "-pk")
    date_hierarchy = "received_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("facture"), ordering="invoice__number")
    def invoice_link(self, payment: Payment) -> str:
        url = reverse("admin:members_invoice_change", args=[payment.invoice_id])
        return format_html('<a href="{}">{}</a>', url, payment.invoice.number)

    @admin.display(description=gettext_lazy("client"))
    def customer(self, payment: Payment) -> str:
        return payment.invoice.customer_details.get("name", "")

    @admin.display(description=gettext_lazy("montant"), ordering="amount")
    def amount_display(self, payment: Payment) -> str:
        return formatting.money(payment.amount)


class CreditNoteAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """The credit notes issued, read-only: a credit note is issued from its invoice's page (or
    by the command line, or on its own by an expiry or a merger) and never changes."""

    list_display = (
        "number",
        "invoice_link",
        "organisation",
        "amount_display",
        "issued_on",
        "origin",
        "pdf_link",
    )
    list_filter = (("cluster", ClusterScopedRelatedFilter), "year", "origin", "term_cancelled")
    list_select_related = ("invoice", "cluster")
    search_fields = ("number", "invoice__number", "customer_details__name")
    search_help_text = gettext_lazy("Numéro de l’avoir ou de la facture, raison sociale.")
    show_full_result_count = False
    fields = (
        "number",
        "cluster",
        "invoice_link",
        "issued_on",
        "amount_display",
        "description",
        "reason",
        "origin",
        "term_cancelled",
        "issued_by",
        "notice_sent_at",
        "pdf_link",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("facture"), ordering="invoice__number")
    def invoice_link(self, credit_note: CreditNote) -> str:
        url = reverse("admin:members_invoice_change", args=[credit_note.invoice_id])
        return format_html('<a href="{}">{}</a>', url, credit_note.invoice.number)

    @admin.display(description=gettext_lazy("organisation"))
    def organisation(self, credit_note: CreditNote) -> str:
        return credit_note.customer_details.get("name", "")

    @admin.display(description=gettext_lazy("montant"), ordering="amount")
    def amount_display(self, credit_note: CreditNote) -> str:
        return formatting.money(credit_note.amount)

    @admin.display(description=gettext_lazy("PDF"))
    def pdf_link(self, credit_note: CreditNote) -> str:
        url = reverse("admin:members_creditnote_pdf", args=[credit_note.pk])
        return format_html(
            '<a href="{}" aria-label="{}">PDF</a>',
            url,
            _("Télécharger l’avoir %(number)s") % {"number": credit_note.number},
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="members_creditnote_pdf",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id: str):
        credit_note = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, credit_note):
            raise PermissionDenied
        return pdf_response(
            documents.credit_note_pdf(credit_note),
            filename=documents.credit_note_filename(credit_note),
        )


class RefundAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """Every refund, to reconcile with the bank's statements and Stripe's; read-only (refunds
    are made from their invoice's page)."""

    cluster_lookup = "invoice__cluster"
    list_display = (
        "refunded_on",
        "invoice_link",
        "customer",
        "amount_display",
        "method",
        "state",
        "reference",
        "provider_reference",
        "recorded_by",
    )
    list_filter = (
        ("invoice__cluster", ClusterScopedRelatedFilter),
        "state",
        "method",
        "refunded_on",
    )
    list_select_related = ("invoice", "recorded_by")
    search_fields = ("invoice__number", "reference", "provider_reference")
    search_help_text = gettext_lazy("Numéro de facture, référence du virement ou du prestataire.")
    show_full_result_count = False
    ordering = ("-refunded_on", "-pk")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("facture"), ordering="invoice__number")
    def invoice_link(self, refund: Refund) -> str:
        url = reverse("admin:members_invoice_change", args=[refund.invoice_id])
        return format_html('<a href="{}">{}</a>', url, refund.invoice.number)

    @admin.display(description=gettext_lazy("client"))
    def customer(self, refund: Refund) -> str:
        return refund.invoice.customer_details.get("name", "")

    @admin.display(description=gettext_lazy("montant"), ordering="amount")
    def amount_display(self, refund: Refund) -> str:
        return formatting.money(refund.amount)


admin.site.register(Invoice, InvoiceAdmin)
admin.site.register(CreditNote, CreditNoteAdmin)
admin.site.register(Payment, PaymentAdmin)
admin.site.register(Refund, RefundAdmin)
