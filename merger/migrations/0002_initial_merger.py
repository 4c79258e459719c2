"""Initial data: the merger of DigitalPlace and FrenchSouth.digital into the Grand Cluster, as the
general assemblies voted it, postponed once already (first planned for 1 July 2026), and each
source plan mapped to the successor's plan of the same category. All of it is editable in the
admin afterwards, every change logged."""

import datetime

from django.db import migrations

SUCCESSOR = "grand-cluster"
SOURCES = ("digitalplace", "frenchsouth")
FIRST_PLANNED = datetime.date(2026, 7, 1)
PLANNED = datetime.date(2027, 1, 1)


def create_merger(apps, schema_editor):
    Cluster = apps.get_model("members", "Cluster")
    Plan = apps.get_model("members", "Plan")
    Merger = apps.get_model("merger", "Merger")
    MergerEvent = apps.get_model("merger", "MergerEvent")
    PlanMapping = apps.get_model("merger", "PlanMapping")
    successor = Cluster.objects.filter(slug=SUCCESSOR).first()
    sources = list(Cluster.objects.filter(slug__in=SOURCES).order_by("slug"))
    if successor is None or len(sources) != len(SOURCES) or Merger.objects.exists():
        return
    merger = Merger.objects.create(
        name=f"Fusion de {' et '.join(c.name for c in sources)} dans {successor.name}",
        successor=successor,
        status="postponed",
        planned_date=PLANNED,
    )
    merger.sources.set(sources)
    MergerEvent.objects.create(
        merger=merger,
        kind="created",
        status_after="planned",
        date_after=FIRST_PLANNED,
        reason="Fusion votée par les assemblées générales des deux associations.",
    )
    MergerEvent.objects.create(
        merger=merger,
        kind="postponed",
        status_before="planned",
        status_after="postponed",
        date_before=FIRST_PLANNED,
        date_after=PLANNED,
        reason=(
            "Gouvernance, répartition du budget et clôture des comptes de chaque association au "
            "31 décembre à régler d’abord."
        ),
    )
    successor_plans = list(Plan.objects.filter(cluster=successor).order_by("position", "pk"))
    for plan in Plan.objects.filter(cluster__in=sources):
        target = next((p for p in successor_plans if p.category == plan.category), None)
        PlanMapping.objects.create(merger=merger, source_plan=plan, successor_plan=target)


class Migration(migrations.Migration):
    dependencies = [
        ("merger", "0001_initial"),
        ("members", "0008_merger_links"),
    ]

    operations = [migrations.RunPython(create_merger, migrations.RunPython.noop)]
