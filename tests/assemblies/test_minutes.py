"""The results and the minutes of an assembly: the PDF read back, its sign-off, the command that
prints the results, and who may download the minutes."""

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from assemblies.minutes import minutes_pdf
from assemblies.models import (
    Assembly,
    Attendance,
    BallotChannel,
    Majority,
    Signatory,
    VoteChoice,
)
from assemblies.services import (
    assembly_second_convocation,
    attendance_record,
    ballot_cast,
    minutes_sign,
    proxy_give,
    voting_close,
    voting_open,
)
from members.formatting import long_date
from members.services import contact_login_ensure
from tests.assemblies.helpers import PARIS, assembly_convened, member_in_good_standing
from tests.factories import committee_user, staff_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SIGNED_AT = dt.datetime(2027, 1, 20, 19, 30, tzinfo=PARIS)


def text_of(content: bytes) -> str:
    """The PDF's text, its lines joined by spaces (reportlab breaks long lines anywhere)."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def held_assembly(*, secret: bool = False):
    """Six voices: A in the room, B online, C gives its proxy to A, D to the chair, E to F
    (absent: E is not represented), F absent. Resolution 1 (simple majority): A for, B against,
    C for (through A), D abstain (through the chair); resolution 2 (two thirds of votes cast):
    A for, B against, C against, D for. The vote is closed."""
    members = [member_in_good_standing() for _ in range(6)]
    for letter, membership in zip("ABCDEF", members, strict=True):
        membership.organisation.name = f"Organisation {letter}"
        membership.organisation.save(update_fields=["name"])
    assembly = assembly_convened(secret_ballot=secret, quorum_percent=50)
    first, second = assembly.resolutions.order_by("position")
    first.text = "L’assemblée approuve les comptes de l’exercice."
    first.save(update_fields=["text"])
    second.majority = Majority.TWO_THIRDS
    second.save(update_fields=["majority"])
    voice = {v.organisation.name[-1]: v for v in assembly.voices.select_related("organisation")}
    proxy_give(giver=voice["C"], holder=voice["A"], by=None)
    proxy_give(giver=voice["D"], holder=None, by=None)
    proxy_give(giver=voice["E"], holder=voice["F"], by=None)
    voting_open(assembly=assembly)
    attendance_record(voice=voice["A"], attendance=Attendance.ROOM, by=None)

    def cast(letter, one, two, **how):
        ballot_cast(
            voice=voice[letter],
            choices={first.pk: one, second.pk: two},
            channel=how.pop("channel", BallotChannel.ROOM),
            **how,
        )

    cast("A", VoteChoice.FOR, VoteChoice.FOR)
    cast("B", VoteChoice.AGAINST, VoteChoice.AGAINST, channel=BallotChannel.ONLINE)
    cast("C", VoteChoice.FOR, VoteChoice.AGAINST, holder=voice["A"])
    cast("D", VoteChoice.ABSTAIN, VoteChoice.FOR, chair=True)
    voting_close(assembly=assembly)
    assembly.refresh_from_db()
    return assembly


def signed(assembly):
    """``assembly`` with both signatures recorded."""
    minutes_sign(assembly=assembly, role=Signatory.CHAIR, by=None, now=SIGNED_AT)
    minutes_sign(
        assembly=assembly, role=Signatory.SECRETARY, by=None, now=SIGNED_AT + dt.timedelta(days=1)
    )
    assembly.refresh_from_db()
    return assembly


# --- The minutes, read back ---------------------------------------------------------------------


def test_the_minutes_state_attendance_proxies_quorum_and_each_result():
    text = text_of(minutes_pdf(assembly=held_assembly(), language="fr"))

    assert "Association DigitalPlace" in text
    assert "Procès-verbal de l’assemblée générale ordinaire" in text
    assert "Première convocation" in text
    assert "Président de séance Claire Durand" in text
    assert "Secrétaire de séance Paul Lefebvre" in text
    assert "Voix inscrites (membres à jour convoqués) 6" in text
    assert "Présentes dans la salle 1" in text
    assert "Présentes en ligne 1" in text
    assert "Représentées par un pouvoir 2" in text
    assert "Absentes 2" in text
    assert "Quorum requis : 50 % des voix, soit 3 ; présentes ou représentées : 4." in text
    assert "Le quorum est atteint" in text
    assert "Mandant Mandataire Compté Organisation C Organisation A Oui" in text
    assert "Organisation D Président de séance Oui" in text
    assert "Organisation E Organisation F Non : mandataire absent" in text
    assert (
        "Résolution n° 1 — Résolution 1 L’assemblée approuve les comptes de l’exercice. "
        "Majorité requise : Majorité simple : plus de voix pour que de voix contre "
        "Pour : 2 · Contre : 1 · Abstention : 1 Résultat : Adoptée"
    ) in text
    assert (
        "Majorité requise : Deux tiers des suffrages exprimés (pour et contre) "
        "Pour : 2 · Contre : 2 · Abstention : 0 Résultat : Non adoptée"
    ) in text
    sheet = text[text.index("Annexe 1 — Feuille de présence") :]
    assert "Organisation C Camille" in sheet and "Représenté par Organisation A" in sheet
    assert "Représenté par le président de séance" in sheet
    assert "Présent en ligne Organisation C" in sheet
    assert "Organisation E Camille" in sheet
    assert "Projet — non signé" in text
    assert text.count("Non signé") == 2


def test_an_open_ballot_annexes_each_voices_choice():
    text = text_of(minutes_pdf(assembly=held_assembly(), language="fr"))

    annex = text[text.index("Annexe 2 — Votes nominatifs") :]
    assert "Organisation A Pour Pour" in annex
    assert "Organisation B Contre Contre" in annex
    assert "Organisation C Pour Contre" in annex
    assert "Organisation D Abstention Pour" in annex
    assert "Organisation E" not in annex  # it voted through nobody: it has no choice


def test_a_secret_ballot_names_no_choice_next_to_a_voice():
    text = text_of(minutes_pdf(assembly=held_assembly(secret=True), language="fr"))

    assert "À bulletin secret" in text
    assert "Pour : 2 · Contre : 1 · Abstention : 1 Résultat : Adoptée" in text
    assert "Votes nominatifs" not in text
    sheet = text[text.index("Annexe 1 — Feuille de présence") :]
    assert "Organisation A" in sheet
    for choice in ("Pour", "Contre", "Abstention"):
        assert choice not in sheet


def test_the_minutes_in_english():
    text = text_of(minutes_pdf(assembly=signed(held_assembly()), language="en"))

    assert "Minutes of the ordinary general assembly" in text
    assert "Present in the room 1" in text
    assert "Represented by a proxy 2" in text
    assert "Quorum required: 50% of the voices, that is 3; present or represented: 4." in text
    assert "For: 2 · Against: 1 · Abstain: 1 Outcome: Adopted" in text
    assert "Outcome: Not adopted" in text
    assert "Signed by Claire Durand on January 20, 2027 at 19:30" in text
    assert "Signed minutes" in text
    assert "Draft" not in text


def test_a_vote_in_progress_is_provisional_and_a_second_convocation_says_so():
    member_in_good_standing()
    first = assembly_convened()
    voting_open(assembly=first)

    text = text_of(minutes_pdf(assembly=first, language="fr"))

    assert "Résultats provisoires : le vote n’est pas clos." in text
    assert "Le quorum n’est pas atteint" in text
    assert "Aucun pouvoir n’a été donné." in text
    assert "Résultat : Non adoptée" in text

    voting_close(assembly=first)
    second = assembly_second_convocation(
        assembly=first, starts_at=first.starts_at + dt.timedelta(days=20), by=None
    )
    text = text_of(minutes_pdf(assembly=second, language="fr"))
    day = long_date(timezone.localdate(first.starts_at))
    assert f"Seconde convocation, le quorum de l’assemblée du {day} n’ayant pas été atteint" in text


def test_the_minutes_read_a_fixed_number_of_queries(django_assert_max_num_queries):
    """Each list (voices, proxies, choices) is one query, however long (measured with 250 voices,
    200 ballots and 6 resolutions, no proxy: 13 queries, 1.6 s, 23 pages)."""
    assembly = held_assembly()

    with django_assert_max_num_queries(14):
        minutes_pdf(assembly=assembly, language="fr")


# --- The sign-off -------------------------------------------------------------------------------


def test_the_minutes_are_signed_once_each_after_the_close_by_the_named_signatories():
    staff = staff_user()
    member_in_good_standing()
    assembly = assembly_convened()
    voting_open(assembly=assembly)
    with pytest.raises(ValidationError, match="une fois le vote clos"):
        minutes_sign(assembly=assembly, role=Signatory.CHAIR, by=staff, now=SIGNED_AT)
    voting_close(assembly=assembly)

    minutes_sign(assembly=assembly, role=Signatory.CHAIR, by=staff, now=SIGNED_AT)
    with pytest.raises(ValidationError, match="déjà signé par le président de séance"):
        minutes_sign(assembly=assembly, role=Signatory.CHAIR, by=None, now=SIGNED_AT)
    text = text_of(minutes_pdf(assembly=assembly, language="fr"))
    assert "Signé par Claire Durand le 20 janvier 2027 à 19:30" in text
    assert "Projet — non signé" in text

    assembly.secretary_name = "  "
    assembly.save(update_fields=["secretary_name"])
    with pytest.raises(ValidationError, match="ne nomme pas de secrétaire de séance"):
        minutes_sign(assembly=assembly, role=Signatory.SECRETARY, by=staff, now=SIGNED_AT)
    with pytest.raises(ValidationError, match="Signataire inconnu"):
        minutes_sign(assembly=assembly, role="treasurer", by=staff, now=SIGNED_AT)

    assembly.refresh_from_db()
    assert (assembly.chair_signed_at, assembly.chair_signed_by) == (SIGNED_AT, staff)
    assert assembly.secretary_signed_at is None


def test_signed_minutes_show_both_signatures_and_no_draft_banner():
    text = text_of(minutes_pdf(assembly=signed(held_assembly()), language="fr"))

    assert "Signé par Claire Durand le 20 janvier 2027 à 19:30" in text
    assert "Signé par Paul Lefebvre le 21 janvier 2027 à 19:30" in text
    assert "Procès-verbal signé" in text
    assert "Projet" not in text and "Non signé" not in text


def test_the_database_refuses_a_signature_before_the_close():
    member_in_good_standing()
    assembly = assembly_convened()

    with pytest.raises(IntegrityError), transaction.atomic():
        Assembly.objects.filter(pk=assembly.pk).update(chair_signed_at=SIGNED_AT)


# --- The command --------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("assembly", *args, stdout=out)
    return out.getvalue()


def test_the_results_as_json_exactly():
    assembly = held_assembly()

    assert json.loads(run("results", str(assembly.pk), "--json")) == {
        "eligible": 6,
        "present": 2,
        "represented": 2,
        "quorum_met": True,
        "resolutions": [
            {"title": "Résolution 1", "for": 2, "against": 1, "abstain": 1, "adopted": True},
            {"title": "Résolution 2", "for": 2, "against": 2, "abstain": 0, "adopted": False},
        ],
    }


def test_the_results_as_a_table():
    assembly = held_assembly()

    lines = run("results", str(assembly.pk)).splitlines()

    assert lines[0] == "Assemblée générale ordinaire · DigitalPlace (Vote clos)"
    assert lines[1] == "Voix : 6 · présentes : 2 · représentées : 2 · quorum : atteint"
    assert lines[3].split() == ["Résolution", "Pour", "Contre", "Abstention", "Résultat"]
    assert lines[4].split() == ["1.", "Résolution", "1", "2", "1", "1", "adoptée"]
    assert lines[5].split() == ["2.", "Résolution", "2", "2", "2", "0", "non", "adoptée"]


def test_the_minutes_command_writes_the_pdf(tmp_path):
    assembly = signed(held_assembly())
    output = tmp_path / "pv.pdf"

    said = run("minutes", str(assembly.pk), "--output", str(output), "--language", "en")

    assert str(output) in said
    assert "Signed by Paul Lefebvre" in text_of(output.read_bytes())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Identifiant d’assemblée invalide « abc »"),
        ("0", "Identifiant d’assemblée invalide « 0 »"),
        ("99999999999999999999", "Identifiant d’assemblée invalide"),
        ("999999", "Aucune assemblée n° 999999"),
    ],
)
def test_an_unknown_or_malformed_id_exits_with_status_2(value, message):
    with pytest.raises(CommandError, match=message) as refused:
        run("results", value, "--json")
    assert refused.value.returncode == 2


def test_an_unwritable_output_exits_with_status_2(tmp_path):
    assembly = held_assembly()

    with pytest.raises(CommandError, match="Impossible d’écrire") as refused:
        run("minutes", str(assembly.pk), "--output", str(tmp_path / "missing" / "pv.pdf"))
    assert refused.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_the_command_line_prints_only_json_and_exits_2_on_an_unknown_id(postgresql):
    assembly = held_assembly()
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
    }

    def command_line(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "assembly", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = command_line("results", str(assembly.pk), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["resolutions"][0]["adopted"] is True
    unknown = command_line("results", "123456789", "--json")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert "Aucune assemblée n° 123456789" in unknown.stderr


# --- Who downloads the minutes ------------------------------------------------------------------


def staff_pdf_url(assembly, **query) -> str:
    url = reverse("assemblies:minutes_pdf", kwargs={"assembly_id": assembly.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def sign_url(assembly) -> str:
    return reverse("assemblies:minutes_sign", kwargs={"assembly_id": assembly.pk})


def member_url(assembly) -> str:
    return reverse("assemblies:member_minutes_pdf", kwargs={"assembly_id": assembly.pk})


def test_staff_of_the_cluster_read_and_sign_the_minutes_others_do_not(client):
    assembly = held_assembly()
    own, other, committee = staff_user(), staff_user("frenchsouth"), committee_user()
    assert staff_pdf_url(assembly) == f"/gestion/assemblees/{assembly.pk}/proces-verbal.pdf"

    client.force_login(own)
    response = client.get(staff_pdf_url(assembly, language="en"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "Minutes of the ordinary" in text_of(response.content)
    assert client.get(staff_pdf_url(assembly, language="xx")).status_code == 400

    response = client.post(sign_url(assembly), {"role": "chair"}, follow=True)
    assert "Signature du président de séance enregistrée" in response.text
    assembly.refresh_from_db()
    signed_at = assembly.chair_signed_at
    assert assembly.chair_signed_by == own
    response = client.post(sign_url(assembly), {"role": "chair"}, follow=True)  # a double click
    assert response.status_code == 200
    assert "déjà signé par le président de séance" in response.text
    assembly.refresh_from_db()
    assert assembly.chair_signed_at == signed_at
    assert client.post(sign_url(assembly), {"role": "treasurer"}).status_code == 400
    assert client.post(sign_url(assembly), {}).status_code == 400
    back = staff_pdf_url(assembly)
    response = client.post(sign_url(assembly), {"role": "chair", "next": back})
    assert response["Location"] == back
    response = client.post(sign_url(assembly), {"role": "chair", "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:index")
    response = client.post(sign_url(assembly), {"role": "chair", "next": "admin:index"})
    assert response.status_code == 302  # a path, not the name of a view to look up
    assert client.get(sign_url(assembly)).status_code == 405

    client.force_login(other)
    assert client.get(staff_pdf_url(assembly)).status_code == 404
    assert client.post(sign_url(assembly), {"role": "secretary"}).status_code == 404

    client.force_login(committee)
    assert client.get(staff_pdf_url(assembly)).status_code == 200
    assert client.post(sign_url(assembly), {"role": "secretary"}).status_code == 403
    assembly.refresh_from_db()
    assert assembly.secretary_signed_at is None

    huge = "/gestion/assemblees/99999999999999999999/proces-verbal.pdf"
    assert client.get(huge).status_code == 404


def test_the_staff_pages_ask_for_a_staff_sign_in(client):
    assembly = held_assembly()
    response = client.get(staff_pdf_url(assembly))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    voter = assembly.voices.first().voter
    client.force_login(contact_login_ensure(contact=voter)[0])
    response = client.get(staff_pdf_url(assembly))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_members_convened_download_the_minutes_once_signed(client):
    assembly = held_assembly()
    voter = assembly.voices.select_related("voter").first().voter
    client.force_login(contact_login_ensure(contact=voter)[0])
    assert member_url(assembly) == f"/espace/assemblees/{assembly.pk}/proces-verbal.pdf"

    assert client.get(member_url(assembly)).status_code == 404
    minutes_sign(assembly=assembly, role=Signatory.CHAIR, by=None)
    assert client.get(member_url(assembly)).status_code == 404

    minutes_sign(assembly=assembly, role=Signatory.SECRETARY, by=None)
    response = client.get(member_url(assembly))
    assert response.status_code == 200
    assert "Signé par Paul Lefebvre" in text_of(response.content)

    outsider = member_in_good_standing()  # a member, not convened: paid after the convocation
    client.force_login(contact_login_ensure(contact=outsider.organisation.contacts.first())[0])
    assert client.get(member_url(assembly)).status_code == 404
    other_cluster = member_in_good_standing("frenchsouth")
    client.force_login(contact_login_ensure(contact=other_cluster.organisation.contacts.first())[0])
    assert client.get(member_url(assembly)).status_code == 404

    client.logout()
    assert client.get(member_url(assembly)).status_code == 302
