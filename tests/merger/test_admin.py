"""The merger in the admin, as a member of the merger committee sees it: who may open it; the
merger's page (a new date with a reason is a postponement, logged; no reason, no change; the plan
mapping, logged); the proposals established from a button, filtered, searched, listed in a
constant number of queries, approved in bulk with a reason (a proposal decided meanwhile by
somebody else is left alone, and the page says who decided); a proposal's page with its source
memberships side by side, which takes a decision; the execution's dry-run preview, then the
execution; the report and its XLSX and CSV exports (formulas escaped); the duplicate review
(find, merge, dismiss, undo, each with a reason); the members' notices, read-only."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from members.formatting import money
from members.models import Cluster, Membership, Organisation, Plan, Term
from merger.models import (
    Decision,
    DuplicatePair,
    Merger,
    MergerEvent,
    MergerExecution,
    MergerNotice,
    PlanMapping,
    TransferDecision,
    TransferProposal,
)
from merger.services import (
    duplicate_merge,
    duplicates_refresh,
    merger_execution_run,
    proposals_refresh,
    transfer_decide,
)
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    cluster,
    committee_user,
    staff_user,
)
from tests.html_forms import form_data

from .conftest import schedule

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)
NO_REASON = "Indiquez le motif : il est gardé dans l’historique."


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def text(response) -> str:
    return response.content.decode()


def listed(response) -> set[str]:
    """The organisations of the proposals a change list shows."""
    return {str(proposal.organisation) for proposal in response.context["cl"].result_list}


def listed_pairs(response) -> set[int]:
    """The duplicate pairs a change list shows."""
    return {pair.pk for pair in response.context["cl"].result_list}


# --- Data ---------------------------------------------------------------------------------------


@pytest.fixture
def members():
    """An organisation member of both source clusters, one of DigitalPlace without a SIRET, one
    of FrenchSouth.digital only; each transferable on 1 January 2027."""
    both = OrganisationFactory(name="Alpha Numérique")
    dp = MembershipFactory(organisation=both, member_number="DP-0101")
    fs = MembershipFactory(
        organisation=both, cluster=cluster("frenchsouth"), member_number="FS-0202"
    )
    TermFactory(membership=dp, year=2027)
    TermFactory(membership=fs, year=2027, fee=Decimal("250.00"))
    no_siret = OrganisationFactory(name="Bêta Conseil", siret="", siren="")
    TermFactory(
        membership=MembershipFactory(organisation=no_siret, member_number="DP-0303"), year=2026
    )
    south = OrganisationFactory(name="Gamma Sud")
    fs_only = MembershipFactory(
        organisation=south, cluster=cluster("frenchsouth"), member_number="FS-0404"
    )
    TermFactory(membership=fs_only, year=2026)
    return {"both": both, "no_siret": no_siret, "south": south}


@pytest.fixture
def proposals(merger, members):
    """The proposals of ``members`` as of 1 January 2027, by their organisation's key."""
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    return {
        key: TransferProposal.objects.get(organisation=organisation)
        for key, organisation in members.items()
    }


def approve(proposal, by, reason="Validé par le comité"):
    transfer_decide(proposal_ids=[proposal.pk], decision=Decision.APPROVED, by=by, reason=reason)


# --- Who may open it ----------------------------------------------------------------------------


def test_membership_staff_is_refused_the_merger_admin(client, merger):
    client.force_login(staff_user())

    assert client.get("/admin/merger/transferproposal/").status_code == 403
    assert client.get(f"/admin/merger/merger/{merger.pk}/change/").status_code == 403


def test_the_committee_opens_the_merger_admin(client, merger, committee):
    client.force_login(committee)

    assert client.get("/admin/merger/transferproposal/").status_code == 200
    page = client.get(f"/admin/merger/merger/{merger.pk}/change/")
    assert page.status_code == 200
    assert "Les étapes de la fusion" in text(page)


# --- The merger's page --------------------------------------------------------------------------


@pytest.fixture
def merger_page(client, merger, committee):
    """The merger's change page, scheduled on 1 January 2027, opened by the committee."""
    schedule(merger, NEW_YEAR)
    client.force_login(committee)
    return client.get(url("merger_merger_change", merger.pk))


def test_the_merger_form_carries_both_inlines(merger_page):
    data = form_data(merger_page, id="merger_form")

    assert data["status"] == "scheduled" and data["planned_date"] == "01/01/2027"
    assert int(data["plan_mappings-TOTAL_FORMS"]) == PlanMapping.objects.count() == 10
    assert "events-TOTAL_FORMS" in data


def test_the_plan_mapping_writes_the_source_fees_as_the_rest_of_the_site(merger_page):
    # Not "2500.00 €": amounts are written the same way everywhere.
    plan = PlanMapping.objects.select_related("source_plan").first().source_plan
    page = text(merger_page)

    assert f"({money(plan.annual_fee)})" in page
    assert f"({plan.annual_fee} €)" not in page


def test_a_later_date_with_a_reason_is_a_postponement_logged(
    client, merger, committee, merger_page
):
    data = form_data(merger_page, id="merger_form")
    data.update(planned_date="01/07/2027", reason="Budget commun pas encore voté")

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 302
    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.POSTPONED, dt.date(2027, 7, 1))
    event = MergerEvent.objects.filter(merger=merger).order_by("-at", "-pk").first()
    assert event.kind == MergerEvent.Kind.POSTPONED
    assert event.by == committee
    assert event.reason == "Budget commun pas encore voté"
    assert (event.date_before, event.date_after) == (NEW_YEAR, dt.date(2027, 7, 1))
    assert (event.status_before, event.status_after) == ("scheduled", "postponed")


def test_a_change_without_a_reason_is_refused_and_changes_nothing(client, merger, merger_page):
    events = MergerEvent.objects.count()
    data = form_data(merger_page, id="merger_form")
    data.update(planned_date="01/07/2027", reason="  ")

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 200
    assert NO_REASON in text(response)
    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.SCHEDULED, NEW_YEAR)
    assert MergerEvent.objects.count() == events


def test_changing_a_plan_mapping_through_the_inline_logs_it(client, merger, committee, merger_page):
    data = form_data(merger_page, id="merger_form")
    mapping = PlanMapping.objects.get(pk=data["plan_mappings-0-id"])
    other = (
        Plan.objects.filter(cluster__slug="grand-cluster")
        .exclude(pk=mapping.successor_plan_id)
        .first()
    )
    data["plan_mappings-0-successor_plan"] = str(other.pk)

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.successor_plan == other
    event = MergerEvent.objects.filter(merger=merger, kind=MergerEvent.Kind.MAPPING).get()
    assert event.by == committee
    assert event.details["after"] == str(other)
    merger.refresh_from_db()
    assert merger.status == Merger.Status.SCHEDULED  # the merger itself did not change


# --- Proposals ----------------------------------------------------------------------------------


def test_the_propose_button_establishes_the_proposals(client, merger, committee, members):
    client.force_login(committee)
    page = client.get(url("merger_merger_change", merger.pk))
    propose = url("merger_merger_propose", merger.pk)
    assert f'formaction="{propose}" formnovalidate>Établir les propositions</button>' in text(page)

    response = client.post(propose, form_data(page, id="merger_form"))

    assert response.status_code == 302
    assert response["Location"] == url("merger_transferproposal_changelist")
    assert set(TransferProposal.objects.values_list("organisation__name", flat=True)) == {
        "Alpha Numérique",
        "Bêta Conseil",
        "Gamma Sud",
    }
    listing = client.get(response["Location"])
    assert "Propositions établies au 01/01/2027 : 3 en tout, 3 nouvelle(s)" in text(listing)
    assert listed(listing) == {"Alpha Numérique", "Bêta Conseil", "Gamma Sud"}


def test_the_merger_history_shows_the_figures_of_the_proposals(client, merger, committee, members):
    client.force_login(committee)
    client.post(url("merger_merger_propose", merger.pk))

    page = text(client.get(url("merger_merger_change", merger.pk)))

    assert "Propositions établies" in page
    for figure in (
        "établies au : 01/01/2027",
        "propositions : 3",
        "créées : 3",
        "membres des deux : 1",
        "signalées : 1",
    ):
        assert figure in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Alpha Numérique", "Bêta Conseil", "Gamma Sud"}),
        ({"flag": "any"}, {"Bêta Conseil"}),
        ({"flag": "no_siret"}, {"Bêta Conseil"}),
        ({"flag": "none"}, {"Alpha Numérique", "Gamma Sud"}),
        ({"origin": "both"}, {"Alpha Numérique"}),
        ({"origin": "frenchsouth"}, {"Gamma Sud"}),
        ({"decision__exact": "approved"}, {"Gamma Sud"}),
        ({"members_of_both__exact": "1"}, {"Alpha Numérique"}),
        ({"q": "DP-0303"}, {"Bêta Conseil"}),
        ({"q": "FS-0202"}, {"Alpha Numérique"}),
    ],
)
def test_the_proposals_list_filters_and_searches(client, committee, proposals, query, expected):
    approve(proposals["south"], committee)
    client.force_login(committee)

    response = client.get(url("merger_transferproposal_changelist"), query)

    assert response.status_code == 200
    assert listed(response) == expected


def test_the_proposals_list_runs_a_constant_number_of_queries(
    client, merger, committee, proposals, django_assert_num_queries
):
    changelist = url("merger_transferproposal_changelist")
    client.force_login(committee)
    client.get(changelist)  # warm the caches a running server keeps anyway
    with CaptureQueriesContext(connection) as few:
        assert len(listed(client.get(changelist))) == 3
    for index in range(27):
        organisation = OrganisationFactory(**({"siret": "", "siren": ""} if index % 3 else {}))
        TermFactory(membership__organisation=organisation, year=2027)
        if index % 2:
            TermFactory(
                membership__organisation=organisation,
                membership__cluster=cluster("frenchsouth"),
                year=2027,
            )
    proposals_refresh(merger=merger, as_of=NEW_YEAR)

    with django_assert_num_queries(len(few)):
        response = client.get(changelist)

    assert len(listed(response)) == 30


# --- Bulk decisions -----------------------------------------------------------------------------


def bulk(client, action: str, proposals) -> object:
    """The list's action ``action`` on ``proposals``: the page asking for the reason."""
    return client.post(
        url("merger_transferproposal_changelist"),
        {"action": action, "_selected_action": [p.pk for p in proposals]},
    )


def test_bulk_approval_first_groups_the_flagged_and_the_unflagged(client, committee, proposals):
    client.force_login(committee)

    response = bulk(client, "approve_selected", proposals.values())

    assert response.status_code == 200
    page = text(response)
    assert "Décision pour 3 propositions : approuvée." in page
    flagged = response.context["flagged"]
    assert [(str(p.organisation), flags) for p, flags in flagged] == [
        ("Bêta Conseil", [("no_siret", "sans SIRET")])
    ]
    assert "1 proposition signalée" in page and "2 propositions non signalées" in page
    groups = response.context["groups"]
    assert {str(p.organisation) for p in groups.unflagged} == {"Alpha Numérique", "Gamma Sud"}
    assert sum(count for _plan, count in groups.unflagged_by_plan) == 2
    assert '<details class="merger-decide-unflagged-list">' in page
    data = form_data(response, method="post")
    assert data["scope"] == "unflagged"
    assert "Seulement les propositions non signalées (2)" in page
    assert "Toutes, signalées comprises (3 propositions)" in page
    assert {data[f"version_{p.pk}"] for p in proposals.values()} == {"0"}
    assert not TransferProposal.objects.exclude(decision=Decision.PENDING).exists()


def test_bulk_approval_of_only_the_unflagged_leaves_the_flagged_undecided(
    client, committee, proposals
):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data["reason"] = "Comité du 15 décembre"

    response = client.post(url("merger_transferproposal_changelist"), data, follow=True)

    page = text(response)
    assert "2 propositions : approuvée." in page
    assert "1 proposition signalée laissée à décider." in page
    assert dict(TransferProposal.objects.values_list("organisation__name", "decision")) == {
        "Alpha Numérique": "approved",
        "Gamma Sud": "approved",
        "Bêta Conseil": "pending",
    }
    decisions = TransferDecision.objects.all()
    assert {(d.decision, d.previous, d.by, d.reason) for d in decisions} == {
        ("approved", "pending", committee, "Comité du 15 décembre")
    }
    assert len(decisions) == 2


def test_bulk_approval_of_all_flagged_included_approves_and_logs(client, committee, proposals):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data |= {"reason": "Comité du 15 décembre", "scope": "all"}

    response = client.post(url("merger_transferproposal_changelist"), data, follow=True)

    assert "3 propositions : approuvée." in text(response)
    assert set(TransferProposal.objects.values_list("decision", flat=True)) == {"approved"}
    decisions = TransferDecision.objects.all()
    assert len(decisions) == 3
    assert {(d.decision, d.previous, d.by, d.reason) for d in decisions} == {
        ("approved", "pending", committee, "Comité du 15 décembre")
    }


def test_a_bulk_decision_sent_twice_decides_once(client, committee, proposals):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data |= {"reason": "Comité du 15 décembre", "scope": "all"}
    client.post(url("merger_transferproposal_changelist"), data)

    again = client.post(url("merger_transferproposal_changelist"), data, follow=True)

    page = text(again)
    assert (
        "Formulaire envoyé deux fois : 3 propositions déjà décidées ainsi par vous, rien n’a "
        "été changé."
    ) in page
    assert "Décidée entre-temps" not in page
    assert TransferDecision.objects.count() == 3
    assert set(TransferProposal.objects.values_list("version", flat=True)) == {1}


def test_a_second_tab_decides_only_what_the_first_left(client, committee, proposals):
    client.force_login(committee)
    first = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    second = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    client.post(url("merger_transferproposal_changelist"), first | {"reason": "Onglet 1"})

    response = client.post(
        url("merger_transferproposal_changelist"),
        second | {"reason": "Onglet 2", "scope": "all"},
        follow=True,
    )

    page = text(response)
    assert "1 proposition : approuvée." in page
    assert "2 propositions déjà décidées ainsi par vous" in page
    assert sorted(
        TransferDecision.objects.values_list("proposal__organisation__name", "reason")
    ) == [("Alpha Numérique", "Onglet 1"), ("Bêta Conseil", "Onglet 2"), ("Gamma Sud", "Onglet 1")]


@pytest.mark.parametrize("scope", ["", "toutes", "x" * 300])
def test_a_bulk_decision_with_an_unknown_choice_decides_nothing(
    client, committee, proposals, scope
):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data |= {"reason": "Comité du 15 décembre", "scope": scope}

    response = client.post(url("merger_transferproposal_changelist"), data)

    assert response.status_code == 200
    assert (
        "Choisissez les propositions à décider : seulement les non signalées, ou toutes."
        in text(response)
    )
    assert not TransferDecision.objects.exists()


def test_a_bulk_decision_without_any_flagged_asks_no_choice(client, committee, proposals):
    client.force_login(committee)
    unflagged = [proposals["both"], proposals["south"]]
    response = bulk(client, "reject_selected", unflagged)
    data = form_data(response, method="post")
    assert "scope" not in data

    client.post(url("merger_transferproposal_changelist"), data | {"reason": "Hors périmètre"})

    assert TransferDecision.objects.filter(decision="rejected").count() == 2


def test_a_bulk_decision_refuses_another_merger_s_proposals(client, committee, proposals):
    other_successor = Cluster.objects.create(
        name="Autre Cluster", slug="autre-cluster", kind=Cluster.Kind.SUCCESSOR
    )
    other_merger = Merger.objects.create(
        name="Autre fusion", successor=other_successor, planned_date=NEW_YEAR
    )
    foreign = TransferProposal.objects.create(
        merger=other_merger,
        organisation=OrganisationFactory(name="Delta Ailleurs"),
        origin="digitalplace",
        as_of=NEW_YEAR,
    )
    client.force_login(committee)

    response = client.post(
        url("merger_transferproposal_changelist"),
        {
            "action": "approve_selected",
            "_selected_action": [proposals["both"].pk, foreign.pk],
            "reason": "Comité",
            "scope": "all",
            f"version_{proposals['both'].pk}": "0",
            f"version_{foreign.pk}": "0",
        },
        follow=True,
    )

    assert "d’une autre fusion que la fusion en cours : rien n’a été décidé." in text(response)
    assert not TransferDecision.objects.exists()


def test_without_the_decision_permission_no_bulk_decision_is_taken(client, proposals):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="merger", codename__startswith="view_")
    )
    client.force_login(viewer)
    listing = client.get(url("merger_transferproposal_changelist"))
    assert listing.status_code == 200
    assert "Approuver la sélection" not in text(listing)

    response = client.post(
        url("merger_transferproposal_changelist"),
        {
            "action": "approve_selected",
            "_selected_action": [p.pk for p in proposals.values()],
            "reason": "Comité",
            "scope": "all",
        },
    )

    assert response.status_code == 403
    assert not TransferDecision.objects.exists()
    page = client.post(
        url("merger_transferproposal_change", proposals["both"].pk),
        {"decision": "approved", "reason": "Vu", "version": "0"},
    )
    assert page.status_code == 403
    assert not TransferDecision.objects.exists()


def test_membership_staff_cannot_reach_the_bulk_decision(client, proposals):
    client.force_login(staff_user())

    response = bulk(client, "approve_selected", proposals.values())

    assert response.status_code == 403
    assert not TransferDecision.objects.exists()


def test_bulk_approval_without_a_reason_decides_nothing(client, committee, proposals):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data["reason"] = ""

    response = client.post(url("merger_transferproposal_changelist"), data)

    assert response.status_code == 200
    assert NO_REASON in text(response)
    assert not TransferDecision.objects.exists()


def test_bulk_approval_leaves_a_proposal_decided_meanwhile_and_says_by_whom(
    client, committee, proposals
):
    client.force_login(committee)
    data = form_data(bulk(client, "approve_selected", proposals.values()), method="post")
    data |= {"reason": "Comité du 15 décembre", "scope": "all"}
    colleague = committee_user()
    transfer_decide(
        proposal_ids=[proposals["no_siret"].pk],
        decision=Decision.REJECTED,
        by=colleague,
        reason="SIRET introuvable",
    )

    response = client.post(url("merger_transferproposal_changelist"), data, follow=True)

    page = text(response)
    assert f"Bêta Conseil : Décidée entre-temps par {colleague}" in page
    assert "refusée (SIRET introuvable)" in page
    assert "2 propositions : approuvée." in page
    rejected = TransferProposal.objects.get(pk=proposals["no_siret"].pk)
    assert (rejected.decision, rejected.decided_by, rejected.version) == ("rejected", colleague, 1)
    assert set(
        TransferProposal.objects.exclude(pk=rejected.pk).values_list("decision", flat=True)
    ) == {"approved"}
    assert not TransferDecision.objects.filter(proposal=rejected, by=committee).exists()


# --- A proposal's page --------------------------------------------------------------------------


def test_a_proposal_page_sets_both_memberships_side_by_side(client, committee, proposals):
    client.force_login(committee)

    response = client.get(url("merger_transferproposal_change", proposals["both"].pk))

    assert response.status_code == 200
    page = text(response)
    assert "Les adhésions, côte à côte" in page
    columns = response.context["columns"]
    assert [c["membership"].member_number for c in columns] == ["DP-0101", "FS-0202"]
    for label in ("DigitalPlace", "FrenchSouth.digital", "DP-0101", "FS-0202", "Membres des deux"):
        assert label in page
    assert page.count("01/01/2027 – 31/12/2027") == 2
    assert "250,00\xa0€" in page and "300,00\xa0€" in page


def test_a_decision_on_a_proposal_page_is_taken_and_logged(client, committee, proposals):
    proposal = proposals["both"]
    client.force_login(committee)
    page = client.get(url("merger_transferproposal_change", proposal.pk))
    data = form_data(page, **{"class": "merger-decision-form"})
    assert data["version"] == "0"
    data.update(decision="approved", reason="Membre des deux, avoir noté")

    response = client.post(url("merger_transferproposal_change", proposal.pk), data, follow=True)

    assert "1 proposition : approuvée." in text(response)
    proposal.refresh_from_db()
    assert (proposal.decision, proposal.decided_by, proposal.decision_reason) == (
        "approved",
        committee,
        "Membre des deux, avoir noté",
    )
    assert "Membre des deux, avoir noté" in text(response)  # in the page's history
    assert TransferDecision.objects.get(proposal=proposal).by == committee


def test_a_decision_on_a_stale_proposal_page_shows_the_conflict(client, committee, proposals):
    proposal = proposals["both"]
    client.force_login(committee)
    page = client.get(url("merger_transferproposal_change", proposal.pk))
    data = form_data(page, **{"class": "merger-decision-form"})
    data.update(decision="rejected", reason="Doublon")
    colleague = committee_user()
    approve(proposal, colleague, reason="Vu en réunion")

    response = client.post(url("merger_transferproposal_change", proposal.pk), data, follow=True)

    assert f"Alpha Numérique : Décidée entre-temps par {colleague}" in text(response)
    proposal.refresh_from_db()
    assert (proposal.decision, proposal.decided_by) == ("approved", colleague)
    assert TransferDecision.objects.filter(proposal=proposal).count() == 1


# --- Execution ----------------------------------------------------------------------------------


@pytest.fixture
def approved(merger, committee, proposals):
    """Every proposal approved, the merger scheduled on 1 January 2027."""
    schedule(merger, NEW_YEAR)
    for proposal in proposals.values():
        approve(proposal, committee)
    return proposals


def successor_memberships():
    return Membership.objects.filter(cluster__slug="grand-cluster")


def execute(client, merger, *, follow: bool = False):
    """Confirm the execution on its page (the box ticked), then run it as the Celery worker
    does; the response of the execution's page."""
    page = client.get(url("merger_merger_execute", merger.pk))
    data = {**form_data(page, **{"class": "merger-execute-confirm"}), "confirm": "on"}
    response = client.post(url("merger_merger_execute", merger.pk), data)
    merger_execution_run(execution_id=MergerExecution.objects.get(merger=merger).pk)
    return client.get(response["Location"]) if follow else response


def test_the_execution_page_previews_the_successor_and_writes_nothing(
    client, merger, committee, approved
):
    counts = (Membership.objects.count(), Term.objects.count())
    client.force_login(committee)

    response = client.get(url("merger_merger_execute", merger.pk))

    assert response.status_code == 200
    page = text(response)
    assert "rien n’est encore écrit" in page
    assert '<td class="count-executed">3</td>' in page
    for number in ("GC-0001", "GC-0002", "GC-0003"):
        assert number in page
    assert "DP-0101, FS-0202" in page
    assert "3 organisations approuvées n’ont pas encore reçu l’information" in page
    assert (Membership.objects.count(), Term.objects.count()) == counts
    merger.refresh_from_db()
    assert (merger.status, merger.last_member_number) == (Merger.Status.SCHEDULED, 0)
    assert not TransferProposal.objects.filter(decision=Decision.EXECUTED).exists()


def test_confirming_the_execution_executes_and_the_merger_becomes_effective(
    client, merger, committee, approved
):
    client.force_login(committee)

    response = execute(client, merger, follow=True)

    assert "Transferts exécutés au 01/01/2027 : 3 adhésions au successeur créées." in text(response)
    merger.refresh_from_db()
    assert (merger.status, merger.effective_date) == (Merger.Status.EFFECTIVE, NEW_YEAR)
    assert successor_memberships().count() == 3
    assert set(TransferProposal.objects.values_list("decision", flat=True)) == {"executed"}


def test_once_effective_the_plan_mapping_is_history_and_the_page_still_saves(
    client, merger, committee, approved
):
    client.force_login(committee)
    execute(client, merger)

    page = client.get(url("merger_merger_change", merger.pk))
    assert 'name="plan_mappings-0-successor_plan"' not in text(page)
    response = client.post(
        url("merger_merger_change", merger.pk), form_data(page, id="merger_form")
    )

    assert response.status_code == 302
    assert MergerEvent.objects.filter(merger=merger, kind="mapping").count() == 0


def test_once_effective_a_new_date_is_refused_and_the_page_says_since_when(
    client, merger, committee, approved
):
    client.force_login(committee)
    execute(client, merger)
    events = MergerEvent.objects.count()
    data = form_data(client.get(url("merger_merger_change", merger.pk)), id="merger_form")
    data.update(planned_date="01/07/2027", reason="Report demandé")

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 200
    assert (
        "La fusion est effective depuis le 01/01/2027 : sa date et son statut ne changent plus."
        in text(response)
    )
    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.EFFECTIVE, NEW_YEAR)
    assert MergerEvent.objects.count() == events


def test_a_change_of_date_is_logged_once(client, merger, merger_page):
    events = MergerEvent.objects.count()
    data = form_data(merger_page, id="merger_form")
    data.update(planned_date="01/03/2027", reason="Assemblée repoussée")

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 302
    assert MergerEvent.objects.count() == events + 1
    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.POSTPONED, dt.date(2027, 3, 1))


def test_a_change_refused_by_the_plan_mapping_changes_nothing(client, merger, merger_page):
    events = MergerEvent.objects.count()
    data = form_data(merger_page, id="merger_form")
    data.update(planned_date="01/07/2027", reason="Budget commun pas encore voté")
    data["plan_mappings-0-successor_plan"] = "999999"

    response = client.post(url("merger_merger_change", merger.pk), data)

    assert response.status_code == 200
    merger.refresh_from_db()
    assert (merger.status, merger.planned_date) == (Merger.Status.SCHEDULED, NEW_YEAR)
    assert MergerEvent.objects.count() == events


def test_an_unknown_proposal_or_pair_is_not_found(client, committee):
    client.force_login(committee)

    assert client.get("/admin/merger/transferproposal/999999/change/").status_code == 404
    assert client.get("/admin/merger/duplicatepair/999999/change/").status_code == 404


def test_the_execution_needs_a_scheduled_merger(client, merger, committee, proposals):
    for proposal in proposals.values():
        approve(proposal, committee)
    client.force_login(committee)

    response = client.post(
        url("merger_merger_execute", merger.pk),
        {"key": str(uuid.uuid4()), "confirm": "on"},
        follow=True,
    )

    assert "arrêtez d’abord sa date d’effet" in text(response)
    assert not successor_memberships().exists()
    merger.refresh_from_db()
    assert merger.status == Merger.Status.POSTPONED


def test_the_execution_needs_its_permission(client, merger, approved):
    viewer = UserFactory(is_staff=True)  # may read the merger, not execute it
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="merger", codename__in=["view_merger", "change_merger"]
        )
    )
    for user in (staff_user(), viewer):
        client.force_login(user)
        assert client.get(url("merger_merger_execute", merger.pk)).status_code == 403
        assert client.post(url("merger_merger_execute", merger.pk)).status_code == 403
    assert not successor_memberships().exists()


# --- Report -------------------------------------------------------------------------------------


def test_the_report_shows_the_figures(client, merger, committee, proposals):
    approve(proposals["both"], committee)
    client.force_login(committee)

    response = client.get(url("merger_merger_report", merger.pk), {"year": 2027})

    assert response.status_code == 200
    page = text(response)
    assert "Décisions en attente : 2, dont 1 signalée(s)." in page
    report = response.context["report"]
    assert report.successor_members == 1
    assert report.by_origin == {"digitalplace": 0, "frenchsouth": 0, "both": 1}
    assert "Cotisations payées en 2027, par origine des membres" in page
    assert "550,00\xa0€" in page  # the 2027 terms of the member of both


def test_the_report_exports_an_xlsx_workbook(client, merger, committee, proposals):
    client.force_login(committee)

    response = client.get(url("merger_merger_report", merger.pk), {"export": "xlsx"})

    assert response.status_code == 200
    assert ".xlsx" in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Synthèse", "Propositions"]
    rows = list(book["Propositions"].iter_rows(values_only=True))
    assert rows[0][0] == "Organisation"
    assert sorted(row[0] for row in rows[1:]) == ["Alpha Numérique", "Bêta Conseil", "Gamma Sud"]


def test_the_report_exports_a_csv_of_the_proposals(client, merger, committee, proposals):
    client.force_login(committee)

    response = client.get(url("merger_merger_report", merger.pk), {"export": "csv"})

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Organisation", "SIRET"]
    assert len(rows) == 1 + 3
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["Alpha Numérique"][4] == "DP-0101, FS-0202"


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_exported_text_that_looks_like_a_formula_is_escaped(client, merger, committee, file_format):
    name = '=HYPERLINK("http://evil.example","Cliquez")'
    TermFactory(membership__organisation=OrganisationFactory(name=name), year=2027)
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    client.force_login(committee)

    response = client.get(url("merger_merger_report", merger.pk), {"export": file_format})

    if file_format == "csv":
        [_header, row] = csv.reader(
            io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"
        )
        cell = row[0]
    else:
        cell = openpyxl.load_workbook(io.BytesIO(response.content))["Propositions"]["A2"].value
    assert cell == "'" + name


# --- Duplicates ---------------------------------------------------------------------------------


@pytest.fixture
def pair():
    """Two records of one studio, one member of each source cluster, found as a pair."""
    first = OrganisationFactory(name="Sud Studio", siret="", siren="", postcode="34000")
    second = OrganisationFactory(name="SUD-STUDIO", siret="", siren="", postcode="34000")
    TermFactory(membership__organisation=first, membership__member_number="DP-0777", year=2027)
    TermFactory(
        membership__organisation=second,
        membership__cluster=cluster("frenchsouth"),
        membership__member_number="FS-0888",
        year=2027,
    )
    duplicates_refresh()
    return DuplicatePair.objects.select_related("organisation_a", "organisation_b").get()


def test_the_find_button_stores_the_pairs(client, committee):
    OrganisationFactory(name="Sud Studio", siret="", siren="", postcode="34000")
    OrganisationFactory(name="SUD-STUDIO", siret="", siren="", postcode="34000")
    client.force_login(committee)
    listing = client.get(url("merger_duplicatepair_changelist"))
    find = url("merger_duplicatepair_find")
    assert "Rechercher les doublons" in text(listing)
    assert not DuplicatePair.objects.exists()

    response = client.post(find, form_data(listing, action=find), follow=True)

    assert response.redirect_chain[-1][0] == url("merger_duplicatepair_changelist")
    assert "1 doublon(s) possible(s) à examiner, dont 1 nouveau(x)." in text(response)
    stored = DuplicatePair.objects.get()
    assert {stored.organisation_a.name, stored.organisation_b.name} == {"Sud Studio", "SUD-STUDIO"}
    assert stored.state == DuplicatePair.State.OPEN
    assert listed_pairs(response) == {stored.pk}


def test_a_pair_page_shows_both_records(client, committee, pair):
    client.force_login(committee)

    response = client.get(url("merger_duplicatepair_change", pair.pk))

    assert response.status_code == 200
    page = text(response)
    for shown in ("Sud Studio", "SUD-STUDIO", "DP-0777", "FS-0888", "Fusionner les deux fiches"):
        assert shown in page


def test_merging_a_pair_keeps_the_chosen_record(client, committee, pair):
    survivor, other = pair.organisation_b, pair.organisation_a
    client.force_login(committee)

    response = client.post(
        url("merger_duplicatepair_change", pair.pk),
        {"do": "merge", "survivor": survivor.pk, "reason": "Même studio, deux fiches"},
        follow=True,
    )

    assert f"Fiches fusionnées : « {survivor.name} » est conservée" in text(response)
    other.refresh_from_db()
    assert other.merged_into == survivor
    pair.refresh_from_db()
    assert (pair.state, pair.decided_by, pair.decision_reason) == (
        DuplicatePair.State.MERGED,
        committee,
        "Même studio, deux fiches",
    )
    assert survivor.memberships.count() == 2


def test_dismissing_a_pair_marks_it_distinct(client, committee, pair):
    client.force_login(committee)

    response = client.post(
        url("merger_duplicatepair_change", pair.pk),
        {"do": "dismiss", "reason": "Deux studios différents"},
        follow=True,
    )

    assert "ces deux fiches ne seront plus proposées" in text(response)
    pair.refresh_from_db()
    assert (pair.state, pair.decision_reason) == ("distinct", "Deux studios différents")
    assert Organisation.objects.filter(merged_into__isnull=False).count() == 0


def test_a_merged_pair_is_undone(client, committee, pair):
    duplicate_merge(pair=pair, survivor=pair.organisation_a, by=committee, reason="Même studio")
    client.force_login(committee)
    assert "Annuler la fusion des fiches" in text(
        client.get(url("merger_duplicatepair_change", pair.pk))
    )

    response = client.post(
        url("merger_duplicatepair_change", pair.pk),
        {"do": "undo", "reason": "Deux studios en fait"},
        follow=True,
    )

    assert "Fusion des fiches annulée" in text(response)
    pair.organisation_b.refresh_from_db()
    assert pair.organisation_b.merged_into is None
    pair.refresh_from_db()
    assert pair.state == DuplicatePair.State.OPEN
    merge = pair.merges.get()
    assert (merge.undone_by, merge.undo_reason) == (committee, "Deux studios en fait")


@pytest.mark.parametrize("do", ["merge", "dismiss", "undo"])
def test_a_review_without_a_reason_changes_nothing(client, committee, pair, do):
    if do == "undo":
        duplicate_merge(pair=pair, survivor=pair.organisation_a, by=committee, reason="Même")
    state = DuplicatePair.objects.get(pk=pair.pk).state
    client.force_login(committee)

    response = client.post(
        url("merger_duplicatepair_change", pair.pk),
        {"do": do, "survivor": pair.organisation_a.pk, "reason": " "},
    )

    assert response.status_code == 200
    assert NO_REASON in text(response)
    pair.refresh_from_db()
    assert pair.state == state
    pair.organisation_b.refresh_from_db()
    assert (pair.organisation_b.merged_into_id is not None) is (do == "undo")


# --- Notices ------------------------------------------------------------------------------------


def test_the_notices_list_is_read_only(client, committee, proposals):
    MergerNotice.objects.create(
        proposal=proposals["both"], email="direction@alpha.example", language="fr"
    )
    client.force_login(committee)

    response = client.get(url("merger_mergernotice_changelist"))

    assert response.status_code == 200
    assert "direction@alpha.example" in text(response)
    assert response.context["has_add_permission"] is False
    assert url("merger_mergernotice_add") not in text(response)
    notice = MergerNotice.objects.get()
    assert client.get(url("merger_mergernotice_add")).status_code == 403
    assert client.get(url("merger_mergernotice_delete", notice.pk)).status_code == 403
    assert (
        client.post(url("merger_mergernotice_delete", notice.pk), {"post": "yes"}).status_code
        == 403
    )
    assert MergerNotice.objects.filter(pk=notice.pk).exists()


def test_the_bulk_confirmation_is_in_english_too(client, committee, proposals, settings):
    client.force_login(committee)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    # The page's language stays with the page: the tests after this one run in French.
    with translation.override(settings.LANGUAGE_CODE):
        page = text(bulk(client, "approve_selected", proposals.values()))

    for said in (
        "1 flagged proposal",
        "2 unflagged proposals",
        "Only the unflagged proposals (2)",
        "All, flagged ones included (3 proposals)",
    ):
        assert said in page


def test_a_bulk_decision_on_proposals_that_are_gone_decides_nothing(client, committee, proposals):
    client.force_login(committee)

    response = client.post(
        url("merger_transferproposal_changelist"),
        {"action": "approve_selected", "_selected_action": ["999999"], "reason": "Comité"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Aucune des propositions sélectionnées n’existe encore." in text(response)
    assert not TransferDecision.objects.exists()
