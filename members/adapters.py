"""django-allauth hooks: who may get an account, what a sign-in does, how its e-mails read, and
when an authenticator app may be turned off."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.utils.translation import gettext_lazy as _

from members.services.accounts import (
    contacts_link_user,
    email_address_is_own,
    email_claims_remove,
    login_code_validity_minutes,
)


class AccountAdapter(DefaultAccountAdapter):
    """No open sign-up: accounts are for the contacts of member organisations only, and each
    signs in with the one address it was opened for (members add no other: see
    :mod:`members.views.account`).

    A contact's account is opened when it first asks for a sign-in code
    (:class:`members.forms.RequestLoginCodeForm`); staff accounts are made by an operator
    (``createsuperuser``, the admin or ``seed_demo``). Each sign-in removes other accounts'
    unverified claims on the account's verified addresses and links the account to the contacts
    that share them.
    """

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": _(
            "Trop de tentatives infructueuses. Demandez un nouveau code de connexion ou "
            "réessayez dans quelques minutes."
        ),
    }

    def is_open_for_signup(self, request) -> bool:
        return False

    def confirm_email(self, request, email_address) -> bool:
        # An address is verified only on the account opened for it, whoever clicks the link.
        if not email_address_is_own(address=email_address):
            messages.error(
                request,
                _(
                    "L’adresse %(email)s ne peut pas être confirmée pour ce compte : une adresse "
                    "de connexion n’appartient qu’au compte ouvert pour elle."
                )
                % {"email": email_address.email},
            )
            return False
        return super().confirm_email(request, email_address)

    def login(self, request, user) -> None:
        super().login(request, user)
        email_claims_remove(user=user)
        contacts_link_user(user=user)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # The sign-in code e-mail says how long the code lasts.
        context = {
            **context,
            "code_timeout_minutes": login_code_validity_minutes(),
        }
        super().send_mail(template_prefix, email, context)


class MFAAdapter(DefaultMFAAdapter):
    """Two-factor authentication (allauth.mfa): a superuser cannot turn off its authenticator app
    while ``MFA_REQUIRED_FOR_SUPERUSERS`` requires it (allauth then says that it cannot be
    deactivated); everyone else may."""

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        if (
            settings.MFA_REQUIRED_FOR_SUPERUSERS
            and authenticator.type == Authenticator.Type.TOTP
            and authenticator.user.is_superuser
        ):
            return False
        return super().can_delete_authenticator(authenticator)
