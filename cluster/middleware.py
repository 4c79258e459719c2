"""Request middleware of the project."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class FrenchFirstLocaleMiddleware(LocaleMiddleware):
    """French for everyone until they choose English with the language switch.

    Django's ``LocaleMiddleware`` would follow the browser's ``Accept-Language``; our members and
    staff are French associations, so the site speaks French first whatever the browser says, and
    the choice made with the switch (the language cookie) wins.
    """

    def process_request(self, request):
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
