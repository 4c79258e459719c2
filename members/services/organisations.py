"""What a member organisation's primary contacts change from the member area: the organisation's
details and its contacts (colleagues who may then sign in)."""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from members.models import Contact, ContactRole, Organisation
from members.selectors import contacts_of

# The details of an organisation that its primary contacts keep up to date themselves; its name
# and SIRET identify it for the clusters and only change through their staff.
ORGANISATION_EDITABLE_FIELDS = (
    "address_line1",
    "address_line2",
    "postcode",
    "city",
    "headcount",
    "sector",
)


def organisation_managed_by(*, organisation: Organisation, user: AbstractBaseUser) -> bool:
    """Whether ``user`` is a primary contact of ``organisation``: who may change its details and
    its contacts."""
    return contacts_of(user).filter(organisation=organisation, role=ContactRole.PRIMARY).exists()


def _require_manager(*, organisation: Organisation, by: AbstractBaseUser) -> None:
    if not organisation_managed_by(organisation=organisation, user=by):
        raise PermissionDenied(
            _("Seuls les contacts principaux de l’organisation peuvent la modifier.")
        )


@transaction.atomic
def organisation_update(
    *, organisation: Organisation, by: AbstractBaseUser, **fields: str | int | None
) -> Organisation:
    """Change the details of ``organisation`` listed in ``ORGANISATION_EDITABLE_FIELDS`` (address,
    headcount, sector) on behalf of ``by``, one of its primary contacts.

    Text is stripped; the values are checked by the model (a postcode of 5 digits, lengths) and
    a headcount must be a whole number: a :class:`ValidationError` by field, nothing
    saved. Raise :class:`PermissionDenied` if ``by`` is not a primary contact.
    """
    _require_manager(organisation=organisation, by=by)
    unknown = set(fields) - set(ORGANISATION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable by members: {', '.join(sorted(unknown))}")
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        if name == "headcount" and value == "":
            value = None
        setattr(organisation, name, value)
    headcount = organisation.headcount
    if headcount is not None and (not isinstance(headcount, int) or headcount < 0):
        errors["headcount"] = _("L’effectif est un nombre entier de personnes, 0 ou plus.")
    if errors:
        raise ValidationError(errors)
    # Only the fields changed here are checked: older records may break rules added since.
    untouched = [field.name for field in Organisation._meta.fields if field.name not in fields]
    organisation.full_clean(exclude=untouched)
    organisation.save(update_fields=[*fields, "updated_at"])
    return organisation


@transaction.atomic
def contact_add(
    *,
    organisation: Organisation,
    by: AbstractBaseUser,
    email: str,
    first_name: str = "",
    last_name: str = "",
    job_title: str = "",
    role: str = ContactRole.MEMBER,
    language: str = "fr",
) -> Contact:
    """Add a contact to ``organisation`` on behalf of ``by``, one of its primary contacts.

    The e-mail is stored lower-cased: the new colleague can then sign in with it (by code). An
    e-mail that is already one of the organisation's contacts is refused with a field error.
    Raise :class:`PermissionDenied` if ``by`` is not a primary contact.
    """
    _require_manager(organisation=organisation, by=by)
    # The organisation's row lock serialises the changes of its contacts.
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    contact = Contact(
        organisation=organisation,
        email=(email or "").strip().lower(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        job_title=job_title.strip(),
        role=role,
        language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
    )
    duplicate = ValidationError(
        {
            "email": _("%(email)s est déjà un contact de %(organisation)s.")
            % {"email": contact.email, "organisation": organisation.name}
        }
    )
    if Contact.objects.filter(organisation=organisation, email=contact.email).exists():
        raise duplicate
    contact.full_clean(exclude=["user"])
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as exc:  # added meanwhile by staff, outside this lock
        raise duplicate from exc
    return contact


#: What a contact's page in the member area changes: not the e-mail, which is how the person
#: signs in (SECURITY.md: members manage no addresses).
CONTACT_EDITABLE_FIELDS = ("first_name", "last_name", "job_title")


def contact_editable_by(*, contact: Contact, user: AbstractBaseUser) -> bool:
    """Whether ``user`` may change the name and title of ``contact``: the contact itself, or a
    primary contact of its organisation (who also changes its role)."""
    return (
        organisation_managed_by(organisation=contact.organisation, user=user)
        or contacts_of(user).filter(pk=contact.pk).exists()
    )


def _is_last_primary(contact: Contact) -> bool:
    """Whether ``contact`` is its organisation's only primary contact: an organisation keeps at
    least one, whichever way the contact would stop being it (another role, or removed)."""
    return (
        contact.role == ContactRole.PRIMARY
        and not Contact.objects.filter(
            organisation_id=contact.organisation_id, role=ContactRole.PRIMARY
        )
        .exclude(pk=contact.pk)
        .exists()
    )


def contact_role_refusal(*, contact: Contact, role: str) -> str | None:
    """Why ``contact`` may not be given ``role``, or ``None`` if it may: an organisation keeps at
    least one primary contact."""
    if role != ContactRole.PRIMARY and _is_last_primary(contact):
        return _(
            "%(name)s est le dernier contact principal de %(organisation)s : il doit en rester "
            "au moins un. Donnez d’abord ce rôle à un autre contact."
        ) % {"name": contact.full_name or contact.email, "organisation": contact.organisation.name}
    return None


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    by: AbstractBaseUser,
    first_name: str,
    last_name: str,
    job_title: str = "",
    role: str | None = None,
) -> Contact:
    """Change the name and title of ``contact`` (and, given ``role``, its role) on behalf of
    ``by``: every contact changes its own name and title; a primary contact of the organisation
    changes those of every contact of it, and their roles.

    Text is stripped and checked by the model. Raise :class:`PermissionDenied` when ``by`` is
    neither the contact nor a primary contact of its organisation, or changes a role without
    being a primary contact; a :class:`ValidationError` on ``role`` when the change would leave
    the organisation without a primary contact, on nothing when the contact was removed
    meanwhile. The same change made twice (a double click) changes nothing the second time.
    """
    # The organisation's row lock serialises the changes of its contacts: two primary contacts
    # giving up the role at once cannot leave it without any.
    Organisation.objects.select_for_update().get(pk=contact.organisation_id)
    contact = Contact.objects.select_related("organisation").filter(pk=contact.pk).first()
    if contact is None:
        raise ValidationError(_("Ce contact ne fait plus partie de l’organisation."))
    if not contact_editable_by(contact=contact, user=by):
        raise PermissionDenied(
            _("Seuls les contacts principaux de l’organisation peuvent modifier vos collègues.")
        )
    if role is not None and role != contact.role:
        if not organisation_managed_by(organisation=contact.organisation, user=by):
            raise PermissionDenied(
                _("Seuls les contacts principaux de l’organisation peuvent changer les rôles.")
            )
        refusal = contact_role_refusal(contact=contact, role=role)
        if refusal:
            raise ValidationError({"role": refusal})
        contact.role = role
    contact.first_name = first_name.strip()
    contact.last_name = last_name.strip()
    contact.job_title = job_title.strip()
    changed = [*CONTACT_EDITABLE_FIELDS, "role"]
    # Only the fields changed here are checked: older records may break rules added since.
    contact.full_clean(
        exclude=[f.name for f in Contact._meta.fields if f.name not in changed],
        validate_unique=False,
        validate_constraints=False,
    )
    contact.save(update_fields=[*changed, "updated_at"])
    return contact


def contact_removal_refusal(*, contact: Contact, by: AbstractBaseUser) -> str | None:
    """Why ``by`` may not remove ``contact`` from its organisation, or ``None`` if it may: nobody
    removes themselves (another primary contact does it), and an organisation keeps at least one
    primary contact."""
    if contact.user_id is not None and contact.user_id == by.pk:
        return _(
            "Vous ne pouvez pas vous retirer vous-même : demandez-le à un autre contact principal."
        )
    if _is_last_primary(contact):
        return _(
            "%(name)s est le dernier contact principal de %(organisation)s : il doit en rester "
            "au moins un."
        ) % {"name": contact, "organisation": contact.organisation.name}
    return None


@transaction.atomic
def contact_remove(*, contact: Contact, by: AbstractBaseUser) -> None:
    """Remove ``contact`` from its organisation on behalf of ``by``, one of its primary contacts,
    unless :func:`contact_removal_refusal` says why not (a :class:`ValidationError` then).

    Removing a contact already removed does nothing. The removed person's account, if any, stays,
    but no longer sees the organisation. Raise :class:`PermissionDenied` if ``by`` is not a
    primary contact.
    """
    organisation = contact.organisation
    _require_manager(organisation=organisation, by=by)
    # Under the organisation's lock, two primary contacts removing each other at once cannot
    # leave it without any: the second one finds the other gone and is refused.
    Organisation.objects.select_for_update().get(pk=organisation.pk)
    contact = Contact.objects.select_related("organisation").filter(pk=contact.pk).first()
    if contact is None:  # removed meanwhile (a double click): nothing left to do
        return
    refusal = contact_removal_refusal(contact=contact, by=by)
    if refusal:
        raise ValidationError(refusal)
    contact.delete()
