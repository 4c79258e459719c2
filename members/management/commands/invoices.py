"""``python manage.py invoices cancel NUMBER --reason TEXT --by EMAIL [--json]``: cancel an
invoice by a credit note for all that is still invoiced, as staff of its cluster would from the
admin."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from members.formatting import money
from members.models import CreditNoteOrigin, Invoice
from members.selectors import clusters_managed_by, user_active_by_login
from members.services.billing import credit_note_issue


class Command(BaseCommand):
    help = "Invoices: cancel one by a credit note (avoir)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        cancel = commands.add_parser(
            "cancel",
            help=(
                "Cancel the invoice NUMBER by a credit note for all that is still invoiced on "
                "it; the term it billed is cancelled too, and the credit note is e-mailed to "
                "the organisation's contacts. Exit status 1 when it cannot be cancelled."
            ),
        )
        cancel.add_argument("number", help="The invoice's number, e.g. DP-2027-00042.")
        cancel.add_argument("--reason", required=True, help="Why (printed on the credit note).")
        cancel.add_argument(
            "--by",
            required=True,
            metavar="EMAIL",
            help="The e-mail of the staff user of the invoice's cluster who cancels it.",
        )
        cancel.add_argument(
            "--json",
            action="store_true",
            help=(
                'Print {"credit_note", "invoice", "amount", "term_cancelled"} as JSON and '
                "nothing else."
            ),
        )

    def handle(self, *args, command: str, **options):
        if command == "cancel":
            self.cancel(**options)

    def cancel(self, *, number: str, reason: str, by: str, json: bool, **options) -> None:
        user = user_active_by_login(login=by)
        if user is None:
            raise CommandError(_("Aucun utilisateur actif « %(email)s ».") % {"email": by})
        invoice = Invoice.objects.select_related("cluster").filter(number=number.strip()).first()
        if invoice is None:
            raise CommandError(_("Facture inconnue « %(number)s ».") % {"number": number})
        if not (
            user.has_perm("members.add_creditnote")
            and clusters_managed_by(user).filter(pk=invoice.cluster_id).exists()
        ):
            raise CommandError(
                _("%(user)s ne fait pas partie du personnel de %(cluster)s : rien n’a été émis.")
                % {"user": by, "cluster": invoice.cluster.name}
            )
        try:
            credit_note = credit_note_issue(
                invoice=invoice, reason=reason, issued_by=user, origin=CreditNoteOrigin.STAFF
            )
        except ValidationError as refusal:
            raise CommandError(" ".join(refusal.messages)) from None
        if json:
            self.stdout.write(
                _json_dumps(
                    {
                        "credit_note": credit_note.number,
                        "invoice": invoice.number,
                        "amount": str(credit_note.amount),
                        "term_cancelled": credit_note.term_cancelled,
                    }
                )
            )
            return
        self.stdout.write(
            _("Avoir %(credit_note)s de %(amount)s émis : la facture %(invoice)s est annulée.")
            % {
                "credit_note": credit_note.number,
                "amount": money(credit_note.amount),
                "invoice": invoice.number,
            }
        )


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
