"""The daily reminder pass over 10,000 to 100,000 memberships, and the e-mails one worker sends.

Run it from the project's root, in one command, with PostgreSQL and Redis running:

    .venv/bin/python benchmarks/reminders_bench.py

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_reminders`` on
``postgres://postgres@127.0.0.1:5432`` (trust authentication, as on a developer's machine or in
CI) and drops it at the end (``--keep`` keeps it, to EXPLAIN queries afterwards). With
``DATABASE_URL`` it uses that database, creates it if it is a PostgreSQL one that does not exist
yet, refuses to run if it already holds memberships, and leaves it. Tasks go to a queue of
their own (``reminders-bench``, which it purges, so that no other worker takes them) on the Redis
of ``--broker`` (default ``redis://127.0.0.1:6379/13``); kombu's binding keys stay there.
Results stay in memory (``cache+memory://``). The SMTP server and the worker stop at the end.
SQL queries are counted by Django's ``CaptureQueriesContext``, ``BEGIN`` and ``COMMIT`` included.

1. The pass (``members.services.reminders.reminders_schedule``) on ``--today`` (default
   2026-12-01) over each of ``--sizes`` memberships (built one on top of the other with
   ``bulk_create``, alternating between the two source clusters, each organisation with its
   primary contact). One membership in ten has a reminder due that day: its latest term ends 30
   days later (J−30). The others cover what the pass must leave alone: the same end but renewed
   (a later term), or cancelled, or transferred; a term ending in the window the policies span
   but between two steps; current terms, terms lapsed long ago. One in three has two older
   yearly terms. For each size: the first pass (records one reminder per due membership and
   queues them in batches, on commit, to Redis: both included in its time) and a second pass
   the same day (records nothing): time and SQL queries, which must not grow with the number of
   memberships. The ledger is emptied and the queue purged between sizes.
2. The e-mails: after the largest size, the reminders its first pass recorded are sent to an SMTP
   server (aiosmtpd) in this process, which counts them. One batch of 100 (``BATCH_SIZE``) is
   sent here, through the service the task calls, to count its SQL queries; ``--emails`` of the
   others (default: all) are queued, then one worker starts (``celery worker --pool=solo
   --concurrency=1``, with the database, the broker and the SMTP server in its environment):
   e-mails and reminders per second from the worker's start to the last e-mail, and from the
   first e-mail to the last. One organisation in four of those with a reminder also has a
   billing contact, who gets a copy: more e-mails than reminders. Half the primary contacts of
   those with a reminder read English (one in four of all).

It exits with status 1 if the number due is not one in ten, the second pass records anything,
the query count of a pass grows with the memberships, or the worker does not send every reminder,
each to its contacts, once.
"""

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from urllib.parse import urlparse

from common import (
    ROOT,
    database_analyze,
    database_describe,
    database_drop,
    django_start,
    organisations_bulk_create,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench_reminders"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/13"
DEFAULT_SIZES = "10000,50000,100000"
# The benchmark's own queue, so that no other worker on the same Redis database takes its tasks.
QUEUE = "reminders-bench"
# Seconds without a new e-mail after which the worker is deemed stuck.
STALL = 60
BATCH = 5000
# The latest term of membership n, by n % 10: its end in days from the pass date, and what
# happened to it. Only the first has a reminder due (the default policy: J−30, J−7, J, J+15, each
# at most 7 days late); 19 days ahead and 11 days behind fall between two steps.
PROFILES = [
    (30, "due"),
    (30, "renewed"),
    (30, "ended"),  # cancelled or transferred
    (19, ""),
    (-11, ""),
    (211, ""),
    (120, ""),
    (60, ""),
    (-335, ""),
    (-1430, ""),
]


def years_later(day: date, years: int) -> date:
    """The same day ``years`` later (earlier if negative); 28 February for a 29th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def yearly_terms(end: date, count: int) -> list[tuple[date, date]]:
    """``count`` consecutive yearly periods, the last ending on ``end``, oldest first."""
    periods = []
    for _ in range(count):
        start = years_later(end, -1) + timedelta(days=1)
        periods.append((start, end))
        end = start - timedelta(days=1)
    return periods[::-1]


def membership_history(n: int, *, today: date) -> tuple[list[tuple[date, date]], dict]:
    """Membership n's terms (start, end), oldest first, and its cancellation or transfer."""
    offset, kind = PROFILES[n % len(PROFILES)]
    end = today + timedelta(days=offset)
    periods = yearly_terms(end, 3 if n % 3 == 0 else 1)
    ended = {}
    if kind == "renewed":  # the next year, not paid yet
        periods.append((end + timedelta(days=1), years_later(end, 1)))
    elif kind == "ended":
        field = "cancelled_on" if n // 10 % 2 else "transferred_on"
        ended[field] = today - timedelta(days=40)
    return periods, ended


def memberships_bulk_create(*, start: int, count: int, today: date) -> int:
    """Memberships numbered ``start`` to ``start + count - 1`` (see :data:`PROFILES`), each with
    its organisation, a primary contact (English when n % 4 == 2), a billing contact when
    n % 40 == 0, and its terms; return the number of terms."""
    from members.models import Cluster, Contact, ContactRole, Membership, Term

    clusters = list(Cluster.objects.filter(kind=Cluster.Kind.SOURCE).order_by("slug"))
    plans = {
        cluster.pk: cluster.plans.filter(is_active=True).order_by("position").first()
        for cluster in clusters
    }
    terms_created = 0
    for first in range(start, start + count, BATCH):
        numbers = range(first, min(first + BATCH, start + count))
        organisations = organisations_bulk_create(
            numbers, name="Adhérent", headcount=lambda n: 10 + n % 200
        )
        contacts = Contact.objects.filter(organisation__in=organisations)
        contacts.update(role=ContactRole.PRIMARY)
        english = [o for n, o in zip(numbers, organisations, strict=True) if n % 4 == 2]
        contacts.filter(organisation__in=english).update(language="en")
        Contact.objects.bulk_create(
            Contact(
                organisation=organisation,
                email=f"compta{n}@example.org",
                last_name="Comptabilité",
                role=ContactRole.BILLING,
            )
            for n, organisation in zip(numbers, organisations, strict=True)
            if n % 40 == 0
        )
        histories = {n: membership_history(n, today=today) for n in numbers}
        memberships = Membership.objects.bulk_create(
            Membership(
                organisation=organisation,
                cluster=(cluster := clusters[n // 10 % len(clusters)]),
                member_number=f"{cluster.member_number_prefix}{n:06d}",
                member_since=histories[n][0][0][0],
                **histories[n][1],
            )
            for n, organisation in zip(numbers, organisations, strict=True)
        )
        terms = Term.objects.bulk_create(
            Term(
                membership=membership,
                plan=(plan := plans[membership.cluster_id]),
                start_date=start_date,
                end_date=end_date,
                fee=plan.annual_fee,
                is_paid=end_date < today,
            )
            for n, membership in zip(numbers, memberships, strict=True)
            for start_date, end_date in histories[n][0]
        )
        terms_created += len(terms)
    return terms_created


def pass_measure(today: date):
    """Run the pass on ``today``: its result, SQL queries and seconds (commit and queuing
    included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from members.services.reminders import reminders_schedule

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = reminders_schedule(today=today)
        elapsed = time.perf_counter() - started
    return result, len(queries), elapsed


class MailCounter:
    """An aiosmtpd handler that counts the e-mails (one per recipient) and when they arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        now = time.perf_counter()
        with self._lock:
            self.count += len(envelope.rcpt_tos)
            self.first = self.first or now
            self.last = now
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        with self._lock:
            self.count, self.first, self.last = 0, None, None


def smtp_start(counter: MailCounter):
    """An SMTP server on a free local port, in a thread of this process: its controller and port."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def emails_expected(reminder_ids: list[int]) -> int:
    """How many e-mails ``reminder_ids`` make: one per contact to notify (every organisation
    here has a primary contact, so exactly its primary and billing ones)."""
    from members.models import Contact, ContactRole

    return Contact.objects.filter(
        organisation__memberships__terms__reminders__in=reminder_ids,
        role__in=[ContactRole.PRIMARY, ContactRole.BILLING],
    ).count()


def worker_run(*, reminder_ids: list[int], counter: MailCounter, emails: int, timeout: float, log):
    """Queue ``reminder_ids``, start one worker on the benchmark's queue (its output to
    ``log``), wait until the SMTP server has ``emails`` e-mails, or none came for
    :data:`STALL` seconds, or ``timeout`` s passed, or the worker died; then stop it (a warm
    shutdown: it finishes its task). Return the seconds spent queuing, the worker's start time
    (``time.perf_counter()``), and whether it stopped by itself."""
    from members.services.reminders import reminders_queue

    started = time.perf_counter()
    reminders_queue(reminder_ids=reminder_ids)  # Outside a transaction: sent at once.
    queuing = time.perf_counter() - started
    command = [
        sys.executable,
        *("-m", "celery", "-A", "cluster", "worker", "--queues", QUEUE),
        *("--pool=solo", "--concurrency=1", "--loglevel=WARNING"),
        *("--without-heartbeat", "--without-gossip", "--without-mingle"),
    ]
    worker_started = time.perf_counter()
    worker = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Polling the counter, not the database: the worker has the machine's cores to itself.
        while worker.poll() is None and counter.count < emails:
            now = time.perf_counter()
            if now > worker_started + timeout or now > (counter.last or worker_started) + STALL:
                break
            time.sleep(0.1)
    finally:
        died = worker.poll() is not None
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return queuing, worker_started, died


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"memberships, comma-separated ({DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--today", type=date.fromisoformat, default=date(2026, 12, 1), help="the pass's date"
    )
    parser.add_argument(
        "--emails",
        type=int,
        default=0,
        help="reminders the worker sends (default 0: all those of the largest size's pass)",
    )
    parser.add_argument("--broker", default=DEFAULT_BROKER_URL, help="a Redis database of its own")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the worker may take")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's own database")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if any(size % len(PROFILES) for size in sizes):
        parser.error(f"sizes must be multiples of {len(PROFILES)}")

    broker = urlparse(args.broker)
    try:
        socket.create_connection((broker.hostname, broker.port or 6379), 2).close()
    except (OSError, TypeError) as exc:
        raise SystemExit(
            f"No Redis at {args.broker} ({exc}): start it, or give --broker."
        ) from None

    counter = MailCounter()
    controller, port = smtp_start(counter)
    var_dir = tempfile.mkdtemp(prefix="reminders_bench_")
    own_database = "DATABASE_URL" not in os.environ
    os.environ.update(
        CELERY_BROKER_URL=args.broker,
        CELERY_RESULT_BACKEND="cache+memory://",
        EMAIL_URL=f"smtp://127.0.0.1:{port}",
        DJANGO_VAR_DIR=var_dir,
    )
    try:
        return benchmark(args, sizes=sizes, counter=counter, var_dir=var_dir)
    finally:
        controller.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
        if own_database and not args.keep:
            database_drop(DEFAULT_DATABASE_URL)


def benchmark(args, *, sizes: list[int], counter: MailCounter, var_dir: str) -> int:
    django_start(default_database_url=DEFAULT_DATABASE_URL)
    # aiosmtpd logs every SMTP command at INFO, the root logger's level: too much to read.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from cluster.celery import app as celery_app
    from members.models import Reminder, ReminderState
    from members.services.reminders import BATCH_SIZE, reminders_send

    print(
        f"Base : {database_describe()} ; file Celery : {QUEUE} sur {args.broker} ; "
        f"date du passage {args.today}"
    )
    # Set before the app's first use of its queues (the purge below): tasks go to QUEUE.
    celery_app.conf.task_default_queue = QUEUE
    celery_app.control.purge()
    rows = []
    created = terms = 0
    ok = True
    for size in sizes:
        Reminder.objects.all().delete()
        started = time.perf_counter()
        terms += memberships_bulk_create(start=created + 1, count=size - created, today=args.today)
        database_analyze()
        print(
            f"{size - created} adhésions ({terms} périodes au total) créées en "
            f"{time.perf_counter() - started:.1f} s"
        )
        created = size
        for label in ("1er", "2e"):
            result, queries, seconds = pass_measure(args.today)
            queued = celery_app.control.purge()
            rows.append((size, terms, label, result, queries, seconds, queued))
            if label == "1er":
                ok &= result.due == result.scheduled == size // 10
                ok &= queued == -(-result.scheduled // BATCH_SIZE)
            else:
                ok &= result.scheduled == 0 and result.already_sent == size // 10 and not queued

    print()
    print("Passage quotidien (reminders_schedule) :")
    print()
    print(
        "| adhésions | périodes | passage | dues | enregistrées | déjà enregistrées "
        "| tâches en file | requêtes SQL | secondes |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, term_count, label, result, queries, seconds, queued in rows:
        print(
            f"| {size:,} | {term_count:,} | {label} | {result.due:,} | {result.scheduled:,} "
            f"| {result.already_sent:,} | {queued} | {queries} | {seconds:.2f} |"
        )
    constant = all(len({row[4] for row in rows if row[2] == label}) == 1 for label in ("1er", "2e"))
    print()
    print(
        "Nombre de requêtes constant : "
        + ("oui" if constant else "NON, il varie avec le nombre d’adhésions")
    )
    ok &= constant

    # 2. The e-mails of the largest size's first pass.
    pending = list(
        Reminder.objects.filter(state=ReminderState.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    in_process, rest = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
    to_worker = rest[: args.emails] if args.emails else rest
    # setup_test_environment() put in the locmem backend; EMAIL_URL's SMTP settings stay.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        retry = reminders_send(reminder_ids=in_process)
        elapsed = time.perf_counter() - started
    in_process_emails = counter.count
    ok &= not retry and in_process_emails == emails_expected(in_process)
    print()
    print(
        f"Envoi dans ce processus d’un lot de {len(in_process)} relances (reminders_send) : "
        f"{in_process_emails} e-mails en {elapsed:.2f} s, {len(queries)} requêtes SQL, "
        f"soit {len(queries) / len(in_process):.1f} par relance"
    )
    connection.close()

    counter.reset()
    expected = emails_expected(to_worker)
    log_path = os.path.join(var_dir, "worker.log")
    with open(log_path, "wb") as log:
        queuing, worker_started, died = worker_run(
            reminder_ids=to_worker,
            counter=counter,
            emails=expected,
            timeout=args.timeout,
            log=log,
        )
    load = os.getloadavg()[0]  # The worker's own load included.
    left_in_queue = celery_app.control.purge()
    states = dict(
        Reminder.objects.filter(pk__in=to_worker)
        .values_list("state")
        .annotate(count=Count("pk"))
        .order_by()
    )
    sent = states.get(ReminderState.SENT, 0)
    worker_ok = sent == len(to_worker) and counter.count == expected
    ok &= worker_ok
    print()
    share = "une partie de celles" if len(to_worker) < len(rest) else "toutes celles"
    print(
        f"Un worker (--pool=solo --concurrency=1) : {len(to_worker):,} relances "
        f"({share} du 1er passage à "
        f"{sizes[-1]:,} adhésions, moins le lot ci-dessus), "
        f"{-(-len(to_worker) // BATCH_SIZE)} tâche(s) mise(s) en file en {queuing:.2f} s"
    )
    print()
    if counter.last is None:
        print("Aucun e-mail reçu.")
    else:
        from_start = counter.last - worker_started
        from_first = counter.last - counter.first
        print("| mesure | relances envoyées | e-mails reçus | secondes | e-mails/s | relances/s |")
        print("|---|---:|---:|---:|---:|---:|")
        print(
            f"| du démarrage du worker au dernier e-mail | {sent:,} | {counter.count:,} "
            f"| {from_start:.1f} | {counter.count / from_start:.1f} | {sent / from_start:.1f} |"
        )
        if from_first > 0:
            print(
                f"| du premier au dernier e-mail | {sent:,} | {counter.count:,} | {from_first:.1f} "
                f"| {(counter.count - 1) / from_first:.1f} | {(sent - 1) / from_first:.1f} |"
            )
        print()
        print(
            f"Charge moyenne de la machine à la fin de l’envoi : {load:.2f} "
            f"({os.cpu_count()} cœurs)"
        )
    if not worker_ok:
        print(
            f"ERREUR : {sent} relances envoyées sur {len(to_worker)}, {counter.count} e-mails "
            f"reçus sur {expected} attendus (états : {states}"
            + (", le worker s’est arrêté de lui-même" if died else "")
            + f", {left_in_queue} tâche(s) restée(s) dans la file)"
        )
        with open(log_path, encoding="utf-8", errors="replace") as log:
            print(log.read()[-3000:])
    connection.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
