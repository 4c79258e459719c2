"""The associations themselves: clusters, their sites and their membership plans."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.validators import validate_siren


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
        help_text=_(
            "Nombre de jours après le début d’une période de renouvellement (ou après sa "
            "facture, si elle est plus tardive) au bout desquels, toujours impayée, elle est "
            "annulée par un avoir. Vide : jamais."
        ),
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

    def __str__(self) -> str:
        return self.name

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
