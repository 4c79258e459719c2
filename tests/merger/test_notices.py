"""The members' information before the execution (GDPR): each contact of a transferring
organisation gets, through a Celery worker, one e-mail in its language saying that its data and
membership pass to the successor, with a signed link to object; each notice is kept as proof
(to whom, when, the text sent); an objection flags the proposal for the committee."""

import datetime as dt
import re
import time

import pytest
from celery.contrib.testing.worker import start_worker

from cluster.celery import app as celery_app
from members.models import ContactRole
from merger.models import Decision, MergerNotice, TransferProposal
from merger.services import (
    merger_execute,
    notices_queue,
    notices_send,
    proposals_refresh,
    transfer_decide,
)
from merger.services.notices import objection_token
from tests.factories import ContactFactory, MembershipFactory, OrganisationFactory, TermFactory

from .conftest import run_json, schedule

NEW_YEAR = dt.date(2027, 1, 1)


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def transferring(*contacts: dict, cluster_slug: str = "digitalplace"):
    """An organisation with a paid 2026 term (in grace on 1 January 2027) and ``contacts``."""
    organisation = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=organisation), year=2026)
    for contact in contacts:
        ContactFactory(organisation=organisation, **contact)
    return organisation


def objection_path(message) -> str:
    return re.search(r"(/fusion/opposition/[^/\s]+/)", message.get_body(("plain",)).get_content())[
        1
    ]


@pytest.mark.django_db(transaction=True)
def test_a_worker_tells_every_contact_once_in_its_language(
    postgresql, redis_broker, mailbox, merger, committee
):
    # PostgreSQL: the worker's thread and this one write at once, which SQLite's in-memory test
    # database answers with "table is locked".
    french = transferring(
        {"email": "a@one.example"}, {"email": "b@one.example", "role": ContactRole.BILLING}
    )
    english = transferring({"email": "c@two.example", "language": "en"})
    rejected = transferring({"email": "d@three.example"})
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    transfer_decide(
        proposal_ids=[TransferProposal.objects.get(organisation=rejected).pk],
        decision=Decision.REJECTED,
        by=committee,
        reason="Reste hors du successeur",
    )

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        status, first = run_json("notify")
        mailbox.wait_for(3)
        wait_until(
            lambda: not MergerNotice.objects.filter(state="pending").exists(),
            timeout=10,
            what="the notices are recorded as sent",
        )
        assert run_json("notify")[1] == {"created": 0, "organisations": 0, "requeued": 0}

    assert status == 0
    assert first == {"created": 3, "organisations": 2, "requeued": 0}
    assert sorted(m["To"] for m in mailbox.messages) == [
        "a@one.example",
        "b@one.example",
        "c@two.example",
    ]
    [in_english] = mailbox.to("c@two.example")
    assert in_english["Content-Language"] == "en"
    assert in_english["Subject"].strip() == (
        f"{english.name}: your membership moves to Grand Cluster Occitanie"
    )
    [in_french] = mailbox.to("a@one.example")
    assert in_french["Subject"].strip() == (
        f"{french.name} : votre adhésion passe à Grand Cluster Occitanie"
    )
    text = in_french.get_body(("plain",)).get_content()
    assert "1er janvier 2027" in text or "1 janvier 2027" in text
    assert "31 décembre 2026" in text  # the period already paid, carried over
    assert french.memberships.get().member_number in text
    assert objection_path(in_french) in in_french.get_body(("html",)).get_content()
    # Kept as proof: to whom, when, the very text.
    notice = MergerNotice.objects.get(email="a@one.example")
    assert notice.state == MergerNotice.State.SENT and notice.sent_at is not None
    assert notice.subject == in_french["Subject"].strip()
    assert notice.body.split() == text.split()  # the same words, whatever SMTP did to line ends
    assert not MergerNotice.objects.filter(email="d@three.example").exists()


@pytest.mark.django_db
def test_a_refused_address_fails_alone_and_a_server_down_is_tried_again(
    mailbox, merger, django_capture_on_commit_callbacks
):
    transferring({"email": "ok@one.example"}, {"email": "refused@one.example"})
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    with django_capture_on_commit_callbacks(execute=False):
        notices_queue(merger=merger, by=None)
    ids = list(MergerNotice.objects.order_by("email").values_list("pk", flat=True))
    mailbox.refuse("550 No such user", to="refused@one.example")

    assert notices_send(notice_ids=ids) == []

    states = dict(MergerNotice.objects.values_list("email", "state"))
    assert states == {"ok@one.example": "sent", "refused@one.example": "failed"}
    assert "550" in MergerNotice.objects.get(email="refused@one.example").error

    # A 4xx answer: the rest of the batch is to be tried again; nothing is marked sent.
    transferring({"email": "later@two.example"})
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    with django_capture_on_commit_callbacks(execute=False):
        notices_queue(merger=merger, by=None)
    notice = MergerNotice.objects.get(email="later@two.example")
    mailbox.refuse("451 Try again later")
    assert notices_send(notice_ids=[notice.pk]) == [notice.pk]
    notice.refresh_from_db()
    assert notice.state == "pending" and "451" in notice.error
    assert notices_send(notice_ids=[notice.pk]) == []
    assert MergerNotice.objects.get(pk=notice.pk).state == "sent"


@pytest.mark.django_db
def test_an_objection_is_recorded_once_and_flags_the_proposal(
    client, mailbox, merger, committee, django_capture_on_commit_callbacks
):
    organisation = transferring({"email": "boss@one.example"})
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    proposal = TransferProposal.objects.get()
    transfer_decide(
        proposal_ids=[proposal.pk], decision=Decision.APPROVED, by=committee, reason="OK"
    )
    with django_capture_on_commit_callbacks(execute=False):
        notices_queue(merger=merger, by=committee)
    notice = MergerNotice.objects.get()
    notices_send(notice_ids=[notice.pk])
    path = objection_path(mailbox.messages[0])

    page = client.get(path)
    assert page.status_code == 200
    assert organisation.name in page.text and "Je m’oppose au transfert" in page.text

    response = client.post(path, {"text": "Nous quittons l’association."}, follow=True)

    assert "Votre opposition est enregistrée" in response.text
    notice.refresh_from_db()
    assert notice.objected_at is not None
    assert notice.objection_text == "Nous quittons l’association."
    proposal.refresh_from_db()
    assert proposal.objection and proposal.facts_changed
    assert "opposition reçue" in proposal.flags
    # A second post changes nothing; the approved transfer is held back for a new decision.
    client.post(path, {"text": "Autre chose"})
    notice.refresh_from_db()
    assert notice.objection_text == "Nous quittons l’association."
    result = merger_execute(merger=merger)
    assert result.executed == [] and len(result.failed) == 1
    # A refresh keeps the flag: the objection is a fact of the organisation.
    proposals_refresh(merger=merger)
    assert TransferProposal.objects.get(pk=proposal.pk).objection


@pytest.mark.django_db
def test_a_tampered_objection_link_is_refused(client, merger):
    transferring({"email": "boss@one.example"})
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    notice = MergerNotice.objects.create(
        proposal=TransferProposal.objects.get(), email="boss@one.example", language="fr"
    )
    token = objection_token(notice=notice)

    response = client.post(f"/fusion/opposition/{token[:-2]}xx/", {"text": "non"})

    assert response.status_code == 404
    assert "Lien d’opposition non valide" in response.text
    notice.refresh_from_db()
    assert notice.objected_at is None


@pytest.mark.django_db
def test_the_objection_page_speaks_the_language_of_the_email(client, merger):
    transferring({"email": "boss@one.example", "language": "en"})
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    notice = MergerNotice.objects.create(
        proposal=TransferProposal.objects.get(), email="boss@one.example", language="en"
    )

    response = client.get(f"/fusion/opposition/{objection_token(notice=notice)}/")

    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert "I object to the transfer" in response.text
