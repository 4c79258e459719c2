"""Payment follow-ups: each cluster's policy (how many days after an invoice's due date to write
about it while it is unpaid, and what to say) and the ledger of the follow-ups recorded by the
daily pass, one per invoice, step and recipient."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.formatting import short_date

from .billing import Invoice
from .clusters import Cluster
from .organisations import Contact
from .reminders import offset_label, placeholders_check, validate_sender

# What a follow-up's subject and body may name, written {name}; see
# members.services.follow_ups.
FOLLOW_UP_PLACEHOLDERS = (
    "organisation",
    "cluster",
    "member_number",
    "contact_name",
    "invoice_number",
    "amount_left",
    "due_date",
    "days_late",
    "payment_url",
)


def validate_follow_up_placeholders(text: str) -> None:
    """Refuse a ``{name}`` that is not one of :data:`FOLLOW_UP_PLACEHOLDERS`, naming it."""
    placeholders_check(text, FOLLOW_UP_PLACEHOLDERS)


class PaymentFollowUpPolicy(models.Model):
    """When and how a cluster writes about its unpaid invoices: its steps
    (:class:`PaymentFollowUpStep`), the sender, and how late a follow-up may still go out after
    days without a pass."""

    cluster = models.OneToOneField(
        Cluster,
        verbose_name=_("cluster"),
        on_delete=models.CASCADE,
        related_name="payment_follow_up_policy",
    )
    is_active = models.BooleanField(
        _("relances de paiement actives"),
        default=True,
        help_text=_("Décochez pour suspendre les relances de paiement de ce cluster."),
    )
    sender = models.CharField(
        _("expéditeur"),
        max_length=254,
        blank=True,
        validators=[validate_sender],
        help_text=_(
            "Adresse d’envoi, seule (adhesions@digitalplace.fr) ou précédée d’un nom, "
            "l’adresse étant alors entre chevrons. Vide : l’adresse par défaut du site. Les "
            "réponses vont à l’e-mail du cluster."
        ),
    )
    max_lateness_days = models.PositiveSmallIntegerField(
        _("retard maximal (jours)"),
        default=7,
        validators=[MaxValueValidator(90)],
        help_text=_(
            "Après des jours sans passage, seule la relance la plus récente part, et seulement "
            "si elle est due depuis au plus ce nombre de jours."
        ),
    )

    class Meta:
        verbose_name = _("politique de relance de paiement")
        verbose_name_plural = _("politiques de relance de paiement")
        ordering = ["cluster__kind", "cluster__name"]

    def __str__(self) -> str:
        return str(self.cluster)

    @property
    def from_email(self) -> str:
        return self.sender or settings.DEFAULT_FROM_EMAIL


class PaymentFollowUpStep(models.Model):
    """One follow-up of a policy: how many days after an unpaid invoice's due date it is due,
    and its text in each language."""

    policy = models.ForeignKey(
        PaymentFollowUpPolicy,
        verbose_name=_("politique de relance de paiement"),
        on_delete=models.CASCADE,
        related_name="steps",
    )
    days_after_due = models.PositiveSmallIntegerField(
        _("jours après l’échéance"),
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("15 : quinze jours après la date d’échéance de la facture (J+15)."),
    )
    subject_fr = models.CharField(
        _("objet (français)"), max_length=200, validators=[validate_follow_up_placeholders]
    )
    body_fr = models.TextField(
        _("message (français)"), validators=[validate_follow_up_placeholders]
    )
    subject_en = models.CharField(
        _("objet (anglais)"),
        max_length=200,
        blank=True,
        validators=[validate_follow_up_placeholders],
    )
    body_en = models.TextField(
        _("message (anglais)"),
        blank=True,
        validators=[validate_follow_up_placeholders],
        help_text=_("Vide : les contacts anglophones reçoivent la version française."),
    )

    class Meta:
        verbose_name = _("relance de paiement")
        verbose_name_plural = _("relances de paiement")
        ordering = ["policy", "days_after_due"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "days_after_due"], name="follow_up_step_unique_days"
            ),
            models.CheckConstraint(
                condition=models.Q(days_after_due__gte=1), name="follow_up_step_after_due"
            ),
        ]

    def __str__(self) -> str:
        return offset_label(self.days_after_due)

    def clean(self) -> None:
        if bool(self.subject_en.strip()) != bool(self.body_en.strip()):
            missing = "body_en" if self.subject_en.strip() else "subject_en"
            raise ValidationError(
                {missing: _("Donnez l’objet et le message en anglais, ou aucun des deux.")}
            )

    def text(self, language: str) -> tuple[str, str, str]:
        """(language, subject, body) in ``language``, or in French when it has no text."""
        if language == "en" and self.subject_en.strip():
            return "en", self.subject_en, self.body_en
        return "fr", self.subject_fr, self.body_fr


class PaymentFollowUpState(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENT = "sent", _("Envoyée")
    FAILED = "failed", _("Échec")
    CANCELLED = "cancelled", _("Annulée")


class PaymentFollowUpReason(models.TextChoices):
    """Why a follow-up was cancelled or failed for good."""

    PAID = "paid", _("Facture payée")
    INVOICE_CANCELLED = "cancelled", _("Facture annulée par un avoir")
    WITHDRAWN = "withdrawn", _("Relance retirée ou suspendue dans la politique")
    NO_CONTACT = "no_contact", _("Aucun contact à qui écrire")
    SMTP_ERROR = "smtp_error", _("Erreur du serveur d’envoi")


class PaymentFollowUp(models.Model):
    """The ledger: one follow-up e-mail recorded by the pass about an unpaid invoice, at one
    step (days after its due date), to one of its organisation's contacts.

    Unique per invoice, step and address in the database, so that no pass, however often it
    runs, records it twice; sent at most once, under a row lock (see
    :mod:`members.services.follow_ups`). ``cancelled`` when, by the time it would have gone,
    the invoice was paid or cancelled. An invoice whose organisation had nobody to write to has
    one entry without address, failed, for staff to see."""

    invoice = models.ForeignKey(
        Invoice, verbose_name=_("facture"), on_delete=models.CASCADE, related_name="follow_ups"
    )
    step = models.ForeignKey(
        PaymentFollowUpStep,
        verbose_name=_("texte"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
    )
    days_after_due = models.PositiveSmallIntegerField(_("jours après l’échéance"))
    due_on = models.DateField(_("due le"))
    scheduled_on = models.DateField(_("programmée le"), help_text=_("Date du passage."))
    email = models.EmailField(_("destinataire"), blank=True)
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    language = models.CharField(_("langue"), max_length=10, blank=True)
    state = models.CharField(
        _("état"),
        max_length=10,
        choices=PaymentFollowUpState.choices,
        default=PaymentFollowUpState.PENDING,
    )
    reason = models.CharField(
        _("raison"),
        max_length=12,
        choices=PaymentFollowUpReason.choices,
        blank=True,
        help_text=_("Pourquoi la relance a été annulée ou a échoué."),
    )
    error = models.TextField(_("erreur"), blank=True, help_text=_("Réponse du serveur d’envoi."))
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    queued_at = models.DateTimeField(_("mise en file le"), null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("relance de paiement envoyée")
        verbose_name_plural = _("journal des relances de paiement")
        ordering = ["-scheduled_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "days_after_due", "email"],
                name="follow_up_once_per_invoice_step_and_recipient",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="follow_up_sent_has_sent_at",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "queued_at"], name="follow_up_state_queued_idx"),
        ]
        permissions = [("resend_paymentfollowup", _("Renvoyer une relance de paiement en échec"))]

    def __str__(self) -> str:
        return f"{offset_label(self.days_after_due)} · {short_date(self.due_on)} · {self.email}"
