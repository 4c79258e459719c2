"""Nothing irreversible or mass in one click: informing the members and executing the transfers
each go through a page that shows what will happen, then an explicit confirmation, and run in
Celery with their progress shown, once whatever the clicks and tabs.

- *Informer les membres*: the e-mail in French and in English as members get it, the number of
  recipients by language, a test sent to oneself (not a notice, as often as asked), then the
  confirmation; the sending's progress.
- *Exécuter les transferts*: the successor as it would be, a page at a time, searchable and
  exportable; "Cette opération est irréversible" and a box to tick; a Celery worker executes,
  the page shows its progress then what it did.
"""

import csv
import datetime as dt
import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from cluster.celery import app as celery_app
from members.models import Membership
from merger.models import (
    Decision,
    Merger,
    MergerExecution,
    MergerNotice,
    NoticeTest,
    TransferProposal,
)
from merger.services import (
    merger_execution_run,
    notices_queue,
    proposals_refresh,
    transfer_decide,
)
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    staff_user,
)
from tests.html_forms import form_data

from .conftest import schedule

NEW_YEAR = dt.date(2027, 1, 1)


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def transferring(*contacts: dict, name: str | None = None, number: str | None = None):
    """An organisation with a paid 2026 term at DigitalPlace (in grace on 1 January 2027) and
    ``contacts``."""
    organisation = OrganisationFactory(**({"name": name} if name else {}))
    membership = MembershipFactory(
        organisation=organisation, **({"member_number": number} if number else {})
    )
    TermFactory(membership=membership, year=2026)
    for contact in contacts:
        ContactFactory(organisation=organisation, **contact)
    return organisation


def decide(decision: str, organisations, by) -> None:
    transfer_decide(
        proposal_ids=TransferProposal.objects.filter(organisation__in=organisations).values_list(
            "pk", flat=True
        ),
        decision=decision,
        by=by,
        reason="Comité du 15 décembre",
    )


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def viewer():
    """Staff who may read the merger but neither inform the members nor execute."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="merger", codename__in=["view_merger", "change_merger"]
        )
    )
    return user


# --- Informing the members ---------------------------------------------------------------------


@pytest.fixture
def audience(merger, committee):
    """Three contacts to tell (two French, one English) in two organisations, and one refused
    organisation's contact, who is not told."""
    french = transferring(
        {"email": "a@one.example"}, {"email": "b@one.example"}, name="Alpha Numérique"
    )
    english = transferring({"email": "c@two.example", "language": "en"}, name="Bêta Systems")
    refused = transferring({"email": "d@three.example"}, name="Gamma Sud")
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    decide(Decision.REJECTED, [refused], committee)
    return {"french": french, "english": english, "refused": refused}


@pytest.mark.django_db
def test_the_notices_page_shows_the_email_in_both_languages_and_the_recipients_by_language(
    client, merger, committee, audience, mailbox
):
    client.force_login(committee)

    response = client.get(url("merger_merger_notify", merger.pk))

    assert response.status_code == 200
    page = response.text
    assert '<td class="count-recipients">3</td>' in page
    assert '<td class="count-language-fr">2</td>' in page
    assert '<td class="count-language-en">1</td>' in page
    assert '<td class="count-organisations">2</td>' in page
    # The e-mail of the first organisation by name, in French and in English.
    assert "L’e-mail tel que le reçoivent les contacts de Alpha Numérique" in page
    assert "Alpha Numérique : votre adhésion passe à Grand Cluster Occitanie" in page
    assert "Alpha Numérique: your membership moves to Grand Cluster Occitanie" in page
    assert "Vous pouvez vous opposer à ce transfert" in page
    # The HTML version, escaped in its frame's attribute (the page stays whole).
    assert page.count('sandbox srcdoc="&lt;!DOCTYPE html&gt;') == 2
    assert "You may object to this transfer" in page or "object to this transfer" in page
    assert "Envoyer 3 e-mails" in page
    assert "M’envoyer un essai" in page
    # Showing it sends nothing.
    assert not MergerNotice.objects.exists() and mailbox.messages == []


@pytest.fixture
def in_english(client):
    """The admin in English; the language the requests activate is put back afterwards, as the
    middleware leaves it active in the thread."""
    client.cookies["django_language"] = "en"
    with translation.override(translation.get_language()):
        yield client


@pytest.mark.django_db
def test_the_notices_page_speaks_english_to_an_english_admin(
    in_english, merger, committee, audience
):
    client = in_english
    client.force_login(committee)

    page = client.get(url("merger_merger_notify", merger.pk)).text

    assert "Recipients of this new sending" in page
    assert "Send 3 e-mails" in page
    assert "Send me a test" in page
    assert "Alpha Numérique : votre adhésion passe à Grand Cluster Occitanie" in page
    assert "Alpha Numérique: your membership moves to Grand Cluster Occitanie" in page


@pytest.mark.django_db
def test_a_post_without_the_box_ticked_sends_nothing_and_says_why(
    client, merger, committee, audience, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    notify = url("merger_merger_notify", merger.pk)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        bare = client.post(notify, {})
        unticked = client.post(notify, {"recipients": "3"})
        malformed = client.post(notify, {"recipients": "trois", "confirm": "on"})

    for response in (bare, unticked):
        assert response.status_code == 200
        assert "Cochez la case pour confirmer : rien n’a été envoyé." in response.text
    assert malformed.status_code == 200
    assert not MergerNotice.objects.exists() and callbacks == []


@pytest.mark.django_db
def test_a_count_that_changed_since_the_page_was_shown_sends_nothing(
    client, merger, committee, audience
):
    client.force_login(committee)
    notify = url("merger_merger_notify", merger.pk)
    data = form_data(client.get(notify), **{"class": "merger-notify-confirm"})
    ContactFactory(organisation=audience["english"], email="new@two.example")

    response = client.post(notify, {**data, "confirm": "on"}, follow=True)

    assert response.redirect_chain == [(notify, 302)]
    assert "Le nombre de destinataires a changé depuis l’affichage de la page (4 au lieu de 3)" in (
        response.text
    )
    assert not MergerNotice.objects.exists()
    assert '<td class="count-recipients">4</td>' in response.text
    assert 'name="recipients" value="4"' in response.text
    assert '<input type="checkbox" name="confirm" id="id_confirm">' in response.text


@pytest.mark.django_db
def test_a_test_send_reaches_me_in_both_languages_and_is_no_notice(
    client, merger, committee, audience, mailbox
):
    client.force_login(committee)
    test_url = url("merger_merger_notify_test", merger.pk)

    first = client.post(test_url, follow=True)
    client.post(test_url)

    assert "Essai (Français) envoyé à comite@example.org." in first.text
    assert "Essai (Anglais) envoyé à comite@example.org." in first.text
    messages = mailbox.wait_for(4)
    assert {m["X-Envelope-To"] for m in messages} == {"comite@example.org"}
    subjects = sorted(m["Subject"].strip() for m in messages)
    assert subjects == [
        "Alpha Numérique : votre adhésion passe à Grand Cluster Occitanie",
        "Alpha Numérique : votre adhésion passe à Grand Cluster Occitanie",
        "Alpha Numérique: your membership moves to Grand Cluster Occitanie",
        "Alpha Numérique: your membership moves to Grand Cluster Occitanie",
    ]
    # Not a notice: nobody is informed, the count of recipients is the same.
    assert not MergerNotice.objects.exists()
    assert NoticeTest.objects.filter(state="sent").count() == 4
    page = client.get(url("merger_merger_notify", merger.pk)).text
    assert '<td class="count-recipients">3</td>' in page
    # A GET sends nothing.
    assert client.get(test_url).status_code == 405
    assert len(mailbox.messages) == 4


@pytest.mark.django_db
def test_a_test_refused_by_the_server_says_so(client, merger, committee, audience, mailbox):
    client.force_login(committee)
    mailbox.refuse("550 No such user", times=2)

    response = client.post(url("merger_merger_notify_test", merger.pk), follow=True)

    assert "Essai (Français) non envoyé à comite@example.org : SMTP" in response.text
    assert "550" in response.text
    assert set(NoticeTest.objects.values_list("state", flat=True)) == {"failed"}


@pytest.mark.django_db(transaction=True)
def test_confirmed_twice_each_member_is_told_once_and_the_page_shows_the_progress(
    client, postgresql, redis_broker, mailbox, merger, committee, audience
):
    client.force_login(committee)
    notify = url("merger_merger_notify", merger.pk)
    data = {**form_data(client.get(notify), **{"class": "merger-notify-confirm"}), "confirm": "on"}

    # A double click, and the same page confirmed again from a second tab.
    first = client.post(notify, data)
    second = client.post(notify, data, follow=True)
    queued = client.get(notify).text

    assert first.status_code == 302
    assert "Personne de plus à informer" in second.text
    assert MergerNotice.objects.count() == 3
    assert "0 envoyé(s) sur 3 (0 %)" in queued and "3 en attente" in queued
    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        mailbox.wait_for(3)
        wait_until(
            lambda: not MergerNotice.objects.filter(state="pending").exists(),
            timeout=10,
            what="the notices are recorded as sent",
        )
    time.sleep(0.2)  # anything sent twice would have arrived by now

    assert sorted(m["X-Envelope-To"] for m in mailbox.messages) == [
        "a@one.example",
        "b@one.example",
        "c@two.example",
    ]
    done = client.get(notify).text
    assert "3 envoyé(s) sur 3 (100 %)" in done
    assert '<td class="count-recipients">0</td>' in done
    assert "Envoyer" not in done.split("count-recipients")[1]


@pytest.mark.django_db
def test_the_list_action_leads_to_the_page_and_sends_nothing(client, merger, committee, audience):
    client.force_login(committee)

    response = client.post(
        url("merger_merger_changelist"),
        {"action": "notify_action", "_selected_action": [merger.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == url("merger_merger_notify", merger.pk)
    assert not MergerNotice.objects.exists()


@pytest.mark.django_db
def test_informing_the_members_needs_its_permission(client, merger, audience, mailbox):
    for user in (staff_user(), viewer()):
        client.force_login(user)
        assert client.get(url("merger_merger_notify", merger.pk)).status_code == 403
        assert (
            client.post(
                url("merger_merger_notify", merger.pk), {"recipients": "3", "confirm": "on"}
            ).status_code
            == 403
        )
        assert client.post(url("merger_merger_notify_test", merger.pk)).status_code == 403
    assert not MergerNotice.objects.exists() and not NoticeTest.objects.exists()
    assert mailbox.messages == []


@pytest.mark.django_db
def test_with_everybody_told_the_page_offers_no_sending(
    client, merger, committee, audience, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        notices_queue(merger=merger, by=committee)
    client.force_login(committee)

    page = client.get(url("merger_merger_notify", merger.pk)).text

    assert "Personne de plus à informer" in page
    assert 'class="merger-notify-confirm"' not in page
    assert "0 envoyé(s) sur 3 (0 %)" in page


# --- Executing the transfers -------------------------------------------------------------------


@pytest.fixture
def approved(merger, committee):
    """Sixty organisations approved for the transfer, their old numbers DP-1001…DP-1060; the
    seniority (member since) orders them."""
    organisations = []
    for index in range(60):
        organisation = transferring(
            {"email": f"boss{index}@example.org"},
            name=f"Société {index:02d}",
            number=f"DP-{1001 + index}",
        )
        Membership.objects.filter(organisation=organisation).update(
            member_since=dt.date(2000, 1, 1) + dt.timedelta(days=index)
        )
        organisations.append(organisation)
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    decide(Decision.APPROVED, organisations, committee)
    return organisations


def preview_rows(response) -> list[str]:
    return [row.organisation for row in response.context["preview"].rows]


@pytest.mark.django_db
def test_the_execution_preview_is_paginated_and_says_it_cannot_be_undone(
    client, merger, committee, approved
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)

    first = client.get(execute)
    second = client.get(execute, {"p": "2"})

    assert first.status_code == 200
    page = first.text
    assert '<td class="count-executed">60</td>' in page
    assert preview_rows(first) == [f"Société {index:02d}" for index in range(50)]
    assert "GC-0001" in page and "GC-0050" in page and "GC-0051" not in page
    assert "page 1 sur 2" in page
    assert "Cette opération est irréversible." in page
    assert "Je comprends que cette opération est irréversible" in page
    assert preview_rows(second) == [f"Société {index:02d}" for index in range(50, 60)]
    assert "GC-0060" in second.text
    assert not MergerExecution.objects.exists()
    assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()


@pytest.mark.django_db
def test_the_execution_page_in_english_says_it_cannot_be_undone(
    in_english, merger, committee, approved
):
    client = in_english
    client.force_login(committee)

    page = client.get(url("merger_merger_execute", merger.pk)).text

    assert "This cannot be undone." in page
    assert "Execute the transfers" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("société 07", ["Société 07"]),
        ("DP-1012", ["Société 11"]),
        ("gc-0003", ["Société 02"]),
        ("GC-3", ["Société 02"]),
        ("GC-0099", []),
        ("nobody", []),
    ],
)
@pytest.mark.django_db
def test_the_execution_preview_searches_names_numbers_and_sirets(
    client, merger, committee, approved, query, expected
):
    client.force_login(committee)

    response = client.get(url("merger_merger_execute", merger.pk), {"q": query})

    assert response.status_code == 200
    assert preview_rows(response) == expected


@pytest.mark.django_db
def test_the_execution_preview_finds_a_siret_typed_with_spaces(client, merger, committee, approved):
    siret = approved[33].siret
    client.force_login(committee)
    typed = f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"

    response = client.get(url("merger_merger_execute", merger.pk), {"q": typed})

    assert preview_rows(response) == ["Société 33"]
    assert "GC-0034" in response.text


@pytest.mark.parametrize(
    ("parameters", "status"),
    [
        ({"p": "abc"}, 400),
        ({"p": "0"}, 400),
        ({"p": "-3"}, 400),
        ({"p": "99999999999"}, 400),
        ({"p": "999"}, 200),  # beyond the last page: the last page
        ({"q": "x" * 500}, 400),
        ({"export": "pdf"}, 400),
    ],
)
@pytest.mark.django_db
def test_malformed_preview_parameters_are_a_400_or_a_normal_page(
    client, merger, committee, approved, parameters, status
):
    client.force_login(committee)

    response = client.get(url("merger_merger_execute", merger.pk), parameters)

    assert response.status_code == status
    if status == 200:
        assert preview_rows(response)[-1] == "Société 59"


@pytest.mark.django_db
def test_the_execution_preview_exports_every_row(client, merger, committee, approved):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)

    xlsx = client.get(execute, {"export": "xlsx"})
    comma = client.get(execute, {"export": "csv"})

    assert xlsx["Content-Disposition"].startswith("attachment; filename=")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "N° d’adhérent au successeur"
    assert [row[0] for row in rows[1:]] == [f"GC-{n:04d}" for n in range(1, 61)]
    assert rows[1][1] == "Société 00" and rows[1][2] == approved[0].siret
    lines = list(csv.reader(io.StringIO(comma.content.decode("utf-8-sig")), delimiter=";"))
    assert len(lines) == 61 and lines[60][0] == "GC-0060" and lines[60][3] == "DP-1060"
    assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()


def confirmation(client, merger) -> dict:
    """The confirmation form of the execution's page, as the page gives it (box unticked)."""
    page = client.get(url("merger_merger_execute", merger.pk))
    return form_data(page, **{"class": "merger-execute-confirm"})


@pytest.mark.django_db
def test_a_get_or_a_post_without_the_box_ticked_executes_nothing(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)
    data = confirmation(client, merger)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        unticked = client.post(execute, data)
        bare = client.post(execute, {})

    assert "Cochez la case pour confirmer : rien n’a été exécuté." in unticked.text
    assert "La page de confirmation est incomplète ou illisible : rien n’a été exécuté." in (
        bare.text
    )
    assert not MergerExecution.objects.exists() and callbacks == []
    assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()


@pytest.mark.django_db
def test_a_double_click_or_a_second_tab_starts_one_execution(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)
    first_tab = {**confirmation(client, merger), "confirm": "on"}
    second_tab = {**confirmation(client, merger), "confirm": "on"}
    assert first_tab["key"] != second_tab["key"]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(execute, first_tab)
        double_click = client.post(execute, first_tab, follow=True)
        other_tab = client.post(execute, second_tab, follow=True)

    execution = MergerExecution.objects.get()
    progress_url = url("merger_merger_execution", merger.pk, execution.pk)
    assert first["Location"] == progress_url
    for response in (double_click, other_tab):
        assert response.redirect_chain[-1][0] == progress_url
        assert "Cette exécution est déjà demandée" in response.text
    assert len(callbacks) == 1  # one task queued
    assert "En attente d’un worker Celery" in other_tab.text
    assert "0 proposition(s) traitée(s) sur 60 (0 %)" in other_tab.text

    # The worker runs it (as its task does); the page then shows what it did.
    merger_execution_run(execution_id=execution.pk)
    done = client.get(progress_url).text
    assert "Transferts exécutés au 01/01/2027 : 60 adhésions au successeur créées." in done
    assert '<td class="count-executed">60</td>' in done
    assert Membership.objects.filter(cluster__slug="grand-cluster").count() == 60
    merger.refresh_from_db()
    assert merger.status == Merger.Status.EFFECTIVE

    # The first tab confirmed again once it is over: nothing is left, nothing runs.
    assert 'class="merger-execute-confirm"' not in client.get(execute).text
    again = client.post(execute, {**first_tab, "key": str(uuid.uuid4())})
    assert again.status_code == 200
    assert "Aucune proposition approuvée n’attend son exécution" in again.text
    assert MergerExecution.objects.count() == 1
    assert Membership.objects.filter(cluster__slug="grand-cluster").count() == 60


@pytest.mark.django_db
def test_a_held_back_proposal_is_said_on_the_preview_and_after_the_execution(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    # Société 00 renews for 2027 meanwhile: its facts are no longer those approved.
    TermFactory(membership=approved[0].memberships.get(), year=2027)
    client.force_login(committee)

    preview = client.get(url("merger_merger_execute", merger.pk)).text
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            url("merger_merger_execute", merger.pk),
            {**confirmation(client, merger), "confirm": "on"},
        )
    execution = merger_execution_run(execution_id=MergerExecution.objects.get().pk)
    done = client.get(url("merger_merger_execution", merger.pk, execution.pk)).text

    assert "Ne sera pas transférée :" in preview
    assert "Les faits ont changé depuis la décision" in preview
    assert "59 adhésions au successeur créées" in done
    assert '<td class="count-failed has-failed">1</td>' in done
    assert "Société 00" in done.split("Non transférées")[1]
    # The reason is kept as a code with its values: whoever reads the outcome reads it in their
    # language, not in the language the worker ran in.
    assert "Les faits ont changé depuis la décision" in done
    client.cookies["django_language"] = "en"
    in_english = client.get(url("merger_merger_execution", merger.pk, execution.pk)).text
    assert "The facts have changed since the decision" in in_english


@pytest.mark.django_db(transaction=True)
def test_a_worker_executes_and_the_page_shows_the_progress_then_the_outcome(
    client, postgresql, redis_broker, merger, committee, approved
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)

    response = client.post(execute, {**confirmation(client, merger), "confirm": "on"})
    progress_url = response["Location"]
    queued = client.get(progress_url).text
    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        wait_until(
            lambda: MergerExecution.objects.get().finished, timeout=30, what="the execution ends"
        )
    done = client.get(progress_url).text

    assert "<progress" in queued and '<meta http-equiv="refresh"' in queued
    assert "Terminée" in done and '<meta http-equiv="refresh"' not in done
    assert "60 adhésions au successeur créées" in done
    assert Membership.objects.filter(cluster__slug="grand-cluster").count() == 60
    assert not TransferProposal.objects.exclude(decision=Decision.EXECUTED).exists()


@pytest.mark.django_db
def test_executing_needs_its_permission_and_the_merger_s_own_execution(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            url("merger_merger_execute", merger.pk),
            {**confirmation(client, merger), "confirm": "on"},
        )
    execution = MergerExecution.objects.get()

    assert client.get(url("merger_merger_execution", merger.pk, execution.pk + 1)).status_code == (
        404
    )
    for user in (staff_user(), viewer()):
        client.force_login(user)
        assert client.get(url("merger_merger_execution", merger.pk, execution.pk)).status_code == (
            403
        )
        assert client.get(url("merger_merger_execute", merger.pk), {"q": "x"}).status_code == 403
    assert MergerExecution.objects.count() == 1


@pytest.mark.django_db
def test_an_execution_whose_task_was_lost_is_queued_again_not_doubled(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(execute, {**confirmation(client, merger), "confirm": "on"})
    execution = MergerExecution.objects.get()

    with django_capture_on_commit_callbacks(execute=False) as soon:
        client.post(execute, {**confirmation(client, merger), "confirm": "on"})
    MergerExecution.objects.filter(pk=execution.pk).update(
        created_at=execution.created_at - dt.timedelta(hours=3)
    )
    with django_capture_on_commit_callbacks(execute=False) as later:
        response = client.post(execute, {**confirmation(client, merger), "confirm": "on"})

    assert soon == []  # waiting for a worker a moment: left alone
    assert len(later) == 1  # waiting for hours: its task is queued again
    assert response["Location"] == url("merger_merger_execution", merger.pk, execution.pk)
    assert MergerExecution.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_tabs_confirming_at_the_same_moment_start_one_execution(
    postgresql, redis_broker, merger, committee, approved
):
    tabs = []
    for _ in range(2):
        tab = Client()
        tab.force_login(committee)
        tabs.append((tab, {**confirmation(tab, merger), "confirm": "on"}))
    start = threading.Barrier(2)

    def confirm(tab_and_data):
        tab, data = tab_and_data
        start.wait()
        try:
            return tab.post(url("merger_merger_execute", merger.pk), data)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(confirm, tabs))

    execution = MergerExecution.objects.get()
    assert [r["Location"] for r in responses] == [
        url("merger_merger_execution", merger.pk, execution.pk)
    ] * 2


@pytest.mark.django_db
def test_an_execution_refused_when_it_runs_says_why_on_its_page_and_another_may_start(
    client, merger, committee, approved, django_capture_on_commit_callbacks
):
    client.force_login(committee)
    execute = url("merger_merger_execute", merger.pk)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(execute, {**confirmation(client, merger), "confirm": "on"})
    # The date is no longer fixed by the time a worker takes the execution.
    Merger.objects.filter(pk=merger.pk).update(status=Merger.Status.POSTPONED)

    execution = merger_execution_run(execution_id=MergerExecution.objects.get().pk)
    page = client.get(url("merger_merger_execution", merger.pk, execution.pk)).text

    assert execution.state == MergerExecution.State.FAILED
    assert "Interrompue" in page and "arrêtez d’abord sa date d’effet" in page
    assert '<meta http-equiv="refresh"' not in page
    assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()
    Merger.objects.filter(pk=merger.pk).update(status=Merger.Status.SCHEDULED)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(execute, {**confirmation(client, merger), "confirm": "on"})
    assert MergerExecution.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_tabs_sending_the_notices_at_the_same_moment_record_each_once(
    postgresql, redis_broker, merger, committee, audience
):
    tabs = []
    for _ in range(2):
        tab = Client()
        tab.force_login(committee)
        notify = url("merger_merger_notify", merger.pk)
        data = form_data(tab.get(notify), **{"class": "merger-notify-confirm"})
        tabs.append((tab, {**data, "confirm": "on"}))
    start = threading.Barrier(2)

    def confirm(tab_and_data):
        tab, data = tab_and_data
        start.wait()
        try:
            return tab.post(url("merger_merger_notify", merger.pk), data).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(confirm, tabs))

    assert statuses == [302, 302]
    assert sorted(MergerNotice.objects.values_list("email", flat=True)) == [
        "a@one.example",
        "b@one.example",
        "c@two.example",
    ]
