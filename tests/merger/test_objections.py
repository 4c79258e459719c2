"""Objections that come after the execution: the objection link of a notice still works once the
organisation's membership was transferred, and then tells the truth (the membership was
transferred, on which date, its new member number, how to leave the successor); an objection
sent then is recorded once and reaches the merger committee as a flagged item of the executed
proposal (its filter and column in the proposals list, a note on its page, a filter in the
notices list, a count on the merger's page). Before the execution nothing changes."""

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from members.models import Cluster
from merger.models import Decision, MergerNotice, TransferProposal
from merger.services import (
    merger_execute,
    notice_object,
    notices_queue,
    proposals_refresh,
    transfer_decide,
)
from merger.services.notices import objection_token
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    staff_user,
)

from .conftest import schedule

NEW_YEAR = dt.date(2027, 1, 1)
#: What the page said after the execution before this fix: false once the transfer is done.
BEFORE_ANY_TRANSFER = "Le comité de fusion l’examine avant tout transfert"


def transferring(*emails: str, language: str = "fr"):
    """An organisation with a paid 2026 term (in grace on 1 January 2027), a contact per
    e-mail."""
    organisation = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=organisation), year=2026)
    for email in emails:
        ContactFactory(organisation=organisation, email=email, language=language)
    return organisation


def informed(merger, committee, *emails: str, language: str = "fr") -> TransferProposal:
    """The approved proposal of a new organisation whose contacts (``emails``) were told."""
    organisation = transferring(*emails, language=language)
    merger.refresh_from_db()
    if merger.status != merger.Status.EFFECTIVE:
        schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    proposal = TransferProposal.objects.get(organisation=organisation)
    transfer_decide(
        proposal_ids=[proposal.pk], decision=Decision.APPROVED, by=committee, reason="OK"
    )
    notices_queue(merger=merger, by=committee)  # its tasks go after a commit that never comes
    MergerNotice.objects.filter(proposal=proposal).update(
        state="sent", sent_at=dt.datetime.now(dt.UTC)
    )
    return proposal


def executed(merger, committee, *emails: str, language: str = "fr") -> TransferProposal:
    """As :func:`informed`, then the transfers executed: the proposal, executed."""
    proposal = informed(merger, committee, *emails, language=language)
    result = merger_execute(merger=merger, by=committee)
    assert [row.proposal_id for row in result.executed] == [proposal.pk]
    proposal.refresh_from_db()
    assert proposal.decision == Decision.EXECUTED
    return proposal


def link(email: str) -> str:
    notice = MergerNotice.objects.get(email=email)
    return reverse("merger:objection", kwargs={"token": objection_token(notice=notice)})


def successor_details(**details) -> None:
    Cluster.objects.filter(slug="grand-cluster").update(**details)


def admin(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


# --- The member's page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_the_execution_the_page_says_when_the_membership_was_transferred_and_how_to_leave(
    client, merger, committee
):
    successor_details(
        email="bonjour@grand-cluster.example",
        address="12 rue des Lois\n31000 Toulouse",
    )
    proposal = executed(merger, committee, "boss@one.example")
    number = proposal.successor_membership.member_number

    page = client.get(link("boss@one.example")).text

    assert re.search(
        "L’adhésion de votre organisation a été transférée à Grand Cluster Occitanie avec effet "
        "au 1(er)? janvier 2027",
        page,
    )
    assert number == "GC-0001" and number in page
    # How to leave the successor: its contact e-mail and postal address.
    assert "Pour quitter Grand Cluster Occitanie" in page
    assert "bonjour@grand-cluster.example" in page
    assert "12 rue des Lois" in page and "31000 Toulouse" in page
    # The form still takes an objection, worded truthfully.
    assert "le comité de fusion la recevra ; le transfert est déjà fait" in page
    assert "Envoyer mon opposition au comité de fusion" in page
    assert "examine votre demande avant tout transfert" not in page
    assert BEFORE_ANY_TRANSFER not in page


@pytest.mark.django_db
def test_without_the_successors_contact_details_the_page_says_to_reply_to_the_notice(
    client, merger, committee
):
    successor_details(email="", address="")
    executed(merger, committee, "boss@one.example")

    page = client.get(link("boss@one.example")).text

    assert "Pour quitter Grand Cluster Occitanie, répondez à l’e-mail d’information" in page
    assert "a été transférée à Grand Cluster Occitanie" in page


@pytest.mark.django_db
def test_after_the_execution_the_page_speaks_english(client, merger, committee):
    successor_details(email="hello@grand-cluster.example")
    executed(merger, committee, "boss@one.example", language="en")

    page = client.get(link("boss@one.example")).text

    assert '<html lang="en">' in page
    assert (
        "Your organisation’s membership was transferred to Grand Cluster Occitanie, effective "
        "January 1, 2027" in page
    )
    assert "To leave Grand Cluster Occitanie, write to hello@grand-cluster.example" in page
    assert "the merger committee will receive it; the transfer is already done" in page
    assert "Send my objection to the merger committee" in page

    response = client.post(link("boss@one.example"), {"text": "We leave."}, follow=True)

    assert "Your objection has been on record since" in response.text
    assert "after the transfer" in response.text


@pytest.mark.django_db
def test_before_the_execution_the_page_and_the_objection_are_unchanged(client, merger, committee):
    proposal = informed(merger, committee, "boss@one.example")

    page = client.get(link("boss@one.example")).text

    assert "le comité de fusion examine votre demande avant tout transfert" in page
    assert "Je m’oppose au transfert" in page
    assert "a été transférée" not in page and "déjà fait" not in page

    response = client.post(link("boss@one.example"), {"text": "Non merci."}, follow=True)

    assert "Votre opposition est enregistrée" in response.text
    assert BEFORE_ANY_TRANSFER in response.text
    notice = MergerNotice.objects.get()
    assert notice.objected_at is not None and notice.objected_after_execution is None
    proposal.refresh_from_db()
    assert proposal.objection and proposal.facts_changed
    assert proposal.objection_after_execution is None


@pytest.mark.django_db
def test_an_objection_before_the_execution_is_shown_with_the_transfer_decided_after_it(
    client, merger, committee
):
    proposal = informed(merger, committee, "boss@one.example")
    client.post(link("boss@one.example"), {"text": "Non merci."})
    # The committee looks at the objection and approves the transfer again.
    proposal.refresh_from_db()
    transfer_decide(
        proposal_ids=[proposal.pk],
        decision=Decision.APPROVED,
        by=committee,
        reason="Opposition examinée : transfert maintenu",
    )
    assert len(merger_execute(merger=merger, by=committee).executed) == 1

    page = client.get(link("boss@one.example")).text

    assert "Votre opposition est enregistrée depuis le" in page
    assert "le comité de fusion a ensuite décidé le transfert" in page
    assert re.search(
        "a été transférée à Grand Cluster Occitanie avec effet au 1(er)? janvier", page
    )
    assert BEFORE_ANY_TRANSFER not in page
    assert "Envoyer mon opposition" not in page
    assert MergerNotice.objects.get().objected_after_execution is None


# --- The objection after the execution ----------------------------------------------------------


@pytest.mark.django_db
def test_an_objection_after_the_execution_reaches_the_committee_flagged(client, merger, committee):
    proposal = executed(merger, committee, "boss@one.example")
    successor = proposal.successor_membership

    response = client.post(
        link("boss@one.example"), {"text": "Nous ne voulions pas du transfert."}, follow=True
    )

    page = response.text
    assert "Votre opposition est enregistrée depuis le" in page
    assert "après le transfert" in page
    assert "Elle est transmise au comité de fusion ; le transfert est déjà fait" in page
    assert BEFORE_ANY_TRANSFER not in page
    notice = MergerNotice.objects.get()
    assert notice.objection_text == "Nous ne voulions pas du transfert."
    assert notice.objected_after_execution is not None
    assert notice.objected_after_execution == notice.objected_at
    proposal.refresh_from_db()
    assert proposal.objection_after_execution == notice.objected_at
    # The transfer stands: the executed proposal and its facts are history.
    assert proposal.decision == Decision.EXECUTED
    assert proposal.successor_membership == successor
    assert not proposal.objection and not proposal.facts_changed

    client.force_login(committee)
    proposal_page = client.get(admin("merger_transferproposal_change", proposal.pk)).text
    assert "Opposition reçue après l’exécution" in proposal_page
    assert "boss@one.example" in proposal_page
    assert "Nous ne voulions pas du transfert." in proposal_page
    local = notice.objected_at.astimezone(ZoneInfo("Europe/Paris"))
    assert f"{local:%d/%m/%Y}" in proposal_page
    merger_page = client.get(admin("merger_merger_change", merger.pk)).text
    assert "1 opposition reçue après l’exécution" in merger_page


@pytest.mark.django_db
def test_an_objection_after_the_execution_is_recorded_once(client, merger, committee):
    proposal = executed(merger, committee, "boss@one.example")
    form_page = client.get(link("boss@one.example"))  # a second tab, opened before the first post
    assert "Envoyer mon opposition au comité de fusion" in form_page.text
    client.post(link("boss@one.example"), {"text": "Premier envoi."})
    first = MergerNotice.objects.get()

    again = client.post(link("boss@one.example"), {"text": "Second envoi."}, follow=True)

    assert again.status_code == 200
    assert "Votre opposition était déjà enregistrée : cet envoi n’a rien ajouté." in again.text
    assert "Premier envoi." in again.text and "Second envoi." not in again.text
    notice = MergerNotice.objects.get()
    assert (notice.objected_at, notice.objected_after_execution, notice.objection_text) == (
        first.objected_at,
        first.objected_after_execution,
        "Premier envoi.",
    )
    proposal.refresh_from_db()
    assert proposal.objection_after_execution == first.objected_at


@pytest.mark.django_db(transaction=True)
def test_a_double_click_after_the_execution_records_one_objection(postgresql, merger, committee):
    """Two posts of the form at the same moment, each in its own thread and database connection:
    the notice's row lock lets one record the objection; the other is told it was already."""
    executed(merger, committee, "boss@one.example")
    path = link("boss@one.example")
    start = threading.Barrier(2)

    def post(text: str):
        start.wait()
        try:
            return Client().post(path, {"text": text}, follow=True)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(post, ["Clic un.", "Clic deux."]))

    assert [response.status_code for response in responses] == [200, 200]
    already = [r for r in responses if "déjà enregistrée : cet envoi n’a rien ajouté" in r.text]
    assert len(already) == 1
    notice = MergerNotice.objects.get()
    assert notice.objection_text in ("Clic un.", "Clic deux.")
    assert notice.objected_after_execution == notice.objected_at is not None
    assert TransferProposal.objects.get().objection_after_execution == notice.objected_at


@pytest.mark.django_db
def test_another_notices_token_cannot_touch_this_one(client, merger, committee):
    proposal = executed(merger, committee, "boss@one.example", "billing@one.example")

    client.post(link("billing@one.example"), {"text": "Objection du service comptable."})

    boss = MergerNotice.objects.get(email="boss@one.example")
    assert boss.objected_at is None and boss.objection_text == ""
    assert boss.objected_after_execution is None
    assert "Envoyer mon opposition au comité de fusion" in client.get(link(boss.email)).text
    # A link whose signature does not match any notice touches nothing either.
    token = objection_token(notice=boss)
    response = client.post(
        reverse("merger:objection", kwargs={"token": token[:-2] + "xx"}), {"text": "non"}
    )
    assert response.status_code == 404
    boss.refresh_from_db()
    assert boss.objected_at is None
    # The boss's own objection is recorded on its notice, besides the other one.
    client.post(link(boss.email), {"text": "Moi aussi."})
    texts = dict(
        MergerNotice.objects.filter(proposal=proposal).values_list("email", "objection_text")
    )
    assert texts == {
        "boss@one.example": "Moi aussi.",
        "billing@one.example": "Objection du service comptable.",
    }


@pytest.mark.django_db
def test_the_records_stay_coherent(merger, committee):
    proposal = informed(merger, committee, "boss@one.example")
    notice = MergerNotice.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        MergerNotice.objects.filter(pk=notice.pk).update(objected_after_execution=notice.created_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        TransferProposal.objects.filter(pk=proposal.pk).update(
            objection_after_execution=notice.created_at
        )
    # Through the service, before the execution: an ordinary objection.
    notice_object(notice=notice, text="Non.")
    notice.refresh_from_db()
    assert notice.objected_at is not None and notice.objected_after_execution is None


# --- The committee's admin ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_filters_find_the_objections_after_the_execution(client, merger, committee):
    late = executed(merger, committee, "late@one.example")
    client.post(link("late@one.example"), {"text": "Trop tard ?"})
    early = informed(merger, committee, "early@two.example")
    client.post(link("early@two.example"), {"text": "À temps."})
    quiet = informed(merger, committee, "quiet@three.example")
    client.force_login(committee)

    proposals = client.get(admin("merger_transferproposal_changelist"), {"late_objection": "yes"})
    others = client.get(admin("merger_transferproposal_changelist"), {"late_objection": "no"})
    every = client.get(admin("merger_transferproposal_changelist"))

    assert proposals.status_code == 200
    assert [p.pk for p in proposals.context["cl"].result_list] == [late.pk]
    assert {p.pk for p in others.context["cl"].result_list} == {early.pk, quiet.pk}
    assert "opposition après exécution" in every.text.lower()
    assert "Trop tard" not in every.text  # the column says when, the page says what
    late_row = next(
        line for line in every.text.split("<tr") if f"/transferproposal/{late.pk}/change/" in line
    )
    assert "merger-late-objection" in late_row

    notices = client.get(admin("merger_mergernotice_changelist"), {"late_objection": "yes"})
    assert [n.email for n in notices.context["cl"].result_list] == ["late@one.example"]
    notices = client.get(admin("merger_mergernotice_changelist"), {"late_objection": "no"})
    assert {n.email for n in notices.context["cl"].result_list} == {
        "early@two.example",
        "quiet@three.example",
    }
    notice = MergerNotice.objects.get(email="late@one.example")
    notice_page = client.get(admin("merger_mergernotice_change", notice.pk)).text
    assert "opposition après exécution" in notice_page.lower()


@pytest.mark.django_db
def test_membership_staff_do_not_see_the_objections(client, merger, committee):
    executed(merger, committee, "late@one.example")
    client.post(link("late@one.example"), {"text": "Trop tard ?"})
    for slug in ("digitalplace", "grand-cluster"):
        client.force_login(staff_user(slug))
        for name in ("merger_transferproposal_changelist", "merger_mergernotice_changelist"):
            response = client.get(admin(name), {"late_objection": "yes"})
            assert response.status_code == 403
        assert client.get(admin("merger_merger_change", merger.pk)).status_code == 403


@pytest.mark.django_db
def test_the_execution_preview_warns_when_the_successor_lacks_the_details_the_page_shows(
    client, merger, committee
):
    informed(merger, committee, "boss@one.example")
    client.force_login(committee)
    preview = admin("merger_merger_execute", merger.pk)

    successor_details(email="", address="")
    page = client.get(preview).text
    assert "Grand Cluster Occitanie n’a ni e-mail ni adresse postale" in page
    assert "répondre à l’e-mail d’information" in page

    successor_details(email="bonjour@grand-cluster.example", address="")
    page = client.get(preview).text
    assert "Grand Cluster Occitanie n’a pas d’adresse postale" in page
    assert "ni e-mail" not in page

    successor_details(email="", address="12 rue des Lois, 31000 Toulouse")
    page = client.get(preview).text
    assert "Grand Cluster Occitanie n’a pas d’e-mail de contact" in page

    successor_details(email="bonjour@grand-cluster.example", address="12 rue des Lois")
    page = client.get(preview).text
    assert "n’a pas d’" not in page and "ni e-mail" not in page
