"""The PDF documents of billing: an invoice, and the membership certificate of a paid term.

Both are A4 documents built with reportlab's platypus. An invoice is written in its own language
(``Invoice.language``, the member's when it was issued), whoever reads it and wherever: one legal
document, not one per reader; so is a credit note (``CreditNote.language``, its invoice's). A
certificate is in the active language (French unless a caller overrides it: the recipient's, the
visitor's). Text is set in Bitstream Vera, which reportlab ships as TrueType files: embedded as a
TrueType subset, it carries accents, "€" and "°", and tools that read the PDF's text (pypdf,
screen readers, copy and paste) get real characters back.

An invoice, and a credit note (avoir) which cancels or reduces one, print only what they froze
when they were issued (``issuer_details``, the invoice's late-payment mentions included,
``customer_details``, description, amount): what they say never changes. A certificate is dated
the day it is made and reads the cluster's and the organisation's current details. A detail left
blank is left out, label included.
"""

import functools
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from members.formatting import iban as format_iban
from members.formatting import long_date, money, percent
from members.models import CreditNote, Invoice, Term

FONT = "Vera"
FONT_BOLD = "Vera-Bold"
FONT_ITALIC = "Vera-Italic"
FONT_BOLD_ITALIC = "Vera-BoldItalic"

INK = colors.HexColor("#1b1f24")
MUTED = colors.HexColor("#555d66")
ACCENT = colors.HexColor("#0b5cad")
RULE = colors.HexColor("#dde1e6")
TINT = colors.HexColor("#eef3f9")
PAID = colors.HexColor("#1e6b3a")
PAID_TINT = colors.HexColor("#e9f5ee")

MARGIN = 18 * mm
#: reportlab's frames keep 6 points of padding inside the page margins.
FRAME_PADDING = 6
WIDTH = A4[0] - 2 * (MARGIN + FRAME_PADDING)


@functools.cache
def fonts_register() -> None:
    """Register Bitstream Vera (regular, bold, italic) with reportlab, once per process."""
    folder = Path(reportlab.__file__).parent / "fonts"
    for name, filename in (
        (FONT, "Vera.ttf"),
        (FONT_BOLD, "VeraBd.ttf"),
        (FONT_ITALIC, "VeraIt.ttf"),
        (FONT_BOLD_ITALIC, "VeraBI.ttf"),
    ):
        pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD_ITALIC
    )


def invoice_filename(invoice: Invoice) -> str:
    """``facture-DP-2027-00001.pdf``."""
    return f"facture-{invoice.number}.pdf"


def credit_note_filename(credit_note: CreditNote) -> str:
    """``avoir-DP-AV-2027-00001.pdf``."""
    return f"avoir-{credit_note.number}.pdf"


def certificate_filename(term: Term) -> str:
    """``attestation-<member number>-<year of the term's start>.pdf``."""
    return f"attestation-{term.membership.member_number}-{term.start_date.year}.pdf"


# --- Layout -------------------------------------------------------------------------------------


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of the documents, made once per process (they never change)."""
    fonts_register()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=13, textColor=INK)
    title = ParagraphStyle(
        "title", base, fontName=FONT_BOLD, fontSize=18, leading=22, textColor=ACCENT
    )
    head = ParagraphStyle("head", base, fontName=FONT_BOLD, textColor=colors.white)
    strong = ParagraphStyle("strong", base, fontName=FONT_BOLD)
    return {
        "base": base,
        "small": ParagraphStyle("small", base, fontSize=8, leading=10.5, textColor=MUTED),
        "label": ParagraphStyle("label", base, fontSize=7.5, leading=10, textColor=MUTED),
        "issuer": ParagraphStyle("issuer", base, fontName=FONT_BOLD, fontSize=13, leading=17),
        "title": title,
        "title_right": ParagraphStyle("title_right", title, alignment=TA_RIGHT),
        "right": ParagraphStyle("right", base, alignment=TA_RIGHT),
        "head": head,
        "head_right": ParagraphStyle("head_right", head, alignment=TA_RIGHT),
        "strong": strong,
        "strong_right": ParagraphStyle("strong_right", strong, alignment=TA_RIGHT),
        "paid": ParagraphStyle(
            "paid", base, fontName=FONT_BOLD, fontSize=12, leading=16, textColor=PAID
        ),
        "body": ParagraphStyle("body", base, fontSize=10.5, leading=15.5),
        "fact_label": ParagraphStyle("fact_label", base, fontSize=9, leading=15.5, textColor=MUTED),
        "document_title": ParagraphStyle(
            "document_title", title, fontSize=22, leading=27, alignment=TA_CENTER
        ),
        "center": ParagraphStyle("center", base, alignment=TA_CENTER),
    }


def _text(value: str) -> str:
    """``value`` safe inside a paragraph's markup, its line breaks kept."""
    return "<br/>".join(escape(line.strip()) for line in str(value).splitlines() if line.strip())


def _lines(*parts: str) -> str:
    """The non-blank ``parts`` (markup), one per line."""
    return "<br/>".join(part for part in parts if part)


def _labelled(label: str, value: str) -> str:
    """ "Label : value" in the active language's punctuation, or "" when ``value`` is blank."""
    if not value:
        return ""
    # French sets a no-break space before the colon.
    return _("%(label)s : %(value)s") % {"label": escape(label), "value": _text(value)}


def _issuer_block(issuer: dict, styles: dict) -> list[Flowable]:
    """The issuing association: legal name, address, SIREN, e-mail and web site."""
    return [
        Paragraph(_text(issuer.get("name", "")), styles["issuer"]),
        Paragraph(
            _lines(
                _text(issuer.get("address", "")),
                _labelled(_("SIREN"), issuer.get("siren", "")),
                _text(issuer.get("email", "")),
                _text(issuer.get("website", "")),
            ),
            styles["base"],
        ),
    ]


def _customer_lines(customer: dict) -> list[str]:
    """The customer's identity and address, as markup lines (blank ones left out)."""
    town = " ".join(part for part in (customer.get("postcode"), customer.get("city")) if part)
    return [
        f"<b>{_text(customer.get('name', ''))}</b>",
        _text(customer.get("address_line1", "")),
        _text(customer.get("address_line2", "")),
        _text(town),
        _labelled(_("SIRET"), customer.get("siret", "")),
        _labelled(_("N° d’adhérent"), customer.get("member_number", "")),
    ]


def _boxed(flowables: list[Flowable], *, width: float, background=TINT) -> Table:
    """``flowables`` in a tinted box."""
    box = Table([[flowables]], colWidths=[width])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 4 * mm),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm),
            ]
        )
    )
    return box


def _header(issuer: dict, title: list[Flowable], styles: dict) -> Table:
    """The issuer on the left, the document's title and references on the right."""
    header = Table([[_issuer_block(issuer, styles), title]], colWidths=[WIDTH * 0.55, WIDTH * 0.45])
    header.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 1.2, ACCENT),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5 * mm),
            ]
        )
    )
    return header


def _render(story: Iterable[Flowable], *, title: str, issuer: dict) -> bytes:
    """The PDF of ``story`` on A4 pages, with the issuer's identity in the footer of each."""
    styles = _styles()
    footer = " · ".join(
        part
        for part in (
            _text(issuer.get("name", "")),
            _labelled(_("SIREN"), issuer.get("siren", "")),
            escape(", ".join(line.strip() for line in issuer.get("address", "").splitlines())),
        )
        if part
    )

    def on_page(canvas, document) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        left = MARGIN + FRAME_PADDING
        canvas.line(left, 14 * mm, left + WIDTH, 14 * mm)
        paragraph = Paragraph(footer, ParagraphStyle("footer", styles["small"], alignment=1))
        _width, height = paragraph.wrap(WIDTH, 20 * mm)
        paragraph.drawOn(canvas, left, 12 * mm - height)
        canvas.restoreState()

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=24 * mm,
        title=title,
        author=issuer.get("name", ""),
        creator="Grand Cluster",
        lang=translation.get_language() or "fr",
    )
    document.build(list(story), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


#: The fixed compensation for recovery costs owed by a professional who pays late (art. D441-5 of
#: the Code de commerce).
RECOVERY_FEE = Decimal("40.00")


def late_payment_mentions(issuer: dict) -> list[str]:
    """The late-payment mentions of the frozen ``issuer`` details (art. L441-10 of the Code de
    commerce), in the active language: the penalty rate and the 40 € recovery fee, each when
    the cluster had set it when the invoice was issued; none for an invoice issued before."""
    mentions = []
    if issuer.get("late_payment_rate"):
        mentions.append(
            _(
                "En cas de retard de paiement, des pénalités sont exigibles au taux annuel de "
                "%(rate)s à compter du jour suivant la date d’échéance (art. L441-10 du Code de "
                "commerce)."
            )
            % {"rate": percent(Decimal(issuer["late_payment_rate"]))}
        )
    if issuer.get("recovery_fee"):
        mentions.append(
            _(
                "Indemnité forfaitaire pour frais de recouvrement due en cas de retard de "
                "paiement : %(amount)s (art. L441-10 et D441-5 du Code de commerce)."
            )
            % {"amount": money(RECOVERY_FEE)}
        )
    return mentions


def _billing_story(
    *,
    issuer: dict,
    references: list[Flowable],
    customer_label: str,
    customer: dict,
    rows: list[tuple[str, str]],
    total: tuple[str, str],
    late_payment: bool = False,
) -> list[Flowable]:
    """The top of an invoice or a credit note: the issuer and ``references``, the customer
    under ``customer_label``, the table of ``rows`` (markup, amount) and its ``total`` (label,
    amount), the issuer's VAT mention and, with ``late_payment`` (an invoice), its late-payment
    mentions."""
    styles = _styles()
    customer_box = _boxed(
        [
            Paragraph(escape(customer_label).upper(), styles["label"]),
            Paragraph(_lines(*_customer_lines(customer)), styles["base"]),
        ],
        width=WIDTH * 0.5,
    )
    customer_row = Table([["", customer_box]], colWidths=[WIDTH * 0.5, WIDTH * 0.5])
    customer_row.setStyle(
        TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)])
    )
    lines = Table(
        [
            [
                Paragraph(escape(_("Désignation")), styles["head"]),
                Paragraph(escape(_("Montant")), styles["head_right"]),
            ],
            *(
                [Paragraph(text, styles["base"]), Paragraph(amount, styles["right"])]
                for text, amount in rows
            ),
            [
                Paragraph(escape(total[0]), styles["strong"]),
                Paragraph(total[1], styles["strong_right"]),
            ],
        ],
        colWidths=[WIDTH * 0.75, WIDTH * 0.25],
        repeatRows=1,
    )
    lines.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
                ("LINEBELOW", (0, 1), (-1, -2), 0.5, RULE),
                ("BACKGROUND", (0, -1), (-1, -1), TINT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5 * mm),
                ("LEFTPADDING", (0, 0), (-1, -1), 3 * mm),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3 * mm),
            ]
        )
    )

    story: list[Flowable] = [
        _header(issuer, references, styles),
        Spacer(0, 8 * mm),
        customer_row,
        Spacer(0, 10 * mm),
        lines,
        Spacer(0, 3 * mm),
    ]
    if issuer.get("vat_mention"):
        story.append(Paragraph(f"<i>{_text(issuer['vat_mention'])}</i>", styles["small"]))
    if late_payment:
        for mention in late_payment_mentions(issuer):
            story.append(Paragraph(_text(mention), styles["small"]))
    story.append(Spacer(0, 8 * mm))
    return story


# --- Documents ----------------------------------------------------------------------------------


def invoice_pdf(invoice: Invoice) -> bytes:
    """The PDF of ``invoice``, from what it froze when it was issued, in its language."""
    with translation.override(invoice.language):
        return _invoice_pdf(invoice)


def _invoice_pdf(invoice: Invoice) -> bytes:
    styles = _styles()
    issuer, customer = invoice.issuer_details, invoice.customer_details
    title = _("Facture n° %(number)s") % {"number": invoice.number}

    number = _("N° %(number)s") % {"number": invoice.number}
    references = [
        Paragraph(escape(_("Facture")), styles["title_right"]),
        Paragraph(f"<b>{escape(number)}</b>", styles["right"]),
        Paragraph(
            _lines(
                _labelled(_("Date d’émission"), long_date(invoice.issued_on)),
                _labelled(_("Échéance"), long_date(invoice.due_on)),
            ),
            styles["right"],
        ),
    ]
    amount = money(invoice.amount)
    story = _billing_story(
        issuer=issuer,
        references=references,
        customer_label=_("Facturé à"),
        customer=customer,
        rows=[(_text(invoice.description), amount)],
        total=(_("Total"), amount),
        late_payment=True,
    )

    if invoice.paid_on:
        paid = escape(_("Acquittée le %(date)s") % {"date": long_date(invoice.paid_on)})
        story.append(_boxed([Paragraph(paid, styles["paid"])], width=WIDTH, background=PAID_TINT))
    else:
        iban = issuer.get("iban", "")
        payment = [
            Paragraph(escape(_("Règlement par virement bancaire")), styles["strong"]),
            Paragraph(
                _lines(
                    escape(_("À régler avant le %(date)s") % {"date": long_date(invoice.due_on)}),
                    _labelled(_("IBAN"), format_iban(iban)),
                    _labelled(_("BIC"), issuer.get("bic", "")),
                    _labelled(_("Référence à indiquer"), invoice.number),
                ),
                styles["base"],
            ),
        ]
        story.append(KeepTogether(_boxed(payment, width=WIDTH)))
    return _render(story, title=title, issuer=issuer)


def credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The PDF of ``credit_note``, from what it froze when it was issued, in its language (its
    invoice's): the invoice it refers to (number and date), why, how much, and whether it
    cancels the invoice or reduces what is due on it."""
    with translation.override(credit_note.language):
        return _credit_note_pdf(credit_note)


def _credit_note_pdf(credit_note: CreditNote) -> bytes:
    styles = _styles()
    invoice = credit_note.invoice
    issuer, customer = credit_note.issuer_details, credit_note.customer_details
    title = _("Avoir n° %(number)s") % {"number": credit_note.number}
    references = [
        Paragraph(escape(pgettext("document", "Avoir")), styles["title_right"]),
        Paragraph(
            f"<b>{escape(_('N° %(number)s') % {'number': credit_note.number})}</b>",
            styles["right"],
        ),
        Paragraph(
            _lines(
                _labelled(_("Date d’émission"), long_date(credit_note.issued_on)),
                _labelled(
                    _("Facture d’origine"),
                    _("n° %(number)s du %(date)s")
                    % {"number": invoice.number, "date": long_date(invoice.issued_on)},
                ),
            ),
            styles["right"],
        ),
    ]
    amount = money(credit_note.amount)
    story = _billing_story(
        issuer=issuer,
        references=references,
        customer_label=_("Client"),
        customer=customer,
        rows=[
            (
                _lines(
                    _text(credit_note.description),
                    f"<i>{_labelled(_('Motif'), credit_note.reason)}</i>",
                ),
                amount,
            )
        ],
        total=(_("Total de l’avoir"), amount),
    )
    if credit_note.term_cancelled:
        effect = _(
            "Cet avoir annule la facture n° %(number)s et la période d’adhésion qu’elle facturait."
        ) % {"number": invoice.number}
    else:
        effect = _("Cet avoir réduit de %(amount)s le montant dû sur la facture n° %(number)s.") % {
            "amount": amount,
            "number": invoice.number,
        }
    story.append(_boxed([Paragraph(escape(effect), styles["base"])], width=WIDTH))
    return _render(story, title=title, issuer=issuer)


def certificate_pdf(term: Term, *, on: date | None = None) -> bytes:
    """The membership certificate ("attestation d'adhésion") of paid ``term``, dated ``on``
    (default: today), in the active language. Raise :class:`ValidationError` for an unpaid term
    or one cancelled by a credit note: it certifies a membership paid for."""
    if not term.is_paid:
        raise ValidationError(
            _("Une attestation d’adhésion n’est délivrée que pour une période payée.")
        )
    if term.cancelled_on is not None:
        raise ValidationError(
            _("Cette période a été annulée par un avoir : elle n’a pas d’attestation.")
        )
    on = on or timezone.localdate()
    styles = _styles()
    membership = term.membership
    organisation = membership.organisation
    issuer = membership.cluster.issuer_details()
    title = _("Attestation d’adhésion")

    town = " ".join(part for part in (organisation.postcode, organisation.city) if part)
    address = "\n".join(
        part for part in (organisation.address_line1, organisation.address_line2, town) if part
    )
    facts = [
        (_("Organisation"), organisation.name),
        (_("SIRET"), organisation.siret),
        (_("Adresse"), address),
        (_("N° d’adhérent"), membership.member_number),
        (
            _("Membre depuis le"),
            long_date(membership.member_since) if membership.member_since else "",
        ),
        (
            _("Période couverte"),
            _("du %(start)s au %(end)s")
            % {"start": long_date(term.start_date), "end": long_date(term.end_date)},
        ),
        (_("Cotisation réglée le"), long_date(term.paid_on) if term.paid_on else ""),
    ]
    table = Table(
        [
            [
                Paragraph(escape(label), styles["fact_label"]),
                Paragraph(_text(value), styles["body"]),
            ]
            for label, value in facts
            if value
        ],
        colWidths=[WIDTH * 0.32, WIDTH * 0.68],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEABOVE", (0, 0), (-1, 0), 1.2, ACCENT),
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5 * mm),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story = [
        _header(issuer, [], styles),
        Spacer(0, 16 * mm),
        Paragraph(escape(title), styles["document_title"]),
        Spacer(0, 10 * mm),
        Paragraph(
            escape(
                _(
                    "%(issuer)s atteste que l’organisation ci-dessous est membre de l’association "
                    "et à jour de sa cotisation pour la période indiquée."
                )
                % {"issuer": issuer["name"]}
            ),
            styles["body"],
        ),
        Spacer(0, 6 * mm),
        table,
        Spacer(0, 8 * mm),
        Paragraph(
            escape(_("Attestation délivrée pour servir et valoir ce que de droit.")),
            styles["body"],
        ),
        Spacer(0, 12 * mm),
        Paragraph(
            _lines(
                escape(_("Délivrée le %(date)s") % {"date": long_date(on)}),
                escape(_("Pour %(issuer)s, le service des adhésions") % {"issuer": issuer["name"]}),
            ),
            styles["body"],
        ),
    ]
    return _render(story, title=title, issuer=issuer)
