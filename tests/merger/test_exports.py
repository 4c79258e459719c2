"""The merger's report as a spreadsheet can compute with: in the XLSX workbook, dates and
date-times are date cells shown dd/mm/yyyy and amounts numbers shown in euros; the CSV file stays
text."""

import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.urls import reverse

from merger.models import Decision, TransferProposal
from merger.services import proposals_refresh, transfer_decide
from tests.factories import MembershipFactory, OrganisationFactory, TermFactory, cluster

pytestmark = pytest.mark.django_db

DECIDED_AT = dt.datetime(2026, 11, 20, 15, 30, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def approved(merger, committee):
    """A member of both source clusters, paid for 2027 twice, its proposal approved on
    20 November 2026 at 15:30 (Paris time)."""
    both = OrganisationFactory(name="Alpha Numérique")
    dp = MembershipFactory(
        organisation=both, member_number="DP-0101", member_since=dt.date(2015, 3, 2)
    )
    fs = MembershipFactory(
        organisation=both, cluster=cluster("frenchsouth"), member_number="FS-0202"
    )
    TermFactory(membership=dp, year=2027, fee=Decimal("300.00"), is_paid=True)
    TermFactory(membership=fs, year=2027, fee=Decimal("250.00"), is_paid=True)
    proposals_refresh(merger=merger, as_of=dt.date(2027, 1, 1))
    proposal = TransferProposal.objects.get(organisation=both)
    with time_machine.travel(DECIDED_AT, tick=False):
        transfer_decide(
            proposal_ids=[proposal.pk], decision=Decision.APPROVED, by=committee, reason="OK"
        )
    proposal.refresh_from_db()
    return proposal


def report(client, merger, committee, file_format: str):
    client.force_login(committee)
    response = client.get(
        reverse("admin:merger_merger_report", args=[merger.pk]),
        {"export": file_format, "year": "2027"},
    )
    assert response.status_code == 200
    return response.content


def test_the_workbook_types_the_proposals_dates_and_amounts(client, merger, committee, approved):
    book = openpyxl.load_workbook(io.BytesIO(report(client, merger, committee, "xlsx")))

    sheet = book["Propositions"]
    header = [cell.value for cell in sheet[1]]
    [row] = [dict(zip(header, cells, strict=True)) for cells in sheet.iter_rows(min_row=2)]
    assert row["Organisation"].value == "Alpha Numérique"
    for column, day in {
        "Adhérent depuis": dt.datetime(2015, 3, 2),
        "Payée jusqu’au": dt.datetime(2027, 12, 31),
    }.items():
        assert (row[column].value, row[column].is_date) == (day, True)
        assert row[column].number_format == "dd/mm/yyyy"
    assert (row["Décidée le"].value, row["Décidée le"].is_date) == (
        dt.datetime(2026, 11, 20, 15, 30),
        True,
    )
    assert row["Décidée le"].number_format == "dd/mm/yyyy hh:mm"
    credit = row["Avoir (€)"]
    assert credit.data_type == "n" and credit.value == float(approved.credit) > 0
    assert credit.number_format == '#,##0.00 "€"'
    assert row["Anciens n° d’adhérent"].data_type == "s"


def test_the_workbook_types_the_figures_dates_and_amounts(client, merger, committee, approved):
    book = openpyxl.load_workbook(io.BytesIO(report(client, merger, committee, "xlsx")))

    figures = {row[0].value: row[1] for row in book["Synthèse"].iter_rows(min_row=2)}
    planned = figures["Date d’effet prévue"]
    assert (planned.value, planned.is_date, planned.number_format) == (
        dt.datetime.combine(merger.planned_date, dt.time()),
        True,
        "dd/mm/yyyy",
    )
    paid = figures["Cotisations payées 2027 : Membres des deux"]
    assert (paid.value, paid.data_type, paid.number_format) == (550, "n", '#,##0.00 "€"')
    count = figures["Membres du successeur (approuvés ou transférés)"]
    assert (count.value, count.data_type, count.number_format) == (1, "n", "General")


def test_the_csv_stays_text(client, merger, committee, approved):
    content = report(client, merger, committee, "csv").decode("utf-8-sig")

    header, row = csv.reader(io.StringIO(content), delimiter=";")
    values = dict(zip(header, row, strict=True))
    assert values["Adhérent depuis"] == "2015-03-02"
    assert values["Décidée le"] == "20/11/2026 15:30"
    assert values["Avoir (€)"] == str(approved.credit)
