"""The merger of the source clusters into their successor, as data: the merger itself and its
history, the plan mapping, the transfer proposals and the committee's decisions, the duplicate
pairs of organisation records and their merges, and the notices sent to members (GDPR).

Nothing here is ever deleted by the product: a decision, a postponement, a merge undone or a
notice sent stays in its log, with who, when and why.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.formatting import short_datetime
from members.models import Cluster, Contact, MailState, Membership, Organisation, Plan


class Merger(models.Model):
    """The merger of source clusters into a successor cluster: its status, its planned and actual
    effective dates, and the member numbers it gave. Every change is logged in
    :class:`MergerEvent`."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Prévue")
        SCHEDULED = "scheduled", _("Date arrêtée")
        POSTPONED = "postponed", _("Reportée")
        EFFECTIVE = "effective", _("Effective")

    name = models.CharField(_("nom"), max_length=200)
    successor = models.OneToOneField(
        Cluster,
        verbose_name=_("cluster successeur"),
        on_delete=models.PROTECT,
        related_name="merger",
    )
    sources = models.ManyToManyField(
        Cluster, verbose_name=_("clusters sources"), related_name="mergers_as_source"
    )
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    planned_date = models.DateField(
        _("date d’effet prévue"),
        help_text=_(
            "Premier jour des adhésions au cluster successeur ; les propositions sont établies à "
            "cette date."
        ),
    )
    effective_date = models.DateField(
        _("date d’effet réelle"),
        null=True,
        blank=True,
        help_text=_("Fixée à la première exécution des transferts."),
    )
    last_member_number = models.PositiveIntegerField(_("dernier n° d’adhérent attribué"), default=0)
    align_on_successor_year = models.BooleanField(
        _("aligner les adhésions sur l’année du successeur"),
        default=False,
        help_text=_(
            "À l’exécution, la première période au successeur va de la date d’effet à la fin de "
            "l’année d’adhésion du successeur, au prorata selon sa règle, diminuée de la valeur "
            "des jours déjà payés aux clusters sources au-delà de la date d’effet (deux fois pour "
            "un membre payé aux deux). Sinon, le membre garde la période qu’il a payée."
        ),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("fusion")
        verbose_name_plural = _("fusions")
        ordering = ["planned_date"]
        permissions = [("execute_merger", _("Exécuter les transferts de la fusion"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="effective", effective_date__isnull=False)
                | (~models.Q(status="effective") & models.Q(effective_date__isnull=True)),
                name="merger_effective_date_iff_effective",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MergerEvent(models.Model):
    """One line of a merger's history: a change of status or date (postponements included), the
    proposals refreshed, the notices sent, an execution; who did it, when and why."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Création")
        CHANGED = "changed", _("Statut ou date modifiés")
        POSTPONED = "postponed", _("Report")
        MAPPING = "mapping", _("Correspondance des formules modifiée")
        PROPOSED = "proposed", _("Propositions établies")
        NOTIFIED = "notified", _("Information des membres")
        EXECUTED = "executed", _("Exécution des transferts")
        ADOPTED = "adopted", _("Adoption par l’assemblée d’un cluster source")
        RENAMED = "renamed", _("Nom du successeur donné")

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("nature"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("le"), auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    status_before = models.CharField(
        _("statut avant"), max_length=10, choices=Merger.Status.choices, blank=True
    )
    status_after = models.CharField(
        _("statut après"), max_length=10, choices=Merger.Status.choices, blank=True
    )
    date_before = models.DateField(_("date prévue avant"), null=True, blank=True)
    date_after = models.DateField(_("date prévue après"), null=True, blank=True)
    reason = models.TextField(_("motif"), blank=True)
    details = models.JSONField(_("détails"), default=dict, blank=True)

    class Meta:
        verbose_name = _("événement de la fusion")
        verbose_name_plural = _("historique de la fusion")
        ordering = ["merger", "-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {short_datetime(self.at)}"


class MergerAdoption(models.Model):
    """The resolution by which a source cluster's extraordinary general assembly adopted the
    merger, recorded by the committee once the vote is closed and the minutes signed (see
    :func:`merger.services.merger_adoption_record`). The merger is scheduled only when each
    source cluster has one."""

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.CASCADE, related_name="adoptions"
    )
    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster source"), on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.ForeignKey(
        "assemblies.Resolution",
        verbose_name=_("résolution adoptée"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistrée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("enregistrée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("adoption par l’assemblée")
        verbose_name_plural = _("adoptions par les assemblées")
        ordering = ["merger", "cluster__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["merger", "cluster"], name="merger_adoption_once_per_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} · {self.resolution}"


class PlanMapping(models.Model):
    """Which successor plan a source plan's members move to. Pre-filled by category; editable by
    the committee until the transfers are executed."""

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.CASCADE, related_name="plan_mappings"
    )
    source_plan = models.ForeignKey(
        Plan, verbose_name=_("formule source"), on_delete=models.PROTECT, related_name="+"
    )
    successor_plan = models.ForeignKey(
        Plan,
        verbose_name=_("formule du successeur"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "Vide : les membres de cette formule sont signalés « formule sans équivalent »."
        ),
    )

    class Meta:
        verbose_name = _("correspondance de formule")
        verbose_name_plural = _("correspondance des formules")
        ordering = ["merger", "source_plan__cluster__name", "source_plan__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["merger", "source_plan"], name="planmapping_unique_source_plan"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_plan.cluster} · {self.source_plan} → {self.successor_plan or '–'}"


class Decision(models.TextChoices):
    """Where a transfer proposal stands: the committee's decision, or its execution."""

    PENDING = "pending", _("À décider")
    APPROVED = "approved", _("Approuvée")
    REJECTED = "rejected", _("Refusée")
    DEFERRED = "deferred", _("Ajournée")
    EXECUTED = "executed", _("Exécutée")


#: The decisions a committee member takes (execution is not one of them).
DECISIONS = (Decision.APPROVED, Decision.REJECTED, Decision.DEFERRED)
#: Proposals still waiting for the committee.
UNDECIDED = (Decision.PENDING, Decision.DEFERRED)


class TransferProposal(models.Model):
    """What one organisation's source membership(s) become in the successor, with the evidence
    and the committee's decision.

    The facts (memberships, plan, member since, paid through, credit, old numbers, flags) are
    computed by :func:`merger.services.proposals_refresh` as of a date; ``decided_facts`` keeps
    those the decision was taken on, so that a refresh after a postponement flags
    (``facts_changed``) a decided proposal whose facts moved, and the execution holds it back.
    ``version`` grows with each decision: two committee members deciding at once, the second is
    told that the first did.
    """

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.CASCADE, related_name="proposals"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="transfer_proposals",
    )
    source_memberships = models.ManyToManyField(
        Membership,
        verbose_name=_("adhésions sources"),
        related_name="transfer_proposals",
        blank=True,
    )
    origin = models.CharField(
        _("origine"),
        max_length=50,
        help_text=_("Identifiant du cluster source, ou « both » pour un membre des deux."),
    )
    members_of_both = models.BooleanField(_("membre des deux clusters"), default=False)
    successor_plan = models.ForeignKey(
        Plan,
        verbose_name=_("formule du successeur"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    member_since = models.DateField(_("adhérent depuis"), null=True, blank=True)
    paid_through = models.DateField(_("payée jusqu’au"), null=True, blank=True)
    credit = models.DecimalField(
        _("avoir (€)"),
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text=_("Montant payé deux fois, aux deux clusters, pour la même période."),
    )
    old_member_numbers = models.CharField(_("anciens n° d’adhérent"), max_length=200, blank=True)
    no_siret = models.BooleanField(_("sans SIRET"), default=False)
    unpaid = models.BooleanField(_("impayé"), default=False)
    plan_unmapped = models.BooleanField(_("formule sans équivalent"), default=False)
    objection = models.BooleanField(_("opposition reçue"), default=False)
    facts_changed = models.BooleanField(
        _("faits modifiés depuis la décision"),
        default=False,
        help_text=_("La décision doit être reprise : l’exécution ne la transfère pas en l’état."),
    )
    as_of = models.DateField(_("établie au"))
    facts = models.JSONField(_("faits"), default=dict)
    decided_facts = models.JSONField(_("faits de la décision"), default=dict, blank=True)
    decision = models.CharField(
        _("décision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("décidée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("décidée le"), null=True, blank=True)
    decision_reason = models.TextField(_("motif de la décision"), blank=True)
    version = models.PositiveIntegerField(_("version"), default=0)
    successor_membership = models.OneToOneField(
        Membership,
        verbose_name=_("adhésion au successeur"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transfer_proposal",
    )
    executed_at = models.DateTimeField(_("exécutée le"), null=True, blank=True)
    alignment = models.JSONField(
        _("calcul de l’alignement"),
        default=dict,
        blank=True,
        help_text=_(
            "Exécutée avec l’alignement sur l’année du successeur : la cotisation de la première "
            "période au prorata, chaque période source payée au-delà de la date d’effet et sa "
            "valeur déduite, la cotisation due, et les avoirs émis pour ce qui dépasse."
        ),
    )
    objection_after_execution = models.DateTimeField(
        _("opposition après exécution"),
        null=True,
        blank=True,
        help_text=_(
            "Première opposition reçue d’un contact une fois le transfert exécuté : le transfert "
            "est fait, le comité de fusion en est informé."
        ),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("mise à jour le"), auto_now=True)

    class Meta:
        verbose_name = _("proposition de transfert")
        verbose_name_plural = _("propositions de transfert")
        ordering = ["organisation__name", "pk"]
        permissions = [("decide_transferproposal", _("Décider des propositions de transfert"))]
        constraints = [
            models.UniqueConstraint(
                fields=["merger", "organisation"], name="transferproposal_unique_organisation"
            ),
            models.CheckConstraint(
                condition=models.Q(decision="executed", successor_membership__isnull=False)
                | (~models.Q(decision="executed") & models.Q(successor_membership__isnull=True)),
                name="transferproposal_executed_iff_successor_membership",
            ),
            models.CheckConstraint(
                condition=models.Q(objection_after_execution__isnull=True)
                | models.Q(decision="executed"),
                name="transferproposal_late_objection_executed",
            ),
        ]
        indexes = [models.Index(fields=["merger", "decision"], name="proposal_decision_idx")]

    def __str__(self) -> str:
        return str(self.organisation)

    @property
    def flags(self) -> list[str]:
        """The labels of the flags raised on this proposal."""
        return [
            str(self._meta.get_field(name).verbose_name) for name in FLAGS if getattr(self, name)
        ]


#: The flags of a proposal, which ask the committee to look closer.
FLAGS = ("no_siret", "unpaid", "plan_unmapped", "objection", "facts_changed")


class TransferDecision(models.Model):
    """The log of the committee's decisions on a proposal: each one, who took it, when, why."""

    proposal = models.ForeignKey(
        TransferProposal,
        verbose_name=_("proposition"),
        on_delete=models.CASCADE,
        related_name="decisions",
    )
    decision = models.CharField(_("décision"), max_length=10, choices=Decision.choices)
    previous = models.CharField(_("décision précédente"), max_length=10, choices=Decision.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("par"), on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("le"), auto_now_add=True)
    reason = models.TextField(_("motif"))
    facts = models.JSONField(_("faits"), default=dict)

    class Meta:
        verbose_name = _("décision de transfert")
        verbose_name_plural = _("décisions de transfert")
        ordering = ["proposal", "-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} · {short_datetime(self.at)}"


class DuplicatePair(models.Model):
    """Two organisation records that may be one company, found by
    :func:`merger.services.duplicates_refresh`, with a score and its reasons, and what the committee
    made of them: merged, or "not a duplicate" (never proposed again)."""

    class State(models.TextChoices):
        OPEN = "open", _("À examiner")
        MERGED = "merged", _("Fusionnées")
        NOT_DUPLICATE = "distinct", _("Pas un doublon")

    class Reason(models.TextChoices):
        SAME_SIREN = "same_siren", _("Même SIREN, autre SIRET")
        SIREN_ONLY = "siren_only", _("Fiche sans SIRET au SIREN d’un SIRET")
        SAME_NAME = "same_name", _("Même nom une fois normalisé")
        CLOSE_NAME = "close_name", _("Noms proches")
        SAME_POSTCODE = "same_postcode", _("Même code postal")
        SAME_DOMAIN = "same_domain", _("Même domaine d’e-mail")

    organisation_a = models.ForeignKey(
        Organisation, verbose_name=_("fiche A"), on_delete=models.CASCADE, related_name="+"
    )
    organisation_b = models.ForeignKey(
        Organisation, verbose_name=_("fiche B"), on_delete=models.CASCADE, related_name="+"
    )
    score = models.FloatField(_("score"))
    reasons = models.JSONField(_("raisons"), default=list)
    state = models.CharField(_("état"), max_length=8, choices=State.choices, default=State.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("décidé par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("décidé le"), null=True, blank=True)
    decision_reason = models.TextField(_("motif"), blank=True)
    found_at = models.DateTimeField(_("trouvée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("mise à jour le"), auto_now=True)

    class Meta:
        verbose_name = _("doublon possible")
        verbose_name_plural = _("doublons possibles")
        ordering = ["-score", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation_a", "organisation_b"], name="duplicatepair_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(organisation_a__lt=models.F("organisation_b")),
                name="duplicatepair_ordered",
            ),
        ]
        indexes = [models.Index(fields=["state", "-score"], name="duplicatepair_state_idx")]

    def __str__(self) -> str:
        return f"{self.organisation_a} ↔ {self.organisation_b}"

    @property
    def reason_labels(self) -> list[str]:
        """The reasons, stored as codes (:class:`Reason`), in the reader's language: how every
        page shows them."""
        labels = dict(self.Reason.choices)
        return [str(labels.get(reason, reason)) for reason in self.reasons]


class OrganisationMerge(models.Model):
    """Two organisation records merged into one by the committee: what moved from the
    ``absorbed`` record (which stays, as an alias of the ``survivor``) so that the merge can be
    undone until the merger executes."""

    pair = models.ForeignKey(
        DuplicatePair,
        verbose_name=_("doublon"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merges",
    )
    survivor = models.ForeignKey(
        Organisation, verbose_name=_("fiche conservée"), on_delete=models.PROTECT, related_name="+"
    )
    absorbed = models.ForeignKey(
        Organisation,
        verbose_name=_("fiche rattachée"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    membership_ids = models.JSONField(_("adhésions déplacées"), default=list)
    contact_ids = models.JSONField(_("contacts déplacés"), default=list)
    removed_contacts = models.JSONField(
        _("contacts en double retirés"),
        default=list,
        help_text=_(
            "Contacts de la fiche rattachée dont l’e-mail était déjà sur la fiche conservée."
        ),
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("par"), on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("le"), auto_now_add=True)
    reason = models.TextField(_("motif"))
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("annulée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    undone_at = models.DateTimeField(_("annulée le"), null=True, blank=True)
    undo_reason = models.TextField(_("motif de l’annulation"), blank=True)

    class Meta:
        verbose_name = _("fusion de fiches")
        verbose_name_plural = _("fusions de fiches")
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["absorbed"],
                condition=models.Q(undone_at__isnull=True),
                name="organisationmerge_absorbed_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.absorbed} → {self.survivor}"


class MergerNotice(models.Model):
    """The information a contact of a transferring organisation receives before the execution
    (GDPR): that its data and membership pass to the successor, with a signed link to object.
    Kept as proof: to whom, when, and the very text sent.

    The link still works after the execution: an objection sent then cannot stop the transfer,
    it is recorded as late (``objected_after_execution``) and flags the executed proposal
    (:attr:`TransferProposal.objection_after_execution`) for the committee."""

    # The states of every ledger of e-mails sent once (members.mailing).
    State = MailState

    proposal = models.ForeignKey(
        TransferProposal,
        verbose_name=_("proposition"),
        on_delete=models.PROTECT,
        related_name="notices",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merger_notices",
    )
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("langue"), max_length=5, choices=settings.LANGUAGES)
    state = models.CharField(_("état"), max_length=8, choices=State.choices, default=State.PENDING)
    subject = models.CharField(_("objet envoyé"), max_length=300, blank=True)
    body = models.TextField(_("texte envoyé"), blank=True)
    queued_at = models.DateTimeField(_("mise en file le"), null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    error = models.TextField(_("erreur"), blank=True)
    objected_at = models.DateTimeField(_("opposition le"), null=True, blank=True)
    objection_text = models.TextField(_("motif de l’opposition"), blank=True)
    objected_after_execution = models.DateTimeField(
        _("opposition après exécution le"),
        null=True,
        blank=True,
        help_text=_(
            "L’opposition est arrivée une fois le transfert exécuté : elle n’a pas pu l’empêcher."
        ),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("information d’un membre")
        verbose_name_plural = _("informations des membres")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["proposal", "email"], name="mergernotice_proposal_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="mergernotice_sent_has_sent_at",
            ),
            # A late objection is the notice's objection, of the same date.
            models.CheckConstraint(
                condition=models.Q(objected_after_execution__isnull=True)
                | (
                    models.Q(objected_at__isnull=False)
                    & models.Q(objected_at=models.F("objected_after_execution"))
                ),
                name="mergernotice_late_objection_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class NoticeTest(models.Model):
    """The members' notice sent to a committee member's own address before the notices go out,
    as a member would get it (the e-mail of :attr:`proposal`'s organisation, in
    :attr:`language`). Not a notice: nobody is informed by it, and it may be sent again."""

    State = MailState

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.PROTECT, related_name="notice_tests"
    )
    proposal = models.ForeignKey(
        TransferProposal,
        verbose_name=_("proposition servant d’exemple"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("par"), on_delete=models.PROTECT, related_name="+"
    )
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("langue"), max_length=5, choices=settings.LANGUAGES)
    state = models.CharField(_("état"), max_length=8, choices=State.choices, default=State.PENDING)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    error = models.TextField(_("erreur"), blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("essai de l’information des membres")
        verbose_name_plural = _("essais de l’information des membres")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="noticetest_sent_has_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class MergerExecution(models.Model):
    """One execution of the transfers asked from the admin and run by a Celery worker: who asked
    it, how far it got and what it did. The confirmation page's :attr:`key` makes a double click
    or the same page posted twice one execution, and a merger runs one execution at a time
    (a constraint)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("En attente d’un worker")
        RUNNING = "running", _("En cours")
        DONE = "done", _("Terminée")
        FAILED = "failed", _("Interrompue")

    #: The states of an execution that is not over.
    UNFINISHED = (State.QUEUED, State.RUNNING)

    merger = models.ForeignKey(
        Merger, verbose_name=_("fusion"), on_delete=models.PROTECT, related_name="executions"
    )
    key = models.UUIDField(_("clé de la confirmation"), unique=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    state = models.CharField(_("état"), max_length=8, choices=State.choices, default=State.QUEUED)
    effective_date = models.DateField(_("date d’effet"))
    total = models.PositiveIntegerField(_("propositions approuvées"), default=0)
    done = models.PositiveIntegerField(_("propositions traitées"), default=0)
    executed = models.PositiveIntegerField(_("adhésions créées"), default=0)
    skipped = models.PositiveIntegerField(_("déjà transférées"), default=0)
    failures = models.JSONField(
        _("en échec"),
        default=list,
        blank=True,
        help_text=_("Chaque proposition non transférée : son organisation et pourquoi."),
    )
    error = models.TextField(_("erreur"), blank=True)
    created_at = models.DateTimeField(_("demandée le"), auto_now_add=True)
    started_at = models.DateTimeField(_("commencée le"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("exécution des transferts")
        verbose_name_plural = _("exécutions des transferts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["merger"],
                condition=models.Q(state__in=["queued", "running"]),
                name="mergerexecution_one_at_a_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merger} · {short_datetime(self.created_at)}"

    @property
    def finished(self) -> bool:
        return self.state not in self.UNFINISHED

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100
