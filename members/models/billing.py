"""Billing: invoices (one per term, numbered without gap per issuing cluster and year) and the
payments that settle them (bank transfers recorded by staff, card payments through a provider)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.formatting import money, short_date

from .clusters import Cluster
from .memberships import Term


class InvoiceSequence(models.Model):
    """The last invoice number given by a cluster in a year.

    :func:`members.services.billing.invoice_issue` locks this row (``SELECT … FOR UPDATE``) and
    increments it in the transaction that creates the invoice: a rolled-back renewal gives its
    number back, and two concurrent renewals wait for each other, so numbers have no gap and no
    repeat.
    """

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField(_("année"))
    last_sequence = models.PositiveIntegerField(_("dernier numéro"), default=0)

    class Meta:
        verbose_name = _("séquence de factures")
        verbose_name_plural = _("séquences de factures")
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "year"], name="invoicesequence_unique_per_cluster_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.year}: {self.last_sequence}"


class Invoice(models.Model):
    """The invoice of one term, issued by the term's cluster.

    An invoice is a legal document: what it prints (issuer, customer, plan, period, amount, legal
    mentions, late-payment mentions included) is copied here when it is issued and never changes
    afterwards, whatever happens to the cluster's or the organisation's details. It is written
    in ``language``, the member's at issuance (:func:`members.selectors.invoice_language`): its
    description, and its PDF wherever it is read (the member area, the admin, the e-mails to
    each contact); its credit notes follow it. Its number is ``<prefix>-<year>-<sequence>``,
    e.g. ``DP-2027-00042``. It is paid once its payments add up to its amount; then its term is
    paid too.
    """

    cluster = models.ForeignKey(
        Cluster,
        verbose_name=_("émetteur"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    term = models.OneToOneField(
        Term, verbose_name=_("période d’adhésion"), on_delete=models.PROTECT, related_name="invoice"
    )
    number = models.CharField(_("numéro"), max_length=32, unique=True)
    year = models.PositiveSmallIntegerField(_("année"))
    sequence = models.PositiveIntegerField(_("rang dans l’année"))
    issued_on = models.DateField(_("émise le"))
    due_on = models.DateField(_("échéance"))
    amount = models.DecimalField(_("montant (€)"), max_digits=12, decimal_places=2)
    description = models.CharField(_("désignation"), max_length=300)
    language = models.CharField(
        _("langue"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="fr",
        help_text=_(
            "Langue dans laquelle la facture est rédigée : celle du contact principal de "
            "l’organisation quand elle a été émise."
        ),
    )
    issuer_details = models.JSONField(
        _("mentions de l’émetteur"),
        help_text=_("Raison sociale, SIREN, adresse, mention de TVA et coordonnées bancaires."),
    )
    customer_details = models.JSONField(
        _("coordonnées du client"), help_text=_("Raison sociale, SIRET et adresse.")
    )
    paid_on = models.DateField(_("payée le"), null=True, blank=True)
    cancelled_on = models.DateField(
        _("annulée le"),
        null=True,
        blank=True,
        help_text=_("Date de l’avoir qui a annulé toute la facture."),
    )
    notice_sent_at = models.DateTimeField(
        _("envoyée le"),
        null=True,
        blank=True,
        help_text=_("Date de l’e-mail qui a envoyé la facture aux contacts de l’organisation."),
    )
    confirmation_sent_at = models.DateTimeField(
        _("confirmation envoyée le"),
        null=True,
        blank=True,
        help_text=_("Date de l’e-mail de confirmation de paiement, avec l’attestation."),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("facture")
        verbose_name_plural = _("factures")
        ordering = ["-issued_on", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "year", "sequence"], name="invoice_unique_sequence"
            ),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="invoice_sequence_1"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="invoice_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_paid(self) -> bool:
        return self.paid_on is not None

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_on is not None


class InvoiceStatus(models.TextChoices):
    """Where an invoice stands, from its payments: the ``status`` annotation of
    :func:`members.selectors.invoices_with_balance`. Each invoice has one: an over-paid invoice is
    paid, and shown as over-paid, its amount to refund."""

    DUE = "due", _("À payer")
    PARTIAL = "partial", _("Partiellement payée")
    PAID = "paid", _("Payée")
    OVERPAID = "overpaid", _("Trop-perçu")
    CANCELLED = "cancelled", _("Annulée")


class PaymentMethod(models.TextChoices):
    TRANSFER = "transfer", _("Virement")
    CARD = "card", _("Carte bancaire")
    CHEQUE = "cheque", _("Chèque")
    OTHER = "other", _("Autre")
    #: Money paid on one invoice carried over to another of the same organisation: a refund of
    #: the first (its reference, the second's number) and a payment of the second.
    CARRYOVER = "carryover", _("Report")


class Payment(models.Model):
    """Money received for an invoice. Partial payments add up; a payment known to a provider
    (a Stripe Checkout session) is recorded once, whatever the number of notifications."""

    invoice = models.ForeignKey(
        Invoice, verbose_name=_("facture"), on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(_("montant (€)"), max_digits=12, decimal_places=2)
    received_on = models.DateField(_("reçu le"))
    method = models.CharField(
        _("moyen de paiement"),
        max_length=10,
        choices=PaymentMethod.choices,
        default=PaymentMethod.TRANSFER,
    )
    reference = models.CharField(
        _("référence"),
        max_length=200,
        blank=True,
        help_text=_("Libellé du virement, numéro du chèque…"),
    )
    provider_reference = models.CharField(
        _("référence du prestataire"),
        max_length=255,
        blank=True,
        help_text=_("Identifiant du paiement chez le prestataire (session Stripe Checkout)."),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistré par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("enregistré le"), auto_now_add=True)

    class Meta:
        verbose_name = _("paiement")
        verbose_name_plural = _("paiements")
        ordering = ["invoice", "received_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=Decimal("0")), name="payment_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["provider_reference"],
                condition=~models.Q(provider_reference=""),
                name="payment_unique_provider_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{money(self.amount)} · {self.invoice}"

    def clean(self) -> None:
        if self.received_on and self.received_on > timezone.localdate():
            raise ValidationError(
                {"received_on": _("Un paiement ne peut pas être reçu dans le futur.")}
            )


class CheckoutStatus(models.TextChoices):
    """Where a card payment page stands at the provider (Stripe's own statuses)."""

    OPEN = "open", _("ouverte")
    COMPLETE = "complete", _("terminée")
    EXPIRED = "expired", _("expirée")


class CheckoutSession(models.Model):
    """A card payment page opened for an invoice at the payment provider (a Stripe Checkout
    Session), as we last knew it.

    While one is open, paying the invoice by card again sends the member back to it instead of
    opening another, which could be paid too: at most one per invoice is open (a constraint), and
    it is opened under a row lock of the invoice
    (:meth:`members.payments.StripeCheckout.checkout_start`), so that two tabs or a double click
    open one. One that asks for another amount than what is left to pay, or is about to expire,
    is expired at the provider before another is opened. It is ``complete`` once its payment is
    recorded (:func:`members.services.billing.invoice_payment_record`).
    """

    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("facture"),
        on_delete=models.PROTECT,
        related_name="checkout_sessions",
    )
    provider_reference = models.CharField(
        _("référence du prestataire"),
        max_length=255,
        unique=True,
        help_text=_("Identifiant de la session Stripe Checkout."),
    )
    # The session is found only on the Stripe account it was made on (the cluster's, when it has
    # one); the cluster may connect its account later.
    account = models.CharField(_("compte Stripe"), max_length=255, blank=True)
    amount = models.DecimalField(_("montant (€)"), max_digits=12, decimal_places=2)
    url = models.URLField(_("adresse de la page de paiement"), max_length=2000)
    status = models.CharField(
        _("statut"), max_length=10, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN
    )
    expires_at = models.DateTimeField(_("expire le"))
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("session de paiement par carte")
        verbose_name_plural = _("sessions de paiement par carte")
        ordering = ["invoice", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=models.Q(status="open"),
                name="checkoutsession_one_open_per_invoice",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=Decimal("0")), name="checkoutsession_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_reference} · {self.invoice}"


class PaymentChangeKind(models.TextChoices):
    CORRECTED = "corrected", _("Corrigé")
    REMOVED = "removed", _("Supprimé")


class PaymentChange(models.Model):
    """A payment corrected or removed by staff, and why: the invoice's history of its payments.

    A payment recorded by mistake or with a wrong amount, date, method or reference is changed
    through :func:`members.services.billing.invoice_payment_correct` or removed through
    :func:`members.services.billing.invoice_payment_remove`, never silently: each change keeps
    what the payment was (``old_…``), what it became (``new_…``, blank when it was removed), who
    changed it, when and why. ``payment_key`` is the payment's id, kept when the payment is
    removed; the changes of one payment, counted, are its version (what a correction page was
    opened on).
    """

    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("facture"),
        on_delete=models.PROTECT,
        related_name="payment_changes",
    )
    payment_key = models.PositiveBigIntegerField(_("n° du paiement"), db_index=True)
    kind = models.CharField(_("modification"), max_length=10, choices=PaymentChangeKind.choices)
    old_amount = models.DecimalField(_("montant enregistré (€)"), max_digits=12, decimal_places=2)
    old_received_on = models.DateField(_("reçu le (enregistré)"))
    old_method = models.CharField(
        _("moyen de paiement (enregistré)"), max_length=10, choices=PaymentMethod.choices
    )
    old_reference = models.CharField(_("référence (enregistrée)"), max_length=200, blank=True)
    old_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistré par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    old_recorded_at = models.DateTimeField(_("enregistré le"))
    new_amount = models.DecimalField(
        _("montant corrigé (€)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    new_received_on = models.DateField(_("reçu le (corrigé)"), null=True, blank=True)
    new_method = models.CharField(
        _("moyen de paiement (corrigé)"),
        max_length=10,
        choices=PaymentMethod.choices,
        blank=True,
    )
    new_reference = models.CharField(_("référence (corrigée)"), max_length=200, blank=True)
    reason = models.TextField(_("motif"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("modifié par"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    changed_at = models.DateTimeField(_("modifié le"), auto_now_add=True)

    class Meta:
        verbose_name = _("correction de paiement")
        verbose_name_plural = _("corrections de paiements")
        ordering = ["invoice", "changed_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="paymentchange_reason_required"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind="corrected",
                        new_amount__gt=Decimal("0"),
                        new_received_on__isnull=False,
                    )
                    & ~models.Q(new_method="")
                )
                | models.Q(
                    kind="removed",
                    new_amount__isnull=True,
                    new_received_on__isnull=True,
                    new_method="",
                    new_reference="",
                ),
                name="paymentchange_new_values_by_kind",
            ),
        ]

    def __str__(self) -> str:
        # The payment as it was recorded.
        return f"{money(self.old_amount)} · {short_date(self.old_received_on)}"


class CreditNoteSequence(models.Model):
    """The last credit note number given by a cluster in a year: a series of its own, apart from
    the invoices' (:class:`InvoiceSequence`), locked and incremented in the transaction that
    creates the credit note, so that numbers have no gap and no repeat."""

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField(_("année"))
    last_sequence = models.PositiveIntegerField(_("dernier numéro"), default=0)

    class Meta:
        verbose_name = _("séquence d’avoirs")
        verbose_name_plural = _("séquences d’avoirs")
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "year"], name="creditnotesequence_unique_per_cluster_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.year}: {self.last_sequence}"


class CreditNoteOrigin(models.TextChoices):
    """Why a credit note was issued: by staff (a cancellation or a correction), or on its own
    (an unpaid renewal expired, a merger's credit of days paid twice)."""

    STAFF = "staff", _("Émis par le personnel")
    EXPIRY = "expiry", _("Renouvellement impayé expiré")
    MERGER = "merger", _("Fusion")


class CreditNote(models.Model):
    """A credit note (avoir): the only way an issued invoice is cancelled or reduced.

    Issued by the invoice's cluster, numbered in a gapless series of its own per cluster and year
    (``<prefix>-AV-<year>-<sequence>``, e.g. ``DP-AV-2027-00003``), it refers to the invoice, says
    why, and freezes its legal mentions as an invoice does. The credit notes of an invoice add up
    to at most its amount; when they reach it the invoice is cancelled (``Invoice.cancelled_on``)
    and, if ``term_cancelled``, so is the term it billed (``Term.cancelled_on``).
    """

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("émetteur"), on_delete=models.PROTECT, related_name="credit_notes"
    )
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("facture"),
        on_delete=models.PROTECT,
        related_name="credit_notes",
    )
    number = models.CharField(_("numéro"), max_length=32, unique=True)
    year = models.PositiveSmallIntegerField(_("année"))
    sequence = models.PositiveIntegerField(_("rang dans l’année"))
    issued_on = models.DateField(_("émis le"))
    amount = models.DecimalField(_("montant (€)"), max_digits=12, decimal_places=2)
    reason = models.TextField(_("motif"))
    description = models.CharField(_("désignation"), max_length=300)
    origin = models.CharField(
        _("origine"),
        max_length=10,
        choices=CreditNoteOrigin.choices,
        default=CreditNoteOrigin.STAFF,
    )
    term_cancelled = models.BooleanField(
        _("période annulée"),
        default=False,
        help_text=_("La période d’adhésion facturée a été annulée par cet avoir."),
    )
    language = models.CharField(_("langue"), max_length=10, default="fr")
    issuer_details = models.JSONField(_("mentions de l’émetteur"))
    customer_details = models.JSONField(_("coordonnées du client"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("émis par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Vide pour un avoir émis automatiquement."),
    )
    notice_sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("avoir")
        verbose_name_plural = _("avoirs")
        ordering = ["-issued_on", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "year", "sequence"], name="creditnote_unique_sequence"
            ),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="creditnote_sequence_1"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="creditnote_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="creditnote_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class RefundState(models.TextChoices):
    """Where a refund stands: a transfer recorded by staff is done; a card refund asked of the
    payment provider is pending until its notification says it succeeded or failed."""

    PENDING = "pending", _("En cours")
    SUCCEEDED = "succeeded", _("Remboursé")
    FAILED = "failed", _("Échec")


class Refund(models.Model):
    """Money given back to a member for an invoice: what was paid beyond what is due, or paid on
    an invoice since cancelled. By card through the payment provider (``provider_reference``,
    its refund's id: recorded once, whatever the number of notifications), or by transfer,
    recorded by staff. Only a succeeded refund counts in the invoice's balance."""

    invoice = models.ForeignKey(
        Invoice, verbose_name=_("facture"), on_delete=models.PROTECT, related_name="refunds"
    )
    payment = models.ForeignKey(
        Payment,
        verbose_name=_("paiement remboursé"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text=_("Le paiement par carte remboursé chez le prestataire."),
    )
    amount = models.DecimalField(_("montant (€)"), max_digits=12, decimal_places=2)
    refunded_on = models.DateField(_("remboursé le"))
    method = models.CharField(
        _("moyen de remboursement"),
        max_length=10,
        choices=PaymentMethod.choices,
        default=PaymentMethod.TRANSFER,
    )
    state = models.CharField(
        _("état"), max_length=10, choices=RefundState.choices, default=RefundState.SUCCEEDED
    )
    reference = models.CharField(_("référence"), max_length=200, blank=True)
    provider_reference = models.CharField(
        _("référence du prestataire"),
        max_length=255,
        blank=True,
        help_text=_("Identifiant du remboursement chez le prestataire (Stripe « re_… »)."),
    )
    reason = models.TextField(_("motif"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistré par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("enregistré le"), auto_now_add=True)

    class Meta:
        verbose_name = _("remboursement")
        verbose_name_plural = _("remboursements")
        ordering = ["invoice", "refunded_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=Decimal("0")), name="refund_amount_positive"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="refund_reason_required"),
            models.UniqueConstraint(
                fields=["provider_reference"],
                condition=~models.Q(provider_reference=""),
                name="refund_unique_provider_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{money(self.amount)} · {self.invoice}"
