"""Validators of French company identifiers, postcodes and phone numbers, with French messages."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret


def _validate(module, value: str, label: str) -> None:
    try:
        module.validate(value)
    except stdnum_exceptions.InvalidLength as exc:
        raise ValidationError(
            _("%(label)s « %(value)s » n’a pas le bon nombre de chiffres."),
            code="invalid_length",
            params={"label": label, "value": value},
        ) from exc
    except stdnum_exceptions.InvalidFormat as exc:
        raise ValidationError(
            _("%(label)s « %(value)s » ne doit contenir que des chiffres."),
            code="invalid_format",
            params={"label": label, "value": value},
        ) from exc
    except stdnum_exceptions.InvalidChecksum as exc:
        raise ValidationError(
            _("%(label)s « %(value)s » est invalide (clé de contrôle incorrecte)."),
            code="invalid_checksum",
            params={"label": label, "value": value},
        ) from exc
    except stdnum_exceptions.ValidationError as exc:
        raise ValidationError(
            _("%(label)s « %(value)s » est invalide."),
            code="invalid",
            params={"label": label, "value": value},
        ) from exc


def validate_siret(value: str) -> None:
    """A SIRET must be 14 digits with a valid Luhn key (python-stdnum, La Poste's exception)."""
    _validate(stdnum_siret, value, "SIRET")


def validate_siren(value: str) -> None:
    """A SIREN must be 9 digits with a valid Luhn key."""
    _validate(stdnum_siren, value, "SIREN")


def validate_postcode(value: str) -> None:
    """A French postcode: 5 digits."""
    if not (len(value) == 5 and value.isascii() and value.isdigit()):
        raise ValidationError(
            _("Le code postal doit comporter 5 chiffres, par exemple 31000."), code="postcode"
        )


def clean_siret(value: str) -> str:
    """Strip spaces and dots, as people and spreadsheets write SIRETs."""
    return stdnum_siret.compact(value or "")


def clean_siren(value: str) -> str:
    return stdnum_siren.compact(value or "")


def normalise_phone(value: str, *, region: str = "FR") -> str | None:
    """The number in E.164 when it parses as a possible number, else ``None``."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
