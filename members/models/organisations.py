"""Member organisations (one row per real company across all clusters) and their contacts."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Left, Lower
from django.utils.translation import gettext_lazy as _

from members.validators import (
    normalise_phone,
    validate_postcode,
    validate_siren,
    validate_siret,
)


class Organisation(models.Model):
    """A company, lab, school or freelancer that is or was a member of one or more clusters.

    Identified by its SIRET when it has one: the same SIRET in both clusters' files is one
    organisation with two memberships. Records without a SIRET are kept apart; possible duplicates
    are for the merger committee to judge, never merged silently.
    """

    #: What the record says of the organisation: what imports write, exports read and the
    #: merger compares.
    DETAILS = (
        "name",
        "siret",
        "siren",
        "legal_form",
        "address_line1",
        "address_line2",
        "postcode",
        "city",
        "headcount",
        "sector",
    )

    name = models.CharField(_("raison sociale"), max_length=200)
    siret = models.CharField(
        _("SIRET"),
        max_length=14,
        blank=True,
        validators=[validate_siret],
        help_text=_("14 chiffres, sans espaces. Unique : une entreprise, une fiche."),
    )
    siren = models.CharField(
        _("SIREN"),
        max_length=9,
        blank=True,
        validators=[validate_siren],
        help_text=_("Les 9 premiers chiffres du SIRET ; déduit du SIRET s’il est renseigné."),
    )
    legal_form = models.CharField(_("forme juridique"), max_length=100, blank=True)
    address_line1 = models.CharField(_("adresse"), max_length=200, blank=True)
    address_line2 = models.CharField(_("complément d’adresse"), max_length=200, blank=True)
    postcode = models.CharField(
        _("code postal"), max_length=5, blank=True, validators=[validate_postcode]
    )
    city = models.CharField(_("ville"), max_length=100, blank=True)
    headcount = models.PositiveIntegerField(_("effectif"), null=True, blank=True)
    sector = models.CharField(_("secteur d’activité"), max_length=200, blank=True)
    website = models.URLField(_("site web"), blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("fusionnée dans"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="aliases",
        help_text=_(
            "Fiche reconnue comme un doublon de cette organisation par le comité de fusion : "
            "ses adhésions et contacts y sont passés, elle reste pour que les anciennes "
            "références la retrouvent."
        ),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["siren"], name="organisation_siren_idx"),
            models.Index(fields=["postcode"], name="organisation_postcode_idx"),
            models.Index(fields=["name"], name="organisation_name_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["siret"], condition=~models.Q(siret=""), name="organisation_unique_siret"
            ),
            models.CheckConstraint(
                condition=models.Q(siret="") | models.Q(siret__regex=r"^[0-9]{14}$"),
                name="organisation_siret_14_digits",
            ),
            models.CheckConstraint(
                condition=models.Q(siren="") | models.Q(siren__regex=r"^[0-9]{9}$"),
                name="organisation_siren_9_digits",
            ),
            models.CheckConstraint(
                condition=models.Q(siret="") | models.Q(siren=Left("siret", 9)),
                name="organisation_siren_matches_siret",
            ),
            models.CheckConstraint(
                condition=models.Q(postcode="") | models.Q(postcode__regex=r"^[0-9]{5}$"),
                name="organisation_postcode_5_digits",
            ),
            models.CheckConstraint(
                condition=~models.Q(name=""), name="organisation_name_not_blank"
            ),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("pk")),
                name="organisation_not_merged_into_itself",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.siret:
            self.siren = self.siren or self.siret[:9]
            if self.siren != self.siret[:9]:
                raise ValidationError(
                    {"siren": _("Le SIREN doit être les 9 premiers chiffres du SIRET.")}
                )


class ContactRole(models.TextChoices):
    PRIMARY = "primary", _("Contact principal")
    BILLING = "billing", _("Contact facturation")
    MEMBER = "member", _("Collaborateur")


class Contact(models.Model):
    """A person of an organisation. Linked to a user account once it signs in.

    The e-mail is stored lower-cased (allauth matches addresses lower-cased) and is unique within
    its organisation; the same person may be a contact of several organisations.
    """

    #: What the record says of the person: what staff edit with the organisation, imports write,
    #: exports read and a merge of records keeps.
    DETAILS = (
        "civility",
        "first_name",
        "last_name",
        "job_title",
        "email",
        "phone",
        "role",
        "language",
    )

    class Civility(models.TextChoices):
        MR = "M.", _("M.")
        MRS = "Mme", _("Mme")

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="contacts",
    )
    civility = models.CharField(_("civilité"), max_length=3, choices=Civility.choices, blank=True)
    first_name = models.CharField(_("prénom"), max_length=100, blank=True)
    last_name = models.CharField(_("nom"), max_length=100, blank=True)
    job_title = models.CharField(_("fonction"), max_length=150, blank=True)
    email = models.EmailField(_("e-mail"))
    phone = models.CharField(
        _("téléphone"),
        max_length=40,
        blank=True,
        help_text=_(
            "Enregistré au format international (+33…) quand il est reconnu, tel quel sinon."
        ),
    )
    role = models.CharField(
        _("rôle"), max_length=10, choices=ContactRole.choices, default=ContactRole.MEMBER
    )
    language = models.CharField(
        _("langue"),
        max_length=5,
        choices=settings.LANGUAGES,
        default="fr",
        help_text=_("Langue des e-mails envoyés à ce contact."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("compte"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        help_text=_("Créé à la première connexion du contact."),
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_name", "first_name", "email"]
        indexes = [models.Index(fields=["email"], name="contact_email_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"], name="contact_unique_email_per_organisation"
            ),
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="contact_email_lower_case"
            ),
            models.CheckConstraint(condition=~models.Q(email=""), name="contact_email_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        """First and last name, either of them, or empty."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def clean(self) -> None:
        self.email = (self.email or "").strip().lower()
        if self.phone:
            self.phone = normalise_phone(self.phone) or self.phone.strip()
