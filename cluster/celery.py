"""The Celery application, configured from Django settings under the ``CELERY_`` namespace.

Tasks are found in the ``tasks`` module of every installed app, plus :mod:`cluster.tasks` (the
project package is not an installed app).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cluster.settings")

app = Celery("cluster", include=["cluster.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
