"""The admin site: Django's, signing staff in through allauth.

Django's own admin login checks the password and logs in at once: it has no rate limit, and it
would skip allauth's two-factor authentication, which is a stage of allauth's login flow. Here
the admin's login page keeps its look and its fields, and what it does with them is allauth's:

- the password is checked by allauth's adapter, which counts the failures per account and per
  client address (allauth's "login_failed" limits, the client address as allauth computes it,
  ``ALLAUTH_TRUSTED_PROXY_COUNT`` included), as on the member site's sign-in page, where the same
  account shares the same count;
- a locked-out attempt gets the site's 429 page saying when the sign-in may be tried again;
- the login then goes through allauth's stages, which ask for the authenticator app's code when
  the account has one, before the admin opens.

Redirecting the admin's login to the member site's sign-in page would have done the same with
less code, but that page offers a code by e-mail first, takes no username (the superuser of an
installation often has one) and asks staff accounts that have no verified address to verify
one; staff keep their page.

With ``MFA_REQUIRED_FOR_SUPERUSERS``, a superuser without an authenticator app is sent to set
one up before any admin page opens.

Parameters that Django's admin hands to the database unread, and that answered 500, are checked
before any admin page opens (:func:`admin_parameters_check`): the 400 page says which one is
wrong and why.
"""

import datetime as dt
import math
import time
from functools import update_wrapper

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from allauth.core import ratelimit
from allauth.core.internal import ratelimit as ratelimit_state
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from cluster.errors import BoundedIntegerField, MalformedRequest, YearField, parameters_read, shown

# allauth's rate limits of sign-in are those of its account app.
RATE_LIMITED_APP = "allauth.account"
# The title of Django's admin login page, translated by Django's catalogue (as a literal in a call
# of ``_``, makemessages would copy it into ours).
LOGIN_TITLE = "Log in"


def login_credentials(login: str, password: str) -> dict[str, str]:
    """What allauth authenticates for the admin's ``login`` (a username or an e-mail) and
    ``password``.

    Django's backend tries the login as a username, allauth's as an e-mail. The e-mail of the
    account whose username it is goes with it: allauth counts the failures under the e-mail when
    there is one, so one account has one count whether its username or its e-mail was typed,
    here or on the member site's sign-in page.
    """
    credentials = {"username": login, "password": password}
    email = (
        get_user_model()
        .objects.filter(username=login)
        .exclude(email="")
        .values_list("email", flat=True)
        .first()
    )
    if email:
        credentials["email"] = email
    return credentials


def rate_limit_frees_at(
    request: HttpRequest, *, action: str, key: str | None = None
) -> float | None:
    """When allauth's limits of ``action`` let the next attempt of ``request`` through (POSIX
    time), or None if they do already.

    allauth keeps, per rate, the times of the attempts it counted within the rate's window,
    newest first (allauth.core.internal.ratelimit); a rate that is used up frees a place when the
    oldest of the attempts that fill it leaves the window. Attempts refused meanwhile are not
    counted by the rate that refused them, so this time does not move while the lock holds.
    """
    now = time.time()
    frees_at = None
    for rate in ratelimit_state.get_rates(app=RATE_LIMITED_APP, action=action):
        if rate.per == "user" or (rate.per == "key" and key is None):
            continue
        cache_key = ratelimit_state.get_cache_key(
            request, app=RATE_LIMITED_APP, action=action, rate=rate, key=key
        )
        attempts = sorted(
            (at for at in cache.get(cache_key, []) if at > now - rate.duration), reverse=True
        )
        if len(attempts) >= rate.amount:
            rate_frees_at = attempts[rate.amount - 1] + rate.duration
            frees_at = rate_frees_at if frees_at is None else max(frees_at, rate_frees_at)
    return frees_at


def rate_limited_response(request: HttpRequest, *, login: str) -> HttpResponse:
    """The site's 429 page (templates/429.html) for an admin sign-in of ``login`` refused by
    allauth's limits: when it may be tried again, and the way back to the admin's login.

    That time is the latest at which one of the limits that an attempt meets frees: sign-in posts
    per address ("login"), failures per address and per account ("login_failed").
    """
    key = None
    if login:
        adapter = get_account_adapter(request)
        key = adapter._get_login_attempts_cache_key(request, **login_credentials(login, ""))
    times = [
        frees_at
        for action in ("login", "login_failed")
        if (frees_at := rate_limit_frees_at(request, action=action, key=key)) is not None
    ]
    context = {"login_url": request.get_full_path()}
    if times:
        # The page gives hours and minutes: rounded up, the time is never too early.
        context["retry_at"] = dt.datetime.fromtimestamp(math.ceil(max(times) / 60) * 60, tz=dt.UTC)
    return render(request, "429.html", context, status=429)


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form (username or e-mail, password, staff only), whose password
    allauth's adapter checks and counts (allauth's "login_failed" limits)."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.credentials: dict[str, str] = {}
        self.rate_limited = False

    def clean(self):
        login = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if login is not None and password:
            self.credentials = login_credentials(login, password)
            try:
                self.user_cache = get_account_adapter(self.request).authenticate(
                    self.request, **self.credentials
                )
            except ValidationError as error:
                self.rate_limited = error.code == "too_many_login_attempts"
                raise
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminLoginView(LoginView):
    """Django's admin login view, whose login is allauth's flow (its stages, two-factor
    authentication included) and whose refusals by allauth's limits are 429 pages."""

    authentication_form = AdminLoginForm
    template_name = "admin/login.html"

    def post(self, request, *args, **kwargs):
        # allauth's limit of sign-in posts per address ("login"), as on the member site.
        if not ratelimit.consume(request, action="login"):
            return rate_limited_response(request, login=request.POST.get("username", "").strip())
        return super().post(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        return reverse("admin:index", current_app=self.request.current_app)

    def form_invalid(self, form):
        if form.rate_limited:
            return rate_limited_response(self.request, login=form.cleaned_data["username"])
        return super().form_invalid(form)

    def form_valid(self, form):
        login = Login(
            user=form.get_user(),
            redirect_url=self.get_success_url(),
            # Staff accounts are made by operators (createsuperuser, the admin): the member
            # site's verification of the address does not apply to them, as it never did here.
            email_verification=EmailVerificationMethod.NONE,
        )
        return perform_password_login(self.request, form.credentials, login)


def superuser_lacks_required_mfa(user) -> bool:
    """Whether ``user`` is a superuser without the authenticator app that
    ``MFA_REQUIRED_FOR_SUPERUSERS`` requires."""
    return (
        settings.MFA_REQUIRED_FOR_SUPERUSERS
        and user.is_superuser
        and not is_mfa_enabled(user, [Authenticator.Type.TOTP])
    )


def date_hierarchy_form(field_name: str) -> type[forms.Form]:
    """The form reading the date hierarchy's parameters of a list by ``field_name``."""
    return type(
        "DateHierarchyForm",
        (forms.Form,),
        {
            f"{field_name}__year": YearField(required=False),
            f"{field_name}__month": BoundedIntegerField(
                required=False,
                min_value=1,
                max_value=12,
                message=_("Le mois doit être un nombre entier de 1 à 12."),
            ),
            f"{field_name}__day": BoundedIntegerField(
                required=False,
                min_value=1,
                max_value=31,
                message=_("Le jour doit être un nombre entier de 1 à 31."),
            ),
        },
    )


def admin_parameters_check(request: HttpRequest, view) -> None:
    """Raise :class:`MalformedRequest` for a parameter of ``request`` to the admin's ``view`` that
    Django's admin would hand to the database unread, answering 500 (seen on PostgreSQL):

    - a NUL character in the name or a value of any parameter, in the query or the form:
      PostgreSQL refuses it in any text, and a list passes its filters to its query as they
      come (a search, the forms, are checked by Django; the filters, the autocomplete are not);
    - a row selected for a list's action that is not an identifier of the list's model;
    - a year, month or day of a list's date hierarchy that no date has.
    """
    for parameters in (request.GET, request.POST):
        for name, values in parameters.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise MalformedRequest.parameter(
                    name,
                    gettext("Il contient un caractère nul, qu’aucune valeur ne peut contenir."),
                )
    model_admin = getattr(view, "__self__", None)
    if not isinstance(model_admin, admin.ModelAdmin):
        return
    if request.method == "POST":
        key = model_admin.opts.pk
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            try:
                key.to_python(value)
            except ValidationError as error:
                raise MalformedRequest.parameter(
                    ACTION_CHECKBOX_NAME,
                    gettext("« %(value)s » n’est l’identifiant d’aucune ligne de la liste.")
                    % {"value": shown(value)},
                ) from error
    if model_admin.date_hierarchy and view.__name__ == "changelist_view":
        parameters_read(date_hierarchy_form(model_admin.date_hierarchy), request.GET)


class AdminSite(admin.AdminSite):
    """The project's admin site (``admin.site``): sign-in through allauth
    (:class:`AdminLoginView`), an authenticator app required of superusers when
    ``MFA_REQUIRED_FOR_SUPERUSERS`` is on, malformed parameters answered with a 400 page
    (:func:`admin_parameters_check`), a dashboard per role as its home page."""

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        """Django's admin login page, as Django builds it, with :class:`AdminLoginView`."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _(LOGIN_TITLE),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return AdminLoginView.as_view(extra_context=context)(request)

    def index(self, request, extra_context=None):
        """Django's home page of the admin, opening on the dashboard of the user's roles
        (:mod:`cluster.dashboard`), the list of the models beside it."""
        # The dashboard reads the apps' admin modules, which register their models on this site.
        from cluster.dashboard import admin_dashboard

        context = {"dashboard": admin_dashboard(request), **(extra_context or {})}
        return super().index(request, context)

    def admin_view(self, view, cacheable=False):
        """Django's wrapper of admin views (staff only, not cached, CSRF), which first sends a
        superuser who lacks the required authenticator app to set one up (signing out stays
        open), then refuses malformed parameters (:func:`admin_parameters_check`)."""

        def view_unless_mfa_is_missing(request, *args, **kwargs):
            if superuser_lacks_required_mfa(request.user) and request.path != reverse(
                "admin:logout", current_app=self.name
            ):
                messages.warning(
                    request,
                    _(
                        "Les comptes superutilisateur doivent activer la double authentification "
                        "avant d’utiliser l’administration : ajoutez ce compte à votre "
                        "application d’authentification, puis saisissez le code qu’elle affiche."
                    ),
                )
                return redirect("mfa_activate_totp")
            admin_parameters_check(request, view)
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(view_unless_mfa_is_missing, view), cacheable)
