"""Memberships (an organisation in one cluster) and their terms (one membership year each)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.formatting import short_date

from .clusters import Cluster, Plan, Site
from .organisations import Organisation


class MembershipStatus(models.TextChoices):
    """A membership's status on a given date, derived from its terms by
    :func:`members.selectors.memberships_with_status`; never stored."""

    PENDING = "pending", _("En attente de paiement")
    CURRENT = "current", _("À jour")
    GRACE = "grace", _("En période de grâce")
    LAPSED = "lapsed", _("Expirée")
    CANCELLED = "cancelled", _("Résiliée")
    TRANSFERRED = "transferred", _("Transférée")


class Membership(models.Model):
    """An organisation's membership of one cluster: its member number, seniority and terms.

    One per (organisation, cluster); the member number is unique within the cluster. Its status is
    not stored: it is derived from its terms, :attr:`cancelled_on` and :attr:`transferred_on`.
    """

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="memberships",
    )
    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="memberships"
    )
    member_number = models.CharField(_("n° d’adhérent"), max_length=32)
    member_since = models.DateField(
        _("adhérent depuis"),
        null=True,
        blank=True,
        help_text=_("Date de première adhésion à ce cluster (ancienneté)."),
    )
    site = models.ForeignKey(
        Site,
        verbose_name=_("site"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memberships",
    )
    cancelled_on = models.DateField(_("résiliée le"), null=True, blank=True)
    transferred_on = models.DateField(
        _("transférée le"),
        null=True,
        blank=True,
        help_text=_("Date à laquelle l’adhésion est passée au cluster successeur."),
    )
    transferred_to = models.ForeignKey(
        "self",
        verbose_name=_("transférée vers"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transferred_from",
        help_text=_("L’adhésion au cluster successeur qui a pris la suite de celle-ci."),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("adhésion")
        verbose_name_plural = _("adhésions")
        ordering = ["cluster__name", "member_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "cluster"], name="membership_unique_per_cluster"
            ),
            models.UniqueConstraint(
                fields=["cluster", "member_number"], name="membership_unique_number_per_cluster"
            ),
            models.CheckConstraint(
                condition=~models.Q(member_number=""), name="membership_number_not_blank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_number} · {self.organisation}"

    def clean(self) -> None:
        if self.site_id and self.cluster_id and self.site.cluster_id != self.cluster_id:
            raise ValidationError({"site": _("Ce site n’appartient pas au cluster de l’adhésion.")})


def term_invoiced_refusal(number: str, *, deleting: bool = False, moving: bool = False) -> str:
    """Why a term invoiced as ``number`` cannot change what its invoice prints, be moved to
    another membership (the invoice is made out to this one's member) or be deleted."""
    if moving:
        return _(
            "Cette période est facturée (%(number)s) au membre de cette adhésion : elle ne peut "
            "pas passer à une autre adhésion ; une facture se corrige par un avoir."
        ) % {"number": number}
    if deleting:
        return _(
            "Cette période est facturée (%(number)s) : elle ne peut pas être supprimée ; une "
            "facture se corrige par un avoir."
        ) % {"number": number}
    return _(
        "Cette période est facturée (%(number)s) : sa cotisation, sa formule et ses dates ne "
        "peuvent plus changer ; un montant facturé se corrige par un avoir."
    ) % {"number": number}


class Term(models.Model):
    """One membership year (or any period) of a membership: its plan, dates, fee and payment.

    Terms of one membership never overlap: the database refuses it (an exclusion constraint on
    PostgreSQL, triggers on SQLite; see migration ``0002``). Both dates are inclusive.

    Once a term has an invoice, what the invoice prints of it (:attr:`INVOICED_FIELDS`) never
    changes and the term is never deleted: an invoiced amount is corrected by a credit note.
    :meth:`clean` refuses it against the stored row, and so does the database (triggers, see
    migration ``0011``); its payment (``is_paid``, ``paid_on``) still follows the invoice's.
    """

    #: What the invoice of a term prints of it, frozen once it is issued: its member (through
    #: the membership), plan, period and fee.
    INVOICED_FIELDS = ("membership", "plan", "start_date", "end_date", "fee")

    membership = models.ForeignKey(
        Membership, verbose_name=_("adhésion"), on_delete=models.CASCADE, related_name="terms"
    )
    plan = models.ForeignKey(
        Plan, verbose_name=_("formule"), on_delete=models.PROTECT, related_name="terms"
    )
    start_date = models.DateField(_("début"))
    end_date = models.DateField(_("fin"), help_text=_("Dernier jour couvert (inclus)."))
    fee = models.DecimalField(
        _("cotisation (€)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_paid = models.BooleanField(_("payée"), default=False)
    paid_on = models.DateField(_("payée le"), null=True, blank=True)
    cancelled_on = models.DateField(
        _("annulée le"),
        null=True,
        blank=True,
        help_text=_(
            "Date de l’avoir qui a annulé la facture de cette période : une période annulée ne "
            "compte plus dans le statut de l’adhésion, et une autre peut couvrir ses dates."
        ),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("période d’adhésion")
        verbose_name_plural = _("périodes d’adhésion")
        ordering = ["membership", "-start_date"]
        indexes = [
            models.Index(fields=["membership", "end_date"], name="term_membership_end_idx"),
            models.Index(fields=["end_date"], name="term_end_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(fee__gte=0), name="term_fee_not_negative"),
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="term_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(paid_on__isnull=True) | models.Q(is_paid=True),
                name="term_paid_on_only_when_paid",
            ),
        ]

    def __str__(self) -> str:
        return f"{short_date(self.start_date)} – {short_date(self.end_date)}"

    # What a member may ask an invoice for: an unpaid term with a fee. One rule, written for the
    # database (a query's filter) and for a term in memory (the member area's prefetched terms).

    @staticmethod
    def invoiceable() -> models.Q:
        """The terms a member may have invoiced, as a filter (see :meth:`is_invoiceable`)."""
        return models.Q(is_paid=False, fee__gt=0)

    def is_invoiceable(self) -> bool:
        """Whether a member may have this term invoiced: :meth:`invoiceable`, in memory."""
        return not self.is_paid and self.fee > 0

    def clean(self) -> None:
        errors = {}
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("La fin doit être postérieure au début.")
        if self.paid_on and not self.is_paid:
            errors["is_paid"] = _("Une période avec une date de paiement doit être payée.")
        # The membership may be unsaved yet (created with its terms in one admin form).
        membership = (
            self.membership if self.membership_id or Term.membership.is_cached(self) else None
        )
        if self.plan_id and membership and self.plan.cluster_id != membership.cluster_id:
            errors["plan"] = _("Cette formule n’appartient pas au cluster de l’adhésion.")
        errors.update(self._invoiced_changes())
        # A cancelled term frees its dates (as the database's overlap guard says).
        if (
            not errors
            and self.membership_id
            and self.start_date
            and self.end_date
            and self.cancelled_on is None
        ):
            overlapping = (
                Term.objects.filter(
                    membership_id=self.membership_id,
                    start_date__lte=self.end_date,
                    end_date__gte=self.start_date,
                    cancelled_on__isnull=True,
                )
                .exclude(pk=self.pk)
                .first()
            )
            if overlapping:
                errors["start_date"] = _(
                    "Cette période chevauche la période du %(start)s au %(end)s."
                ) % {
                    "start": short_date(overlapping.start_date),
                    "end": short_date(overlapping.end_date),
                }
        if errors:
            raise ValidationError(errors)

    def stored_invoice_number(self) -> str:
        """The number of the invoice of this term as stored, "" if it has none (one query)."""
        if self.pk is None:
            return ""
        numbers = Term.objects.filter(pk=self.pk).values_list("invoice__number", flat=True)
        return numbers.first() or ""

    def _invoiced_changes(self) -> dict[str, str]:
        """Field → refusal, for each of :attr:`INVOICED_FIELDS` that differs from the stored
        row when the term has an invoice (a field left blank is the field's own error)."""
        if self.pk is None:
            return {}
        attnames = {name: self._meta.get_field(name).attname for name in self.INVOICED_FIELDS}
        stored = (
            Term.objects.filter(pk=self.pk, invoice__isnull=False)
            .values("invoice__number", *attnames.values())
            .first()
        )
        if stored is None:
            return {}
        number = stored["invoice__number"]
        return {
            name: term_invoiced_refusal(number, moving=name == "membership")
            for name, attname in attnames.items()
            if getattr(self, attname) is not None and getattr(self, attname) != stored[attname]
        }
