"""*Doublons possibles*: the two records side by side; merge them (choosing the one that stays),
undo a merge, or say “not a duplicate”."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Organisation

from ..models import DuplicatePair
from ..selectors import duplicate_pair_merge, duplicate_pair_review
from ..services import duplicate_dismiss, duplicate_merge, duplicate_merge_undo, duplicates_refresh
from .base import MergerRecordAdmin
from .forms import MergeForm, ReasonForm


@admin.register(DuplicatePair)
class DuplicatePairAdmin(MergerRecordAdmin):
    list_display = ("record_a", "record_b", "score_display", "reasons_display", "state")
    list_filter = ("state",)
    list_select_related = ("organisation_a", "organisation_b")
    search_fields = (
        "organisation_a__name",
        "organisation_b__name",
        "organisation_a__siren",
        "organisation_b__siren",
    )
    search_help_text = gettext_lazy("Raison sociale ou SIREN de l’une des deux fiches.")
    ordering = ("-score", "pk")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("find/", view(self.find_view), name="merger_duplicatepair_find"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": _("Doublons possibles"),
            **(extra_context or {}),
            "can_review": request.user.has_perm("merger.change_duplicatepair"),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("fiche A"), ordering="organisation_a__name")
    def record_a(self, pair: DuplicatePair) -> str:
        return _record_label(pair.organisation_a)

    @admin.display(description=gettext_lazy("fiche B"), ordering="organisation_b__name")
    def record_b(self, pair: DuplicatePair) -> str:
        return _record_label(pair.organisation_b)

    @admin.display(description=gettext_lazy("score"), ordering="score")
    def score_display(self, pair: DuplicatePair) -> str:
        return f"{pair.score:.2f}"

    @admin.display(description=gettext_lazy("raisons"))
    def reasons_display(self, pair: DuplicatePair) -> str:
        return ", ".join(pair.reason_labels)

    def find_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("merger.change_duplicatepair"):
            raise PermissionDenied
        result = duplicates_refresh()
        messages.success(
            request,
            _("%(count)d doublon(s) possible(s) à examiner, dont %(new)d nouveau(x).")
            % {"count": len(result.pairs), "new": result.created},
        )
        # Back to the list as it was filtered, searched and sorted when the button was pressed.
        filters = QueryDict(request.POST.get("_changelist_filters", "")).urlencode()
        changelist = reverse("admin:merger_duplicatepair_changelist")
        return HttpResponseRedirect(f"{changelist}?{filters}" if filters else changelist)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pair = (
            self.get_queryset(request).filter(pk=object_id).first()
            if str(object_id).isdigit()
            else None
        )
        if pair is None:
            raise Http404(_("Aucun doublon ne correspond à cette adresse."))
        if not self.has_view_permission(request, pair):
            raise PermissionDenied
        can_review = request.user.has_perm("merger.change_duplicatepair")
        merge = duplicate_pair_merge(pair=pair)
        merge_form = MergeForm(
            request.POST if request.POST.get("do") == "merge" else None, pair=pair
        )
        reason_form = ReasonForm(
            request.POST if request.POST.get("do") in ("dismiss", "undo") else None
        )
        if request.method == "POST":
            if not can_review:
                raise PermissionDenied
            try:
                done = self._review(request, pair, merge, merge_form, reason_form)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                done = False
            if done:
                return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Doublon possible : %(a)s ↔ %(b)s")
            % {"a": pair.organisation_a, "b": pair.organisation_b},
            "original": pair,
            "pair": pair,
            "merge": merge,
            "records": duplicate_pair_review(pair=pair),
            "merge_form": merge_form,
            "reason_form": reason_form,
            "can_review": can_review,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/merger/duplicatepair/compare.html", context)

    def _review(self, request, pair, merge, merge_form, reason_form) -> bool:
        action = request.POST.get("do")
        if action == "merge" and merge_form.is_valid():
            survivor = merge_form.cleaned_data["survivor"]
            duplicate_merge(
                pair=pair,
                survivor=survivor,
                by=request.user,
                reason=merge_form.cleaned_data["reason"],
            )
            messages.success(
                request,
                _("Fiches fusionnées : « %(name)s » est conservée, l’autre y est rattachée.")
                % {"name": survivor.name},
            )
            return True
        if action == "dismiss" and reason_form.is_valid():
            duplicate_dismiss(pair=pair, by=request.user, reason=reason_form.cleaned_data["reason"])
            messages.success(request, _("Noté : ces deux fiches ne seront plus proposées."))
            return True
        if action == "undo" and merge is not None and reason_form.is_valid():
            duplicate_merge_undo(
                merge=merge, by=request.user, reason=reason_form.cleaned_data["reason"]
            )
            messages.success(
                request, _("Fusion des fiches annulée : les deux fiches sont séparées.")
            )
            return True
        messages.error(request, _("Indiquez le motif : il est gardé dans l’historique."))
        return False


def _record_label(organisation: Organisation) -> str:
    identifier = organisation.siret or (
        _("SIREN %(siren)s") % {"siren": organisation.siren}
        if organisation.siren
        else _("sans SIRET")
    )
    return f"{organisation.name} · {identifier} · {organisation.postcode or '–'}"
