"""Tasks of the project itself (not of a domain app): the operators' health check."""

from celery import shared_task
from django.db import connection


@shared_task(bind=True)
def health_check(self) -> dict[str, str]:
    """Prove that a worker takes tasks from the broker, reaches the database and returns results.

    Operators run it against the production broker after a deployment or from a monitoring probe::

        celery -A cluster result "$(celery -A cluster call cluster.tasks.health_check)"

    (``celery result`` waits until a worker has answered: wrap it in ``timeout 60`` in a probe.)
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "pong", "worker": self.request.hostname, "database": connection.vendor}
