"""Invoices and certificates in the member area: an invoice, its credit notes and the membership
certificate of a paid term as PDF files in the visitor's language, and the invoice of an unpaid
term that has none yet (a term the cluster imported or entered by hand). Each is looked up among
the signed-in user's own (:func:`members.selectors.invoices_of`,
:func:`members.selectors.credit_notes_of`, :func:`members.selectors.terms_of`): another
organisation's is not found."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST, require_safe

from members import documents
from members.models import Term
from members.selectors import credit_notes_of, invoices_of, terms_of
from members.services.billing import invoice_issue


def pdf_response(content: bytes, *, filename: str) -> HttpResponse:
    """``content`` as a PDF file to download under ``filename``."""
    return HttpResponse(
        content,
        content_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition_header(as_attachment=True, filename=filename)
        },
    )


@login_required
@require_safe
def invoice_pdf(request, invoice_id: int):
    invoice = get_object_or_404(invoices_of(request.user), pk=invoice_id)
    return pdf_response(
        documents.invoice_pdf(invoice), filename=documents.invoice_filename(invoice)
    )


@login_required
@require_safe
def credit_note_pdf(request, credit_note_id: int):
    credit_note = get_object_or_404(
        credit_notes_of(request.user).select_related("invoice"), pk=credit_note_id
    )
    return pdf_response(
        documents.credit_note_pdf(credit_note),
        filename=documents.credit_note_filename(credit_note),
    )


@login_required
@require_safe
def certificate_pdf(request, term_id: int):
    terms = terms_of(request.user).select_related("membership__organisation", "membership__cluster")
    term = get_object_or_404(terms, pk=term_id)
    try:
        content = documents.certificate_pdf(term)
    except ValidationError:  # an unpaid term: there is no certificate to find
        raise Http404 from None
    return pdf_response(content, filename=documents.certificate_filename(term))


@login_required
@require_POST
def term_invoice(request, term_id: int):
    """Issue the invoice of an unpaid term that has none (once: a second click finds it), and
    show it, with the ways to pay it."""
    term = get_object_or_404(
        terms_of(request.user).filter(Term.invoiceable()).select_related("membership"),
        pk=term_id,
    )
    invoice = invoice_issue(term=term)
    return redirect("members:invoice_detail", invoice.pk)
