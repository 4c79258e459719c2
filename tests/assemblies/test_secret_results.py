"""A secret ballot's counts are not read while its vote is open: between two ballots they would
tell what the second one chose. The attendance and the quorum still show; the counts come with
the close, in the admin, the command and the minutes alike. Once closed, staff record the chair's
and the secretary's signatures from the results page."""

import json
from io import BytesIO, StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from pypdf import PdfReader

from assemblies.models import Attendance, BallotChannel, VoteChoice
from assemblies.selectors import assembly_results
from assemblies.services import attendance_record, ballot_cast, voting_close, voting_open
from tests.assemblies.helpers import assembly_convened, member_in_good_standing
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


def one_ballot_cast(*, secret: bool):
    member_in_good_standing()
    member_in_good_standing()
    assembly = assembly_convened(secret_ballot=secret, resolutions=1)
    voting_open(assembly=assembly)
    voice = assembly.voices.first()
    attendance_record(voice=voice, attendance=Attendance.ROOM, by=None)
    choices = {assembly.resolutions.get().pk: VoteChoice.AGAINST}
    ballot_cast(voice=voice, choices=choices, channel=BallotChannel.ROOM)
    assembly.refresh_from_db()
    return assembly


def results_json(assembly) -> dict:
    out = StringIO()
    call_command("assembly", "results", str(assembly.pk), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_an_open_secret_ballot_shows_its_attendance_but_not_its_counts():
    assembly = one_ballot_cast(secret=True)

    results = assembly_results(assembly=assembly)
    printed = results_json(assembly)

    assert results.withheld
    assert (results.eligible, results.present) == (2, 1)
    assert printed["resolutions"] == [
        {"title": "Résolution 1", "for": None, "against": None, "abstain": None, "adopted": None}
    ]
    assert printed["present"] == 1


def test_the_counts_of_a_secret_ballot_come_with_the_close():
    assembly = one_ballot_cast(secret=True)
    voting_close(assembly=assembly)

    printed = results_json(assembly)

    assert printed["resolutions"][0] | {"title": None} == {
        "title": None,
        "for": 0,
        "against": 1,
        "abstain": 0,
        "adopted": False,
    }


def test_an_open_ballot_shows_its_running_counts():
    assembly = one_ballot_cast(secret=False)

    assert results_json(assembly)["resolutions"][0]["against"] == 1


def test_the_results_page_and_the_draft_minutes_hide_an_open_secret_ballots_counts(client):
    assembly = one_ballot_cast(secret=True)
    client.force_login(staff_user())

    page = client.get(reverse("admin:assemblies_assembly_results", args=[assembly.pk]))
    pdf = client.get(reverse("assemblies:minutes_pdf", args=[assembly.pk]))

    assert "se lit à la clôture du vote" in page.content.decode()
    text = " ".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
    assert "Contre : 1" not in text
    assert "décompte à la clôture" in text


def test_staff_record_both_signatures_from_the_results_page(client):
    assembly = one_ballot_cast(secret=False)
    voting_close(assembly=assembly)
    client.force_login(staff_user())
    page_url = reverse("admin:assemblies_assembly_results", args=[assembly.pk])

    before = client.get(page_url).content.decode()
    for role in ("chair", "secretary"):
        client.post(
            reverse("assemblies:minutes_sign", args=[assembly.pk]),
            {"role": role, "next": page_url},
        )
    after = client.get(page_url).content.decode()

    assert "Enregistrer la signature de Claire Durand" in before
    assert "signé par Claire Durand" in after
    assert "signé par Paul Lefebvre" in after
    assert "Enregistrer la signature" not in after
