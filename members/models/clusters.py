"""The associations themselves: clusters, their sites and their membership plans."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.validators import validate_siren


class MembershipYear(models.TextChoices):
    """How a cluster's membership years run (see :mod:`members.services.years`)."""

    ANNIVERSARY = "anniversary", _("Date anniversaire de chaque membre")
    FIXED = "fixed", _("Année fixe (par exemple l’année civile)")


class Proration(models.TextChoices):
    """What a new member pays for a first term shorter than a fixed membership year."""

    DAYS = "days", _("Au prorata des jours")
    MONTHS = "months", _("Au prorata des mois commencés")
    CUTOFF = "cutoff", _("Cotisation entière, l’année suivante offerte après une date limite")


#: A year without 29 February: a day of the year given as month and day must exist every year.
_ORDINARY_YEAR = 2001


def _month_day_error(month: int | None, day: int | None) -> str | None:
    """Why (``month``, ``day``) is not a day of every year, or None."""
    if month is None or day is None or not (1 <= month <= 12 and 1 <= day <= 31):
        # Out of range: the fields' own validators say so.
        return None
    try:
        date(_ORDINARY_YEAR, month, day)
    except ValueError:
        return _("Le %(day)s/%(month)s n’existe pas chaque année.") % {"day": day, "month": month}
    return None


def _day_of_every_year(month: str, day: str) -> models.Q:
    """The condition "the fields ``month`` and ``day`` make a day that exists every year", for
    the database (:func:`_month_day_error` says it in words)."""
    return (
        models.Q(**{f"{month}__gte": 1, f"{month}__lte": 12, f"{day}__gte": 1, f"{day}__lte": 31})
        & ~models.Q(**{f"{month}__in": [4, 6, 9, 11], f"{day}__gt": 30})
        & ~models.Q(**{month: 2, f"{day}__gt": 28})
    )


class Cluster(models.Model):
    """An association: one of the merging source clusters, or the successor they merge into.

    Its name is data, never code: the Grand Cluster's final name is still undecided. Members are
    attached to a cluster through :class:`Membership`; staff users through :attr:`staff`.
    """

    class Kind(models.TextChoices):
        SOURCE = "source", _("Cluster source")
        SUCCESSOR = "successor", _("Cluster successeur")

    name = models.CharField(_("nom"), max_length=200)
    slug = models.SlugField(_("identifiant"), max_length=50, unique=True)
    kind = models.CharField(_("rôle dans la fusion"), max_length=12, choices=Kind.choices)
    legal_name = models.CharField(_("raison sociale"), max_length=200, blank=True)
    siren = models.CharField(
        _("SIREN"),
        max_length=9,
        blank=True,
        validators=[validate_siren],
        help_text=_("Identifiant de l’association, imprimé sur les factures."),
    )
    address = models.TextField(_("adresse"), blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("site web"), blank=True)
    member_number_prefix = models.CharField(
        _("préfixe des numéros d’adhérent"),
        max_length=10,
        blank=True,
    )
    invoice_prefix = models.CharField(
        _("préfixe des factures"),
        max_length=10,
        blank=True,
        help_text=_("Par exemple « DP » pour des numéros DP-2026-00042."),
    )
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    stripe_account = models.CharField(
        _("compte Stripe Connect"),
        max_length=255,
        blank=True,
        help_text=_(
            "Identifiant « acct_… » du compte Stripe de l’association, connecté à celui de la "
            "plateforme : les paiements par carte de ses factures y sont encaissés. Vide : ils "
            "le sont sur le compte de la plateforme."
        ),
    )
    vat_mention = models.CharField(
        _("mention de TVA"),
        max_length=200,
        blank=True,
        default="TVA non applicable, art. 261-7-1° du CGI",
    )
    late_payment_rate = models.DecimalField(
        _("taux des pénalités de retard (% par an)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_(
            "Imprimé sur les factures avec la référence à l’article L441-10 du Code de commerce. "
            "Au moins trois fois le taux d’intérêt légal ; à défaut de taux convenu, le taux de "
            "la BCE majoré de 10 points. Vide : aucune mention de pénalités."
        ),
    )
    recovery_fee_mention = models.BooleanField(
        _("indemnité forfaitaire de recouvrement de 40 €"),
        default=False,
        help_text=_(
            "Imprimer sur les factures l’indemnité forfaitaire de 40 € due pour frais de "
            "recouvrement en cas de retard de paiement (art. L441-10 et D441-5 du Code de "
            "commerce)."
        ),
    )
    grace_days = models.PositiveSmallIntegerField(
        _("délai de grâce (jours)"),
        default=30,
        help_text=_(
            "Nombre de jours après la fin de la dernière période payée pendant lesquels "
            "l’adhésion reste « en grâce » avant d’être « expirée »."
        ),
    )
    unpaid_renewal_expiry_days = models.PositiveSmallIntegerField(
        _("expiration des renouvellements impayés (jours)"),
        null=True,
        blank=True,
        default=60,
        # Ten years at most: PostgreSQL's column bounds it anyway, SQLite's would not.
        validators=[MaxValueValidator(3650)],
        help_text=_(
            "Nombre de jours après le début d’une période de renouvellement (ou après sa "
            "facture, si elle est plus tardive) au bout desquels, toujours impayée, elle est "
            "annulée par un avoir. Vide : jamais."
        ),
    )
    membership_year = models.CharField(
        _("année d’adhésion"),
        max_length=12,
        choices=MembershipYear.choices,
        default=MembershipYear.ANNIVERSARY,
        help_text=_(
            "Date anniversaire : chaque période court un an à partir de l’adhésion. Année fixe : "
            "toutes les périodes s’alignent sur la même année, la première au prorata."
        ),
    )
    year_start_month = models.PositiveSmallIntegerField(
        _("début de l’année fixe : mois"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    year_start_day = models.PositiveSmallIntegerField(
        _("début de l’année fixe : jour"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("Le 1er janvier par défaut : l’année civile."),
    )
    proration = models.CharField(
        _("première période d’un nouveau membre"),
        max_length=8,
        choices=Proration.choices,
        default=Proration.DAYS,
        help_text=_(
            "En année fixe, ce que paie un membre qui adhère en cours d’année. Avec une date "
            "limite : avant elle, la cotisation entière jusqu’à la fin de l’année ; à partir "
            "d’elle, la cotisation entière jusqu’à la fin de l’année suivante."
        ),
    )
    proration_cutoff_month = models.PositiveSmallIntegerField(
        _("date limite : mois"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    proration_cutoff_day = models.PositiveSmallIntegerField(
        _("date limite : jour"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("personnel"),
        blank=True,
        related_name="staffed_clusters",
        help_text=_("Membres du personnel qui gèrent les adhésions de ce cluster."),
    )

    class Meta:
        verbose_name = _("cluster")
        verbose_name_plural = _("clusters")
        ordering = ["kind", "name"]
        permissions = [("view_all_clusters", _("Voir les données de tous les clusters"))]
        constraints = [
            models.CheckConstraint(
                condition=_day_of_every_year("year_start_month", "year_start_day"),
                name="cluster_year_start_exists",
            ),
            models.CheckConstraint(
                condition=models.Q(proration_cutoff_month__isnull=True)
                | models.Q(proration_cutoff_day__isnull=True)
                | _day_of_every_year("proration_cutoff_month", "proration_cutoff_day"),
                name="cluster_cutoff_exists",
            ),
            models.CheckConstraint(
                condition=~models.Q(proration="cutoff")
                | models.Q(
                    proration_cutoff_month__isnull=False, proration_cutoff_day__isnull=False
                ),
                name="cluster_cutoff_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        start_error = _month_day_error(self.year_start_month, self.year_start_day)
        if start_error:
            errors["year_start_day"] = start_error
        cutoff = (self.proration_cutoff_month, self.proration_cutoff_day)
        if self.proration == Proration.CUTOFF:
            if None in cutoff:
                errors["proration_cutoff_day"] = _("Indiquez le jour et le mois de la date limite.")
            elif cutoff_error := _month_day_error(*cutoff):
                errors["proration_cutoff_day"] = cutoff_error
            elif cutoff == (self.year_start_month, self.year_start_day):
                errors["proration_cutoff_day"] = _(
                    "La date limite ne peut pas être le premier jour de l’année d’adhésion."
                )
        if errors:
            raise ValidationError(errors)

    def issuer_details(self) -> dict[str, str | bool]:
        """What the cluster's documents print about it: legal name, SIREN, address, e-mail, web
        site, VAT mention, bank details and the late-payment mentions (the penalty rate as a
        string, "" when none; whether the 40 € recovery fee is printed). An invoice keeps a
        copy, so that a later change of these settings alters no invoice issued; a certificate
        reads them afresh."""
        return {
            "name": self.legal_name or self.name,
            "siren": self.siren,
            "address": self.address,
            "email": self.email,
            "website": self.website,
            "vat_mention": self.vat_mention,
            "iban": self.iban,
            "bic": self.bic,
            "late_payment_rate": (
                "" if self.late_payment_rate is None else str(self.late_payment_rate)
            ),
            "recovery_fee": self.recovery_fee_mention,
        }


class Site(models.Model):
    """A place where a cluster welcomes its members (Toulouse, Montpellier, Nîmes, …)."""

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.CASCADE, related_name="sites"
    )
    name = models.CharField(_("nom"), max_length=100)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], name="site_unique_name_per_cluster"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlanCategory(models.TextChoices):
    """What kind of member a plan is for; the merger maps source plans to successor plans by it."""

    STARTUP = "startup", _("Start-up")
    SME = "sme", _("PME")
    LARGE = "large", _("Grande entreprise / ETI")
    ACADEMIC = "academic", _("Recherche et formation")
    FREELANCE = "freelance", _("Indépendant")


class Plan(models.Model):
    """A cluster's membership category and its yearly fee in euros, by headcount band."""

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="plans"
    )
    name = models.CharField(_("nom"), max_length=100)
    category = models.CharField(_("catégorie"), max_length=12, choices=PlanCategory.choices)
    annual_fee = models.DecimalField(
        _("cotisation annuelle (€)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    headcount_min = models.PositiveIntegerField(_("effectif minimum"), null=True, blank=True)
    headcount_max = models.PositiveIntegerField(_("effectif maximum"), null=True, blank=True)
    is_active = models.BooleanField(
        _("proposée"),
        default=True,
        help_text=_("Décochez pour ne plus proposer cette formule aux renouvellements."),
    )
    position = models.PositiveSmallIntegerField(_("ordre d’affichage"), default=0)

    class Meta:
        verbose_name = _("formule")
        verbose_name_plural = _("formules")
        ordering = ["cluster__name", "position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], name="plan_unique_name_per_cluster"
            ),
            models.CheckConstraint(
                condition=models.Q(annual_fee__gte=0), name="plan_fee_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(headcount_min__isnull=True)
                | models.Q(headcount_max__isnull=True)
                | models.Q(headcount_min__lte=models.F("headcount_max")),
                name="plan_headcount_band_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name
