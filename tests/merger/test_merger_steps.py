"""The merger's page lists its steps, each done, to do or not yet possible (saying why), with one
action each, of one kind (a button-styled link, or the one button that refreshes the
proposals); informing the members and executing lead to their own pages first."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import Contact
from merger.models import Decision, TransferProposal
from merger.services import duplicates_refresh, merger_update, proposals_refresh, transfer_decide
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    staff_user,
)

from .conftest import schedule

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def steps(response) -> dict[str, tuple[str, str]]:
    """Each step's (state, detail), by step."""
    return {step.key: (step.state, step.detail) for step in response.context["steps"]}


def actions(response) -> dict[str, list[str]]:
    """The actions (links' addresses, buttons' form actions) of each step, by step."""
    page = response.content.decode()
    found = {}
    for key, block in re.findall(r'data-step="(\w+)">(.*?)</li>', page, flags=re.DOTALL):
        action = block.split('class="merger-step-action"', 1)[1]
        found[key] = re.findall(r'(?:href|formaction)="([^"]+)"', action)
    return found


def merger_page(client, merger):
    return client.get(reverse("admin:merger_merger_change", args=[merger.pk]))


@pytest.fixture
def members():
    """Two members of DigitalPlace, transferable on 1 January 2027, with a contact each, and a
    duplicate pair of two other records."""
    for name in ("Alpha Numérique", "Gamma Sud"):
        organisation = OrganisationFactory(name=name)
        TermFactory(membership=MembershipFactory(organisation=organisation), year=2027)
        ContactFactory(organisation=organisation)
    OrganisationFactory(name="Sud Studio", siret="", siren="", postcode="34000")
    OrganisationFactory(name="SUD-STUDIO", siret="", siren="", postcode="34000")


def test_at_first_the_steps_say_what_to_do_and_what_is_not_yet_possible(client, merger, committee):
    client.force_login(committee)

    response = merger_page(client, merger)

    assert response.status_code == 200
    state = steps(response)
    assert {key: value[0] for key, value in state.items()} == {
        "duplicates": "todo",
        "date": "todo",
        "propose": "todo",
        "decide": "blocked",
        "notify": "blocked",
        "execute": "blocked",
    }
    assert state["decide"][1] == "Établissez d’abord les propositions."
    assert state["execute"][1] == "Arrêtez d’abord la date d’effet."
    page = response.content.decode()
    assert page.count("pas encore possible") == 3
    found = actions(response)
    assert found["decide"] == found["notify"] == found["execute"] == []
    assert found["duplicates"] == [
        reverse("admin:merger_duplicatepair_changelist") + "?state__exact=open"
    ]
    assert found["propose"] == [reverse("admin:merger_merger_propose", args=[merger.pk])]


def test_the_steps_follow_the_committee_s_work(client, merger, committee, members, settings):
    client.force_login(committee)
    duplicates_refresh()
    assert steps(merger_page(client, merger))["duplicates"] == (
        "todo",
        "1 doublon(s) possible(s) à examiner.",
    )
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    alpha = TransferProposal.objects.get(organisation__name="Alpha Numérique")
    transfer_decide(proposal_ids=[alpha.pk], decision=Decision.APPROVED, by=committee, reason="Vu")

    state = steps(merger_page(client, merger))

    assert state["date"] == ("done", "Arrêtée au 1er janvier 2027.")
    assert state["propose"] == ("done", "2 proposition(s) établie(s) au 1er janvier 2027.")
    assert state["decide"] == ("todo", "1 proposition(s) à décider, dont 0 signalée(s).")
    assert state["notify"] == (
        "todo",
        "1 proposition(s) approuvée(s) pas encore annoncée(s) aux membres.",
    )
    assert state["execute"][0] == "todo"
    found = actions(merger_page(client, merger))
    assert found["notify"] == [reverse("admin:merger_merger_notify", args=[merger.pk])]
    assert found["execute"] == [reverse("admin:merger_merger_execute", args=[merger.pk])]
    assert found["decide"] == [
        reverse("admin:merger_transferproposal_changelist") + "?decision__exact=pending"
    ]
    assert all(len(links) <= 1 for links in found.values())

    merger_update(
        merger=merger, by=committee, reason="Report voté", planned_date=dt.date(2027, 4, 1)
    )
    merger.refresh_from_db()
    state = steps(merger_page(client, merger))
    assert state["propose"][0] == "todo"
    assert "à actualiser" in state["propose"][1]
    assert state["execute"] == ("blocked", "Arrêtez d’abord la date d’effet.")
    assert Contact.objects.count() == 2


def test_who_may_only_read_the_merger_sees_the_steps_without_their_actions(client, merger, members):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="merger", codename__startswith="view_")
    )
    client.force_login(viewer)

    response = merger_page(client, merger)

    assert response.status_code == 200
    found = actions(response)
    assert found["propose"] == [] and found["date"] == []
    assert "Les étapes de la fusion" in response.content.decode()


def test_membership_staff_cannot_open_the_merger_s_steps(client, merger):
    client.force_login(staff_user())

    assert merger_page(client, merger).status_code == 403


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "0"])
def test_a_malformed_or_unknown_merger_is_not_a_500(client, committee, object_id):
    client.force_login(committee)

    response = client.get(f"/admin/merger/merger/{object_id}/change/")

    assert response.status_code in (302, 404)


def test_the_steps_cost_the_same_queries_whatever_the_number_of_proposals(
    client, merger, committee, members
):
    client.force_login(committee)
    schedule(merger, NEW_YEAR)

    def approve_all():
        proposals_refresh(merger=merger)
        transfer_decide(
            proposal_ids=list(TransferProposal.objects.values_list("pk", flat=True)),
            decision=Decision.APPROVED,
            by=committee,
            reason="Vu",
        )

    approve_all()
    with CaptureQueriesContext(connection) as few:
        merger_page(client, merger)
    for number in range(30):
        organisation = OrganisationFactory(name=f"Membre {number}")
        TermFactory(membership=MembershipFactory(organisation=organisation), year=2027)
    approve_all()

    with CaptureQueriesContext(connection) as many:
        response = merger_page(client, merger)

    assert steps(response)["decide"][0] == "done"
    assert len(many) == len(few)
