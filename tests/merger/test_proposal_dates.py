"""A proposal's statuses are computed at its date (the merger's planned effective date), not
today: every place that shows one says at which date — the proposal's page (with today's status
beside it), the list's flags, the bulk decision's confirmation and the report's export."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from merger.models import TransferProposal
from merger.selectors import proposal_flags
from merger.services import proposals_refresh
from tests.factories import MembershipFactory, OrganisationFactory, TermFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today():
    """7 December 2026: the members paid for 2026 are up to date."""
    with time_machine.travel(
        dt.datetime(2026, 12, 7, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False
    ):
        yield


NEW_YEAR = dt.date(2027, 1, 1)


@pytest.fixture
def proposals(merger):
    """A member paid for 2026 (up to date today, in grace on 1 January 2027) and one whose 2027
    term is not paid (pending on 1 January 2027), proposed as of 1 January 2027."""
    grace = OrganisationFactory(name="Grâce Logiciels")
    TermFactory(
        membership=MembershipFactory(organisation=grace, member_number="DP-0501"), year=2026
    )
    unpaid = OrganisationFactory(name="Impayé Conseil")
    TermFactory(
        membership=MembershipFactory(organisation=unpaid, member_number="DP-0502"),
        year=2027,
        is_paid=False,
    )
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    return {
        "grace": TransferProposal.objects.get(organisation=grace),
        "unpaid": TransferProposal.objects.get(organisation=unpaid),
    }


def test_the_proposal_page_says_at_which_date_a_status_is_and_what_it_is_today(
    client, committee, proposals
):
    client.force_login(committee)

    response = client.get(
        reverse("admin:merger_transferproposal_change", args=[proposals["grace"].pk])
    )

    page = response.content.decode()
    assert "En période de grâce au 1er janvier 2027" in page
    assert "aujourd’hui : À jour" in page
    assert "calculés au 1er janvier 2027" in page


def test_the_list_s_flags_say_their_date(client, committee, proposals):
    client.force_login(committee)

    response = client.get(reverse("admin:merger_transferproposal_changelist"))

    assert "impayé au 1er janvier 2027" in response.content.decode()


def test_the_bulk_confirmation_s_flags_say_their_date(client, committee, proposals):
    client.force_login(committee)

    response = client.post(
        reverse("admin:merger_transferproposal_changelist"),
        {"action": "approve_selected", "_selected_action": [p.pk for p in proposals.values()]},
    )

    assert "impayé au 1er janvier 2027" in response.content.decode()


def test_the_report_export_s_flags_say_their_date(client, merger, committee, proposals):
    client.force_login(committee)

    response = client.get(
        reverse("admin:merger_merger_report", args=[merger.pk]), {"export": "csv"}
    )

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    flags = rows[0].index("Signalements")
    assert {row[0]: row[flags] for row in rows[1:]}["Impayé Conseil"] == (
        "impayé au 1er janvier 2027"
    )


def test_a_dated_flag_is_said_in_english_too(proposals):
    with translation.override("en"):
        assert proposal_flags(proposals["unpaid"]) == [("unpaid", "unpaid on January 1, 2027")]
