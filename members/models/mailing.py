"""The ledger of the e-mails sent once (members.mailing) that have no ledger of their own: one
entry per recipient, purpose and object (an invoice, later a dunning letter or a convocation)."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from .organisations import Contact


class MailPurpose(models.TextChoices):
    INVOICE_NOTICE = "invoice_notice", _("Envoi de la facture")
    INVOICE_CONFIRMATION = "invoice_confirmation", _("Confirmation de paiement")
    RENEWAL_EXPIRED = "renewal_expired", _("Renouvellement impayé annulé")
    CREDIT_NOTE_NOTICE = "credit_note_notice", _("Envoi de l’avoir")


class MailState(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENT = "sent", _("Envoyée")
    FAILED = "failed", _("Échec")


class Mail(models.Model):
    """One e-mail for ``purpose`` about ``about`` to ``email``, sent once. An entry converted
    from a date of an earlier ledger (an invoice's ``notice_sent_at``) has no ``email``: it was
    sent, to whom is not known."""

    purpose = models.CharField(_("objet"), max_length=40, choices=MailPurpose.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    about = GenericForeignKey("content_type", "object_id")
    email = models.EmailField(_("destinataire"), blank=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    language = models.CharField(max_length=10, blank=True)
    state = models.CharField(
        _("état"), max_length=10, choices=MailState.choices, default=MailState.PENDING
    )
    attempts = models.PositiveIntegerField(_("tentatives"), default=0)
    error = models.TextField(_("erreur"), blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("e-mail envoyé")
        verbose_name_plural = _("e-mails envoyés")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "content_type", "object_id", "email"],
                name="mail_once_per_purpose_object_and_recipient",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="mail_sent_has_sent_at",
            ),
        ]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="mail_object_idx"),
            models.Index(fields=["state", "queued_at"], name="mail_state_queued_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} · {self.email}"
