"""``migrate`` on an empty database creates the clusters, their sites and plans, and the roles."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from members.models import Cluster, Plan, PlanCategory
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE

pytestmark = pytest.mark.django_db


def plans_of(slug):
    return {
        plan.name: plan.annual_fee
        for plan in Plan.objects.filter(cluster__slug=slug, is_active=True)
    }


def test_the_three_clusters_exist_with_their_roles_in_the_merger():
    clusters = {c.slug: (c.name, c.kind) for c in Cluster.objects.all()}
    assert clusters == {
        "digitalplace": ("DigitalPlace", Cluster.Kind.SOURCE),
        "frenchsouth": ("FrenchSouth.digital", Cluster.Kind.SOURCE),
        "grand-cluster": ("Grand Cluster Occitanie", Cluster.Kind.SUCCESSOR),
    }


def test_sites_of_the_source_clusters():
    sites = {
        slug: sorted(Cluster.objects.get(slug=slug).sites.values_list("name", flat=True))
        for slug in ("digitalplace", "frenchsouth")
    }
    assert sites == {
        "digitalplace": ["Toulouse"],
        "frenchsouth": ["Carcassonne", "Montpellier", "Nîmes", "Perpignan"],
    }


def test_source_plans_are_exactly_those_of_the_spreadsheets():
    assert plans_of("digitalplace") == {
        "Startup": Decimal("300"),
        "PME": Decimal("600"),
        "ETI / Grand compte": Decimal("2500"),
        "Académique": Decimal("400"),
        "Indépendant": Decimal("150"),
    }
    assert plans_of("frenchsouth") == {
        "Startup": Decimal("250"),
        "PME": Decimal("550"),
        "Grande entreprise": Decimal("3000"),
        "Recherche & formation": Decimal("350"),
        "Indépendant": Decimal("120"),
    }


def test_every_cluster_has_one_plan_per_category():
    for slug in ("digitalplace", "frenchsouth", "grand-cluster"):
        categories = sorted(
            Plan.objects.filter(cluster__slug=slug).values_list("category", flat=True)
        )
        assert categories == sorted(PlanCategory.values), slug


def test_clusters_start_with_a_30_day_grace_and_the_vat_mention():
    for cluster in Cluster.objects.all():
        assert cluster.grace_days == 30
        assert cluster.vat_mention == "TVA non applicable, art. 261-7-1° du CGI"


def test_role_groups_hold_their_permissions():
    def permissions(role: str, app_label: str) -> set[str]:
        group = Group.objects.get(name=role)
        return set(
            group.permissions.filter(content_type__app_label=app_label).values_list(
                "codename", flat=True
            )
        )

    staff = permissions(MEMBERSHIP_STAFF, "members")
    committee = permissions(MERGER_COMMITTEE, "members")
    assert {"change_membership", "add_term", "change_plan"} <= staff
    assert "view_all_clusters" not in staff
    assert "view_all_clusters" in committee
    # The committee reads the members' data; it decides in the merger only.
    assert all(codename.startswith("view_") for codename in committee)
    assert {"decide_transferproposal", "execute_merger", "change_duplicatepair"} <= permissions(
        MERGER_COMMITTEE, "merger"
    )
    # Staff only read their clusters' adoptions of the merger by their assemblies.
    assert permissions(MEMBERSHIP_STAFF, "merger") == {"view_mergeradoption"}
