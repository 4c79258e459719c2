"""The admin's home page: a dashboard per role (staff of a cluster, the merger committee,
superusers), each figure a link to a list showing as many rows, in a constant number of
queries."""

import datetime as dt
import html
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import (
    CheckoutSession,
    Cluster,
    ImportRecord,
    Reminder,
    ReminderState,
)
from members.services.billing import invoice_issue, invoice_payment_record
from merger.models import Decision, Merger, MergerNotice, TransferProposal
from merger.selectors import merger_current
from merger.services import merger_execute, merger_update, proposals_refresh, transfer_decide
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    cluster,
    committee_user,
    staff_user,
)
from tests.members.billing_helpers import legal_details
from tests.merger.adoptions import adoptions_recorded

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 7)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 12, 7, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
    return TODAY


def term(slug: str, start: dt.date, end: dt.date, *, paid: bool = True, membership=None, **fields):
    """A term of ``membership``, or of a new membership of ``slug`` (with ``fields``)."""
    return TermFactory(
        membership=membership or MembershipFactory(cluster=cluster(slug), **fields),
        start_date=start,
        end_date=end,
        is_paid=paid,
        paid_on=start if paid else None,
    )


def cluster_world(slug: str, *, size: int = 1) -> None:
    """Memberships of ``slug`` in every situation its dashboard counts, ``size`` times: 2
    renewals due this month (one reminded in vain, one reminded), 1 next month, 1 membership
    lapsed this month and 1 before, a cancelled and a renewed one (not due); 2 unpaid invoices
    (500 € left, the oldest of 20 November), one of which has a card payment page open, and a
    paid one, over-paid by 50 €; an import."""
    legal_details(slug)
    for n in range(size):
        due = [term(slug, dt.date(2026, 1, 1), dt.date(2026, 12, 31)) for _twice in range(2)]
        for reminded, state in zip(due, (ReminderState.FAILED, ReminderState.SENT), strict=True):
            Reminder.objects.create(
                term=reminded,
                offset_days=-30,
                due_on=dt.date(2026, 12, 1),
                scheduled_on=dt.date(2026, 12, 1),
                state=state,
                sent_at=timezone.now() if state == ReminderState.SENT else None,
            )
        term(slug, dt.date(2026, 2, 1), dt.date(2027, 1, 31))
        term(slug, dt.date(2025, 12, 1), dt.date(2026, 11, 30), paid=False)  # lapsed on 1 Dec
        term(slug, dt.date(2025, 11, 1), dt.date(2026, 10, 31), paid=False)  # lapsed on 1 Nov
        term(slug, dt.date(2026, 1, 1), dt.date(2026, 12, 31), cancelled_on=TODAY)
        renewed = term(slug, dt.date(2026, 1, 1), dt.date(2026, 12, 31)).membership
        renewal = term(
            slug, dt.date(2027, 1, 1), dt.date(2027, 12, 31), paid=False, membership=renewed
        )
        invoice_issue(term=renewal, on=dt.date(2026, 11, 20))
        partly = invoice_issue(
            term=term(slug, dt.date(2026, 12, 1), dt.date(2027, 11, 30), paid=False),
            on=dt.date(2026, 12, 1),
        )
        invoice_payment_record(
            invoice=partly, amount=Decimal("100.00"), received_on=dt.date(2026, 12, 3)
        )
        CheckoutSession.objects.create(
            invoice=partly,
            provider_reference=f"cs_{slug}_{n}_{partly.pk}",
            amount=Decimal("200.00"),
            url="https://checkout.example/pay",
            expires_at=timezone.now() + dt.timedelta(hours=1),
        )
        paid = invoice_issue(
            term=term(slug, dt.date(2026, 12, 1), dt.date(2027, 11, 30), paid=False),
            on=dt.date(2026, 12, 2),
        )
        invoice_payment_record(
            invoice=paid, amount=Decimal("300.00"), received_on=dt.date(2026, 12, 4)
        )
        # Paid twice in part: 50 € to refund.
        invoice_payment_record(
            invoice=paid, amount=Decimal("50.00"), received_on=dt.date(2026, 12, 5)
        )
        ImportRecord.objects.create(
            cluster=cluster(slug),
            profile=ImportRecord.Profile.STANDARD,
            source=ImportRecord.Source.COMMAND,
            file_name=f"{slug}-{n}-{renewed.pk}.xlsx",
            file_sha256="0" * 64,
            file_size=1000,
            status=ImportRecord.Status.IMPORTED,
            rows=12,
        )


def merger_world(*, size: int = 1) -> None:
    """Proposals of the merger, ``size`` times: 2 to decide (one without SIRET, one unpaid),
    3 approved (one nobody was told of, one told, one whose notice failed and who objected),
    1 refused, 1 deferred."""
    merger = merger_current()
    for _n in range(size):
        for decision, flags, notice in (
            (Decision.PENDING, {"no_siret": True}, None),
            (Decision.PENDING, {"unpaid": True}, None),
            (Decision.APPROVED, {}, None),
            (Decision.APPROVED, {}, MergerNotice.State.SENT),
            (Decision.APPROVED, {"objection": True}, MergerNotice.State.FAILED),
            (Decision.REJECTED, {}, None),
            (Decision.DEFERRED, {}, None),
        ):
            proposal = TransferProposal.objects.create(
                merger=merger,
                organisation=OrganisationFactory(),
                origin="digitalplace",
                as_of=dt.date(2027, 1, 1),
                decision=decision,
                **flags,
            )
            if notice:
                MergerNotice.objects.create(
                    proposal=proposal,
                    email="contact@example.org",
                    language="fr",
                    state=notice,
                    sent_at=timezone.now() if notice == MergerNotice.State.SENT else None,
                    objected_at=timezone.now() if flags.get("objection") else None,
                )


#: A figure as the page shows it: its number, its label, the list it links to.
FIGURE = re.compile(
    r'<a href="(?P<url>[^"]+)"><span class="dashboard-value">(?P<value>\d+)</span> '
    r'<span class="dashboard-label">(?P<label>[^<]+)</span>'
    r'(?: <span class="dashboard-detail">[^<]*</span>)?</a>'
)
#: A step of the merger as the page shows it: its state, its name, its link, what is done or
#: left.
STEP = re.compile(
    r'<li class="dashboard-step is-(?P<state>done|todo|blocked)" data-step="(?P<key>\w+)">\s*'
    r'<span class="dashboard-step-state">(?P<state_label>[^<]*)</span>\s*'
    r'<a href="(?P<url>[^"]+)">(?P<label>[^<]+)</a>\s*'
    r'<span class="dashboard-step-detail">(?P<detail>[^<]*)</span>'
)
#: A step of the merger as the merger's page shows it.
MERGER_PAGE_STEP = re.compile(
    r'<li class="merger-step merger-step-(?P<state>\w+)" data-step="(?P<key>\w+)">.*?'
    r'<h3 class="merger-step-title">(?P<label>[^<]+?)\s*<span class="merger-step-state">'
    r'.*?<p class="merger-step-detail">(?P<detail>[^<]*)</p>',
    flags=re.DOTALL,
)


def shown(response) -> dict[str, dict[str, tuple[int, str]]]:
    """The figures of each section of the page, by section title then label: (number, link)."""
    sections = {}
    for part in response.text.split('<section class="module dashboard-section"')[1:]:
        title = re.search(r"<h2[^>]*>(?:<a[^>]*>)?([^<]+)<", part).group(1)
        sections[html.unescape(title)] = {
            html.unescape(m["label"]): (int(m["value"]), html.unescape(m["url"]))
            for m in FIGURE.finditer(part)
        }
    return sections


def steps(response) -> list[tuple[str, str, str, str]]:
    """The merger's steps as the dashboard shows them: (state, label, detail, link)."""
    return [
        (
            html.unescape(m["state_label"]),
            html.unescape(m["label"]),
            html.unescape(m["detail"]),
            html.unescape(m["url"]),
        )
        for m in STEP.finditer(response.text)
    ]


def steps_by_key(text: str, pattern: re.Pattern) -> dict[str, tuple[str, str, str]]:
    """The merger's steps in ``text`` by key: (state, name, detail)."""
    return {
        m["key"]: (m["state"], html.unescape(m["label"]), html.unescape(m["detail"]))
        for m in pattern.finditer(text)
    }


def rows_listed(client, url: str) -> int:
    """How many rows the admin list at ``url`` shows (all its pages)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


CLUSTER_FIGURES = {
    "À renouveler en décembre 2026": 2,
    "À renouveler en janvier 2027": 1,
    "Expirées en décembre 2026": 1,
    "Factures impayées": 2,
    "Virement à enregistrer": 1,
    "À rembourser": 1,
    "Relance en échec": 1,
    "Relances de paiement en échec": 0,
}


def test_staff_see_their_cluster_s_work_and_nothing_of_the_other_cluster(client):
    cluster_world("digitalplace")
    cluster_world("frenchsouth", size=2)
    client.force_login(staff_user("digitalplace"))

    response = client.get("/admin/")

    figures = shown(response)
    assert list(figures) == ["DigitalPlace"]
    assert {label: value for label, (value, _url) in figures["DigitalPlace"].items()} == (
        CLUSTER_FIGURES
    )
    text = html.unescape(response.text)
    assert "500,00\xa0€ à encaisser" in text
    assert "50,00\xa0€ de trop-perçu" in text
    assert re.search(r"la plus ancienne : DP-2026-\d+ du 20/11/2026", text)
    assert "digitalplace-0-" in text  # the latest import
    assert "1 import en tout" in text
    assert "FrenchSouth.digital" not in text
    assert "frenchsouth-" not in text
    # The list of the models stays on the page.
    assert "Toutes les rubriques" in text
    assert 'href="/admin/members/membership/"' in response.text


def test_each_figure_of_the_staff_leads_to_a_list_of_as_many_rows(client):
    cluster_world("digitalplace", size=2)
    cluster_world("frenchsouth")
    client.force_login(staff_user("digitalplace"))

    response = client.get("/admin/")

    figures = shown(response)["DigitalPlace"]
    assert [value for value, _url in figures.values()] == [4, 2, 2, 4, 2, 2, 2, 0]
    for label, (value, url) in figures.items():
        assert rows_listed(client, url) == value, label
    imports = re.search(r'<a href="([^"]+)">(\d+) imports en tout</a>', response.text)
    assert imports[2] == "2"
    assert rows_listed(client, html.unescape(imports[1])) == 2


def test_the_committee_sees_the_merger_s_steps_and_figures(client):
    cluster_world("digitalplace")
    merger_world()
    client.force_login(committee_user())

    response = client.get("/admin/")

    figures = shown(response)
    merger = merger_current()
    assert list(figures) == [str(merger)]
    values = {label: value for label, (value, _url) in figures[str(merger)].items()}
    assert values == {
        "À décider": 2,
        "Approuvée": 3,
        "Refusée": 1,
        "Ajournée": 1,
        "Exécutée": 0,
        "Au moins un signalement": 3,
        "Sans SIRET": 1,
        "Impayé": 1,
        "Formule sans équivalent": 0,
        "Opposition reçue": 1,
        "Faits modifiés depuis la décision": 0,
        "Envoyée": 1,
        "À envoyer": 0,
        "Échec": 1,
        "Oppositions reçues": 1,
        "Oppositions après exécution": 0,
    }
    assert [(state, label, detail) for state, label, detail, _url in steps(response)] == [
        (
            "À faire",
            "Doublons de fiches",
            "Aucun doublon trouvé pour l’instant : lancez la recherche depuis la liste.",
        ),
        (
            "À faire",
            "Date d’effet",
            "Prévue au 1er janvier 2027, pas encore arrêtée (statut « Reportée »).",
        ),
        ("Fait", "Propositions de transfert", "7 proposition(s) établie(s) au 1er janvier 2027."),
        ("À faire", "Décisions du comité", "3 proposition(s) à décider, dont 2 signalée(s)."),
        (
            "À faire",
            "Information des membres",
            "1 proposition(s) approuvée(s) pas encore annoncée(s) aux membres.",
        ),
        ("Pas encore possible", "Exécution des transferts", "Arrêtez d’abord la date d’effet."),
    ]
    text = html.unescape(response.text)
    days = (merger.planned_date - TODAY).days
    assert f"dans {days} jours" in text
    # Nothing of the clusters' work: the committee does not manage a cluster.
    assert "À renouveler" not in text


def test_each_figure_and_step_of_the_committee_leads_to_a_list_of_as_many_rows(client):
    merger_world(size=2)
    client.force_login(committee_user())

    response = client.get("/admin/")

    for label, (value, url) in shown(response)[str(merger_current())].items():
        assert rows_listed(client, url) == value, label
    links = {label: url for _state, label, _detail, url in steps(response)}
    assert links["Date d’effet"] == f"/admin/merger/merger/{merger_current().pk}/change/"
    for state, label, detail, url in steps(response):
        counted = re.match(r"\d+", detail)
        if state != "Pas encore possible" and counted:
            assert rows_listed(client, url) == int(counted.group()), label
    assert [label for state, label, detail, _url in steps(response) if state == "À faire"] == [
        "Doublons de fiches",
        "Date d’effet",
        "Décisions du comité",
        "Information des membres",
    ]


def test_the_dashboard_and_the_merger_s_page_say_the_same_of_each_step(client):
    """In each situation of the merger, the dashboard shows each step in the state, with the
    name and the words, of the merger's page."""
    committee = committee_user()
    client.force_login(committee)
    merger = merger_current()
    merger_page = f"/admin/merger/merger/{merger.pk}/change/"

    def both_say() -> dict[str, tuple[str, str, str]]:
        dashboard = steps_by_key(client.get("/admin/").text, STEP)
        page = steps_by_key(client.get(merger_page).text, MERGER_PAGE_STEP)
        assert list(dashboard) == ["duplicates", "date", "propose", "decide", "notify", "execute"]
        assert dashboard == page
        return {key: state for key, (state, _label, _detail) in dashboard.items()}

    # No proposals.
    assert both_say() == {
        "duplicates": "todo",
        "date": "todo",
        "propose": "todo",
        "decide": "blocked",
        "notify": "blocked",
        "execute": "blocked",
    }

    # Proposals, none decided yet.
    for _n in range(3):
        TermFactory(membership=MembershipFactory(cluster=cluster("digitalplace")), year=2027)
    adoptions_recorded(merger)
    merger_update(
        merger=merger,
        by=None,
        reason="Date arrêtée par les AG",
        status=Merger.Status.SCHEDULED,
        planned_date=dt.date(2027, 1, 1),
    )
    merger.refresh_from_db()
    proposals_refresh(merger=merger)
    assert both_say() == {
        "duplicates": "todo",
        "date": "done",
        "propose": "done",
        "decide": "todo",
        "notify": "blocked",
        "execute": "blocked",
    }

    # All decided: two approved, one refused.
    first, *others = TransferProposal.objects.order_by("pk").values_list("pk", flat=True)
    transfer_decide(proposal_ids=others, decision=Decision.APPROVED, by=committee, reason="Vu")
    transfer_decide(proposal_ids=[first], decision=Decision.REJECTED, by=committee, reason="Non")
    assert both_say() == {
        "duplicates": "todo",
        "date": "done",
        "propose": "done",
        "decide": "done",
        "notify": "todo",
        "execute": "todo",
    }

    # Executed.
    assert len(merger_execute(merger=merger).executed) == 2
    assert both_say() == {
        "duplicates": "todo",
        "date": "done",
        "propose": "done",
        "decide": "done",
        "notify": "done",
        "execute": "done",
    }


def test_superusers_see_the_merger_and_every_cluster(client, admin_user):
    cluster_world("digitalplace")
    cluster_world("frenchsouth", size=2)
    merger_world()
    client.force_login(admin_user)

    response = client.get("/admin/")

    figures = shown(response)
    clusters = [str(c) for c in Cluster.objects.order_by("name")]
    assert list(figures) == [str(merger_current()), *clusters]
    assert figures["DigitalPlace"]["À renouveler en décembre 2026"][0] == 2
    assert figures["FrenchSouth.digital"]["À renouveler en décembre 2026"][0] == 4
    for title, section in figures.items():
        for label, (value, url) in section.items():
            assert rows_listed(client, url) == value, (title, label)


def test_staff_following_the_other_cluster_s_links_see_none_of_its_rows(client):
    cluster_world("digitalplace")
    cluster_world("frenchsouth")
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    frenchsouth = shown(client.get("/admin/"))["FrenchSouth.digital"]
    client.force_login(staff_user("digitalplace"))

    for label, (_value, url) in frenchsouth.items():
        response = client.get(url)
        assert response.status_code == 200, label
        # Their own cluster's rows at most (its filter offers one cluster, and drops another's).
        assert "FrenchSouth.digital" not in response.text, label


@pytest.mark.parametrize(
    "url",
    [
        "/admin/members/membership/?due=tomorrow",
        "/admin/members/membership/?due=",
        "/admin/members/invoice/?to_collect=everything",
        "/admin/merger/transferproposal/?informed=perhaps",
    ],
)
def test_a_filter_value_that_means_nothing_lists_everything(client, admin_user, url):
    cluster_world("digitalplace")
    merger_world()
    client.force_login(admin_user)
    everything = rows_listed(client, url.split("?")[0])

    assert rows_listed(client, url) == everything


def test_a_nul_character_in_a_dashboard_filter_is_a_400(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/admin/members/invoice/", {"to_collect": "unpaid\x00"})

    assert response.status_code == 400


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["superuser", "staff", "committee"])
def test_the_dashboard_runs_as_many_queries_with_few_or_many_memberships(client, role):
    user = {
        "superuser": lambda: UserFactory(is_superuser=True, is_staff=True),
        "staff": lambda: staff_user("digitalplace"),
        "committee": committee_user,
    }[role]()
    client.force_login(user)
    cluster_world("digitalplace")
    merger_world()
    few = dashboard_queries(client)

    cluster_world("digitalplace", size=6)
    cluster_world("frenchsouth", size=6)
    merger_world(size=6)
    many = dashboard_queries(client)

    assert many == few


def test_a_user_of_no_role_gets_the_list_of_the_models(client):
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/admin/")

    assert response.status_code == 200
    assert "Rien à suivre ici pour votre rôle" in html.unescape(response.text)


def test_the_dashboard_speaks_english(client):
    cluster_world("digitalplace")
    client.force_login(staff_user("digitalplace"))
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})

    response = client.get("/admin/")

    labels = list(shown(response)["DigitalPlace"])
    assert labels == [
        "Renewals due in December 2026",
        "Renewals due in January 2027",
        "Lapsed in December 2026",
        "Unpaid invoices",
        "Transfer to record",
        "To refund",
        "Failed reminder",
        "Failed payment follow-ups",
    ]
    assert "€500.00 to collect" in html.unescape(response.text)
    assert "the oldest: DP-2026-" in html.unescape(response.text)
