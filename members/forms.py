"""Forms of the member site. They parse and label what people type; the rules live in the
services, whose :class:`ValidationError` the views put back on the fields."""

from allauth.account import forms as allauth_forms
from allauth.core import context as allauth_context
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.models import ContactRole, Organisation, Plan
from members.services.accounts import contact_account_open, email_owner
from members.services.organisations import ORGANISATION_EDITABLE_FIELDS

# --- Member area: the organisation's details, its contacts, the renewal steps -------------------


class OrganisationForm(forms.ModelForm):
    """The details of an organisation that its primary contacts keep up to date: the model's
    fields (their lengths and rules), labelled for members."""

    class Meta:
        model = Organisation
        fields = ORGANISATION_EDITABLE_FIELDS
        labels = {
            "address_line1": _("Numéro et voie"),
            "address_line2": _("Complément d’adresse"),
            "postcode": _("Code postal"),
            "city": _("Ville"),
            "headcount": _("Effectif"),
            "sector": _("Secteur d’activité"),
        }
        help_texts = {
            "postcode": _("5 chiffres"),
            "headcount": _(
                "Nombre de personnes dans l’organisation : il oriente le choix de la formule."
            ),
        }
        error_messages = {
            # "31 000" is longer than a postcode: what is wrong is the same as for "3100".
            "postcode": {
                "max_length": _("Le code postal doit comporter 5 chiffres, par exemple 31000.")
            },
        }
        widgets = {
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "postcode": forms.TextInput(
                attrs={"autocomplete": "postal-code", "inputmode": "numeric", "size": 6}
            ),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "headcount": forms.NumberInput(attrs={"size": 6}),
        }


class ContactDetailsForm(forms.Form):
    """A contact's name, title and role, as a primary contact gives them for a colleague; without
    the role (``role_editable`` false) for a contact changing its own."""

    required_css_class = "required"

    first_name = forms.CharField(
        label=_("Prénom"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    last_name = forms.CharField(
        label=pgettext_lazy("nom de famille", "Nom"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    job_title = forms.CharField(label=_("Fonction"), max_length=150, required=False)
    role = forms.ChoiceField(
        label=_("Rôle"),
        choices=ContactRole.choices,
        initial=ContactRole.MEMBER,
        help_text=_(
            "Un contact principal peut modifier l’organisation et ses contacts ; le contact "
            "facturation reçoit les factures."
        ),
    )

    def __init__(self, *args, role_editable: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not role_editable:
            del self.fields["role"]


class ContactForm(ContactDetailsForm):
    """A colleague added to an organisation's contacts."""

    field_order = ("first_name", "last_name", "email", "job_title", "role", "language")

    email = forms.EmailField(
        label=_("Adresse e-mail"),
        help_text=_("Votre collègue se connectera avec cette adresse."),
        error_messages={
            "invalid": _("Saisissez une adresse e-mail valide, comme nom@entreprise.fr.")
        },
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    language = forms.ChoiceField(
        label=_("Langue des e-mails"), choices=settings.LANGUAGES, initial="fr"
    )


class RenewalPlanForm(forms.Form):
    """The plan chosen for a renewal, among the cluster's active plans (``plans``)."""

    plan = forms.ModelChoiceField(
        label=_("Formule"),
        queryset=Plan.objects.none(),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choisissez une formule."),
            "invalid_choice": _("Cette formule n’est plus proposée : choisissez-en une autre."),
        },
    )

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans


class RenewalConfirmForm(forms.Form):
    """What the confirmation step posts: the term the member saw as the latest (so that a second
    click renews nothing more) and the plan."""

    after = forms.IntegerField(widget=forms.HiddenInput)
    plan = forms.IntegerField(widget=forms.HiddenInput)


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

    The account is the one that owns the address
    (:func:`~members.services.accounts.email_owner`), never one that merely claims it; when there
    is none but the e-mail is a contact's, it is opened
    (:func:`~members.services.accounts.contact_account_open`) so that the code goes out.
    Any other e-mail, or an inactive account, gets allauth's answer to an unknown address: the
    same page, and an e-mail saying that no account uses it (no enumeration).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        field.label = _("Adresse e-mail")
        field.help_text = _("Celle sous laquelle votre entreprise vous a inscrit comme contact.")
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
        if email:
            # allauth would also take an account that merely claims the address (unverified):
            # the code goes to the account that owns it, or opened for the contact.
            user = contact_account_open(email=email) or email_owner(email=email)
            self._user = user if user is not None and user.is_active else None
        return email


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    """The e-mail to send a password reset link to: it goes to the account that owns the
    address (:func:`~members.services.accounts.email_owner`), never to one that merely claims
    it; else allauth's answer to an unknown address."""

    def clean_email(self) -> str:
        email = super().clean_email()
        user = email_owner(email=email)
        self.users = [user] if user is not None and user.is_active else []
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
