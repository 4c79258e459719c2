"""Initial data: the two source clusters, their sites and plans, and the successor.

The plans of the source clusters are those of their spreadsheets (tests/samples/README.md); the
successor's are a proposal for the merger committee. All of it is editable by staff afterwards.
"""

from decimal import Decimal

from django.db import migrations

CLUSTERS = [
    {
        "slug": "digitalplace",
        "name": "DigitalPlace",
        "kind": "source",
        "legal_name": "Association DigitalPlace",
        "member_number_prefix": "DP",
        "invoice_prefix": "DP",
        "sites": ["Toulouse"],
        "plans": [
            ("Startup", "startup", "300", 1, 19),
            ("PME", "sme", "600", 20, 249),
            ("ETI / Grand compte", "large", "2500", 250, None),
            ("Académique", "academic", "400", None, None),
            ("Indépendant", "freelance", "150", 0, 1),
        ],
    },
    {
        "slug": "frenchsouth",
        "name": "FrenchSouth.digital",
        "kind": "source",
        "legal_name": "Association FrenchSouth.digital",
        "member_number_prefix": "FS",
        "invoice_prefix": "FS",
        "sites": ["Montpellier", "Nîmes", "Carcassonne", "Perpignan"],
        "plans": [
            ("Startup", "startup", "250", 1, 19),
            ("PME", "sme", "550", 20, 249),
            ("Grande entreprise", "large", "3000", 250, None),
            ("Recherche & formation", "academic", "350", None, None),
            ("Indépendant", "freelance", "120", 0, 1),
        ],
    },
    {
        "slug": "grand-cluster",
        "name": "Grand Cluster Occitanie",
        "kind": "successor",
        "legal_name": "Grand Cluster Occitanie",
        "member_number_prefix": "GC",
        "invoice_prefix": "GC",
        "sites": ["Toulouse", "Montpellier", "Nîmes", "Carcassonne", "Perpignan"],
        "plans": [
            ("Startup", "startup", "280", 1, 19),
            ("PME", "sme", "580", 20, 249),
            ("Grande entreprise / ETI", "large", "2800", 250, None),
            ("Recherche & formation", "academic", "380", None, None),
            ("Indépendant", "freelance", "140", 0, 1),
        ],
    },
]


def create_clusters(apps, schema_editor):
    Cluster = apps.get_model("members", "Cluster")
    Site = apps.get_model("members", "Site")
    Plan = apps.get_model("members", "Plan")
    for data in CLUSTERS:
        data = dict(data)
        sites, plans = data.pop("sites"), data.pop("plans")
        cluster, _created = Cluster.objects.get_or_create(slug=data.pop("slug"), defaults=data)
        for name in sites:
            Site.objects.get_or_create(cluster=cluster, name=name)
        for position, (name, category, fee, low, high) in enumerate(plans):
            Plan.objects.get_or_create(
                cluster=cluster,
                name=name,
                defaults={
                    "category": category,
                    "annual_fee": Decimal(fee),
                    "headcount_min": low,
                    "headcount_max": high,
                    "position": position,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("members", "0002_term_no_overlap")]

    operations = [migrations.RunPython(create_clusters, migrations.RunPython.noop)]
