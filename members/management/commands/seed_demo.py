"""``python manage.py seed_demo``: demo members, terms and logins for development, and the
general assemblies that adopted the merger (the merger's demo, called from here: the command
wires the apps' demos together, as the project's package wires the apps)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from members.demo import MEMBER_PASSWORD, demo_seed
from members.formatting import short_date
from members.models import MembershipStatus
from merger.demo import merger_demo_seed


class Command(BaseCommand):
    help = (
        "Development only: about 200 demo organisations per source cluster with contacts, "
        "memberships and terms, a superuser, a staff user per cluster, a merger-committee user "
        "and a member login; each source cluster's extraordinary assembly of June adopting the "
        "merger (both adoptions recorded) and an annual assembly whose vote is open. Creates "
        "only what is missing: running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--site-url",
            default="http://127.0.0.1:8000",
            help="Where the site runs, for the addresses printed at the end.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is off. Never on a production database: the demo "
            "logins have published passwords.",
        )

    def handle(self, *args, force: bool, site_url: str, **options):
        site_url = site_url.rstrip("/")
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo is for development only and DEBUG is off: refusing to add demo "
                "members and logins with known passwords. Use --force if this really is a "
                "development database."
            )
        try:
            with transaction.atomic():
                report = demo_seed()
                member = next(a for a in report.accounts if a.password == MEMBER_PASSWORD)
                report.created |= merger_demo_seed(member_email=member.email, today=report.today)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

        if report.created_anything:
            counts = ", ".join(f"{count} {kind}" for kind, count in report.created.items())
            self.stdout.write(self.style.SUCCESS(f"Created {counts}."))
        else:
            self.stdout.write("Nothing created: the demo data was already there.")

        self.stdout.write(f"\nMemberships on {short_date(report.today)}:")
        for cluster, statuses in report.statuses.items():
            counts = ", ".join(
                f"{statuses[status]} {status}" for status in MembershipStatus if status in statuses
            )
            self.stdout.write(f"  {cluster}: {counts}")

        self.stdout.write(f"\nSite:   {site_url}/")
        self.stdout.write(f"Admin:  {site_url}{reverse('admin:index')}  (staff, committee)")
        self.stdout.write(
            f"Member: {site_url}{reverse('account_login')}  (password, or a sign-in code by e-mail)"
        )
        self.stdout.write("\nLogins (development passwords, set when each account was created):")
        rows = [("role", "login", "password")] + [
            (
                account.role,
                account.login
                if account.login == account.email
                else f"{account.login} (e-mail {account.email})",
                account.password,
            )
            for account in report.accounts
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(2)]
        for role, login, password in rows:
            self.stdout.write(f"  {role:<{widths[0]}}  {login:<{widths[1]}}  {password}")
