"""Malformed requests: a parameter that a page cannot read is a 400 page saying which one and
why, never a 500.

A view reads the parameters of its query or its form through a Django form
(:func:`parameters_read`); what the form refuses raises :class:`MalformedRequest`, which Django
answers with the site's 400 page (:func:`bad_request`, ``handler400``), its message shown, in
production too. Other 400s (a host the site does not serve, …) get the same page without
details. Nothing here knows the domain: the apps and the admin site use it alike.
"""

from django import forms
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: How much of a parameter's name or value a message shows.
SHOWN_LENGTH = 80


class MalformedRequest(BadRequest):
    """A request with a parameter that cannot be read; the message, translated, names the
    parameter and says what is wrong with it, for the 400 page to show."""

    @classmethod
    def parameter(cls, name: str, reason: str) -> "MalformedRequest":
        """The request's parameter ``name`` is wrong, for ``reason`` (a sentence)."""
        return cls(
            _("Paramètre « %(name)s » incorrect. %(reason)s")
            % {"name": shown(name), "reason": reason}
        )


def shown(text: str) -> str:
    """``text`` (a parameter's name or value) as a message shows it: its NUL characters
    visible, cut when very long."""
    text = text.replace("\x00", "\\x00")
    if len(text) > SHOWN_LENGTH:
        return text[:SHOWN_LENGTH] + "…"
    return text


class BoundedIntegerField(forms.IntegerField):
    """A whole number from ``min_value`` to ``max_value`` whose one error ``message`` says so,
    whatever is wrong with it (not a number, too small, too large)."""

    def __init__(self, *, min_value: int, max_value: int, message, **kwargs):
        kwargs["error_messages"] = dict.fromkeys(("invalid", "min_value", "max_value"), message)
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)


class YearField(BoundedIntegerField):
    """A year that dates can hold, from 1 to 9999."""

    def __init__(self, **kwargs):
        super().__init__(
            min_value=1,
            max_value=9999,
            message=gettext_lazy("L’année doit être un nombre entier de 1 à 9999."),
            **kwargs,
        )


def parameters_read(form_class: type[forms.Form], data: QueryDict) -> dict:
    """The parameters of ``data`` (a request's ``GET`` or ``POST``) that ``form_class`` reads,
    cleaned; raise :class:`MalformedRequest` naming the first one it refuses, and why."""
    form = form_class(data)
    if form.is_valid():
        return form.cleaned_data
    name, errors = next(iter(form.errors.items()))
    raise MalformedRequest.parameter(name, " ".join(errors))


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 400 page (``handler400``): what is wrong with the request when it is a
    :class:`MalformedRequest`, a general explanation otherwise."""
    message = str(exception) if isinstance(exception, MalformedRequest) else ""
    return render(request, "400.html", {"message": message, "back_url": request.path}, status=400)
