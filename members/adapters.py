"""django-allauth hooks: who may get an account."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """No open sign-up: accounts are for the contacts of member organisations only.

    Until sign-in by e-mail code for contacts arrives (the renewal issue), nobody signs up; staff
    accounts are made by an operator (``createsuperuser``, the admin or ``seed_demo``).
    """

    def is_open_for_signup(self, request) -> bool:
        return False
