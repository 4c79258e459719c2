"""The committee's decisions: approve, reject or defer with a reason, from the command line or
the admin, each logged (who, when, why, on which facts); two members deciding one proposal at
once, one wins and the other is told (on PostgreSQL, with real row locks)."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from merger.models import Decision, TransferDecision, TransferProposal
from merger.services import proposals_refresh, transfer_decide
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    committee_user,
    staff_user,
)

from .conftest import run, run_json

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


@pytest.fixture
def proposals(merger):
    for _ in range(3):
        TermFactory(membership=MembershipFactory(organisation=OrganisationFactory()), year=2026)
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    return list(TransferProposal.objects.order_by("pk"))


def test_the_command_decides_named_or_all_undecided_proposals(proposals, committee):
    first = proposals[0]

    status, result = run_json(
        "decide", "defer", "--id", first.pk, "--reason", "Attendre l’AG", "--by", committee.email
    )
    assert (status, result) == (0, {"decided": 1, "conflicts": []})
    status, result = run_json(
        "decide", "approve", "--all", "--reason", "Comité du 15/12", "--by", committee.email
    )

    assert (status, result) == (0, {"decided": 3, "conflicts": []})
    decisions = TransferDecision.objects.filter(proposal=first).order_by("at", "pk")
    assert [(d.previous, d.decision, d.reason) for d in decisions] == [
        (Decision.PENDING, Decision.DEFERRED, "Attendre l’AG"),
        (Decision.DEFERRED, Decision.APPROVED, "Comité du 15/12"),
    ]
    assert all(d.by == committee and d.facts == first.facts for d in decisions)
    first.refresh_from_db()
    assert (first.decided_by, first.decision_reason, first.version) == (
        committee,
        "Comité du 15/12",
        2,
    )
    # Nothing is awaiting a decision any more: --all decides nothing.
    assert run_json("decide", "reject", "--all", "--reason", "x", "--by", committee.email)[1] == {
        "decided": 0,
        "conflicts": [],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", 999999, "--reason", "ok", "--by", "comite@example.org"], "inconnues : 999999"),
        (["--all", "--reason", "  ", "--by", "comite@example.org"], "motif"),
        (["--all", "--reason", "ok", "--by", "nobody@example.org"], "pas un utilisateur autorisé"),
    ],
)
def test_the_command_refuses_unusable_input_and_decides_nothing(
    proposals, committee, args, message
):
    status, _out, error = run("decide", "approve", *args)

    assert status == 2
    assert message in error
    assert not TransferDecision.objects.exists()


def test_membership_staff_may_not_decide(proposals):
    staff = staff_user()
    status, _out, error = run("decide", "approve", "--all", "--reason", "ok", "--by", staff.email)

    assert status == 2
    assert "pas un utilisateur autorisé" in error


def test_a_decision_on_a_proposal_seen_before_another_decision_is_refused(proposals, committee):
    proposal = proposals[0]
    other = committee_user()
    seen = proposal.version
    transfer_decide(
        proposal_ids=[proposal.pk], decision=Decision.REJECTED, by=other, reason="Hors périmètre"
    )

    result = transfer_decide(
        proposal_ids=[proposal.pk],
        decision=Decision.APPROVED,
        by=committee,
        reason="OK",
        versions={proposal.pk: seen},
    )

    assert result.decided == []
    [conflict] = result.conflicts
    assert str(other) in conflict.message and "refusée (Hors périmètre)" in conflict.message
    proposal.refresh_from_db()
    assert proposal.decision == Decision.REJECTED


@pytest.mark.django_db(transaction=True)
def test_two_members_deciding_at_once_one_wins_and_the_other_is_told(postgresql, merger):
    TermFactory(membership=MembershipFactory(organisation=OrganisationFactory()), year=2026)
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    proposal = TransferProposal.objects.get()
    first, second = committee_user(), committee_user()
    first_locked, second_started = threading.Event(), threading.Event()
    results = {}

    def decide(user, decision, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                results[user.pk] = transfer_decide(
                    proposal_ids=[proposal.pk],
                    decision=decision,
                    by=user,
                    reason=f"{decision} par {user}",
                    versions={proposal.pk: proposal.version},
                )
                if hold:
                    # Keep the row locked until the other member's decision is on its way.
                    first_locked.set()
                    second_started.wait(5)
                    threading.Event().wait(0.5)
        finally:
            connection.close()

    winner = threading.Thread(target=decide, args=(first, Decision.APPROVED), kwargs={"hold": True})
    winner.start()
    assert first_locked.wait(5)
    loser = threading.Thread(
        target=decide, args=(second, Decision.REJECTED), kwargs={"hold": False}
    )
    loser.start()
    second_started.set()
    winner.join(10)
    loser.join(10)

    assert [p.pk for p in results[first.pk].decided] == [proposal.pk]
    assert results[second.pk].decided == []
    [conflict] = results[second.pk].conflicts
    assert str(first) in conflict.message and "approuvée" in conflict.message
    proposal.refresh_from_db()
    assert (proposal.decision, proposal.decided_by, proposal.version) == (
        Decision.APPROVED,
        first,
        1,
    )
    assert TransferDecision.objects.filter(proposal=proposal).count() == 1


def test_the_service_itself_refuses_a_user_who_may_not_decide(proposals):
    # Whatever calls it (a page, a command, a script): the committee's permission is checked there.
    staff = staff_user()

    with pytest.raises(PermissionDenied):
        transfer_decide(
            proposal_ids=[p.pk for p in proposals],
            decision=Decision.APPROVED,
            by=staff,
            reason="Je passe",
        )

    assert not TransferDecision.objects.exists()
    assert not TransferProposal.objects.exclude(decision=Decision.PENDING).exists()
