"""What the management commands share about their arguments: ``--cluster``, dates."""

from datetime import date

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from members.models import Cluster

#: The exit status of a command given unusable input (an unknown cluster, an unreadable file…).
EXIT_UNUSABLE = 2


def cluster_from_slug(slug: str) -> Cluster:
    """The cluster ``slug`` names, or a :class:`CommandError` (exit status 2) listing the
    known ones."""
    try:
        return Cluster.objects.get(slug=slug)
    except Cluster.DoesNotExist:
        known = ", ".join(Cluster.objects.values_list("slug", flat=True))
        raise CommandError(
            _("Cluster inconnu « %(cluster)s » (clusters : %(known)s).")
            % {"cluster": slug, "known": known},
            returncode=EXIT_UNUSABLE,
        ) from None


def day_from_argument(value: str) -> date:
    """The date ``value`` (YYYY-MM-DD) names, or a :class:`CommandError` (exit status 2)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("Date invalide « %(value)s » : attendu AAAA-MM-JJ, par exemple 2026-12-01.")
            % {"value": value},
            returncode=EXIT_UNUSABLE,
        ) from None
