"""django-allauth hooks: who may get an account, what a sign-in does, how its e-mails read."""

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.utils.translation import gettext_lazy as _

from members.services.accounts import contacts_link_user


class AccountAdapter(DefaultAccountAdapter):
    """No open sign-up: accounts are for the contacts of member organisations only.

    A contact's account is opened when it first asks for a sign-in code
    (:class:`members.forms.RequestLoginCodeForm`); staff accounts are made by an operator
    (``createsuperuser``, the admin or ``seed_demo``). Each sign-in links the account to the
    contacts that share its verified e-mail addresses.
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

    def login(self, request, user) -> None:
        super().login(request, user)
        contacts_link_user(user=user)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # The sign-in code e-mail says how long the code lasts.
        context = {
            **context,
            "code_timeout_minutes": app_settings.LOGIN_BY_CODE_TIMEOUT // 60,
        }
        super().send_mail(template_prefix, email, context)
