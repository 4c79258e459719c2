"""The demo's merger waits on nothing: the source clusters' extraordinary assemblies of June
(:mod:`assemblies.demo`) adopted it, and the committee recorded both adoptions."""

from datetime import date

from django.contrib.auth import get_user_model

from assemblies.demo import assemblies_demo_seed
from members.models import Contact
from members.roles import MERGER_COMMITTEE

from .selectors import merger_current
from .services import merger_adoption_record


def merger_demo_seed(*, member_email: str, today: date) -> dict[str, int]:
    """The demo's assemblies (:func:`assemblies.demo.assemblies_demo_seed`), the demo member
    being the contact of ``member_email`` who signs in, and, on the merger, each source
    cluster's adoption recorded by the committee's user; return the rows created per kind.
    Creates only what is missing."""
    merger = merger_current()
    clusters = {cluster.slug: cluster for cluster in merger.sources.order_by("name")}
    member = Contact.objects.get(email=member_email, user__isnull=False)
    assemblies = assemblies_demo_seed(clusters=clusters, member=member, today=today)
    committee = (
        get_user_model().objects.filter(groups__name=MERGER_COMMITTEE).order_by("pk").first()
    )
    recorded = set(merger.adoptions.values_list("cluster_id", flat=True))
    adoptions = 0
    for resolution in assemblies.principles.values():
        if resolution.assembly.cluster_id not in recorded:
            merger_adoption_record(merger=merger, resolution=resolution, by=committee)
            adoptions += 1
    return {**assemblies.created, "adoptions": adoptions}
