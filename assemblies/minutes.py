"""The minutes (procès-verbal) of a general assembly as a PDF, in the language asked for.

The minutes say who the association is, which assembly met (its nature, date, place, link,
first or second convocation), who chaired it and kept its minutes, who attended (the voices
present in the room and online, those represented, with each proxy from giver to holder or to
the chair, and those absent), the quorum required and reached, and each resolution with its
text, the majority it needed, its counts and whether it was adopted, as
:func:`assemblies.selectors.assembly_results` computes them. Then the sign-off: each signature
as :func:`assemblies.services.minutes_sign` recorded it, and "draft, not signed" across the
top until both are there.

An open ballot adds an annex with each voice's choice on each resolution. A secret ballot has
none, and nothing on the minutes names a choice next to a voice: the database could not say it
anyway (see :mod:`assemblies.models`).

The layout reuses the billing documents' (:mod:`members.documents`): fonts, styles, the
association's header and the footer.
"""

import math
from collections import defaultdict
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from assemblies.models import Assembly, AssemblyState, Attendance, OpenChoice
from assemblies.selectors import (
    AssemblyResults,
    assembly_results,
    proxies_active,
    proxies_counted,
    voices_on_list,
    voices_present,
)
from members.documents import (
    ACCENT,
    PAID_TINT,
    RULE,
    TINT,
    WIDTH,
    _boxed,
    _header,
    _labelled,
    _render,
    _styles,
    _text,
)
from members.formatting import long_date, percent

#: How many resolutions the open ballot's annex puts side by side in one table.
ANNEX_RESOLUTIONS_PER_TABLE = 4

#: The background of the "draft, not signed" banner.
DRAFT_TINT = colors.HexColor("#fdf1e3")


def minutes_filename(assembly: Assembly) -> str:
    """``proces-verbal-<cluster slug>-<YYYY-MM-DD>.pdf``."""
    day = timezone.localdate(assembly.starts_at).isoformat()
    return f"proces-verbal-{assembly.cluster.slug}-{day}.pdf"


def minutes_pdf(*, assembly: Assembly, language: str) -> bytes:
    """The PDF of ``assembly``'s minutes in ``language`` ("fr", "en")."""
    with translation.override(language):
        return _minutes_pdf(assembly)


def _moment(value) -> str:
    local = timezone.localtime(value)
    return _("%(date)s à %(time)s") % {"date": long_date(local), "time": local.strftime("%H:%M")}


def _table(rows: list[list], widths: list[float], *, header: bool = True) -> Table:
    """``rows`` (paragraphs) ruled like the invoices' lines, the first one as a header."""
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5 * mm),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5 * mm),
        ("LEFTPADDING", (0, 0), (-1, -1), 2 * mm),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2 * mm),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), ACCENT))
    table.setStyle(TableStyle(style))
    return table


def _heading(text: str) -> list[Flowable]:
    styles = _styles()
    return [Spacer(0, 6 * mm), Paragraph(escape(text), styles["issuer"]), Spacer(0, 2 * mm)]


def _facts(assembly: Assembly) -> list[Flowable]:
    """The assembly: nature, title, date, place and link, convocation, chair and secretary."""
    styles = _styles()
    if assembly.first_convocation_id is None:
        convocation = _("Première convocation")
    else:
        first = assembly.first_convocation
        convocation = _(
            "Seconde convocation, le quorum de l’assemblée du %(date)s n’ayant pas été atteint"
        ) % {"date": long_date(timezone.localdate(first.starts_at))}
    facts = [
        (_("Nature"), assembly.get_kind_display()),
        (_("Intitulé"), assembly.title),
        (_("Date"), _moment(assembly.starts_at)),
        (_("Lieu"), assembly.place),
        (_("En ligne"), assembly.online_url),
        (_("Convocation"), convocation),
        (
            _("Convocation envoyée le"),
            long_date(assembly.convened_at) if assembly.convened_at else "",
        ),
        (_("Président de séance"), assembly.chair_name),
        (_("Secrétaire de séance"), assembly.secretary_name),
        (
            _("Mode de scrutin"),
            _("À bulletin secret") if assembly.secret_ballot else _("Vote nominatif (public)"),
        ),
    ]
    return [
        _table(
            [
                [
                    Paragraph(escape(label), styles["fact_label"]),
                    Paragraph(_text(value), styles["base"]),
                ]
                for label, value in facts
                if value
            ],
            [WIDTH * 0.3, WIDTH * 0.7],
            header=False,
        )
    ]


def _attendance(assembly: Assembly, results: AssemblyResults) -> list[Flowable]:
    """The figures of the attendance and the quorum, then each proxy."""
    styles = _styles()
    present = defaultdict(int)
    for attendance in voices_present(assembly=assembly).values_list("attendance", flat=True):
        present[attendance] += 1
    absent = results.eligible - results.present - results.represented
    struck_off = assembly.voices.filter(struck_off_at__isnull=False).count()
    required = math.ceil(assembly.quorum_percent * results.eligible / 100)
    figures = [
        (_("Voix inscrites (membres à jour convoqués)"), results.eligible),
        (_("Présentes dans la salle"), present[Attendance.ROOM]),
        (_("Présentes en ligne"), present[Attendance.ONLINE]),
        (_("Représentées par un pouvoir"), results.represented),
        (_("Absentes"), absent),
    ]
    if struck_off:
        figures.append((_("Radiées de la liste après la convocation"), struck_off))
    rows = [
        [Paragraph(escape(label), styles["base"]), Paragraph(str(value), styles["strong_right"])]
        for label, value in figures
    ]
    story = [_table(rows, [WIDTH * 0.8, WIDTH * 0.2], header=False), Spacer(0, 3 * mm)]
    quorum = _(
        "Quorum requis : %(percent)s des voix, soit %(required)s ; présentes ou représentées : "
        "%(reached)s."
    ) % {
        "percent": percent(assembly.quorum_percent),
        "required": required,
        "reached": results.present + results.represented,
    }
    verdict = (
        _("Le quorum est atteint : l’assemblée peut valablement délibérer.")
        if results.quorum_met
        else _(
            "Le quorum n’est pas atteint : l’assemblée ne peut valablement délibérer, aucune "
            "résolution n’est adoptée."
        )
    )
    story.append(
        _boxed(
            [
                Paragraph(escape(quorum), styles["base"]),
                Paragraph(escape(verdict), styles["strong"]),
            ],
            width=WIDTH,
        )
    )

    proxies = list(
        proxies_active(assembly=assembly)
        .select_related("giver__organisation", "holder__organisation")
        .order_by("giver__organisation__name", "pk")
    )
    story += _heading(_("Pouvoirs"))
    if not proxies:
        story.append(Paragraph(escape(_("Aucun pouvoir n’a été donné.")), styles["base"]))
        return story
    counted = set(proxies_counted(assembly=assembly).values_list("pk", flat=True))
    rows = [
        [
            Paragraph(escape(_("Mandant")), styles["head"]),
            Paragraph(escape(_("Mandataire")), styles["head"]),
            Paragraph(escape(_("Compté")), styles["head"]),
        ]
    ]
    for proxy in proxies:
        holder = proxy.holder.organisation.name if proxy.holder else _("Président de séance")
        rows.append(
            [
                Paragraph(_text(proxy.giver.organisation.name), styles["base"]),
                Paragraph(_text(holder), styles["base"]),
                Paragraph(
                    escape(_("Oui") if proxy.pk in counted else _("Non : mandataire absent")),
                    styles["base"],
                ),
            ]
        )
    story.append(_table(rows, [WIDTH * 0.42, WIDTH * 0.38, WIDTH * 0.2]))
    return story


def _resolutions(results: AssemblyResults) -> list[Flowable]:
    """Each resolution: its text, the majority it needed, its counts and its outcome."""
    styles = _styles()
    story: list[Flowable] = []
    for result in results.resolutions:
        resolution = result.resolution
        if results.withheld:
            outcome = _("vote secret en cours, décompte à la clôture")
            counts = _("Pour : – · Contre : – · Abstention : –")
        else:
            outcome = _("Adoptée") if result.adopted else _("Non adoptée")
            counts = _("Pour : %(for)s · Contre : %(against)s · Abstention : %(abstain)s") % {
                "for": result.votes_for,
                "against": result.against,
                "abstain": result.abstain,
            }
        block = [
            Paragraph(
                f"<b>{escape(_('Résolution n° %(position)s') % {'position': resolution.position})}"
                f" — {_text(resolution.title)}</b>",
                styles["base"],
            ),
        ]
        if resolution.text:
            block.append(Paragraph(_text(resolution.text), styles["base"]))
        block += [
            Paragraph(
                _labelled(_("Majorité requise"), resolution.get_majority_display()), styles["small"]
            ),
            Paragraph(escape(counts), styles["base"]),
            Paragraph(
                escape(_("Résultat : %(outcome)s") % {"outcome": outcome}),
                styles["paid"] if result.adopted else styles["strong"],
            ),
        ]
        story += [KeepTogether(_boxed(block, width=WIDTH, background=TINT)), Spacer(0, 3 * mm)]
    return story


def _signatures(assembly: Assembly) -> list[Flowable]:
    """The sign-off block: each signatory, signed (by whom, when) or not yet."""
    styles = _styles()
    cells = []
    for label, name, signed_at in (
        (_("Le président de séance"), assembly.chair_name, assembly.chair_signed_at),
        (_("Le secrétaire de séance"), assembly.secretary_name, assembly.secretary_signed_at),
    ):
        if signed_at is not None:
            state = _("Signé par %(name)s le %(moment)s") % {
                "name": name,
                "moment": _moment(signed_at),
            }
        else:
            state = _("Non signé")
        cells.append(
            [
                Paragraph(escape(label).upper(), styles["label"]),
                Paragraph(_text(name) or "—", styles["strong"]),
                Paragraph(escape(state), styles["base"]),
            ]
        )
    table = Table([cells], colWidths=[WIDTH / 2, WIDTH / 2])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (0, 0), 0.5, RULE),
                ("BOX", (1, 0), (1, 0), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8 * mm),
                ("LEFTPADDING", (0, 0), (-1, -1), 3 * mm),
            ]
        )
    )
    return [KeepTogether([*_heading(_("Signatures")), table])]


def _attendance_sheet(assembly: Assembly) -> list[Flowable]:
    """Annex: each voice on the list and how it took part."""
    styles = _styles()
    proxies = {
        proxy.giver_id: proxy
        for proxy in proxies_active(assembly=assembly).select_related("holder__organisation")
    }
    counted = set(proxies_counted(assembly=assembly).values_list("giver_id", flat=True))
    rows = [
        [
            Paragraph(escape(_("Organisation")), styles["head"]),
            Paragraph(escape(_("Votant")), styles["head"]),
            Paragraph(escape(_("Participation")), styles["head"]),
        ]
    ]
    voices = voices_on_list(assembly=assembly).select_related("organisation", "voter")
    for voice in voices.order_by("organisation__name", "pk"):
        proxy = proxies.get(voice.pk)
        if proxy is not None and voice.pk in counted:
            if proxy.holder:
                status = _("Représenté par %(holder)s") % {"holder": proxy.holder.organisation.name}
            else:
                status = _("Représenté par le président de séance")
        elif proxy is not None:
            status = Attendance.ABSENT.label
        else:
            status = voice.get_attendance_display()
        voter = f"{voice.voter.first_name} {voice.voter.last_name}".strip() if voice.voter else ""
        rows.append(
            [
                Paragraph(_text(voice.organisation.name), styles["base"]),
                Paragraph(_text(voter), styles["base"]),
                Paragraph(escape(str(status)), styles["base"]),
            ]
        )
    return [
        *_heading(_("Annexe 1 — Feuille de présence")),
        _table(rows, [WIDTH * 0.4, WIDTH * 0.25, WIDTH * 0.35]),
    ]


def _open_ballot_annex(assembly: Assembly, results: AssemblyResults) -> list[Flowable]:
    """Annex of an open ballot: each voice that voted and its choice on each resolution, a few
    resolutions per table so that the columns stay readable."""
    styles = _styles()
    choices: dict[int, dict[int, str]] = defaultdict(dict)
    names: dict[int, str] = {}
    rows = (
        OpenChoice.objects.filter(ballot__voice__assembly=assembly)
        .select_related("ballot__voice__organisation")
        .order_by("ballot__voice__organisation__name", "ballot_id")
    )
    for choice in rows:
        names[choice.ballot_id] = choice.ballot.voice.organisation.name
        choices[choice.ballot_id][choice.resolution_id] = choice.get_choice_display()
    story = _heading(_("Annexe 2 — Votes nominatifs"))
    if not names:
        story.append(Paragraph(escape(_("Aucun vote n’a été exprimé.")), styles["base"]))
        return story
    resolutions = [result.resolution for result in results.resolutions]
    for start in range(0, len(resolutions), ANNEX_RESOLUTIONS_PER_TABLE):
        chunk = resolutions[start : start + ANNEX_RESOLUTIONS_PER_TABLE]
        column = WIDTH * 0.15
        table = [
            [
                Paragraph(escape(_("Organisation")), styles["head"]),
                *(
                    Paragraph(
                        escape(_("Rés. %(position)s") % {"position": resolution.position}),
                        styles["head"],
                    )
                    for resolution in chunk
                ),
            ]
        ]
        for ballot_id, name in names.items():
            table.append(
                [
                    Paragraph(_text(name), styles["base"]),
                    *(
                        Paragraph(
                            escape(str(choices[ballot_id].get(resolution.pk, ""))),
                            styles["base"],
                        )
                        for resolution in chunk
                    ),
                ]
            )
        story += [
            _table(table, [WIDTH - column * len(chunk), *([column] * len(chunk))]),
            Spacer(0, 3 * mm),
        ]
    return story


def _minutes_pdf(assembly: Assembly) -> bytes:
    styles = _styles()
    assembly = Assembly.objects.select_related("cluster", "first_convocation").get(pk=assembly.pk)
    issuer = assembly.cluster.issuer_details()
    results = assembly_results(assembly=assembly)
    title = _("Procès-verbal de l’%(kind)s") % {"kind": assembly.get_kind_display().lower()}
    signed = assembly.chair_signed_at is not None and assembly.secretary_signed_at is not None

    story: list[Flowable] = [
        _header(
            issuer,
            [
                Paragraph(escape(_("Procès-verbal")), styles["title_right"]),
                Paragraph(
                    escape(long_date(timezone.localdate(assembly.starts_at))), styles["right"]
                ),
            ],
            styles,
        ),
        Spacer(0, 5 * mm),
    ]
    if signed:
        banner = Paragraph(escape(_("Procès-verbal signé")), styles["paid"])
    else:
        banner = Paragraph(escape(_("Projet — non signé")), styles["strong"])
    story += [
        _boxed([banner], width=WIDTH, background=PAID_TINT if signed else DRAFT_TINT),
        Spacer(0, 3 * mm),
    ]
    if assembly.state != AssemblyState.CLOSED:
        story += [
            Paragraph(
                escape(_("Résultats provisoires : le vote n’est pas clos.")), styles["strong"]
            ),
            Spacer(0, 3 * mm),
        ]
    story += [
        Paragraph(escape(title), styles["title"]),
        Spacer(0, 4 * mm),
        *_facts(assembly),
        *_heading(_("Présences et quorum")),
        *_attendance(assembly, results),
        *_heading(_("Résolutions")),
        *_resolutions(results),
        *_signatures(assembly),
        *_attendance_sheet(assembly),
    ]
    if not assembly.secret_ballot:
        story += _open_ballot_annex(assembly, results)
    return _render(story, title=title, issuer=issuer)
