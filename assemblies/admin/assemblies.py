"""The assemblies in the admin site, for the clusters' staff: preparing one (its statutory rules,
agenda and documents), the steps of its life as buttons on its page (convene, open and close the
vote, a second convocation), the list of its voices with its exports, the attendance page of the
day in the room, and the results.

Who sees what is :class:`~members.admin.scoping.ClusterScopedAdminMixin`'s: a cluster's staff
see and change their cluster's assemblies, the merger committee reads every one, another
cluster's assembly (or a voice of another assembly) is a 404. Every write is a service of
:mod:`assemblies.services`, which refuses what a double submit or a second tab repeats; its
refusal is shown as a message.
"""

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from assemblies.models import (
    Assembly,
    AssemblyDocument,
    AssemblyState,
    Attendance,
    BallotChannel,
    Resolution,
    Signatory,
    Voice,
    VoteChoice,
)
from assemblies.selectors import (
    VoiceSheetLine,
    assembly_results,
    memberships_eligible,
    voice_sheet,
    voters_of,
)
from assemblies.services import (
    assembly_convene,
    assembly_preparation_check,
    assembly_second_convocation,
    attendance_record,
    ballot_cast,
    voice_strike_off,
    voting_close,
    voting_open,
)
from cluster.errors import MalformedRequest, shown
from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.imports.widgets import escape_formula

#: The fields that the convocation freezes: the rules, the date and the place it announced.
FROZEN_AT_CONVOCATION = (
    "cluster",
    "kind",
    "title",
    "starts_at",
    "place",
    "online_url",
    "eligibility",
    "eligibility_paid_by",
    "notice_days",
    "quorum_percent",
    "second_quorum_percent",
    "max_proxies",
    "secret_ballot",
)
#: What the system writes along the assembly's life; nobody types it.
LIFE_FIELDS = (
    "state",
    "first_convocation",
    "convened_at",
    "convened_by",
    "voting_opened_at",
    "voting_closed_at",
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AssemblyForm(forms.ModelForm):
    """The assembly's form: a change of what the convocation froze is refused by
    :func:`~assemblies.services.assembly_preparation_check` when the assembly was convened
    since the form was opened (a second tab)."""

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk and set(self.changed_data) & set(FROZEN_AT_CONVOCATION):
            assembly_preparation_check(assembly=self.instance)
        return cleaned_data


class AgendaFormSet(BaseInlineFormSet):
    """The resolutions or documents of an assembly: a change is refused once it is convened,
    as :class:`AssemblyForm`'s."""

    def clean(self):
        super().clean()
        if self.instance.pk and self.has_changed():
            assembly_preparation_check(assembly=self.instance)


class PreparationOnlyInline:
    """An inline of the agenda that changes only while its assembly is in preparation: read-only
    once it is convened (a second tab's post of it then changes nothing)."""

    formset = AgendaFormSet

    def _in_preparation(self, obj) -> bool:
        return obj is None or obj.state == AssemblyState.DRAFT

    def has_add_permission(self, request, obj):
        return self._in_preparation(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._in_preparation(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._in_preparation(obj) and super().has_delete_permission(request, obj)


class ResolutionInline(PreparationOnlyInline, ClusterScopedAdminMixin, admin.StackedInline):
    model = Resolution
    cluster_lookup = "assembly__cluster"
    extra = 0
    fields = (("position", "majority"), "title", "text")
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 3})}}


class AssemblyDocumentInline(PreparationOnlyInline, ClusterScopedAdminMixin, admin.TabularInline):
    model = AssemblyDocument
    cluster_lookup = "assembly__cluster"
    extra = 0
    fields = ("position", "title", "file", "url")


# --- Forms of the pages ---


class AttendanceForm(forms.Form):
    attendance = forms.ChoiceField(choices=Attendance.choices)


class StrikeOffForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Par exemple : démission reçue le 3 mars, exclusion par le conseil."
        ),
    )


class SecondConvocationForm(forms.Form):
    starts_at = forms.SplitDateTimeField(
        label=gettext_lazy("Date et heure de la seconde convocation"), widget=AdminSplitDateTime
    )


def ballot_form(resolutions: list[Resolution], data=None) -> forms.Form:
    """A form with one choice (for, against, abstain) per resolution, named by its id."""
    fields = {
        f"resolution_{resolution.pk}": forms.ChoiceField(
            label=str(resolution),
            choices=VoteChoice.choices,
            widget=forms.RadioSelect,
            error_messages={"required": gettext_lazy("Choisissez : pour, contre ou abstention.")},
        )
        for resolution in resolutions
    }
    return type("BallotForm", (forms.Form,), fields)(data)


# --- The list of voices, as a table and its exports ---


def voice_sheet_header() -> list[str]:
    return [
        _("Organisation"),
        _("N° d’adhérent"),
        _("Votant"),
        _("E-mail"),
        _("Présence"),
        _("Pouvoir donné à"),
        _("Pouvoirs détenus"),
        _("A voté"),
        _("Radiée"),
    ]


def holder_label(line: VoiceSheetLine) -> str:
    """Whom ``line``'s voice gave its proxy to: a voice's organisation, or the chair."""
    proxy = line.proxy_given
    if proxy is None:
        return ""
    return str(proxy.holder.organisation) if proxy.holder else _("président de séance")


def attendance_label(line: VoiceSheetLine) -> str:
    if line.struck_off:
        return _("Radiée")
    if line.represented:
        return _("Représentée")
    return Attendance(line.voice.attendance).label


def voice_sheet_rows(lines: list[VoiceSheetLine]) -> list[list[str]]:
    """The cells of the list of voices, in :func:`voice_sheet_header`'s columns, as text."""
    rows = []
    for line in lines:
        voice = line.voice
        voter = voice.voter
        rows.append(
            [
                voice.organisation.name,
                voice.membership.member_number,
                f"{voter.first_name} {voter.last_name}".strip() if voter else "",
                voter.email if voter else "",
                attendance_label(line),
                holder_label(line),
                ", ".join(str(proxy.giver.organisation) for proxy in line.proxies_held),
                _("oui") if line.voted else _("non"),
                voice.struck_off_reason if line.struck_off else "",
            ]
        )
    return rows


def exported_cell(value: str) -> str:
    """A cell of an export: text that spreadsheet software would run as a formula is escaped
    (the names, e-mails and reasons are typed by members and staff), and the control characters
    that an XLSX file cannot hold are dropped."""
    return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def voice_sheet_csv(rows: list[list[str]]) -> bytes:
    """The list as CSV for French spreadsheet software: ``;`` between cells, UTF-8 with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(voice_sheet_header())
    writer.writerows([exported_cell(cell) for cell in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def voice_sheet_xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Voix"))
    sheet.append(voice_sheet_header())
    for row in rows:
        sheet.append([exported_cell(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Step:
    """A step of an assembly's life, confirmed on its own page then done by its service."""

    title: str
    explanation: str
    run: Callable[[Assembly, object], str]


def _convene(assembly: Assembly, user) -> str:
    voices = assembly_convene(assembly=assembly, by=user)
    return _("Assemblée convoquée : %(count)s voix sur la liste.") % {"count": len(voices)}


def _open(assembly: Assembly, user) -> str:
    voting_open(assembly=assembly)
    return _("Vote ouvert : les pouvoirs ne changent plus.")


def _close(assembly: Assembly, user) -> str:
    voting_close(assembly=assembly)
    return _("Vote clos : les résultats sont arrêtés.")


STEPS = {
    "convene": Step(
        gettext_lazy("Convoquer l’assemblée"),
        gettext_lazy(
            "La liste des voix est figée maintenant, avec les adhérents à jour aujourd’hui "
            "selon la règle de l’assemblée. Les règles, l’ordre du jour et les documents ne "
            "pourront plus changer."
        ),
        _convene,
    ),
    "open": Step(
        gettext_lazy("Ouvrir le vote"),
        gettext_lazy(
            "Les votants pourront voter en ligne et le personnel enregistrer les votes de la "
            "salle. Les pouvoirs ne pourront plus être donnés ni révoqués."
        ),
        _open,
    ),
    "close": Step(
        gettext_lazy("Clore le vote"),
        gettext_lazy(
            "Aucun bulletin ne sera plus reçu, en ligne ou dans la salle ; les résultats seront "
            "arrêtés."
        ),
        _close,
    ),
}


@admin.register(Assembly)
class AssemblyAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """A cluster's assemblies: prepared here (rules, agenda, documents), then run from the
    buttons of their page; the rules, agenda and documents are read-only once convened."""

    form = AssemblyForm
    list_display = ("title", "cluster", "kind", "starts_at", "state")
    list_filter = ("state", "kind", ("cluster", ClusterScopedRelatedFilter))
    search_fields = ("title",)
    inlines = [ResolutionInline, AssemblyDocumentInline]
    change_form_template = "admin/assemblies/assembly/change_form.html"
    fieldsets = (
        (
            gettext_lazy("L’assemblée"),
            {
                "fields": (
                    "cluster",
                    "kind",
                    "title",
                    "starts_at",
                    ("place", "online_url"),
                    ("chair_name", "secretary_name"),
                )
            },
        ),
        (
            gettext_lazy("Qui vote"),
            {
                "description": gettext_lazy(
                    "Une voix par organisation adhérente à jour selon la règle ci-dessous, le "
                    "jour où la convocation part : la liste est alors figée. L’organisation vote "
                    "par le contact qu’elle a désigné, sinon par son contact principal."
                ),
                "fields": ("eligibility", "eligibility_paid_by"),
            },
        ),
        (
            gettext_lazy("Convocation et quorum"),
            {
                "description": gettext_lazy(
                    "Le quorum compte les voix présentes (dans la salle ou en ligne) et "
                    "représentées (par un pouvoir), sur l’ensemble de la liste. S’il n’est pas "
                    "atteint, l’assemblée est convoquée une seconde fois avec le second quorum."
                ),
                "fields": ("notice_days", ("quorum_percent", "second_quorum_percent")),
            },
        ),
        (
            gettext_lazy("Pouvoirs et scrutin"),
            {
                "description": gettext_lazy(
                    "Un membre peut donner sa voix à un autre membre de la liste ou au président "
                    "de séance, jusqu’à l’ouverture du vote. La majorité requise se choisit "
                    "pour chaque résolution."
                ),
                "fields": ("max_proxies", "secret_ballot"),
            },
        ),
        (gettext_lazy("Déroulement"), {"fields": LIFE_FIELDS}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cluster")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state != AssemblyState.DRAFT:
            return LIFE_FIELDS + FROZEN_AT_CONVOCATION
        return LIFE_FIELDS

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.state == AssemblyState.DRAFT) and super().has_delete_permission(
            request, obj
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        assembly = self.get_object(request, unquote(object_id))
        extra_context = {**(extra_context or {}), **self._page_links(request, assembly)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_links(self, request, assembly: Assembly) -> dict:
        """The buttons of the assembly's page: the steps the user may take now, the pages of
        its voices, the room and the results."""
        may_change = self.has_change_permission(request, assembly)
        state = assembly.state

        def url(name: str) -> str:
            return reverse(f"admin:assemblies_assembly_{name}", args=[assembly.pk])

        steps = []
        if may_change:
            if state == AssemblyState.DRAFT:
                steps.append((url("convene"), STEPS["convene"].title))
            elif state == AssemblyState.CONVENED:
                steps.append((url("open"), STEPS["open"].title))
            elif state == AssemblyState.VOTING:
                steps.append((url("close"), STEPS["close"].title))
            elif (
                assembly.first_convocation_id is None
                and not assembly.second_convocations.exists()
                and not assembly_results(assembly=assembly).quorum_met
            ):
                steps.append((url("second"), _("Seconde convocation")))
        pages = []
        if state != AssemblyState.DRAFT:
            pages.append((url("voices"), _("Liste des voix")))
            pages.append((url("room"), _("Émargement")))
            pages.append((url("results"), _("Résultats")))
            pages.append(
                (reverse("assemblies:minutes_pdf", args=[assembly.pk]), _("Procès-verbal (PDF)"))
            )
        return {"assembly_steps": steps, "assembly_pages": pages}

    # --- The pages ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            *(
                path(
                    f"<path:object_id>/{slug}/",
                    view(self.step_view),
                    {"step": step},
                    name=f"assemblies_assembly_{step}",
                )
                for step, slug in (
                    ("convene", "convoquer"),
                    ("open", "ouvrir-le-vote"),
                    ("close", "clore-le-vote"),
                )
            ),
            path(
                "<path:object_id>/seconde-convocation/",
                view(self.second_convocation_view),
                name="assemblies_assembly_second",
            ),
            path(
                "<path:object_id>/voix/", view(self.voices_view), name="assemblies_assembly_voices"
            ),
            path(
                "<path:object_id>/voix/export.<str:extension>",
                view(self.voices_export_view),
                name="assemblies_assembly_voices_export",
            ),
            path(
                "<path:object_id>/voix/<int:voice_id>/radier/",
                view(self.strike_off_view),
                name="assemblies_assembly_strike_off",
            ),
            path(
                "<path:object_id>/emargement/",
                view(self.room_view),
                name="assemblies_assembly_room",
            ),
            path(
                "<path:object_id>/emargement/<int:voice_id>/presence/",
                view(self.attendance_view),
                name="assemblies_assembly_attendance",
            ),
            path(
                "<path:object_id>/emargement/<int:voice_id>/vote/",
                view(self.room_ballot_view),
                name="assemblies_assembly_room_ballot",
            ),
            path(
                "<path:object_id>/resultats/",
                view(self.results_view),
                name="assemblies_assembly_results",
            ),
            *super().get_urls(),
        ]

    def _assembly(self, request, object_id: str, *, to_change: bool) -> Assembly:
        """The assembly of the URL: another cluster's is a 404 (not in the user's queryset); one
        the user may only read is a 403 when ``to_change``."""
        assembly = self.get_object(request, unquote(object_id))
        allowed = (
            self.has_change_permission(request, assembly)
            if to_change
            else self.has_view_or_change_permission(request, assembly)
        )
        if not allowed:
            raise PermissionDenied
        return assembly

    def _context(self, request, assembly: Assembly, title: str, **context) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "assembly": assembly,
            "assembly_url": reverse("admin:assemblies_assembly_change", args=[assembly.pk]),
            "title": title,
            **context,
        }

    def _done(self, request, assembly: Assembly, run: Callable[[], str]) -> bool:
        """Run a service; its message (done, or refused and why) is shown on the next page."""
        try:
            message = run()
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
            return False
        self.log_change(request, assembly, message)
        messages.success(request, message)
        return True

    def step_view(self, request, object_id: str, step: str):
        """Confirm, then take ``step`` (convene, open or close the vote) by its service. The
        confirmation of the convocation shows the list of voices it will freeze."""
        assembly = self._assembly(request, object_id, to_change=True)
        definition = STEPS[step]
        assembly_url = reverse("admin:assemblies_assembly_change", args=[assembly.pk])
        if request.method == "POST":
            self._done(request, assembly, lambda: definition.run(assembly, request.user))
            return HttpResponseRedirect(assembly_url)
        context = self._context(request, assembly, definition.title, step=definition)
        if step == "convene" and assembly.state == AssemblyState.DRAFT:
            memberships = list(
                memberships_eligible(assembly=assembly, on=timezone.localdate())
                .select_related("organisation")
                .order_by("organisation__name", "pk")
            )
            voters = voters_of(organisation_ids=[m.organisation_id for m in memberships])
            context["preview"] = [(m, voters.get(m.organisation_id)) for m in memberships]
        return TemplateResponse(request, "admin/assemblies/assembly/step_confirm.html", context)

    def second_convocation_view(self, request, object_id: str):
        """The date of the second convocation, then the assembly convened again (in
        preparation), when the first one's vote closed without its quorum."""
        assembly = self._assembly(request, object_id, to_change=True)
        form = SecondConvocationForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                second = assembly_second_convocation(
                    assembly=assembly, starts_at=form.cleaned_data["starts_at"], by=request.user
                )
            except ValidationError as refusal:
                messages.error(request, " ".join(refusal.messages))
                return HttpResponseRedirect(
                    reverse("admin:assemblies_assembly_change", args=[assembly.pk])
                )
            self.log_addition(request, second, [{"added": {}}])
            messages.success(
                request,
                _("Seconde convocation créée, en préparation : vérifiez-la puis convoquez-la."),
            )
            return HttpResponseRedirect(
                reverse("admin:assemblies_assembly_change", args=[second.pk])
            )
        context = self._context(
            request, assembly, _("Seconde convocation"), form=form, media=self.media + form.media
        )
        return TemplateResponse(
            request, "admin/assemblies/assembly/second_convocation.html", context
        )

    def voices_view(self, request, object_id: str):
        """The frozen list of voices: who votes for each organisation, its attendance, its
        proxies, whether it voted; exports; striking a voice off."""
        assembly = self._assembly(request, object_id, to_change=False)
        lines = voice_sheet(assembly=assembly)
        context = self._context(
            request,
            assembly,
            _("Liste des voix"),
            lines=lines,
            rows=zip(lines, voice_sheet_rows(lines), strict=True),
            header=voice_sheet_header(),
            may_change=self.has_change_permission(request, assembly)
            and assembly.state in (AssemblyState.CONVENED, AssemblyState.VOTING),
        )
        return TemplateResponse(request, "admin/assemblies/assembly/voices.html", context)

    def voices_export_view(self, request, object_id: str, extension: str):
        assembly = self._assembly(request, object_id, to_change=False)
        writers = {
            "csv": (voice_sheet_csv, "text/csv; charset=utf-8"),
            "xlsx": (voice_sheet_xlsx, XLSX_TYPE),
        }
        if extension not in writers:
            raise Http404
        write, content_type = writers[extension]
        response = HttpResponse(
            write(voice_sheet_rows(voice_sheet(assembly=assembly))), content_type=content_type
        )
        filename = (
            f"voix-{assembly.cluster.slug}-{timezone.localdate(assembly.starts_at)}.{extension}"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def _voice(self, assembly: Assembly, voice_id: int) -> Voice:
        """A voice of ``assembly``; another assembly's is a 404."""
        return get_object_or_404(
            Voice.objects.select_related("organisation", "voter"), pk=voice_id, assembly=assembly
        )

    def strike_off_view(self, request, object_id: str, voice_id: int):
        """Strike a voice off the list, with a reason; the proxies it gave or held are revoked,
        and named in the message."""
        assembly = self._assembly(request, object_id, to_change=True)
        voice = self._voice(assembly, voice_id)
        voices_url = reverse("admin:assemblies_assembly_voices", args=[assembly.pk])
        form = StrikeOffForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():

            def strike_off() -> str:
                revoked = voice_strike_off(
                    voice=voice, reason=form.cleaned_data["reason"], by=request.user
                )
                message = _("%(organisation)s radiée de la liste.") % {
                    "organisation": voice.organisation
                }
                if revoked:
                    message += " " + _("Pouvoirs révoqués : %(proxies)s.") % {
                        "proxies": ", ".join(str(proxy) for proxy in revoked)
                    }
                return message

            self._done(request, assembly, strike_off)
            return HttpResponseRedirect(voices_url)
        context = self._context(
            request,
            assembly,
            _("Radier %(organisation)s de la liste") % {"organisation": voice.organisation},
            voice=voice,
            form=form,
            voices_url=voices_url,
        )
        return TemplateResponse(request, "admin/assemblies/assembly/strike_off.html", context)

    def room_view(self, request, object_id: str):
        """The attendance page of the day: every voice with its attendance, set with one click,
        its proxies, its ballot; the running count and the quorum on top."""
        assembly = self._assembly(request, object_id, to_change=False)
        results = assembly_results(assembly=assembly)
        needed = math.ceil(assembly.quorum_percent * results.eligible / 100)
        open_states = (AssemblyState.CONVENED, AssemblyState.VOTING)
        context = self._context(
            request,
            assembly,
            _("Émargement"),
            lines=voice_sheet(assembly=assembly),
            results=results,
            quorum_needed=needed,
            may_change=self.has_change_permission(request, assembly)
            and assembly.state in open_states,
            voting=assembly.state == AssemblyState.VOTING,
            ROOM=Attendance.ROOM,
            ABSENT=Attendance.ABSENT,
        )
        return TemplateResponse(request, "admin/assemblies/assembly/room.html", context)

    def attendance_view(self, request, object_id: str, voice_id: int):
        """One click of the attendance page: a voice present in the room, or absent."""
        assembly = self._assembly(request, object_id, to_change=True)
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:assemblies_assembly_room", args=[assembly.pk])
            )
        voice = self._voice(assembly, voice_id)
        form = AttendanceForm(request.POST)
        if not form.is_valid():
            raise MalformedRequest.parameter(
                "attendance",
                _("« %(value)s » n’est pas une présence.")
                % {"value": shown(request.POST.get("attendance", ""))},
            )
        attendance = form.cleaned_data["attendance"]
        try:
            attendance_record(voice=voice, attendance=attendance, by=request.user)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        room_url = reverse("admin:assemblies_assembly_room", args=[assembly.pk])
        return HttpResponseRedirect(f"{room_url}#voice-{voice.pk}")

    def room_ballot_view(self, request, object_id: str, voice_id: int):
        """Record a ballot cast in the room for a voice: by itself, by the holder of its proxy,
        or by the chair when it gave its proxy to the chair."""
        assembly = self._assembly(request, object_id, to_change=True)
        if not request.user.has_perm("assemblies.add_ballot"):
            raise PermissionDenied
        voice = self._voice(assembly, voice_id)
        line = next(line for line in voice_sheet(assembly=assembly) if line.voice.pk == voice.pk)
        resolutions = list(assembly.resolutions.order_by("position", "pk"))
        form = ballot_form(resolutions, request.POST if request.method == "POST" else None)
        room_url = reverse("admin:assemblies_assembly_room", args=[assembly.pk])
        if request.method == "GET" and line.voted:
            # A second tab, or the back button: the ballot is recorded already.
            messages.info(
                request, _("%(organisation)s a déjà voté.") % {"organisation": voice.organisation}
            )
            return HttpResponseRedirect(f"{room_url}#voice-{voice.pk}")
        if request.method == "POST" and form.is_valid():
            proxy = line.proxy_given
            choices = {
                resolution.pk: form.cleaned_data[f"resolution_{resolution.pk}"]
                for resolution in resolutions
            }

            def cast() -> str:
                ballot_cast(
                    voice=voice,
                    choices=choices,
                    channel=BallotChannel.ROOM,
                    holder=proxy.holder if proxy else None,
                    chair=proxy is not None and proxy.holder is None,
                    recorded_by=request.user,
                )
                return _("Vote de %(organisation)s enregistré.") % {
                    "organisation": voice.organisation
                }

            self._done(request, assembly, cast)
            return HttpResponseRedirect(f"{room_url}#voice-{voice.pk}")
        context = self._context(
            request,
            assembly,
            _("Vote de %(organisation)s dans la salle") % {"organisation": voice.organisation},
            voice=voice,
            line=line,
            holder=holder_label(line),
            form=form,
            room_url=room_url,
        )
        return TemplateResponse(request, "admin/assemblies/assembly/room_ballot.html", context)

    def results_view(self, request, object_id: str):
        """The quorum and, per resolution, the votes for, against, abstaining and whether it
        is adopted, as the assembly's rules compute them."""
        assembly = self._assembly(request, object_id, to_change=False)
        results = assembly_results(assembly=assembly)
        context = self._context(
            request,
            assembly,
            _("Résultats"),
            results=results,
            quorum_needed=math.ceil(assembly.quorum_percent * results.eligible / 100),
            ballots=assembly.voices.aggregate(count=Count("ballot"))["count"],
            may_sign=self.has_change_permission(request, assembly),
            signatures=[
                (
                    Signatory.CHAIR,
                    assembly.chair_name,
                    assembly.chair_signed_at,
                    _("Signature du président de séance"),
                ),
                (
                    Signatory.SECRETARY,
                    assembly.secretary_name,
                    assembly.secretary_signed_at,
                    _("Signature du secrétaire de séance"),
                ),
            ],
        )
        return TemplateResponse(request, "admin/assemblies/assembly/results.html", context)
