"""Writing a membership's terms by hand (the admin) or for a renewal: each term is validated by
its own rules before it is saved, and a term that has an invoice keeps what the invoice prints."""

from django.core.exceptions import ValidationError
from django.db import transaction

from members.models import Term
from members.models.memberships import term_invoiced_refusal


def _term_lock(term: Term) -> None:
    """Lock the stored row of ``term`` until the transaction ends: an invoice issued meanwhile
    (:func:`members.services.billing.invoice_issue` locks it too) waits, or is seen."""
    if term.pk is not None:
        list(Term.objects.select_for_update().filter(pk=term.pk).values_list("pk"))


@transaction.atomic
def term_save(*, term: Term) -> Term:
    """Create ``term``, or save the changes made to it, and return it.

    Raise :class:`ValidationError` (by field) when it breaks its own rules (:meth:`Term.clean`:
    its period, a plan of its membership's cluster, no overlap with another term), in particular
    when it has an invoice and its fee, plan, start or end differ from the stored ones: those are
    what the invoice prints, and an invoiced amount is corrected by a credit note. Its payment
    (``is_paid``, ``paid_on``) may change. The stored row is locked while it is checked and
    saved.
    """
    _term_lock(term)
    # The check constraints hold anyway in the database; validating them here would cost a
    # savepoint each.
    term.full_clean(validate_constraints=False)
    term.save()
    return term


def term_delete_check(*, term: Term) -> None:
    """Raise :class:`ValidationError` if ``term`` may not be deleted: it has an invoice."""
    number = term.stored_invoice_number()
    if number:
        raise ValidationError(term_invoiced_refusal(number, deleting=True), code="invoiced")


@transaction.atomic
def term_delete(*, term: Term) -> None:
    """Delete ``term``, entered by mistake; raise :class:`ValidationError` if it has an invoice
    (an invoice is never deleted, and is corrected by a credit note). The stored row is locked
    while it is checked and deleted."""
    _term_lock(term)
    term_delete_check(term=term)
    term.delete()
