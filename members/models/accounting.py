"""How a cluster's billing is written in its books: the journals and accounts of its accounting
export (the FEC, :mod:`members.accounting`)."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .clusters import Cluster

validate_journal_code = RegexValidator(
    r"^[A-Z0-9]{1,6}$",
    _("Un code journal s’écrit en 1 à 6 lettres majuscules ou chiffres, par exemple VE."),
)
validate_account_number = RegexValidator(
    r"^[0-9][0-9A-Z]{2,19}$",
    _(
        "Un numéro de compte commence par un chiffre et compte de 3 à 20 chiffres ou lettres "
        "majuscules, par exemple 756000."
    ),
)


def _journal(verbose_name, default: str) -> models.CharField:
    return models.CharField(
        verbose_name, max_length=6, default=default, validators=[validate_journal_code]
    )


def _account(verbose_name, default: str) -> models.CharField:
    return models.CharField(
        verbose_name, max_length=20, default=default, validators=[validate_account_number]
    )


def _label(verbose_name, default: str) -> models.CharField:
    return models.CharField(verbose_name, max_length=100, default=default)


class AccountingSettings(models.Model):
    """The journals and accounts a cluster's accounting export writes its invoices, credit notes,
    payments and refunds in.

    The defaults follow the associations' chart of accounts (règlement ANC n° 2018-06): fees in
    756000 *Cotisations*, members in 411000 with a sub-account each (their member number), the
    bank in 512000, cheques in 511200 until they are cashed, card payments in 467100 *Stripe*
    until Stripe pays them out. A cluster without its row exports with these defaults.
    """

    cluster = models.OneToOneField(
        Cluster,
        verbose_name=_("cluster"),
        on_delete=models.CASCADE,
        related_name="accounting_settings",
    )
    sales_journal_code = _journal(_("code du journal des ventes"), "VE")
    sales_journal_label = _label(_("libellé du journal des ventes"), "Ventes")
    bank_journal_code = _journal(_("code du journal de banque"), "BQ")
    bank_journal_label = _label(_("libellé du journal de banque"), "Banque")
    card_journal_code = _journal(_("code du journal des paiements par carte"), "CB")
    card_journal_label = _label(
        _("libellé du journal des paiements par carte"), "Paiements par carte (Stripe)"
    )
    misc_journal_code = _journal(_("code du journal des opérations diverses"), "OD")
    misc_journal_label = _label(
        _("libellé du journal des opérations diverses"), "Opérations diverses"
    )
    fees_account = _account(_("compte des cotisations"), "756000")
    fees_account_label = _label(_("libellé du compte des cotisations"), "Cotisations")
    customers_account = _account(
        _("compte des adhérents"),
        "411000",
    )
    customers_account_label = _label(_("libellé du compte des adhérents"), "Adhérents")
    bank_account = _account(_("compte de banque"), "512000")
    bank_account_label = _label(_("libellé du compte de banque"), "Banque")
    card_account = _account(_("compte d’attente des paiements par carte"), "467100")
    card_account_label = _label(_("libellé du compte d’attente des paiements par carte"), "Stripe")
    cheque_account = _account(_("compte des chèques à encaisser"), "511200")
    cheque_account_label = _label(
        _("libellé du compte des chèques à encaisser"), "Chèques à encaisser"
    )

    class Meta:
        verbose_name = _("paramètres comptables")
        verbose_name_plural = _("paramètres comptables")

    def __str__(self) -> str:
        return str(_("Paramètres comptables"))
