"""User accounts of staff and member contacts."""

from collections.abc import Iterable, Sequence

from allauth.account import app_settings as allauth_settings
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from members.models import Cluster, Contact


def login_code_validity_minutes() -> int:
    """How many minutes a sign-in code stays valid, as the code's page and its e-mail both say:
    allauth's ``ACCOUNT_LOGIN_BY_CODE_TIMEOUT`` (in seconds) in whole minutes, rounded down so as
    never to promise more than it lasts, and at least one."""
    return max(1, allauth_settings.LOGIN_BY_CODE_TIMEOUT // 60)


def _user_with_verified_email(
    *, username: str, email: str, password: str | None, defaults: dict
) -> tuple[AbstractBaseUser, bool]:
    """The user ``username`` (or else the one with ``email``), created if there is none with
    ``password`` (or an unusable one) and ``defaults``. Its ``email`` becomes a verified allauth
    address (unless another account verified it first), and its primary one if it has none, so
    that it can sign in at once although e-mail verification is mandatory.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first() or email_owner(email=email)
    created = user is None
    if created:
        user = user_model(username=username, email=email, **defaults)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    address, _created = EmailAddress.objects.get_or_create(user=user, email=email)
    address.set_verified()
    address.set_as_primary(conditional=True)
    return user, created


@transaction.atomic
def staff_user_ensure(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    username: str | None = None,
    roles: Sequence[str] = (),
    clusters: Iterable[Cluster] = (),
    is_superuser: bool = False,
) -> tuple[AbstractBaseUser, bool]:
    """A staff account that signs in to the admin site; returns it and whether it was created.

    The username is ``username`` or else the e-mail. A new account gets ``password``; an existing
    one keeps its own. In both cases the account is staff (and superuser when asked), belongs to
    the groups ``roles`` (see :mod:`members.roles`), is staff of ``clusters`` and has a verified
    primary e-mail address.
    """
    email = email.strip().lower()
    user, created = _user_with_verified_email(
        username=username or email,
        email=email,
        password=password,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "is_staff": True,
            "is_superuser": is_superuser,
        },
    )
    if not user.is_staff or (is_superuser and not user.is_superuser):
        user.is_staff = True
        user.is_superuser = user.is_superuser or is_superuser
        user.save(update_fields=["is_staff", "is_superuser"])
    if roles:
        user.groups.add(*Group.objects.filter(name__in=roles))
    for cluster in clusters:
        cluster.staff.add(user)
    return user, created


@transaction.atomic
def contact_login_ensure(
    *, contact: Contact, password: str | None = None
) -> tuple[AbstractBaseUser, bool]:
    """The user account of ``contact``; returns it and whether it was created.

    The account's username and e-mail are the contact's e-mail, which counts as verified: the
    contact was registered by its cluster. Without ``password`` the account signs in by code
    only. The contact is linked to the account.
    """
    user, created = _user_with_verified_email(
        username=contact.email,
        email=contact.email,
        password=password,
        defaults={"first_name": contact.first_name, "last_name": contact.last_name},
    )
    if contact.user_id != user.pk:
        contact.user = user
        contact.save(update_fields=["user", "updated_at"])
    return user, created


def email_owner(*, email: str) -> AbstractBaseUser | None:
    """The account that proving ``email`` signs in to, or ``None`` if there is none yet.

    It is the account that verified the address (allauth lets one account only verify it), else
    the account opened for it (whose username is the address: :func:`contact_account_open`,
    :func:`contact_login_ensure`). An address that another account merely *claims* (added to it,
    never verified) never counts, nor does the e-mail field of a user: before members could no
    longer add addresses, one added a colleague's address to his own account, and the
    colleague's first sign-in by code verified it there and handed him her organisation.
    """
    email = email.strip().lower()
    verified = (
        EmailAddress.objects.filter(email__iexact=email, verified=True)
        .select_related("user")
        .first()
    )
    if verified is not None:
        return verified.user
    return get_user_model().objects.filter(username=email).first()


def email_address_is_own(*, address: EmailAddress) -> bool:
    """Whether ``address`` may be verified on the account that holds it: only the address that
    the account was opened for (its username) is. Members cannot add addresses
    (:mod:`members.views.account`); this keeps an address claimed before that from being
    verified on the claimant's account by a click of its real owner on the confirmation link.
    """
    return address.email.strip().lower() == address.user.get_username().strip().lower()


@transaction.atomic
def contact_account_open(*, email: str) -> AbstractBaseUser | None:
    """The account of the person whose e-mail is ``email``, opened if there is none yet; ``None``
    when no contact of any organisation has this e-mail (nobody else gets an account).

    Called when someone asks for a sign-in code. The account is :func:`email_owner`'s, or a new
    one: its username is the e-mail, it has no usable password (its owner may set one once
    signed in), its names are the contact's, and the e-mail is its primary allauth address,
    *not yet verified*: entering the code sent to it proves it, and allauth's code flow then
    marks it verified. An existing account (active or not) is returned as it is, with the
    address added if it lacks it.
    """
    email = email.strip().lower()
    contact = Contact.objects.filter(email=email).order_by("pk").first()
    if contact is None:
        return None
    user = email_owner(email=email)
    if user is None:
        user, _created = get_user_model().objects.get_or_create(
            username=email,
            defaults={
                "email": email,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "password": make_password(None),
            },
        )
    if not EmailAddress.objects.filter(user=user, email__iexact=email).exists():
        address = EmailAddress.objects.create(user=user, email=email)
        address.set_as_primary(conditional=True)
    return user


def email_claims_remove(*, user: AbstractBaseUser) -> int:
    """Remove the unverified copies that other accounts hold of ``user``'s verified addresses;
    returns how many. Run at each sign-in: an address that its owner has proven is nobody
    else's, not even as a pending claim (see :func:`email_owner`)."""
    verified = EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    claims = EmailAddress.objects.filter(email__in=list(verified), verified=False).exclude(
        user=user
    )
    removed, _by_model = claims.delete()
    return removed


def contacts_link_user(*, user: AbstractBaseUser) -> int:
    """Link to ``user`` every contact whose e-mail is one of its verified addresses; returns how
    many contacts were newly linked.

    Run at each sign-in, so that a contact added later with the same e-mail (by a colleague or
    by staff) is linked at the next one, and a person who is a contact of several organisations
    sees them all. A contact linked to another account takes this one: its e-mail has been proven
    by ``user``, and allauth lets only one account verify an address.
    """
    emails = {
        address.lower()
        for address in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }
    if not emails:
        return 0
    return (
        Contact.objects.filter(email__in=emails)
        .exclude(user=user)
        .update(user=user, updated_at=timezone.now())
    )
