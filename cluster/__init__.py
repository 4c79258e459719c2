"""The Django project package: settings, URLs, WSGI/ASGI and the Celery app. No domain code."""

from .celery import app as celery_app

__all__ = ["celery_app"]
