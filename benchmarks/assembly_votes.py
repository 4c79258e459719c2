"""An assembly's vote with every member voting at once: each voice counted once, and how fast.

Run it from the project's root, with PostgreSQL running:

    .venv/bin/python benchmarks/assembly_votes.py [--organisations 1000] [--workers 16]
        [--resolutions 3] [--secret] [--keep]

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_assembly`` on
``postgres://postgres@127.0.0.1:5432`` and drops it at the end (``--keep`` keeps it); with
``DATABASE_URL`` it uses that database, refuses to run if it already holds memberships, and
deletes what it created at the end.

``--organisations`` DigitalPlace members in good standing (each with a paid term of this year and
a contact, built with ``bulk_create``) are convened to an assembly of ``--resolutions``
resolutions (``assembly_convene``); one in ten gives its proxy to a holder (at most two each, as
the statutes' default allows), one in fifty to the chair; the vote opens. Then ``--workers``
threads, each with its own database connection, released at once, submit every voice's ballot
through ``ballot_cast`` (by the voice, its proxy holder or the chair) and, mixed in at random,
the same ballot a second time by the other channel (online and in the room), as a double click
or a second tab would: twice as many attempts as voices. Choices are drawn at random (seeded).

It prints the time of the convocation, then the time of the vote, the ballots counted per second,
the attempts per second, and the median (p50), p95 and longest time of one attempt; then the
checks: exactly one ballot per voice, every second attempt refused as "already voted", and each
resolution's counters equal to the ballots, choice by choice. The workers share Python's GIL
and the machine's cores with PostgreSQL: the figures are those of one web process's threads.

It exits with status 1 if a check fails or an attempt fails otherwise (a deadlock, an error).
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter

import common

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/gc_bench_assembly"
FIRST_NUMBER = 700_000


def members_create(count: int):
    """``count`` DigitalPlace memberships with a term of this year paid, and a contact each."""
    from django.utils import timezone

    from members.models import Cluster, Membership, Term

    today = timezone.localdate()
    cluster = Cluster.objects.get(slug="digitalplace")
    plan = cluster.plans.filter(is_active=True).order_by("position").first()
    organisations = common.organisations_bulk_create(
        range(FIRST_NUMBER, FIRST_NUMBER + count), name="Votante", headcount=lambda n: 10
    )
    memberships = Membership.objects.bulk_create(
        Membership(
            organisation=organisation,
            cluster=cluster,
            member_number=f"{cluster.member_number_prefix}{FIRST_NUMBER + n:07d}",
            member_since=today.replace(month=1, day=1),
        )
        for n, organisation in enumerate(organisations)
    )
    Term.objects.bulk_create(
        Term(
            membership=membership,
            plan=plan,
            start_date=today.replace(month=1, day=1),
            end_date=today.replace(month=12, day=31),
            fee=plan.annual_fee,
            is_paid=True,
            paid_on=today.replace(month=1, day=1),
        )
        for membership in memberships
    )
    return cluster, [organisation.pk for organisation in organisations]


def assembly_prepare(cluster, *, resolutions: int, secret: bool):
    """The assembly convened (timed), its proxies given and its vote open; return it, the
    seconds the convocation took, and each voice with how its ballot is cast."""
    import datetime as dt

    from django.utils import timezone

    from assemblies.models import Assembly, AssemblyKind, Resolution
    from assemblies.services import assembly_convene, proxy_give, voting_open

    assembly = Assembly.objects.create(
        cluster=cluster,
        kind=AssemblyKind.ORDINARY,
        title="Assemblée du banc d’essai",
        starts_at=timezone.now() + dt.timedelta(days=20),
        quorum_percent=0,
        secret_ballot=secret,
    )
    Resolution.objects.bulk_create(
        Resolution(assembly=assembly, position=position, title=f"Résolution {position}")
        for position in range(1, resolutions + 1)
    )
    started = time.perf_counter()
    voices = assembly_convene(assembly=assembly, by=None)
    convened = time.perf_counter() - started
    voices = list(assembly.voices.order_by("pk"))
    how = {voice.pk: {} for voice in voices}
    # Voices 0-2 of each ten: 1 and 2 give their proxy to 0; one in fifty, to the chair.
    for index, voice in enumerate(voices):
        if index % 50 == 49:
            proxy_give(giver=voice, holder=None, by=None)
            how[voice.pk] = {"chair": True}
        elif index % 10 in (1, 2):
            holder = voices[index - index % 10]
            proxy_give(giver=voice, holder=holder, by=None)
            how[voice.pk] = {"holder": holder}
    voting_open(assembly=assembly)
    return assembly, convened, [(voice, how[voice.pk]) for voice in voices]


def votes_run(assembly, ballots: list, *, workers: int, seed: int):
    """Submit each ballot twice (its voice's channel, then the other one), in a shuffled order
    spread over ``workers`` threads released at once; return the seconds taken, each attempt's
    (seconds, outcome) where outcome is "counted", "refused" or the error, and the choices of
    the counted ballots as a Counter of (resolution id, choice)."""
    from django.core.exceptions import ValidationError
    from django.db import connection

    from assemblies.models import BallotChannel, VoteChoice
    from assemblies.services import ballot_cast

    draw = random.Random(seed)
    resolution_ids = list(assembly.resolutions.order_by("position").values_list("pk", flat=True))
    attempts = []
    for index, (voice, how) in enumerate(ballots):
        choices = {pk: draw.choice(VoteChoice.values) for pk in resolution_ids}
        channels = [BallotChannel.ONLINE, BallotChannel.ROOM][:: 1 if index % 2 else -1]
        attempts += [(voice, how, choices, channel) for channel in channels]
    draw.shuffle(attempts)
    start = threading.Barrier(workers + 1)
    outcomes: list[list] = [[] for _ in range(workers)]
    counted: list[Counter] = [Counter() for _ in range(workers)]

    def vote(index: int) -> None:
        try:
            start.wait()
            for voice, how, choices, channel in attempts[index::workers]:
                began = time.perf_counter()
                try:
                    ballot_cast(voice=voice, choices=choices, channel=channel, **how)
                    outcome = "counted"
                    counted[index].update(choices.items())
                except ValidationError as exc:
                    outcome = "refused" if "a déjà voté" in exc.messages[0] else exc.messages[0]
                except Exception as exc:  # a deadlock or any error: reported, not hidden
                    outcome = repr(exc)
                outcomes[index].append((time.perf_counter() - began, outcome))
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return (
        elapsed,
        [attempt for worker in outcomes for attempt in worker],
        sum(counted, Counter()),
    )


def data_delete(assembly, organisation_ids: list[int]) -> None:
    """Delete the assembly and the members this benchmark created."""
    from assemblies.models import Ballot
    from members.models import Contact, Membership, Organisation, Term

    Ballot.objects.filter(voice__assembly=assembly).delete()
    assembly.delete()
    Term.objects.filter(membership__organisation_id__in=organisation_ids).delete()
    Membership.objects.filter(organisation_id__in=organisation_ids).delete()
    Contact.objects.filter(organisation_id__in=organisation_ids).delete()
    Organisation.objects.filter(pk__in=organisation_ids).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=1000, help="voices convened")
    parser.add_argument("--workers", type=int, default=16, help="threads voting at once")
    parser.add_argument("--resolutions", type=int, default=3, help="resolutions on each ballot")
    parser.add_argument("--secret", action="store_true", help="a secret ballot")
    parser.add_argument("--seed", type=int, default=17, help="seed of the choices and order")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database")
    args = parser.parse_args()
    own_database = "DATABASE_URL" not in os.environ
    common.django_start(default_database_url=DEFAULT_DATABASE)

    from assemblies.models import Ballot, ResolutionTally
    from assemblies.selectors import assembly_results

    print(f"Base : {common.database_describe()}")
    started = time.perf_counter()
    cluster, organisation_ids = members_create(args.organisations)
    common.database_analyze()
    print(f"{args.organisations} membres à jour créés en {time.perf_counter() - started:.1f} s")
    assembly, convened, ballots = assembly_prepare(
        cluster, resolutions=args.resolutions, secret=args.secret
    )
    givers = sum(bool(how) for _voice, how in ballots)
    print(
        f"Convocation : {len(ballots)} voix figées en {convened * 1000:.0f} ms ; "
        f"{givers} pouvoirs ; vote {'secret' if args.secret else 'nominatif'}, "
        f"{args.resolutions} résolutions"
    )

    elapsed, attempts, chosen = votes_run(assembly, ballots, workers=args.workers, seed=args.seed)
    outcomes = Counter(outcome for _seconds, outcome in attempts)
    timings = sorted(seconds * 1000 for seconds, _outcome in attempts)
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
    print(
        f"Vote : {len(attempts)} envois par {args.workers} fils en {elapsed:.2f} s : "
        f"{outcomes['counted'] / elapsed:.0f} bulletins comptés/s, "
        f"{len(attempts) / elapsed:.0f} envois/s"
    )
    print(
        f"Un envoi : p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
        f"max {timings[-1]:.1f} ms"
    )

    failures = []
    ballots_kept = Ballot.objects.filter(voice__assembly=assembly).count()
    if outcomes["counted"] != len(ballots) or ballots_kept != len(ballots):
        failures.append(
            f"{outcomes['counted']} ballots counted and {ballots_kept} kept for "
            f"{len(ballots)} voices"
        )
    if outcomes["refused"] != len(ballots):
        failures.append(f"{outcomes['refused']} second attempts refused of {len(ballots)}")
    others = {
        outcome: n for outcome, n in outcomes.items() if outcome not in ("counted", "refused")
    }
    if others:
        failures.append(f"other outcomes: {others}")
    counters = Counter(
        {
            (tally.resolution_id, tally.choice): tally.count
            for tally in ResolutionTally.objects.filter(resolution__assembly=assembly)
        }
    )
    if +counters != +chosen:
        failures.append("the counters differ from the ballots' choices")
    results = assembly_results(assembly=assembly)
    if any(
        result.votes_for + result.against + result.abstain != ballots_kept
        for result in results.resolutions
    ):
        failures.append("a resolution's for, against and abstention do not add up to the ballots")
    print(
        f"Contrôles : {ballots_kept} bulletins pour {len(ballots)} voix, "
        f"{outcomes['refused']} seconds envois refusés, décomptes = choix des bulletins : "
        + ("oui" if not failures else "NON")
    )

    if own_database and not args.keep:
        common.database_drop(DEFAULT_DATABASE)
    elif not own_database:
        data_delete(assembly, organisation_ids)
    for failure in failures:
        print(f"ÉCHEC : {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
