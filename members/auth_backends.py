"""Authentication backend of the sign-in by e-mail and password."""

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend

from members.services.accounts import email_owner


class AuthenticationBackend(AllauthBackend):
    """allauth's backend, except that an e-mail and a password sign in to the account that owns
    the address (:func:`~members.services.accounts.email_owner`) only: allauth would also try
    the accounts that merely claim it (added, never verified)."""

    def _authenticate_by_email(self, email: str, password: str):
        if not email:
            return None
        user = email_owner(email=email)
        if user is None:
            self._mitigate_timing_attack(password)
            return None
        return self._check_password(user, password)
