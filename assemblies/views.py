"""The assemblies in the member area: the page of an assembly for the organisations of the
signed-in contact convened to it, what their voter does there (proxy, ballot) and the voter's
designation, the documents; and the staff's pages of an assembly's minutes (protected by the
admin site: see :mod:`assemblies.urls`).

Every assembly, voice and document is looked up among those of the user's organisations
(:func:`assemblies.selectors.voices_of`): another organisation's or cluster's identifiers answer
404. Only an organisation's voter acts for it; a value that cannot be read is a form error or a
400, and every write is a service that a double click or a second tab cannot repeat.
"""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)

from assemblies.consultations import (
    candidates,
    consultation_result,
    consultations_for_members,
    contact_acting_for,
    name_ballot_cast,
    name_propose,
    organisations_eligible,
    proposals_counted,
    proposals_of,
)
from assemblies.forms import (
    BallotForm,
    BallotParameters,
    MinutesLanguageForm,
    MinutesSignForm,
    NameBallotForm,
    NameProposalForm,
    ProxyForm,
    VoiceParameters,
    VoterForm,
)
from assemblies.minutes import minutes_filename, minutes_pdf
from assemblies.models import (
    Assembly,
    AssemblyState,
    BallotChannel,
    ConsultationPhase,
    NameConsultation,
    Signatory,
    Voice,
    VoteChoice,
)
from assemblies.selectors import (
    AssemblyResults,
    VoiceSituation,
    assemblies_convening,
    assemblies_managed_by,
    assemblies_visible_to,
    assembly_results,
    documents_readable_by,
    minutes_signed,
    open_choices_of,
    proxies_active,
    proxy_holders_offered,
    voice_acted_for_by,
    voice_situations,
    voices_of,
    voices_on_list,
)
from assemblies.services import (
    ballot_cast,
    minutes_sign,
    proxy_give,
    proxy_revoke,
    voice_link_read,
    voter_designate,
)
from cluster.errors import parameters_read
from members.forms import LOGIN_EMAIL_SESSION_KEY
from members.selectors import organisations_of
from members.services.organisations import organisation_managed_by
from members.views.billing import pdf_response

#: The largest identifier a row can have (a signed 64-bit integer).
ID_MAX = 2**63 - 1


@require_GET
def assembly_link(request: HttpRequest, token: str) -> HttpResponse:
    """The personal link of a convocation: through sign-in (the e-mail filled in) to the
    assembly's page in the member area."""
    try:
        voice_id, email = voice_link_read(token=token)
    except signing.BadSignature:
        return render(request, "assemblies/link_invalid.html", status=404)
    if not request.user.is_authenticated:
        request.session[LOGIN_EMAIL_SESSION_KEY] = email
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('account_request_login_code')}?{query}")
    # Signed in as someone else than the voice's organisation's contacts: the area, not a 404.
    voice = voices_of(request.user).filter(pk=voice_id).first()
    if voice is None:
        return redirect("members:area")
    assembly_id = voice.assembly_id
    return redirect("assemblies:member_assembly", assembly_id=assembly_id)


@dataclass
class BallotLine:
    """A ballot the voter may cast: its organisation's own (``giver`` empty) or, by proxy, for
    ``giver``."""

    voice: Voice
    form: BallotForm
    giver: Voice | None = None


@dataclass
class VoicePanel:
    """What the assembly's page shows one of the user's organisations: its situation, whether
    the user is its voter (``acting``) or a primary contact (``managed``), and its forms."""

    situation: VoiceSituation
    acting: bool
    managed: bool
    own_choices: list[tuple[str, str]] = field(default_factory=list)
    proxy_form: ProxyForm | None = None
    ballots: list[BallotLine] = field(default_factory=list)
    voter_form: VoterForm | None = None


def _convened_voices(request: HttpRequest, assembly_id: int):
    """The voices of the user's organisations at ``assembly_id``; 404 when there is none."""
    if assembly_id > ID_MAX:
        # No assembly has it, and SQLite cannot even compare it with a foreign key.
        raise Http404
    voices = voices_of(request.user).filter(assembly_id=assembly_id)
    if not voices.exists():
        raise Http404
    return voices


def _acting_voice(request: HttpRequest, assembly_id: int, voice_id: int) -> Voice:
    """The user's organisation's voice ``voice_id`` at ``assembly_id`` (404 otherwise), if the
    user is its voter and it is still on the list (refused otherwise)."""
    voice = get_object_or_404(
        _convened_voices(request, assembly_id).select_related("assembly", "organisation"),
        pk=voice_id,
    )
    if not voice_acted_for_by(voice=voice, user=request.user):
        raise PermissionDenied(
            _("Seul le votant de %(organisation)s agit pour elle à cette assemblée.")
            % {"organisation": voice.organisation}
        )
    return voice


def _panel(request, situation: VoiceSituation, resolutions, bound: dict) -> VoicePanel:
    voice = situation.voice
    assembly = voice.assembly
    panel = VoicePanel(
        situation=situation,
        acting=voice.struck_off_at is None and voice_acted_for_by(voice=voice, user=request.user),
        managed=organisation_managed_by(organisation=voice.organisation, user=request.user),
    )
    labels = dict(VoteChoice.choices)
    if situation.voted and not assembly.secret_ballot:
        choices = open_choices_of(voice=voice)
        panel.own_choices = [
            (str(r), labels[choices[r.pk]]) for r in resolutions if r.pk in choices
        ]
    if panel.managed and assembly.state in (AssemblyState.CONVENED, AssemblyState.VOTING):
        panel.voter_form = bound.get(("voter", voice.pk)) or VoterForm(
            organisation=voice.organisation,
            initial={"contact": voice.voter_id},
            auto_id=_auto_id(voice),
        )
    if not panel.acting:
        return panel
    if (
        assembly.state == AssemblyState.CONVENED
        and situation.proxy_given is None
        and not situation.proxies_held
    ):
        panel.proxy_form = bound.get(("proxy", voice.pk)) or _proxy_form(voice)
    if assembly.state == AssemblyState.VOTING:
        if not situation.voted and situation.proxy_given is None:
            form = bound.get(("ballot", voice.pk)) or BallotForm(
                resolutions=resolutions, auto_id=_auto_id(voice)
            )
            panel.ballots.append(BallotLine(voice=voice, form=form))
        for proxy in situation.held_to_vote:
            form = bound.get(("ballot", proxy.giver_id)) or BallotForm(
                resolutions=resolutions, prefix=f"voice-{proxy.giver_id}", auto_id=_auto_id(voice)
            )
            panel.ballots.append(BallotLine(voice=voice, form=form, giver=proxy.giver))
    return panel


def _auto_id(voice: Voice) -> str:
    """The ids of a form's fields, distinct for each voice on the page."""
    return f"id_%s_{voice.pk}"


def _proxy_form(voice: Voice, data=None) -> ProxyForm:
    others = voices_on_list(assembly=voice.assembly).exclude(pk=voice.pk)
    return ProxyForm(
        data,
        holders=list(proxy_holders_offered(voice=voice)),
        others=list(others.select_related("organisation")),
        auto_id=_auto_id(voice),
    )


def _page(request: HttpRequest, assembly_id: int, *, bound: dict | None = None) -> HttpResponse:
    voices = _convened_voices(request, assembly_id)
    assembly = get_object_or_404(Assembly.objects.select_related("cluster"), pk=assembly_id)
    resolutions = list(assembly.resolutions.order_by("position", "pk"))
    panels = [
        _panel(request, situation, resolutions, bound or {})
        for situation in voice_situations(voices=voices)
    ]
    results: AssemblyResults | None = None
    if assembly.state == AssemblyState.CLOSED:
        results = assembly_results(assembly=assembly)
    return render(
        request,
        "assemblies/member_assembly.html",
        {
            "assembly": assembly,
            "resolutions": resolutions,
            "documents": list(assembly.documents.order_by("position", "pk")),
            "panels": panels,
            "results": results,
        },
    )


@login_required
@require_GET
def member_assembly(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The page of an assembly for the user's organisations convened to it: date, place, online
    link, agenda, documents, the ballot's rules, each organisation's voter and what it did; the
    voter's proxy and ballots; the results once the vote is closed."""
    return _page(request, assembly_id)


def _back(assembly_id: int) -> HttpResponse:
    return redirect("assemblies:member_assembly", assembly_id=assembly_id)


def _refused(request: HttpRequest, assembly_id: int, exc: ValidationError) -> HttpResponse:
    for message in exc.messages:
        messages.error(request, message)
    return _back(assembly_id)


@login_required
@require_POST
def member_proxy_give(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The voter gives its organisation's voice to another organisation or to the chair."""
    voice = _acting_voice(
        request, assembly_id, parameters_read(VoiceParameters, request.POST)["voice"]
    )
    form = _proxy_form(voice, request.POST)
    if not form.is_valid():
        return _page(request, assembly_id, bound={("proxy", voice.pk): form})
    holder = form.cleaned_data["holder"]
    try:
        proxy_give(giver=voice, holder=holder, by=request.user)
    except ValidationError as exc:
        return _refused(request, assembly_id, exc)
    if holder is None:
        text = _("%(organisation)s a donné pouvoir au président de séance.")
    else:
        text = _("%(organisation)s a donné pouvoir à %(holder)s.")
    messages.success(
        request,
        text % {"organisation": voice.organisation, "holder": getattr(holder, "organisation", "")},
    )
    return _back(assembly_id)


@login_required
@require_POST
def member_proxy_revoke(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The voter revokes the proxy its organisation gave, until the vote opens."""
    voice = _acting_voice(
        request, assembly_id, parameters_read(VoiceParameters, request.POST)["voice"]
    )
    proxy = proxies_active(assembly=voice.assembly).filter(giver=voice).first()
    if proxy is None:
        messages.error(
            request,
            _("%(organisation)s n’a pas de pouvoir à révoquer.")
            % {"organisation": voice.organisation},
        )
        return _back(assembly_id)
    try:
        proxy_revoke(proxy=proxy, by=request.user, reason=_("Révoqué par le votant."))
    except ValidationError as exc:
        return _refused(request, assembly_id, exc)
    messages.success(
        request,
        _("Le pouvoir de %(organisation)s est révoqué : elle vote elle-même.")
        % {"organisation": voice.organisation},
    )
    return _back(assembly_id)


@login_required
@require_POST
def member_ballot_cast(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The voter casts a ballot: its organisation's own (``voice`` and ``by`` the same) or, as
    holder, the one of an organisation that gave it its proxy (``voice``, the giver's)."""
    parameters = parameters_read(BallotParameters, request.POST)
    by = _acting_voice(request, assembly_id, parameters["by"])
    if parameters["voice"] == by.pk:
        voice, holder, prefix = by, None, None
    else:
        voice = get_object_or_404(
            Voice.objects.select_related("organisation"),
            pk=parameters["voice"],
            assembly_id=assembly_id,
            proxies_given__holder=by,
            proxies_given__revoked_at__isnull=True,
        )
        holder, prefix = by, f"voice-{voice.pk}"
    resolutions = list(voice.assembly.resolutions.order_by("position", "pk"))
    form = BallotForm(request.POST, resolutions=resolutions, prefix=prefix, auto_id=_auto_id(by))
    if not form.is_valid():
        if voice.assembly.state != AssemblyState.VOTING:
            return _refused(request, assembly_id, ValidationError(_("Le vote n’est pas ouvert.")))
        return _page(request, assembly_id, bound={("ballot", voice.pk): form})
    try:
        ballot_cast(
            voice=voice, choices=form.choices(), channel=BallotChannel.ONLINE, holder=holder
        )
    except ValidationError as exc:
        return _refused(request, assembly_id, exc)
    if holder is None:
        text = _("Le vote de %(organisation)s est enregistré.")
    else:
        text = _("Le vote au nom de %(organisation)s est enregistré.")
    messages.success(request, text % {"organisation": voice.organisation})
    return _back(assembly_id)


@login_required
@require_POST
def member_voter_designate(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """A primary contact designates which of the organisation's contacts votes for it."""
    voice = get_object_or_404(
        _convened_voices(request, assembly_id).select_related("organisation"),
        pk=parameters_read(VoiceParameters, request.POST)["voice"],
    )
    organisation = voice.organisation
    form = VoterForm(request.POST, organisation=organisation, auto_id=_auto_id(voice))
    if not form.is_valid():
        return _page(request, assembly_id, bound={("voter", voice.pk): form})
    contact = form.cleaned_data["contact"]
    try:
        voter_designate(organisation=organisation, contact=contact, by=request.user)
    except ValidationError as exc:
        return _refused(request, assembly_id, exc)
    messages.success(
        request,
        _("%(contact)s vote désormais pour %(organisation)s.")
        % {"contact": contact.full_name or contact.email, "organisation": organisation},
    )
    return _back(assembly_id)


@login_required
@require_GET
def member_assembly_document(request: HttpRequest, document_id: int) -> FileResponse:
    """A document file of an assembly, to the contacts of the organisations convened to it and
    to the staff of its cluster; a link is shown as a link, not served here."""
    document = get_object_or_404(
        documents_readable_by(request.user).exclude(file=""), pk=document_id
    )
    try:
        content = document.file.open("rb")
    except FileNotFoundError as exc:  # the row outlived its file (a restore without the media)
        raise Http404 from exc
    return FileResponse(content, filename=document.file.name.rsplit("/", 1)[-1])


# --- The minutes --------------------------------------------------------------------------------


def _minutes_response(request: HttpRequest, assembly) -> HttpResponse:
    language = parameters_read(MinutesLanguageForm, request.GET)["language"]
    content = minutes_pdf(assembly=assembly, language=language or get_language() or "fr")
    return pdf_response(content, filename=minutes_filename(assembly))


@require_safe
def minutes_staff_pdf(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The minutes of an assembly of a cluster the staff user sees, signed or still a draft,
    in the page's language or ``?language=``; another cluster's assembly is not found."""
    assembly = get_object_or_404(assemblies_visible_to(request.user), pk=assembly_id)
    return _minutes_response(request, assembly)


@require_POST
def minutes_staff_sign(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """Record the chair's or the secretary's signature (``role``) on the minutes of an assembly
    of the user's own cluster; the committee reads them and signs nothing. A refusal (not closed,
    signed already: a double click) is said as a message, never an error page."""
    assembly = get_object_or_404(assemblies_visible_to(request.user), pk=assembly_id)
    if not assemblies_managed_by(request.user).filter(pk=assembly.pk).exists():
        raise PermissionDenied
    role = parameters_read(MinutesSignForm, request.POST)["role"]
    try:
        minutes_sign(assembly=assembly, role=role, by=request.user)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(
            request,
            _("Signature du %(role)s enregistrée sur le procès-verbal.")
            % {"role": str(Signatory(role).label).lower()},
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    # Not redirect(): it would take a posted "next" for the name of a view to look up.
    return HttpResponseRedirect(next_url)


@login_required
@require_safe
def minutes_member_pdf(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The signed minutes, for a contact of an organisation convened to the assembly; not found
    before both signatures, or for anyone else."""
    assembly = get_object_or_404(minutes_signed(assemblies_convening(request.user)), pk=assembly_id)
    return _minutes_response(request, assembly)


# The consultation on the successor's name --------------------------------------------------


def _consultation_organisations(request: HttpRequest, consultation: NameConsultation) -> list:
    """The user's organisations, each with whether it takes part and the contact acting for it."""
    eligible = set(
        organisations_eligible(consultation=consultation)
        .filter(pk__in=organisations_of(request.user))
        .values_list("pk", flat=True)
    )
    return [
        {
            "organisation": organisation,
            "eligible": organisation.pk in eligible,
            "acting": contact_acting_for(user=request.user, organisation=organisation),
            "voted": consultation.ballots.filter(organisation=organisation).exists(),
        }
        for organisation in organisations_of(request.user).order_by("name")
    ]


def _consultation_for(request: HttpRequest, consultation_id: int) -> NameConsultation:
    """The consultation ``consultation_id``, for a user who is a contact of an organisation."""
    if not organisations_of(request.user).exists():
        raise Http404
    return get_object_or_404(consultations_for_members(), pk=consultation_id)


@login_required
@require_GET
def name_consultation(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """The consultation on the successor's name: its phase and dates, how the vote counts, the
    user's organisations (what each may do), the names on the ballot and, once published, the
    result."""
    consultation = _consultation_for(request, consultation_id)
    published = consultation.phase == ConsultationPhase.PUBLISHED
    return render(
        request,
        "assemblies/name_consultation.html",
        {
            "consultation": consultation,
            "organisations": _consultation_organisations(request, consultation),
            "candidates": candidates(consultation=consultation),
            "result": consultation_result(consultation=consultation) if published else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def name_consultation_organisation(
    request: HttpRequest, consultation_id: int, organisation_id: int
) -> HttpResponse:
    """What an organisation does in the consultation, by the one who acts for it (a primary
    contact or its designated voter): while proposals are open, propose names and see what
    became of them; while the vote is open, its approval ballot."""
    consultation = _consultation_for(request, consultation_id)
    organisation = get_object_or_404(organisations_of(request.user), pk=organisation_id)
    contact = contact_acting_for(user=request.user, organisation=organisation)
    if contact is None:
        raise PermissionDenied(
            _(
                "Seuls les contacts principaux de l’organisation et son votant désigné agissent "
                "pour elle dans la consultation."
            )
        )
    voting = consultation.phase == ConsultationPhase.VOTING
    names = candidates(consultation=consultation)
    # Bound on every POST, an empty one included: a ballot approving nothing is an error.
    data = request.POST if request.method == "POST" else None
    form = NameBallotForm(data, candidates=names) if voting else NameProposalForm(data)
    if request.method == "POST" and form.is_valid():
        try:
            if voting:
                name_ballot_cast(
                    consultation=consultation,
                    organisation=organisation,
                    approved=[name.pk for name in form.cleaned_data["approved"]],
                )
                done = _("Le bulletin de %(organisation)s est enregistré. Merci !")
            else:
                name_propose(
                    consultation=consultation,
                    organisation=organisation,
                    contact=contact,
                    **form.cleaned_data,
                )
                done = _("La proposition de %(organisation)s est enregistrée.")
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, done % {"organisation": organisation.name})
            return redirect(request.path)
    return render(
        request,
        "assemblies/name_consultation_organisation.html",
        {
            "consultation": consultation,
            "organisation": organisation,
            "form": form,
            "voting": voting,
            "voted": consultation.ballots.filter(organisation=organisation).exists(),
            "eligible": organisations_eligible(consultation=consultation)
            .filter(pk=organisation.pk)
            .exists(),
            "proposals": proposals_of(consultation=consultation, organisation=organisation),
            "counted": proposals_counted(consultation=consultation, organisation=organisation),
        },
    )
