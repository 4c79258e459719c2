"""Renewal reminders: each cluster's policy (when to write, what to say) and the ledger of the
reminders recorded by the daily pass, one per term and offset."""

import re
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.formatting import short_date

from .clusters import Cluster
from .memberships import Term

# What a reminder's subject and body may name, written {name}; see members.services.reminders.
REMINDER_PLACEHOLDERS = (
    "organisation",
    "cluster",
    "member_number",
    "contact_name",
    "end_date",
    "days",
    "renewal_url",
)
PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")


def validate_placeholders(text: str) -> None:
    """Refuse a ``{name}`` that is not one of :data:`REMINDER_PLACEHOLDERS`, naming it."""
    placeholders_check(text, REMINDER_PLACEHOLDERS)


def placeholders_check(text: str, known: tuple[str, ...]) -> None:
    """Refuse a ``{name}`` of ``text`` that is not one of ``known``, naming it and them."""
    unknown = [name for name in PLACEHOLDER.findall(text) if name not in known]
    if unknown:
        raise ValidationError(
            _("Variable inconnue : %(unknown)s. Variables possibles : %(known)s."),
            params={
                "unknown": ", ".join(f"{{{name}}}" for name in dict.fromkeys(unknown)),
                "known": ", ".join(f"{{{name}}}" for name in known),
            },
            code="unknown_placeholder",
        )


def validate_sender(value: str) -> None:
    """An e-mail address, alone or with a name: ``DigitalPlace <adhesions@digitalplace.fr>``."""
    _name, address = parseaddr(value)
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            _("« %(value)s » n’est pas une adresse d’expéditeur valable."),
            params={"value": value},
            code="invalid_sender",
        ) from None


class ReminderPolicy(models.Model):
    """When and how a cluster reminds its members to renew: its steps (:class:`ReminderStep`),
    the sender, and how late a reminder may still go out after a day without a pass."""

    cluster = models.OneToOneField(
        Cluster,
        verbose_name=_("cluster"),
        on_delete=models.CASCADE,
        related_name="reminder_policy",
    )
    is_active = models.BooleanField(
        _("relances actives"),
        default=True,
        help_text=_("Décochez pour suspendre les relances de ce cluster."),
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
        verbose_name = _("politique de relance")
        verbose_name_plural = _("politiques de relance")
        ordering = ["cluster__kind", "cluster__name"]

    def __str__(self) -> str:
        return str(self.cluster)

    @property
    def from_email(self) -> str:
        return self.sender or settings.DEFAULT_FROM_EMAIL


class ReminderStep(models.Model):
    """One reminder of a policy: how many days from the end of a membership's latest term it is
    due (negative before the end, positive after), and its text in each language."""

    policy = models.ForeignKey(
        ReminderPolicy,
        verbose_name=_("politique de relance"),
        on_delete=models.CASCADE,
        related_name="steps",
    )
    offset_days = models.SmallIntegerField(
        _("décalage (jours)"),
        validators=[MinValueValidator(-365), MaxValueValidator(365)],
        help_text=_(
            "Jours par rapport à la fin de la dernière période : −30 un mois avant, 0 le dernier "
            "jour, 15 quinze jours après."
        ),
    )
    subject_fr = models.CharField(
        _("objet (français)"), max_length=200, validators=[validate_placeholders]
    )
    body_fr = models.TextField(_("message (français)"), validators=[validate_placeholders])
    subject_en = models.CharField(
        _("objet (anglais)"), max_length=200, blank=True, validators=[validate_placeholders]
    )
    body_en = models.TextField(
        _("message (anglais)"),
        blank=True,
        validators=[validate_placeholders],
        help_text=_("Vide : les contacts anglophones reçoivent la version française."),
    )

    class Meta:
        verbose_name = _("relance")
        verbose_name_plural = _("relances")
        ordering = ["policy", "offset_days"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "offset_days"], name="reminder_step_unique_offset"
            ),
        ]

    def __str__(self) -> str:
        return offset_label(self.offset_days)

    def clean(self) -> None:
        if bool(self.subject_en.strip()) != bool(self.body_en.strip()):
            # Said next to the one left blank.
            missing = "body_en" if self.subject_en.strip() else "subject_en"
            raise ValidationError(
                {missing: _("Donnez l’objet et le message en anglais, ou aucun des deux.")}
            )

    def text(self, language: str) -> tuple[str, str, str]:
        """(language, subject, body) in ``language``, or in French when it has no text."""
        if language == "en" and self.subject_en.strip():
            return "en", self.subject_en, self.body_en
        return "fr", self.subject_fr, self.body_fr


def offset_label(offset_days: int) -> str:
    """``J−30``, ``J``, ``J+15``: the way staff name a reminder."""
    if offset_days == 0:
        return "J"
    return f"J{'+' if offset_days > 0 else '−'}{abs(offset_days)}"


class ReminderState(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENT = "sent", _("Envoyée")
    FAILED = "failed", _("Échec")
    CANCELLED = "cancelled", _("Annulée")


class ReminderReason(models.TextChoices):
    """Why a reminder was cancelled or failed for good."""

    RENEWED = "renewed", _("Adhésion renouvelée")
    MEMBERSHIP_CANCELLED = "cancelled", _("Adhésion résiliée")
    TRANSFERRED = "transferred", _("Adhésion transférée")
    WITHDRAWN = "withdrawn", _("Relance retirée ou suspendue dans la politique")
    NO_CONTACT = "no_contact", _("Aucun contact à qui écrire")
    SMTP_ERROR = "smtp_error", _("Erreur du serveur d’envoi")


class Reminder(models.Model):
    """The ledger: one reminder recorded by the pass for a membership's latest term at one offset.

    Unique per term and offset in the database, so that no pass, however often it runs, records
    it twice; sent at most once, under a row lock (see :mod:`members.services.reminders`).
    ``cancelled`` when, by the time it would have gone, the membership was renewed, cancelled or
    transferred.
    """

    term = models.ForeignKey(
        Term, verbose_name=_("période"), on_delete=models.CASCADE, related_name="reminders"
    )
    step = models.ForeignKey(
        ReminderStep,
        verbose_name=_("texte"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reminders",
    )
    offset_days = models.SmallIntegerField(_("décalage (jours)"))
    due_on = models.DateField(_("due le"))
    scheduled_on = models.DateField(_("programmée le"), help_text=_("Date du passage."))
    state = models.CharField(
        _("état"), max_length=10, choices=ReminderState.choices, default=ReminderState.PENDING
    )
    queued_at = models.DateTimeField(_("mise en file le"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    recipients = models.JSONField(
        _("destinataires"), default=list, blank=True, help_text=_("Adresses écrites.")
    )
    reason = models.CharField(
        _("raison"),
        max_length=12,
        choices=ReminderReason.choices,
        blank=True,
        help_text=_("Pourquoi la relance a été annulée ou a échoué."),
    )
    detail = models.JSONField(
        _("détail"),
        default=str,
        blank=True,
        help_text=_("Dernière erreur du serveur d’envoi."),
    )
    """The last error, as a stored text (:mod:`members.texts`): shown in the reader's language."""
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("relance envoyée")
        verbose_name_plural = _("journal des relances")
        ordering = ["-scheduled_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["term", "offset_days"], name="reminder_unique_per_term_and_offset"
            ),
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="reminder_sent_has_sent_at",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "queued_at"], name="reminder_state_queued_idx"),
        ]
        permissions = [("resend_reminder", _("Renvoyer une relance en échec"))]

    def __str__(self) -> str:
        return f"{offset_label(self.offset_days)} · {short_date(self.due_on)}"
