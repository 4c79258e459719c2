"""Forms of the member site. They parse and label what people type; the rules live in the
services, whose :class:`ValidationError` the views put back on the fields."""

from allauth.account import forms as allauth_forms
from allauth.core import context as allauth_context
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from members.services.accounts import contact_account_open

# --- Sign-in (django-allauth, through ACCOUNT_FORMS) --------------------------------------------

# The e-mail that the sign-in forms show prefilled: the renewal link stores its contact's there
# before sending them to sign in.
LOGIN_EMAIL_SESSION_KEY = "members_login_email"


def _login_email_from_session() -> str:
    request = allauth_context.request
    session = getattr(request, "session", None)
    return session.get(LOGIN_EMAIL_SESSION_KEY, "") if session is not None else ""


class RequestLoginCodeForm(allauth_forms.RequestLoginCodeForm):
    """The e-mail to send a sign-in code to: the main way in for member contacts.

    allauth finds the account; when there is none but the e-mail is a contact's, the account is
    opened (:func:`~members.services.accounts.contact_account_open`) so that the code goes out.
    Any other e-mail, or an inactive account, gets allauth's answer to an unknown address: the
    same page, and an e-mail saying that no account uses it (no enumeration).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        field.label = _("Adresse e-mail")
        field.help_text = _("Celle sous laquelle votre entreprise est inscrite comme contact.")
        field.widget.attrs.pop("placeholder", None)
        field.widget.attrs.update({"autocomplete": "email", "spellcheck": "false"})
        if not self.is_bound and not self.initial.get("email"):
            self.initial["email"] = _login_email_from_session()

    def clean_email(self) -> str:
        try:
            email = super().clean_email()
        except ValidationError as error:
            if error.code == "too_many_login_attempts":
                raise ValidationError(
                    _(
                        "Trop de demandes de code en peu de temps. Patientez quelques minutes "
                        "avant d’en demander un nouveau."
                    ),
                    code="too_many_login_code_requests",
                ) from error
            raise
        if email and self._user is None:
            user = contact_account_open(email=email)
            if user is not None and user.is_active:
                self._user = user
        return email


class LoginForm(allauth_forms.LoginForm):
    """Sign-in with a password, the second way in; its page offers the code request first
    (:attr:`code_form`), both with the e-mail prefilled."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = _("Adresse e-mail")
        self.fields["login"].widget.attrs.pop("placeholder", None)
        self.fields["password"].widget.attrs.pop("placeholder", None)
        if not self.is_bound and not self.initial.get("login"):
            self.initial["login"] = _login_email_from_session()

    @cached_property
    def code_form(self) -> RequestLoginCodeForm:
        """The code request form shown first on the sign-in page, with the same e-mail."""
        return RequestLoginCodeForm(initial={"email": self["login"].value() or ""})


class ConfirmLoginCodeForm(allauth_forms.ConfirmLoginCodeForm):
    """The code received by e-mail, as printed or not: allauth ignores case, dashes and spaces."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["code"]
        field.label = _("Code de connexion")
        field.help_text = _("Huit lettres, par exemple BCDF-GHJK.")
        field.widget.attrs.pop("placeholder", None)
        field.widget.attrs.update(
            {"autocapitalize": "characters", "spellcheck": "false", "autofocus": True}
        )
