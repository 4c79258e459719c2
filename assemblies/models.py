"""The members' democracy: each cluster's general assemblies, their statutory rules as data,
the voices frozen at the convocation, proxies, ballots and the count of each resolution.

An assembly's rules (notice period, quorum, majorities, proxies a member may hold, secret ballot)
are stored on the assembly itself, so that a change of statutes does not rewrite the result of a
past assembly. A secret ballot is stored in two tables that nothing links: :class:`Ballot` says
which voice has voted, and :class:`ResolutionTally` only counts the choices, with no id, no
timestamp and no order that could tie a count to a ballot (see :func:`assemblies.services.
ballot_cast`). An open ballot also keeps each voice's choice (:class:`OpenChoice`).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models import Cluster, Contact, Membership, Organisation

_PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class AssemblyKind(models.TextChoices):
    ORDINARY = "ordinary", _("Assemblée générale ordinaire")
    EXTRAORDINARY = "extraordinary", _("Assemblée générale extraordinaire")


class Eligibility(models.TextChoices):
    """Which memberships give a voice, on the day of the convocation (the statutes' rule)."""

    CURRENT = "current", _("À jour de cotisation le jour de la convocation")
    CURRENT_OR_GRACE = (
        "current_or_grace",
        _("À jour de cotisation ou en période de grâce le jour de la convocation"),
    )
    PAID_BY = (
        "paid_by",
        _("Cotisation couvrant la date de l’assemblée, payée au plus tard à la date limite"),
    )


class AssemblyState(models.TextChoices):
    DRAFT = "draft", _("En préparation")
    CONVENED = "convened", _("Convoquée")
    VOTING = "voting", _("Vote ouvert")
    CLOSED = "closed", _("Vote clos")


class Majority(models.TextChoices):
    """The majority a resolution needs, as the statutes say it; abstentions are votes cast only
    where the label says so."""

    SIMPLE = "simple", _("Majorité simple : plus de voix pour que de voix contre")
    ABSOLUTE = (
        "absolute",
        _("Majorité absolue des votants : plus de la moitié des bulletins, abstentions comprises"),
    )
    TWO_THIRDS = "two_thirds", _("Deux tiers des suffrages exprimés (pour et contre)")
    TWO_THIRDS_PRESENT = "two_thirds_present", _("Deux tiers des voix présentes ou représentées")


class VoteChoice(models.TextChoices):
    FOR = "for", _("Pour")
    AGAINST = "against", _("Contre")
    ABSTAIN = "abstain", _("Abstention")


class Attendance(models.TextChoices):
    ABSENT = "absent", _("Absent")
    ROOM = "room", _("Présent dans la salle")
    ONLINE = "online", _("Présent en ligne")


class Signatory(models.TextChoices):
    """Who signs an assembly's minutes."""

    CHAIR = "chair", _("Président de séance")
    SECRETARY = "secretary", _("Secrétaire de séance")


class BallotChannel(models.TextChoices):
    ONLINE = "online", _("En ligne, depuis l’espace adhérent")
    ROOM = "room", _("Dans la salle, enregistré par le personnel")


def reminder_days_parse(value: str) -> list[int]:
    """The reminder steps that ``value`` ("7,1") names, in days before the assembly, the
    earliest first (the most days first); raise :class:`ValidationError` when it is not a list
    of distinct whole numbers from 0 to 90."""
    parts = [part.strip() for part in value.split(",")] if value.strip() else []
    if not all(part.isdigit() and int(part) <= 90 for part in parts):
        raise ValidationError(
            _(
                "Indiquez des nombres de jours de 0 à 90, séparés par des virgules "
                "(par exemple « 7,1 »)."
            )
        )
    days = [int(part) for part in parts]
    if len(set(days)) != len(days):
        raise ValidationError(_("Chaque jour de rappel ne figure qu’une fois."))
    return sorted(days, reverse=True)


def reminder_days_validate(value: str) -> None:
    reminder_days_parse(value)


class Assembly(models.Model):
    """A general assembly of one cluster, ordinary or extraordinary, with its statutory rules.

    Its life: in preparation (``draft``), convened (the voices are frozen and the convocations
    sent), voting open, voting closed (the results stand); the chair and the secretary then sign
    the minutes. When the quorum is not reached, a second convocation is another assembly whose
    :attr:`first_convocation` is this one and whose quorum is this one's
    :attr:`second_quorum_percent`.
    """

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="assemblies"
    )
    kind = models.CharField(_("nature"), max_length=14, choices=AssemblyKind.choices)
    title = models.CharField(_("intitulé"), max_length=200)
    starts_at = models.DateTimeField(_("date et heure"))
    place = models.CharField(_("lieu"), max_length=300, blank=True)
    online_url = models.URLField(
        _("lien de la réunion en ligne"),
        blank=True,
        help_text=_("Visioconférence, s’il y en a une ; le lien figure sur la convocation."),
    )
    first_convocation = models.ForeignKey(
        "self",
        verbose_name=_("première convocation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="second_convocations",
        help_text=_("L’assemblée dont celle-ci est la seconde convocation, faute de quorum."),
    )
    # The statutes' rules, frozen with the assembly.
    notice_days = models.PositiveSmallIntegerField(
        _("délai de convocation (jours)"),
        default=15,
        help_text=_("Nombre de jours au moins entre l’envoi de la convocation et l’assemblée."),
    )
    quorum_percent = models.DecimalField(
        _("quorum (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("25"),
        validators=_PERCENT,
        help_text=_(
            "Part des voix présentes ou représentées, sur l’ensemble des voix, pour délibérer "
            "(0 : pas de quorum)."
        ),
    )
    second_quorum_percent = models.DecimalField(
        _("quorum sur seconde convocation (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=_PERCENT,
        help_text=_(
            "Quorum de l’assemblée convoquée à nouveau quand le premier n’est pas atteint."
        ),
    )
    max_proxies = models.PositiveSmallIntegerField(
        _("pouvoirs détenus au plus par un membre"),
        default=2,
        help_text=_("Le président de séance n’a pas de limite."),
    )
    secret_ballot = models.BooleanField(
        _("vote à bulletin secret"),
        default=False,
        help_text=_(
            "Le système garde qui a voté et, à part, le décompte des voix, sans rien qui les "
            "relie ; sinon il garde le choix de chaque voix."
        ),
    )
    eligibility = models.CharField(
        _("qui vote"), max_length=16, choices=Eligibility.choices, default=Eligibility.CURRENT
    )
    eligibility_paid_by = models.DateField(
        _("date limite de paiement"),
        null=True,
        blank=True,
        help_text=_("Pour la règle « payée au plus tard à la date limite »."),
    )
    reminder_days = models.CharField(
        _("rappels (jours avant)"),
        max_length=40,
        default="7,1",
        blank=True,
        validators=[reminder_days_validate],
        help_text=_(
            "Jours avant l’assemblée où un rappel part aux voix qui n’ont ni voté ni donné "
            "pouvoir, séparés par des virgules (« 7,1 » : J-7 et J-1) ; vide : aucun rappel."
        ),
    )
    chair_name = models.CharField(_("président de séance"), max_length=200, blank=True)
    secretary_name = models.CharField(_("secrétaire de séance"), max_length=200, blank=True)
    state = models.CharField(
        _("état"), max_length=10, choices=AssemblyState.choices, default=AssemblyState.DRAFT
    )
    convened_at = models.DateTimeField(_("convoquée le"), null=True, blank=True)
    convened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("convoquée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    voting_opened_at = models.DateTimeField(_("vote ouvert le"), null=True, blank=True)
    voting_closed_at = models.DateTimeField(_("vote clos le"), null=True, blank=True)
    chair_signed_at = models.DateTimeField(
        _("procès-verbal signé par le président le"), null=True, blank=True
    )
    secretary_signed_at = models.DateTimeField(
        _("procès-verbal signé par le secrétaire le"), null=True, blank=True
    )
    # Who recorded each signature in the system (the signatory or staff on their behalf).
    chair_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signature du président enregistrée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    secretary_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signature du secrétaire enregistrée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("assemblée générale")
        verbose_name_plural = _("assemblées générales")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quorum_percent__gte=0, quorum_percent__lte=100)
                & models.Q(second_quorum_percent__gte=0, second_quorum_percent__lte=100),
                name="assembly_quorum_is_a_percentage",
            ),
            models.CheckConstraint(
                condition=~models.Q(eligibility="paid_by")
                | models.Q(eligibility_paid_by__isnull=False),
                name="assembly_paid_by_has_a_date",
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft") | models.Q(convened_at__isnull=False),
                name="assembly_convened_has_convened_at",
            ),
            # The minutes are signed once the results stand, never before.
            models.CheckConstraint(
                condition=models.Q(state="closed")
                | models.Q(chair_signed_at__isnull=True, secretary_signed_at__isnull=True),
                name="assembly_minutes_signed_after_the_close",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} · {self.cluster}"

    @property
    def reminder_steps(self) -> list[int]:
        """The reminder steps, in days before the assembly, the earliest first."""
        return reminder_days_parse(self.reminder_days)


class Resolution(models.Model):
    """One item of an assembly's agenda put to the vote, with the majority it needs. An election
    is one resolution per candidate ("Élection de Mme X au conseil d’administration")."""

    assembly = models.ForeignKey(
        Assembly, verbose_name=_("assemblée"), on_delete=models.CASCADE, related_name="resolutions"
    )
    position = models.PositiveSmallIntegerField(_("ordre"), default=1)
    title = models.CharField(_("intitulé"), max_length=300)
    text = models.TextField(_("texte"), blank=True)
    majority = models.CharField(
        _("majorité requise"), max_length=20, choices=Majority.choices, default=Majority.SIMPLE
    )

    class Meta:
        verbose_name = _("résolution")
        verbose_name_plural = _("résolutions")
        ordering = ["assembly", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["assembly", "position"], name="resolution_position_unique_in_assembly"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class ResolutionTally(models.Model):
    """How many ballots chose ``choice`` on ``resolution``: a counter, incremented by each
    ballot, and nothing else (no link to a ballot, no time)."""

    resolution = models.ForeignKey(Resolution, on_delete=models.CASCADE, related_name="tallies")
    choice = models.CharField(_("choix"), max_length=8, choices=VoteChoice.choices)
    count = models.PositiveIntegerField(_("voix"), default=0)

    class Meta:
        verbose_name = _("décompte")
        verbose_name_plural = _("décomptes")
        constraints = [
            models.UniqueConstraint(
                fields=["resolution", "choice"], name="tally_once_per_resolution_and_choice"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resolution} · {self.get_choice_display()} : {self.count}"


class Voice(models.Model):
    """One member organisation's voice at an assembly, frozen when the convocation is sent: the
    organisation was a member in good standing on that day, by the assembly's rule. ``voter`` is
    the contact who votes for it (the one it designated, else its primary contact). A voice struck
    off after the convocation (a resignation, an exclusion) keeps its row, with why."""

    assembly = models.ForeignKey(
        Assembly, verbose_name=_("assemblée"), on_delete=models.CASCADE, related_name="voices"
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="+"
    )
    membership = models.ForeignKey(
        Membership, verbose_name=_("adhésion"), on_delete=models.PROTECT, related_name="+"
    )
    voter = models.ForeignKey(
        Contact,
        verbose_name=_("votant"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    language = models.CharField(_("langue"), max_length=10, blank=True)
    attendance = models.CharField(
        _("présence"), max_length=8, choices=Attendance.choices, default=Attendance.ABSENT
    )
    attendance_recorded_at = models.DateTimeField(_("présence notée le"), null=True, blank=True)
    attendance_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("présence notée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    struck_off_at = models.DateTimeField(_("radiée de la liste le"), null=True, blank=True)
    struck_off_reason = models.TextField(_("motif de la radiation"), blank=True)
    created_at = models.DateTimeField(_("inscrite le"), auto_now_add=True)

    class Meta:
        verbose_name = _("voix")
        verbose_name_plural = _("voix")
        ordering = ["assembly", "organisation__name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["assembly", "organisation"], name="voice_once_per_assembly_organisation"
            ),
            models.CheckConstraint(
                condition=models.Q(struck_off_at__isnull=True) | ~models.Q(struck_off_reason=""),
                name="voice_struck_off_has_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return str(self.organisation)


class VoterDesignation(models.Model):
    """The contact an organisation designated to vote for it at the assemblies (instead of its
    primary contact); read when the voices are frozen."""

    organisation = models.OneToOneField(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="voter_designation",
    )
    contact = models.ForeignKey(
        Contact, verbose_name=_("votant désigné"), on_delete=models.CASCADE, related_name="+"
    )
    designated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("désigné par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    designated_at = models.DateTimeField(_("désigné le"), auto_now=True)

    class Meta:
        verbose_name = _("votant désigné")
        verbose_name_plural = _("votants désignés")

    def __str__(self) -> str:
        return f"{self.organisation} · {self.contact}"


class Proxy(models.Model):
    """A proxy (pouvoir): ``giver`` gives its voice to ``holder``, another voice of the same
    assembly, or to the chair when ``holder`` is empty. Revocable until the vote opens; a revoked
    proxy keeps its row, with who revoked it, when and why."""

    assembly = models.ForeignKey(
        Assembly, verbose_name=_("assemblée"), on_delete=models.CASCADE, related_name="proxies"
    )
    giver = models.ForeignKey(
        Voice, verbose_name=_("mandant"), on_delete=models.CASCADE, related_name="proxies_given"
    )
    holder = models.ForeignKey(
        Voice,
        verbose_name=_("mandataire"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="proxies_held",
        help_text=_("Vide : pouvoir donné au président de séance."),
    )
    given_at = models.DateTimeField(_("donné le"), auto_now_add=True)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("donné par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("révoqué par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_reason = models.TextField(_("motif de la révocation"), blank=True)

    class Meta:
        verbose_name = _("pouvoir")
        verbose_name_plural = _("pouvoirs")
        ordering = ["assembly", "given_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["giver"],
                condition=models.Q(revoked_at__isnull=True),
                name="proxy_one_active_per_giver",
            ),
            models.CheckConstraint(
                condition=~models.Q(holder=models.F("giver")), name="proxy_not_to_oneself"
            ),
        ]

    def __str__(self) -> str:
        holder = self.holder or _("président de séance")
        return f"{self.giver} → {holder}"


class Ballot(models.Model):
    """That ``voice`` has voted, once: online by its voter or its proxy holder, or in the room as
    staff recorded it. Says nothing of the choices of a secret ballot."""

    voice = models.OneToOneField(
        Voice, verbose_name=_("voix"), on_delete=models.CASCADE, related_name="ballot"
    )
    channel = models.CharField(_("moyen"), max_length=8, choices=BallotChannel.choices)
    cast_by_holder = models.ForeignKey(
        Voice,
        verbose_name=_("exprimé par le mandataire"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cast_by_chair = models.BooleanField(_("exprimé par le président de séance"), default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistré par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cast_at = models.DateTimeField(_("voté le"), auto_now_add=True)

    class Meta:
        verbose_name = _("émargement de vote")
        verbose_name_plural = _("émargements de vote")
        ordering = ["voice"]

    def __str__(self) -> str:
        return str(self.voice)


class OpenChoice(models.Model):
    """A voice's choice on a resolution of an open (not secret) ballot."""

    ballot = models.ForeignKey(Ballot, on_delete=models.CASCADE, related_name="choices")
    resolution = models.ForeignKey(Resolution, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(_("choix"), max_length=8, choices=VoteChoice.choices)

    class Meta:
        verbose_name = _("vote nominatif")
        verbose_name_plural = _("votes nominatifs")
        constraints = [
            models.UniqueConstraint(
                fields=["ballot", "resolution"], name="open_choice_once_per_ballot_resolution"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ballot} · {self.resolution} · {self.get_choice_display()}"


def assembly_document_path(document: "AssemblyDocument", filename: str) -> str:
    return f"assemblies/{document.assembly_id}/{filename}"


class AssemblyDocument(models.Model):
    """A document of an assembly's agenda (accounts, reports, the text of a resolution): a file
    kept with the assembly, served only to its voters and staff, or a link. The convocation
    attaches the files and lists the links."""

    assembly = models.ForeignKey(
        Assembly, verbose_name=_("assemblée"), on_delete=models.CASCADE, related_name="documents"
    )
    position = models.PositiveSmallIntegerField(_("ordre"), default=1)
    title = models.CharField(_("intitulé"), max_length=200)
    file = models.FileField(
        _("fichier"), upload_to=assembly_document_path, max_length=300, blank=True
    )
    url = models.URLField(_("lien"), blank=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["assembly", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(file="") & ~models.Q(url=""))
                | (~models.Q(file="") & models.Q(url="")),
                name="assembly_document_file_or_link",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AssemblyMailKind(models.TextChoices):
    CONVOCATION = "convocation", _("Convocation")
    REMINDER = "reminder", _("Rappel")


class AssemblyMailState(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENT = "sent", _("Envoyé")
    CANCELLED = "cancelled", _("Annulé")
    FAILED = "failed", _("Échec")


class AssemblyMailReason(models.TextChoices):
    """Why an entry of the ledger was not sent."""

    VOTED = "voted", _("La voix a voté")
    PROXY = "proxy", _("La voix a donné pouvoir")
    STRUCK_OFF = "struck_off", _("La voix a été radiée de la liste")
    TOO_LATE = "too_late", _("L’assemblée a eu lieu ou son vote est clos")
    SMTP_ERROR = "smtp_error", _("Refusé par le serveur d’envoi")


class AssemblyMail(models.Model):
    """The ledger of an assembly's e-mails: a voice's convocation, and each reminder step
    (``days_before`` the assembly) sent to it, to its voter's address, in its language.

    Unique per voice, kind and step in the database, so that no convocation or pass records one
    twice; sent at most once, under a row lock (:mod:`assemblies.mails`). A reminder whose voice
    voted, gave a proxy or was struck off before its turn is ``cancelled``, with why. A voice
    without a voter has no entry (:func:`assemblies.selectors.voices_without_voter`)."""

    voice = models.ForeignKey(
        Voice, verbose_name=_("voix"), on_delete=models.CASCADE, related_name="mails"
    )
    kind = models.CharField(_("nature"), max_length=12, choices=AssemblyMailKind.choices)
    days_before = models.PositiveSmallIntegerField(
        _("jours avant l’assemblée"),
        default=0,
        help_text=_("Pour un rappel : son étape (7 pour J-7)."),
    )
    email = models.EmailField(_("destinataire"))
    language = models.CharField(_("langue"), max_length=10, blank=True)
    state = models.CharField(
        _("état"),
        max_length=10,
        choices=AssemblyMailState.choices,
        default=AssemblyMailState.PENDING,
    )
    reason = models.CharField(
        _("raison"),
        max_length=12,
        choices=AssemblyMailReason.choices,
        blank=True,
        help_text=_("Pourquoi l’e-mail a été annulé ou a échoué."),
    )
    error = models.TextField(_("erreur"), blank=True, help_text=_("Réponse du serveur d’envoi."))
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    queued_at = models.DateTimeField(_("mis en file le"), null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    created_at = models.DateTimeField(_("enregistré le"), auto_now_add=True)

    class Meta:
        verbose_name = _("convocation ou rappel envoyé")
        verbose_name_plural = _("journal des convocations et rappels")
        ordering = ["voice", "-days_before", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["voice", "kind", "days_before"],
                name="assembly_mail_once_per_voice_kind_step",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="assembly_mail_sent_has_sent_at",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "queued_at"], name="assembly_mail_state_queued_idx"),
        ]
        permissions = [("resend_assemblymail", _("Renvoyer une convocation ou un rappel en échec"))]

    def __str__(self) -> str:
        if self.kind == AssemblyMailKind.REMINDER:
            return f"{self.voice} · J-{self.days_before} · {self.email}"
        return f"{self.voice} · {self.get_kind_display()} · {self.email}"


# The consultation on the successor's name ---------------------------------------------------
#
# Members of the source clusters propose names, staff moderate them, the members vote by approval
# and the result is published; the committee then gives the successor the name chosen. A ballot is
# secret the same way as an assembly's: :class:`NameBallot` says which organisation has voted,
# :class:`NameTally` only counts the approvals of each candidate, and nothing links them.


class ConsultationPhase(models.TextChoices):
    """The phases of a name consultation, in the order the committee moves them."""

    PROPOSALS = "proposals", _("Propositions ouvertes")
    MODERATION = "moderation", _("Modération des propositions")
    VOTING = "voting", _("Vote ouvert")
    CLOSED = "closed", _("Vote clos, dépouillement")
    PUBLISHED = "published", _("Résultat publié")


class VotingMethod(models.TextChoices):
    APPROVAL = (
        "approval",
        _(
            "Vote par approbation : chaque organisation approuve autant de noms qu’elle veut ; "
            "le nom le plus approuvé l’emporte, en cas d’égalité le comité de fusion tranche."
        ),
    )


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("En attente de modération")
    ACCEPTED = "accepted", _("Retenue pour le vote")
    MERGED = "merged", _("Regroupée avec une proposition identique")
    REFUSED = "refused", _("Refusée")


class NameConsultation(models.Model):
    """The call for names for a merger's successor, opened by the merger committee: proposals
    (``proposals_per_organisation`` at most per member organisation), their moderation, a vote by
    :class:`VotingMethod`, and the result published in the member area. ``name_chosen`` is the
    name the committee then gave the successor (see
    :func:`assemblies.consultations.successor_name_set`)."""

    merger = models.ForeignKey(
        "merger.Merger",
        verbose_name=_("fusion"),
        on_delete=models.PROTECT,
        related_name="name_consultations",
    )
    title = models.CharField(
        _("intitulé"), max_length=200, default=_("Appel à propositions de noms")
    )
    introduction = models.TextField(
        _("présentation"), blank=True, help_text=_("Montrée aux membres en tête de page.")
    )
    phase = models.CharField(
        _("phase"),
        max_length=10,
        choices=ConsultationPhase.choices,
        default=ConsultationPhase.PROPOSALS,
    )
    proposals_per_organisation = models.PositiveSmallIntegerField(
        _("propositions par organisation"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
    )
    voting_method = models.CharField(
        _("mode de scrutin"),
        max_length=10,
        choices=VotingMethod.choices,
        default=VotingMethod.APPROVAL,
    )
    proposals_until = models.DateField(
        _("propositions jusqu’au"), null=True, blank=True, help_text=_("Annoncé aux membres.")
    )
    voting_from = models.DateField(_("vote à partir du"), null=True, blank=True)
    voting_until = models.DateField(_("vote jusqu’au"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("ouverte par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    opened_at = models.DateTimeField(_("ouverte le"), auto_now_add=True)
    moderation_started_at = models.DateTimeField(
        _("modération commencée le"), null=True, blank=True
    )
    voting_opened_at = models.DateTimeField(_("vote ouvert le"), null=True, blank=True)
    voting_closed_at = models.DateTimeField(_("vote clos le"), null=True, blank=True)
    published_at = models.DateTimeField(_("résultat publié le"), null=True, blank=True)
    name_chosen = models.CharField(_("nom donné au successeur"), max_length=200, blank=True)
    name_chosen_at = models.DateTimeField(_("nom donné le"), null=True, blank=True)
    name_chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("nom donné par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consultation sur le nom")
        verbose_name_plural = _("consultations sur le nom")
        ordering = ["-opened_at"]
        permissions = [
            ("run_nameconsultation", _("Ouvrir la consultation, changer de phase, donner le nom"))
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merger"],
                condition=~models.Q(phase="published"),
                name="nameconsultation_one_in_progress_per_merger",
            ),
            models.CheckConstraint(
                condition=models.Q(proposals_per_organisation__gte=1),
                name="nameconsultation_at_least_one_proposal",
            ),
            models.CheckConstraint(
                condition=models.Q(phase="published") | models.Q(name_chosen=""),
                name="nameconsultation_name_chosen_once_published",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} · {self.merger}"


class NameProposal(models.Model):
    """A name proposed by a member organisation, with a short reason, and what moderation made
    of it: accepted (a candidate of the vote), merged into another proposal of the same name
    (whose authors then include this one's organisation), or refused with a reason."""

    consultation = models.ForeignKey(
        NameConsultation,
        verbose_name=_("consultation"),
        on_delete=models.CASCADE,
        related_name="proposals",
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("nom proposé"), max_length=100)
    normalised_name = models.CharField(
        _("nom normalisé"),
        max_length=100,
        editable=False,
        help_text=_("Sans majuscules, accents ni espaces : pour repérer les doublons."),
    )
    reason = models.CharField(_("pourquoi ce nom"), max_length=500)
    proposed_by = models.ForeignKey(
        Contact,
        verbose_name=_("proposé par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    proposed_at = models.DateTimeField(_("proposé le"), auto_now_add=True)
    status = models.CharField(
        _("modération"),
        max_length=10,
        choices=ProposalStatus.choices,
        default=ProposalStatus.PENDING,
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("regroupée avec"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged",
    )
    refusal_reason = models.TextField(_("motif du refus"), blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("modérée par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    moderated_at = models.DateTimeField(_("modérée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("proposition de nom")
        verbose_name_plural = _("propositions de noms")
        ordering = ["consultation", "normalised_name", "proposed_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "organisation", "normalised_name"],
                name="nameproposal_once_per_organisation_and_name",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="refused") | ~models.Q(refusal_reason=""),
                name="nameproposal_refused_has_a_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(status="merged", merged_into__isnull=False)
                | (~models.Q(status="merged") & models.Q(merged_into__isnull=True)),
                name="nameproposal_merged_iff_merged_into",
            ),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("pk")),
                name="nameproposal_not_merged_into_itself",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class NameBallot(models.Model):
    """That ``organisation`` has voted in ``consultation``, once; says nothing of its choices."""

    consultation = models.ForeignKey(
        NameConsultation,
        verbose_name=_("consultation"),
        on_delete=models.CASCADE,
        related_name="ballots",
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("émargement de la consultation")
        verbose_name_plural = _("émargements de la consultation")
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "organisation"],
                name="nameballot_once_per_organisation",
            ),
        ]

    def __str__(self) -> str:
        return str(self.organisation)


class NameTally(models.Model):
    """How many ballots approved ``candidate``: a counter, incremented by each ballot, and
    nothing else (no link to a ballot, no time)."""

    candidate = models.OneToOneField(
        NameProposal, verbose_name=_("nom"), on_delete=models.CASCADE, related_name="tally"
    )
    count = models.PositiveIntegerField(_("approbations"), default=0)

    class Meta:
        verbose_name = _("décompte d’un nom")
        verbose_name_plural = _("décomptes des noms")

    def __str__(self) -> str:
        return f"{self.candidate} : {self.count}"
