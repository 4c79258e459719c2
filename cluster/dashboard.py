"""The admin's home page: a dashboard per role, each figure a link to the list behind it.

- Membership staff see their clusters' work (:func:`members.selectors.cluster_dashboards`):
  renewals due this month and the next, invoices left to pay, transfers to record, invoices to
  refund, memberships lapsed this month, reminders and payment follow-ups that failed, the
  latest imports.
- The merger committee sees the merger (:func:`merger.selectors.merger_dashboard`): its steps
  as its page shows them (:func:`merger.selectors.merger_steps`), each linked to where it is
  done, its proposals by decision and flag, its notices and objections, the days to its
  effective date.
- Superusers see both, a section per cluster.

The figures are read by the selectors; this module only turns them into labels and links. Each
link leads to the admin list filtered by the filter that counts with the same selector, so that
the list shows as many rows as the figure says. A constant number of queries, whatever the number
of memberships, clusters or proposals.
"""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.admin.billing import InvoiceStatusFilter, InvoiceToCollectFilter
from members.admin.memberships import MembershipDueFilter
from members.formatting import long_date, money, month, short_date
from members.models import InvoiceStatus, PaymentFollowUpState, ReminderState
from members.selectors import ClusterDashboard, cluster_dashboards, clusters_managed_by
from merger.admin.filters import FlagFilter, InformedFilter, ObjectionFilter
from merger.models import FLAGS, UNDECIDED, Decision, DuplicatePair, MergerNotice, TransferProposal
from merger.selectors import (
    MergerDashboard,
    MergerStep,
    merger_current,
    merger_dashboard,
    merger_steps,
)


@dataclass(frozen=True)
class Figure:
    """One figure of a dashboard: its ``label``, its ``value`` as shown, the ``url`` of the list
    behind it, maybe a ``detail`` (an amount) and a ``note`` under it (linked to ``note_url``).
    ``alert`` draws the eye (something failed); ``quiet`` dims it (nothing to do)."""

    label: str
    value: str
    url: str
    detail: str = ""
    note: str = ""
    note_url: str = ""
    alert: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class Step:
    """A step of the merger as the merger's page says it (:class:`merger.selectors.MergerStep`:
    its name, its state, what is done or left) and the page where it is done (``url``)."""

    step: MergerStep
    url: str


@dataclass
class Section:
    """A part of the dashboard: a ``title``, its figures in groups (a heading and figures), and
    what else it shows (the steps of the merger, the latest imports)."""

    title: str
    url: str = ""
    subtitle: str = ""
    groups: list[tuple[str, list[Figure]]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    imports: list = field(default_factory=list)
    imports_url: str = ""
    imports_label: str = ""


def list_url(name: str, **parameters) -> str:
    """The admin list ``name`` (``app_model``) filtered by ``parameters``."""
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(parameters)}" if parameters else url


def count_figure(label: str, count: int, url: str, *, alert: bool = False, **extra) -> Figure:
    return Figure(label, str(count), url, alert=alert and count > 0, quiet=count == 0, **extra)


def cluster_section(dashboard: ClusterDashboard) -> Section:
    """The figures of a cluster's dashboard, each linked to its list."""
    cluster = dashboard.cluster.pk
    by_cluster = {"cluster__id__exact": cluster}

    def memberships_due(value: str) -> str:
        return list_url(
            "members_membership", **{MembershipDueFilter.parameter_name: value}, **by_cluster
        )

    to_collect = InvoiceToCollectFilter.parameter_name
    oldest = dashboard.oldest_unpaid
    unpaid_note = unpaid_note_url = ""
    if oldest is not None:
        unpaid_note = _("la plus ancienne : %(number)s du %(date)s") % {
            "number": oldest.number,
            "date": short_date(oldest.issued_on),
        }
        unpaid_note_url = reverse("admin:members_invoice_change", args=[oldest.pk])
    return Section(
        title=str(dashboard.cluster),
        url=reverse("admin:members_cluster_change", args=[cluster]),
        groups=[
            (
                _("Adhésions"),
                [
                    count_figure(
                        _("à renouveler en %(month)s") % {"month": month(dashboard.this_month)},
                        dashboard.renewals_this_month,
                        memberships_due(MembershipDueFilter.RENEWAL_THIS_MONTH),
                    ),
                    count_figure(
                        _("à renouveler en %(month)s") % {"month": month(dashboard.next_month)},
                        dashboard.renewals_next_month,
                        memberships_due(MembershipDueFilter.RENEWAL_NEXT_MONTH),
                    ),
                    count_figure(
                        _("expirées en %(month)s") % {"month": month(dashboard.this_month)},
                        dashboard.lapsed_this_month,
                        memberships_due(MembershipDueFilter.LAPSED_THIS_MONTH),
                    ),
                ],
            ),
            (
                _("Paiements"),
                [
                    count_figure(
                        ngettext("facture impayée", "factures impayées", dashboard.unpaid_invoices),
                        dashboard.unpaid_invoices,
                        list_url(
                            "members_invoice",
                            **{to_collect: InvoiceToCollectFilter.UNPAID},
                            **by_cluster,
                        ),
                        detail=_("%(amount)s à encaisser")
                        % {"amount": money(dashboard.unpaid_amount)},
                        note=unpaid_note,
                        note_url=unpaid_note_url,
                    ),
                    count_figure(
                        ngettext(
                            "virement à enregistrer",
                            "virements à enregistrer",
                            dashboard.transfers_to_record,
                        ),
                        dashboard.transfers_to_record,
                        list_url(
                            "members_invoice",
                            **{to_collect: InvoiceToCollectFilter.TRANSFER},
                            **by_cluster,
                        ),
                        note=_("factures sans paiement par carte en cours"),
                    ),
                    count_figure(
                        _("À rembourser"),
                        dashboard.to_refund,
                        list_url(
                            "members_invoice",
                            **{InvoiceStatusFilter.parameter_name: InvoiceStatus.OVERPAID},
                            **by_cluster,
                        ),
                        alert=True,
                        detail=_("%(amount)s de trop-perçu")
                        % {"amount": money(dashboard.to_refund_amount)},
                        note=_("factures payées au-delà du dû ou annulées après paiement"),
                    ),
                ],
            ),
            (
                _("Relances"),
                [
                    count_figure(
                        ngettext(
                            "relance en échec", "relances en échec", dashboard.reminders_failed
                        ),
                        dashboard.reminders_failed,
                        list_url(
                            "members_reminder",
                            state__exact=ReminderState.FAILED,
                            term__membership__cluster__id__exact=cluster,
                        ),
                        alert=True,
                        note=_("à renvoyer une fois la cause corrigée"),
                    ),
                    count_figure(
                        ngettext(
                            "relance de paiement en échec",
                            "relances de paiement en échec",
                            dashboard.payment_follow_ups_failed,
                        ),
                        dashboard.payment_follow_ups_failed,
                        list_url(
                            "members_paymentfollowup",
                            state__exact=PaymentFollowUpState.FAILED,
                            invoice__cluster__id__exact=cluster,
                        ),
                        alert=True,
                        note=_("factures impayées dont la relance n’a pas pu partir"),
                    ),
                ],
            ),
        ],
        imports=dashboard.last_imports,
        imports_url=list_url("members_importrecord", **by_cluster),
        imports_label=ngettext(
            "%(count)s import en tout", "%(count)s imports en tout", dashboard.imports
        )
        % {"count": dashboard.imports},
    )


def days_left_label(dashboard: MergerDashboard) -> str:
    """How far the effective date is, in words."""
    merger = dashboard.merger
    if dashboard.effective:
        return _("Effective depuis le %(date)s") % {"date": long_date(merger.effective_date)}
    days = dashboard.days_left
    values = {"date": long_date(merger.planned_date), "days": abs(days)}
    if days > 0:
        return (
            ngettext(
                "Date d’effet prévue le %(date)s : dans %(days)s jour",
                "Date d’effet prévue le %(date)s : dans %(days)s jours",
                days,
            )
            % values
        )
    if days == 0:
        return _("Date d’effet prévue aujourd’hui, le %(date)s") % values
    return (
        ngettext(
            "Date d’effet prévue le %(date)s, dépassée de %(days)s jour",
            "Date d’effet prévue le %(date)s, dépassée de %(days)s jours",
            -days,
        )
        % values
    )


def merger_section(dashboard: MergerDashboard, steps: list[MergerStep]) -> Section:
    """The figures of the merger's dashboard, each linked to its list, and its ``steps``
    (:func:`merger.selectors.merger_steps`), each linked to the list or page where it is done."""
    merger_url = reverse("admin:merger_merger_change", args=[dashboard.merger.pk])
    proposals = "merger_transferproposal"
    notices = "merger_mergernotice"
    decisions = dashboard.by_decision
    urls = {
        "duplicates": list_url("merger_duplicatepair", state__exact=DuplicatePair.State.OPEN),
        "date": merger_url,
        "propose": list_url(proposals),
        "decide": list_url(proposals, decision__in=",".join(UNDECIDED)),
        "notify": list_url(
            proposals,
            decision__exact=Decision.APPROVED,
            **{InformedFilter.parameter_name: "no"},
        ),
        "execute": list_url(proposals, decision__exact=Decision.APPROVED),
    }
    decision_figures = [
        count_figure(
            capfirst(Decision(value).label),
            decisions[value],
            list_url(proposals, decision__exact=value),
        )
        for value in Decision.values
    ]
    flag_figures = [
        count_figure(
            _("Au moins un signalement"),
            dashboard.flagged,
            list_url(proposals, **{FlagFilter.parameter_name: "any"}),
        ),
        *(
            count_figure(
                capfirst(TransferProposal._meta.get_field(name).verbose_name),
                dashboard.by_flag[name],
                list_url(proposals, **{FlagFilter.parameter_name: name}),
                alert=name in ("objection", "facts_changed"),
            )
            for name in FLAGS
        ),
    ]
    notice_figures = [
        count_figure(
            capfirst(MergerNotice.State(value).label),
            dashboard.notices[value],
            list_url(notices, state__exact=value),
            alert=value == MergerNotice.State.FAILED,
        )
        for value in (
            MergerNotice.State.SENT,
            MergerNotice.State.PENDING,
            MergerNotice.State.FAILED,
        )
    ]
    notice_figures += [
        count_figure(
            _("Oppositions reçues"),
            dashboard.objections,
            list_url(notices, **{ObjectionFilter.parameter_name: "yes"}),
            alert=True,
        ),
        count_figure(
            _("Oppositions après exécution"),
            dashboard.late_objections,
            list_url(notices, late_objection="yes"),
            alert=True,
        ),
    ]
    subtitle = days_left_label(dashboard)
    if dashboard.proposals_as_of:
        subtitle += " · " + _("propositions établies au %(date)s") % {
            "date": short_date(dashboard.proposals_as_of)
        }
    return Section(
        title=capfirst(str(dashboard.merger)),
        url=merger_url,
        subtitle=f"{dashboard.merger.get_status_display()} · {subtitle}",
        steps=[Step(step, urls[step.key]) for step in steps],
        groups=[
            (_("Propositions par décision"), decision_figures),
            (_("Propositions par signalement"), flag_figures),
            (_("Informations des membres"), notice_figures),
        ],
    )


def admin_dashboard(request) -> list[Section]:
    """The sections of the admin's home page for ``request.user``: the merger for those who
    follow it, then each cluster the user manages."""
    user = request.user
    today = timezone.localdate()
    sections = []
    if user.has_perm("merger.view_transferproposal"):
        merger = merger_current()
        if merger is not None:
            sections.append(
                merger_section(
                    merger_dashboard(merger=merger, today=today), merger_steps(merger=merger)
                )
            )
    if user.has_perm("members.view_membership"):
        sections += [
            cluster_section(dashboard)
            for dashboard in cluster_dashboards(clusters=clusters_managed_by(user), today=today)
        ]
    return sections
