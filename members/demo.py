"""Demo data for development: the source clusters' members, their terms and a few logins.

``python manage.py seed_demo`` calls :func:`demo_seed`. The data is drawn from a
``random.Random`` with a fixed seed, and no draw depends on today's date (dates are scaled from
``random()`` fractions), so every run in a given year generates the same organisations,
memberships, contacts and terms. Each is written only when its natural key is missing (SIRET, or
the name of an organisation without one; cluster and member number; organisation and e-mail;
membership and period; username), so a second run creates nothing.

A share of the memberships (:data:`BILLED_SHARE`) has its last twelve months billed through the
real services, as staff and members would have: invoices issued in order of date, paid by
transfer (some in two parts) or by card (a fake provider reference, no network), partly paid or
unpaid, and per source cluster one cancelled by a credit note and one reduced by a partial
credit note and refunded. These are drawn from a ``random.Random`` of their own
(:data:`BILLING_SEED`), so they change none of the other records, and made only for the terms a
run creates. The e-mails of that past are recorded as sent on their day: none goes out.

E-mail addresses and websites use the ``.example`` top-level domain, reserved by RFC 2606: mail
sent by mistake from a demo database can reach no real company.
"""

import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from stdnum import luhn

from members.models import (
    Cluster,
    Contact,
    ContactRole,
    CreditNote,
    Invoice,
    Mail,
    MailPurpose,
    MailState,
    Membership,
    Organisation,
    Payment,
    PaymentFollowUp,
    PaymentFollowUpState,
    PaymentFollowUpStep,
    PaymentMethod,
    Plan,
    PlanCategory,
    Refund,
    Term,
)
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE
from members.selectors import contacts_to_notify_in, memberships_with_status
from members.services import contact_login_ensure, staff_user_ensure
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from members.services.follow_ups import payment_follow_up_policy_ensure
from members.services.refunds import invoice_refund_record
from members.services.reminders import reminder_policy_ensure

SEED = 3134
SOURCE_CLUSTERS = ("digitalplace", "frenchsouth")
MEMBERS_PER_CLUSTER = 200
MEMBERS_OF_BOTH = 20  # 10 % of each cluster's members
#: Companies that each cluster knows under another record, per kind (same SIREN and another
#: SIRET, SIREN only, another spelling without SIRET): the merger's duplicate review finds them.
DUPLICATES = 2
#: Demo member numbers start here: the clusters' sample spreadsheets (tests/samples) use the
#: first numbers, so that they import into the demo database as new members.
FIRST_MEMBER_NUMBER = 301
HISTORY_YEARS = 3  # terms kept before the last one
#: Share of the memberships whose terms of the last twelve months are invoiced and settled
#: through the billing services, of those waiting for payment and of the others: enough to fill
#: the invoices' admin and the accounting export, few enough for the seed to stay quick (each
#: invoice, payment and credit note is a service call of about ten queries).
BILLED_SHARE = {"pending": 0.3, "other": 0.07}
BILLING_SEED = SEED + 1
BILLED_DAYS = 365
CARD_SHARE = 0.3  # of the invoices paid, paid by card (the others by transfer)
TWO_TRANSFERS_SHARE = 0.25  # of those paid by transfer, paid in two parts

# Fictional legal details of the source clusters, given to those left blank so that demo invoices
# carry every mention: SIRENs with a valid Luhn key, French IBANs with valid RIB and IBAN keys (a
# bank code, 99001 and 99002, that no French bank has), well-formed BICs, ".example" addresses.
DEMO_LEGAL_DETAILS = {
    "digitalplace": {
        "siren": "812345676",
        "address": "27 rue des Innovateurs\n31400 Toulouse",
        "email": "adhesions@digitalplace.example",
        "website": "https://www.digitalplace.example",
        "iban": "FR7699001310000001234567812",
        "bic": "DPLCFRP1XXX",
    },
    "frenchsouth": {
        "siren": "823456785",
        "address": "8 allée du Numérique\n34000 Montpellier",
        "email": "adhesions@frenchsouth.example",
        "website": "https://www.frenchsouth.example",
        "iban": "FR7699002340000008765432197",
        "bic": "FSDGFRP1XXX",
    },
}

# The late-payment mentions of the demo clusters' invoices, given to a cluster that has set
# neither (art. L441-10 of the Code de commerce: a penalty rate, the 40 € recovery fee).
DEMO_LATE_PAYMENT = {"late_payment_rate": Decimal("12.00"), "recovery_fee_mention": True}

# Development passwords, printed by the command.
ADMIN_PASSWORD = "demo-admin"
STAFF_PASSWORD = "demo-staff"
COMMITTEE_PASSWORD = "demo-committee"
MEMBER_PASSWORD = "demo-member"


def _words(text: str) -> list[str]:
    """The comma-separated items of ``text``: keeps long word lists readable."""
    return [word.strip() for word in text.split(",") if word.strip()]


# --- Word lists -------------------------------------------------------------------------------

# (town, postcodes, weight) per source cluster: the Toulouse area and neighbouring departments
# for DigitalPlace; Hérault, Gard, Aude and Pyrénées-Orientales for FrenchSouth.
TOWNS = {
    "digitalplace": [
        ("Toulouse", ("31000", "31100", "31200", "31300", "31400", "31500"), 40),
        ("Blagnac", ("31700",), 7),
        ("Colomiers", ("31770",), 5),
        ("Labège", ("31670",), 7),
        ("Ramonville-Saint-Agne", ("31520",), 4),
        ("Balma", ("31130",), 4),
        ("Tournefeuille", ("31170",), 3),
        ("Castanet-Tolosan", ("31320",), 2),
        ("Muret", ("31600",), 2),
        ("Foix", ("09000",), 2),
        ("Pamiers", ("09100",), 1),
        ("Auch", ("32000",), 3),
        ("Albi", ("81000",), 4),
        ("Castres", ("81100",), 3),
        ("Montauban", ("82000",), 4),
    ],
    "frenchsouth": [
        ("Montpellier", ("34000", "34070", "34080", "34090"), 30),
        ("Castelnau-le-Lez", ("34170",), 5),
        ("Lattes", ("34970",), 4),
        ("Pérols", ("34470",), 2),
        ("Saint-Jean-de-Védas", ("34430",), 2),
        ("Mauguio", ("34130",), 2),
        ("Sète", ("34200",), 3),
        ("Béziers", ("34500",), 4),
        ("Nîmes", ("30000", "30900"), 12),
        ("Alès", ("30100",), 4),
        ("Bagnols-sur-Cèze", ("30200",), 2),
        ("Carcassonne", ("11000",), 7),
        ("Narbonne", ("11100",), 4),
        ("Castelnaudary", ("11400",), 1),
        ("Perpignan", ("66000", "66100"), 10),
        ("Canet-en-Roussillon", ("66140",), 2),
        ("Cabestany", ("66330",), 2),
    ],
}
# The site that welcomes the members of a department; the others go to the cluster's home site.
DEPARTMENT_SITES = {
    "31": "Toulouse",
    "34": "Montpellier",
    "30": "Nîmes",
    "11": "Carcassonne",
    "66": "Perpignan",
}
HOME_SITES = {"digitalplace": "Toulouse", "frenchsouth": "Montpellier"}
# Landline area digit: 5 in the west of Occitanie, 4 in the east.
WEST_DEPARTMENTS = {"09", "31", "32", "81", "82"}

STREETS = _words("""
    rue de la République, avenue Jean Jaurès, allée des Sciences, rue Ampère,
    avenue de l’Europe, rue du Languedoc, boulevard de Strasbourg, rue Paul Sabatier,
    avenue Didier Daurat, rue Marcel Dassault, chemin de la Plaine, rue de l’Aiguillerie,
    avenue du Professeur Grasset, rue des Frères Lumière, impasse des Oliviers,
    place de la Halle, rue Victor Hugo, avenue de la Gare, rue du Moulin, boulevard Pasteur,
    rue Pierre-Paul Riquet, avenue Clément Ader, rue Jacques Cartier, allée Louise Michel
""")
ADDRESS_COMPLEMENTS = _words("""
    Bâtiment B, 2e étage, Pépinière d’entreprises, Hôtel d’entreprises, Parc technologique,
    Espace Innovation, Bureau 104
""")

PLACES = {
    "digitalplace": _words("""
        Garonne, Capitole, Saint-Sernin, Lauragais, Comminges, Gascogne, Albigeois, Quercy,
        Tolosa, Pont-Neuf, Ramier, Brique Rose, Violette, Ariège, Sidobre, Armagnac, Pastel,
        Autan
    """),
    "frenchsouth": _words("""
        Lez, Camargue, Cévennes, Pic Saint-Loup, Maguelone, Thau, Garrigue, Antigone,
        Vidourle, Costières, Minervois, Corbières, Roussillon, Canigou, Agly, Salanque,
        Aigoual, Tramontane, Cers
    """),
}
REGION_PLACES = _words("Occitanie, Canal du Midi, Oc, Midi, Pyrénées, Languedoc, Méditerranée")
COINED_NAMES = _words("""
    Nexa, Kalia, Lumio, Vialis, Altéa, Helios, Orbis, Kairos, Aléa, Ondine, Mistral, Cigale,
    Olivine, Azur, Garance, Lutin, Sirius, Opale
""")
# (word in the company name, sector)
ACTIVITIES = [
    ("Data", "Données et analytique"),
    ("Analytics", "Données et analytique"),
    ("Robotique", "Robotique"),
    ("Logiciels", "Édition de logiciels"),
    ("Software", "Édition de logiciels"),
    ("Informatique", "Conseil en systèmes informatiques"),
    ("Conseil", "Conseil en systèmes informatiques"),
    ("Systèmes", "Conseil en systèmes informatiques"),
    ("Cyber", "Cybersécurité"),
    ("Sécurité", "Cybersécurité"),
    ("Avionique", "Aéronautique embarquée"),
    ("Embarqué", "Aéronautique embarquée"),
    ("IA", "Intelligence artificielle"),
    ("Vision", "Intelligence artificielle"),
    ("Cloud", "Cloud et hébergement"),
    ("Hébergement", "Cloud et hébergement"),
    ("Web", "Agence web et communication"),
    ("Digital", "Agence web et communication"),
    ("Studio", "Jeux vidéo et création numérique"),
    ("Games", "Jeux vidéo et création numérique"),
    ("Spatial", "Spatial et satellites"),
    ("Satellites", "Spatial et satellites"),
    ("Santé", "Santé numérique"),
    ("Medtech", "Santé numérique"),
    ("Agritech", "Agritech"),
    ("Objets Connectés", "Objets connectés (IoT)"),
    ("IoT", "Objets connectés (IoT)"),
    ("Réseaux", "Télécommunications"),
    ("Télécom", "Télécommunications"),
    ("Mobilité", "Mobilité et transports"),
    ("Énergie", "Énergie et réseaux intelligents"),
    ("Formation", "Formation au numérique"),
    ("Learning", "Formation au numérique"),
    ("Ingénierie", "Ingénierie et industrie 4.0"),
    ("Industrie", "Ingénierie et industrie 4.0"),
    ("Fintech", "Services financiers numériques"),
]
FREELANCE_ACTIVITIES = [
    ("Conseil", "Conseil en systèmes informatiques"),
    ("Développement", "Édition de logiciels"),
    ("Design", "Agence web et communication"),
    ("Formation", "Formation au numérique"),
    ("Data", "Données et analytique"),
    ("Cybersécurité", "Cybersécurité"),
]
LAB_TOPICS = _words("""
    d’informatique, de robotique, des systèmes embarqués, d’intelligence artificielle,
    de cybersécurité, de mathématiques appliquées, des sciences du numérique, de télédétection
""")
SCHOOLS = _words("""
    École supérieure du numérique, École d’ingénieurs en informatique, École des métiers du web,
    École de design numérique, Campus du code
""")

# Per plan category: weight among members, legal forms with weights, and headcount drawn from a
# triangular distribution (low, high, mode) inside the category's band of the migrated plans.
CATEGORIES = {
    PlanCategory.STARTUP: (35, {"SAS": 6, "SASU": 3, "SARL": 1}, (1, 19, 3)),
    PlanCategory.SME: (38, {"SAS": 10, "SARL": 7, "SA": 2, "SCOP SARL": 1}, (20, 249, 35)),
    PlanCategory.LARGE: (8, {"SA": 1, "SAS": 1}, (250, 4000, 400)),
    PlanCategory.ACADEMIC: (
        7,
        {"Établissement public": 5, "Association loi 1901": 3, "GIP": 2},
        (8, 600, 40),
    ),
    PlanCategory.FREELANCE: (12, {"EI": 2, "EURL": 1, "SASU": 1}, (1, 1, 1)),
}

FIRST_NAMES = {
    "Mme": _words("""
        Camille, Léa, Manon, Chloé, Inès, Sarah, Julie, Claire, Émilie, Anaïs, Marion, Laura,
        Pauline, Mathilde, Élodie, Hélène, Sophie, Nathalie, Isabelle, Céline, Aurélie, Margaux,
        Lucie, Nadia, Fatima, Mireille, Anne-Laure, Marie, Agnès, Montserrat
    """),
    "M.": _words("""
        Thomas, Nicolas, Julien, Maxime, Antoine, Alexandre, Romain, Pierre, Guillaume, Mathieu,
        Sébastien, Jérôme, Laurent, Olivier, Frédéric, Karim, Mehdi, Hugo, Lucas, Louis,
        Bastien, Florian, Jean-Marc, Jean-Pierre, Philippe, Benoît, Cédric, Arnaud, Yannick, Jordi
    """),
}
LAST_NAMES = _words("""
    Martin, Bernard, Dubois, Garcia, Martinez, Lopez, Sanchez, Roux, Fabre, Vidal, Puig, Pujol,
    Castan, Sabatier, Bonnet, Marty, Rouquette, Fournier, Girard, Mercier, Blanc, Faure, André,
    Bousquet, Cazals, Escudier, Teisseire, Ferrer, Delmas, Laffont, Combes, Maurel, Rey, Gasc,
    Lacombe, Soulier, Fontaine, Moreau, Lefèvre, Durand, Perez, Fernandez, Noguès, Cabrol,
    Valette, Azéma, Carrère, Bonnafous, Mas, Coste, Guiraud, Peyre, Rigal, Sicard, Nguyen,
    Benali, Haddad, Da Silva, Le Goff, Castagné
""")
# (masculine, feminine) job titles per kind of organisation and contact role
JOB_TITLES = {
    ContactRole.PRIMARY: [
        ("Président", "Présidente"),
        ("Directeur général", "Directrice générale"),
        ("Gérant", "Gérante"),
        ("Fondateur", "Fondatrice"),
        ("Directeur des opérations", "Directrice des opérations"),
    ],
    ContactRole.BILLING: [
        ("Responsable administratif et financier", "Responsable administrative et financière"),
        ("Comptable", "Comptable"),
        ("Assistant de direction", "Assistante de direction"),
        ("Office manager", "Office manager"),
    ],
    ContactRole.MEMBER: [
        ("Directeur technique", "Directrice technique"),
        ("Responsable marketing", "Responsable marketing"),
        ("Chef de projet", "Cheffe de projet"),
        ("Responsable des partenariats", "Responsable des partenariats"),
        ("Ingénieur R&D", "Ingénieure R&D"),
        ("Chargé de communication", "Chargée de communication"),
    ],
}
ACADEMIC_JOB_TITLES = {
    ContactRole.PRIMARY: [("Directeur", "Directrice")],
    ContactRole.BILLING: [("Gestionnaire financier", "Gestionnaire financière")],
    ContactRole.MEMBER: [
        ("Chargé des relations entreprises", "Chargée des relations entreprises"),
        ("Enseignant-chercheur", "Enseignante-chercheuse"),
    ],
}
FREELANCE_JOB_TITLES = {
    ContactRole.PRIMARY: [("Consultant indépendant", "Consultante indépendante")]
}

# How a membership stands this year: paid, waiting for payment, not renewed, resigned.
FATES = {"current": 72, "pending": 13, "lapsed": 10, "cancelled": 5}
# Weights of "member since k years ago", for k = 0, 1, 2, …
SENIORITY_WEIGHTS = [14, 12, 11, 10, 9, 8, 7, 6, 5, 4, 4, 3, 2, 2, 1, 1]


# --- What is generated --------------------------------------------------------------------------


@dataclass
class DemoTerm:
    """A term to create: a calendar year, or the rest of the year a member joined in."""

    start_date: date
    end_date: date
    is_paid: bool
    paid_on: date | None


@dataclass
class DemoMembership:
    """A membership to create with its terms; ``seniority`` orders the member numbers and does
    not depend on today's date."""

    cluster: str
    department_site: str | None
    member_since: date
    seniority: tuple[int, float]
    cancelled_on: date | None
    terms: list[DemoTerm]
    member_number: str = ""


@dataclass
class DemoOrganisation:
    """An organisation to create (``fields`` of :class:`Organisation`) with its contacts and
    memberships; ``category`` is the kind of plan that fits it."""

    fields: dict
    category: str
    contacts: list[dict] = field(default_factory=list)
    memberships: list[DemoMembership] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Its natural key: the SIRET, or the name when it has none."""
        return self.fields["siret"] or self.fields["name"]


@dataclass(frozen=True)
class DemoAccount:
    """A login of the demo: what to type on the sign-in form and its development password."""

    role: str
    login: str
    email: str
    password: str
    created: bool


@dataclass
class DemoReport:
    """What :func:`demo_seed` did: rows created per kind, membership statuses per cluster on
    ``today`` and the logins."""

    today: date
    created: dict[str, int]
    statuses: dict[str, dict[str, int]]
    accounts: list[DemoAccount]

    @property
    def created_anything(self) -> bool:
        return any(self.created.values())


def _slug(text: str) -> str:
    """``text`` in lower-case ASCII, words joined by hyphens: « Canal du Midi Logiciels » →
    ``canal-du-midi-logiciels``."""
    ascii_text = "".join(
        char
        for char in unicodedata.normalize("NFKD", text.lower())
        if not unicodedata.combining(char)
    )
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text).split())


def _days_after(start: date, fraction: float, span_days: int) -> date:
    """``start`` plus a share ``fraction`` (0 ≤ fraction < 1) of ``span_days`` days.

    Dates are scaled from ``random()`` fractions, never drawn from a range that depends on today:
    the sequence of draws, hence every natural key, is then the same whatever the date.
    """
    return start + timedelta(days=int(fraction * span_days))


class DemoGenerator:
    """Draws the demo organisations, contacts, memberships and terms from one seeded ``rng``."""

    def __init__(self, rng: random.Random, *, today: date) -> None:
        self.rng = rng
        self.today = today
        self.name_slugs: set[str] = set()
        self.sirens: set[str] = set()

    def organisations(self, *, prefixes: dict[str, str]) -> list[DemoOrganisation]:
        """The organisations of both source clusters, member numbers made of ``prefixes`` (per
        cluster slug) and given in order of seniority. The first organisation member of both
        clusters is the one whose contact gets a login: it has paid this year's fee to one
        cluster and owes it to the other."""
        only_one = MEMBERS_PER_CLUSTER - MEMBERS_OF_BOTH
        organisations = [
            self.organisation(home=slug, clusters=(slug,))
            for slug in SOURCE_CLUSTERS
            for _index in range(only_one)
        ]
        both = [
            self.organisation(home=self.rng.choice(SOURCE_CLUSTERS), clusters=SOURCE_CLUSTERS)
            for _index in range(MEMBERS_OF_BOTH)
        ]
        showcase = both[0]
        showcase.memberships = [
            self.membership(slug, postcode=showcase.fields["postcode"], fate=fate)
            for slug, fate in zip(SOURCE_CLUSTERS, ("pending", "current"), strict=True)
        ]
        organisations[only_one:only_one] = both
        for slug in SOURCE_CLUSTERS:
            memberships = sorted(
                (m for o in organisations for m in o.memberships if m.cluster == slug),
                key=lambda m: m.seniority,
            )
            for number, membership in enumerate(memberships, start=FIRST_MEMBER_NUMBER):
                membership.member_number = f"{prefixes[slug]}-{number:04d}"
        return organisations + self.duplicates(organisations, prefixes=prefixes)

    def duplicates(
        self, organisations: list[DemoOrganisation], *, prefixes: dict[str, str]
    ) -> list[DemoOrganisation]:
        """Records that the other cluster keeps of companies already drawn, for the merger's
        duplicate review (:data:`DUPLICATES` of each kind): another establishment of the same
        SIREN, a record knowing only the SIREN, the same name written another way without any
        SIRET. Drawn after everything else and numbered after the other members, so that they
        change none of the other records."""
        rng = self.rng
        candidates = [o for o in organisations if len(o.memberships) == 1 and o.fields["siret"]]
        chosen = rng.sample(candidates, 3 * DUPLICATES)
        records = []
        for index, original in enumerate(chosen):
            kind = ("same_siren", "siren_only", "other_spelling")[index % 3]
            home = original.memberships[0].cluster
            other = next(slug for slug in SOURCE_CLUSTERS if slug != home)
            town, postcodes, _weight = rng.choices(TOWNS[other], [t[2] for t in TOWNS[other]])[0]
            postcode = rng.choice(postcodes)
            fields = dict(
                original.fields,
                address_line1=f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                postcode=postcode,
                city=town,
            )
            siren = original.fields["siren"]
            if kind == "same_siren":
                nic = f"{int(original.fields['siret'][9:13]) + rng.randint(1, 9):04d}"
                fields["siret"] = siren + nic + luhn.calc_check_digit(siren + nic)
            elif kind == "siren_only":
                fields["siret"] = ""
            else:
                fields["siret"] = fields["siren"] = ""
                fields["name"] = original.fields["name"].upper().replace(" ", "-", 1)
            domain = original.contacts[0]["email"].partition("@")[2]
            record = DemoOrganisation(fields=fields, category=original.category)
            record.contacts = self._contacts(
                original.category, domain=domain, postcode=postcode, founder=self._person()
            )
            record.memberships = [self.membership(other, postcode=postcode)]
            records.append(record)
        for slug in SOURCE_CLUSTERS:
            taken = sum(1 for o in organisations for m in o.memberships if m.cluster == slug)
            added = [m for o in records for m in o.memberships if m.cluster == slug]
            for number, membership in enumerate(added, start=FIRST_MEMBER_NUMBER + taken):
                membership.member_number = f"{prefixes[slug]}-{number:04d}"
        return records

    def organisation(self, *, home: str, clusters: tuple[str, ...]) -> DemoOrganisation:
        """One organisation located in the area of cluster ``home``, member of ``clusters``."""
        rng = self.rng
        category = rng.choices(list(CATEGORIES), [c[0] for c in CATEGORIES.values()])[0]
        _weight, legal_forms, (low, high, mode) = CATEGORIES[category]
        town, postcodes, _weight = rng.choices(TOWNS[home], [t[2] for t in TOWNS[home]])[0]
        postcode = rng.choice(postcodes)
        founder = self._person()
        name, sector = self._name(category, home=home, town=town, founder=founder)
        domain = f"{_slug(name)}.example"
        siret = self._siret() if rng.random() >= 0.03 else ""
        organisation = DemoOrganisation(
            fields={
                "name": name,
                "siret": siret,
                "siren": siret[:9],
                "legal_form": rng.choices(list(legal_forms), list(legal_forms.values()))[0],
                "address_line1": f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                "address_line2": rng.choice(ADDRESS_COMPLEMENTS) if rng.random() < 0.2 else "",
                "postcode": postcode,
                "city": town,
                "headcount": round(rng.triangular(low, high, mode)),
                "sector": sector,
                "website": f"https://www.{domain}" if rng.random() < 0.8 else "",
            },
            category=category,
        )
        organisation.contacts = self._contacts(
            category, domain=domain, postcode=postcode, founder=founder
        )
        organisation.memberships = [self.membership(slug, postcode=postcode) for slug in clusters]
        return organisation

    def membership(self, cluster: str, *, postcode: str, fate: str = "") -> DemoMembership:
        """A membership of ``cluster`` and its terms, given how it stands this year (``fate``,
        drawn from :data:`FATES` if not given): ``current`` (this year's term paid),
        ``pending`` (unpaid), ``lapsed`` (last term one or two years ago) or ``cancelled``
        (resigned in December of last year)."""
        rng, year = self.rng, self.today.year
        fate = fate or rng.choices(list(FATES), list(FATES.values()))[0]
        if fate == "lapsed":
            stopped_years_ago = 1 if rng.random() < 0.6 else 2
        else:
            stopped_years_ago = 1 if fate == "cancelled" else 0
        years_ago = max(
            rng.choices(range(len(SENIORITY_WEIGHTS)), SENIORITY_WEIGHTS)[0], stopped_years_ago
        )
        since_fraction, cancel_fraction = rng.random(), rng.random()
        first_year, last_year = year - years_ago, year - stopped_years_ago
        member_since = min(self.today, _days_after(date(first_year, 1, 1), since_fraction, 365))
        terms = []
        for term_year in range(max(first_year, last_year - HISTORY_YEARS), last_year + 1):
            payment_fraction = rng.random()
            start, end = max(date(term_year, 1, 1), member_since), date(term_year, 12, 31)
            if fate == "pending" and term_year == year:
                terms.append(DemoTerm(start, end, is_paid=False, paid_on=None))
                continue
            paid_within = min(75, (end - start).days + 1)
            paid_on = min(self.today, _days_after(start, payment_fraction, paid_within))
            terms.append(DemoTerm(start, end, is_paid=True, paid_on=paid_on))
        cancelled_on = None
        if fate == "cancelled":
            cancelled_on = max(
                member_since, _days_after(date(year - 1, 12, 1), cancel_fraction, 31)
            )
        return DemoMembership(
            cluster=cluster,
            department_site=DEPARTMENT_SITES.get(postcode[:2]),
            member_since=member_since,
            seniority=(-years_ago, since_fraction),
            cancelled_on=cancelled_on,
            terms=terms,
        )

    def _person(self) -> tuple[str, str, str]:
        civility = self.rng.choice(("Mme", "M."))
        return civility, self.rng.choice(FIRST_NAMES[civility]), self.rng.choice(LAST_NAMES)

    def _name(
        self, category: str, *, home: str, town: str, founder: tuple[str, str, str]
    ) -> tuple[str, str]:
        """A name no other organisation has (in any spelling) and the sector it suggests."""
        rng = self.rng
        while True:
            place = rng.choice(PLACES[home] + REGION_PLACES)
            activity, sector = rng.choice(ACTIVITIES)
            if category == PlanCategory.ACADEMIC and rng.random() < 0.5:
                name = f"Laboratoire {rng.choice(LAB_TOPICS)} de {town}"
                sector = "Recherche publique"
            elif category == PlanCategory.ACADEMIC:
                name, sector = f"{rng.choice(SCHOOLS)} {place}", "Enseignement supérieur"
            elif category == PlanCategory.FREELANCE:
                activity, sector = rng.choice(FREELANCE_ACTIVITIES)
                name = f"{founder[1]} {founder[2]} {activity}"
            elif category == PlanCategory.LARGE:
                name = f"Groupe {place} {activity}"
            else:
                prefix = place if rng.random() < 0.65 else rng.choice(COINED_NAMES)
                name = f"{prefix} {activity}"
            if _slug(name) not in self.name_slugs:
                self.name_slugs.add(_slug(name))
                return name, sector

    def _siret(self) -> str:
        """A SIRET of a SIREN not given yet: 8 digits and a Luhn key, then a 4-digit NIC and a
        Luhn key over the 13 digits."""
        while True:
            siren = str(self.rng.randint(30_000_000, 99_999_999))
            siren += luhn.calc_check_digit(siren)
            if siren not in self.sirens:
                self.sirens.add(siren)
                nic = f"{self.rng.choice((1, 1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 12, 15, 21)):04d}"
                return siren + nic + luhn.calc_check_digit(siren + nic)

    def _phone(self, postcode: str, *, mobile: bool) -> str:
        if mobile:
            prefix = self.rng.choice("67")
        else:
            prefix = "5" if postcode[:2] in WEST_DEPARTMENTS else "4"
        return f"+33{prefix}{self.rng.randint(0, 99_999_999):08d}"

    def _contacts(
        self, category: str, *, domain: str, postcode: str, founder: tuple[str, str, str]
    ) -> list[dict]:
        """1 to 3 contacts with distinct e-mails. The first, the founder, is the primary contact
        (the only one of a freelancer); the others handle billing or are colleagues."""
        rng = self.rng
        count = 1 if category == PlanCategory.FREELANCE else rng.choices((1, 2, 3), (5, 4, 2))[0]
        others = rng.choices((ContactRole.BILLING, ContactRole.MEMBER), k=count - 1)
        roles = [ContactRole.PRIMARY, *others]
        titles = {
            PlanCategory.ACADEMIC: ACADEMIC_JOB_TITLES,
            PlanCategory.FREELANCE: FREELANCE_JOB_TITLES,
        }.get(category, JOB_TITLES)
        contacts = {}
        for index, role in enumerate(roles):
            civility, first_name, last_name = founder if index == 0 else self._person()
            email = f"{_slug(first_name)}.{_slug(last_name)}@{domain}"
            if role == ContactRole.BILLING and rng.random() < 0.25:
                civility = first_name = last_name = ""
                email = f"comptabilite@{domain}"
            masculine, feminine = rng.choice(titles[role])
            phone = self._phone(postcode, mobile=rng.random() < 0.4)
            language = "en" if rng.random() < 0.08 else "fr"
            contacts.setdefault(
                email,
                {
                    "civility": civility,
                    "first_name": first_name,
                    "last_name": last_name,
                    "job_title": {"M.": masculine, "Mme": feminine}.get(civility, ""),
                    "email": email,
                    "phone": phone,
                    "role": role,
                    "language": language,
                },
            )
        return list(contacts.values())


# --- Writing ------------------------------------------------------------------------------------


def _plan_for(plans: list[Plan], *, category: str, headcount: int | None) -> Plan:
    """The plan of ``category`` whose headcount band holds ``headcount``, else the first
    non-academic plan whose band holds it, else the first plan."""

    def fits(plan: Plan) -> bool:
        return headcount is None or (
            (plan.headcount_min is None or headcount >= plan.headcount_min)
            and (plan.headcount_max is None or headcount <= plan.headcount_max)
        )

    candidates = [p for p in plans if p.category == category and fits(p)] or [
        p for p in plans if p.category != PlanCategory.ACADEMIC and fits(p)
    ]
    return (candidates or plans)[0]


def _organisation_ids(organisations: list[DemoOrganisation]) -> dict[str, int]:
    sirets = [o.fields["siret"] for o in organisations if o.fields["siret"]]
    names = [o.fields["name"] for o in organisations if not o.fields["siret"]]
    rows = Organisation.objects.filter(Q(siret__in=sirets) | Q(siret="", name__in=names))
    return {siret or name: pk for pk, siret, name in rows.values_list("pk", "siret", "name")}


def _membership_ids(clusters: dict[str, Cluster], numbers: list[str]) -> dict[tuple, int]:
    rows = Membership.objects.filter(cluster__in=clusters.values(), member_number__in=numbers)
    return {
        (cluster_id, number): pk
        for pk, cluster_id, number in rows.values_list("pk", "cluster_id", "member_number")
    }


@dataclass
class DemoBill:
    """A term of the last twelve months to invoice (created unpaid) and how it is settled: as
    ``demo`` says (paid on its day, or not), the rest drawn by :func:`_bills_settle`."""

    term: Term
    demo: DemoTerm
    membership: DemoMembership
    issued_on: date | None = None
    invoice: Invoice | None = None
    #: How it was paid: "card", "transfer", "two transfers", "partly" (a transfer short of the
    #: amount) or "" (nothing).
    paid_by: str = ""
    #: Cancelled by a credit note (the organisation resigned before paying).
    cancelled: bool = False


def _write(
    organisations: list[DemoOrganisation],
    clusters: dict[str, Cluster],
    *,
    billed: set[tuple[str, str]],
    billed_since: date,
) -> tuple[dict[str, int], dict[str, int], list[DemoBill]]:
    """Create, in bulk, what is missing of ``organisations``, by natural key. Return the count
    created per kind, the organisations' primary keys by :attr:`DemoOrganisation.key` and the
    bills: the new terms of the ``billed`` memberships (cluster slug, member number) that start
    on ``billed_since`` or later, created unpaid for the billing services to settle."""
    created = {}
    existing = _organisation_ids(organisations)
    new = [Organisation(**o.fields) for o in organisations if o.key not in existing]
    created["organisations"] = len(Organisation.objects.bulk_create(new))
    organisation_ids = _organisation_ids(organisations) if new else existing

    pairs = [(o, m) for o in organisations for m in o.memberships]
    numbers = [m.member_number for _o, m in pairs]
    sites = {(s.cluster_id, s.name): s.pk for c in clusters.values() for s in c.sites.all()}
    existing = _membership_ids(clusters, numbers)
    new = []
    for organisation, membership in pairs:
        cluster = clusters[membership.cluster]
        if (cluster.pk, membership.member_number) in existing:
            continue
        new.append(
            Membership(
                organisation_id=organisation_ids[organisation.key],
                cluster=cluster,
                member_number=membership.member_number,
                member_since=membership.member_since,
                site_id=sites.get((cluster.pk, membership.department_site))
                or sites.get((cluster.pk, HOME_SITES[cluster.slug])),
                cancelled_on=membership.cancelled_on,
            )
        )
    created["memberships"] = len(Membership.objects.bulk_create(new))
    membership_ids = _membership_ids(clusters, numbers) if new else existing

    existing = set(
        Contact.objects.filter(organisation_id__in=organisation_ids.values()).values_list(
            "organisation_id", "email"
        )
    )
    new = [
        Contact(organisation_id=organisation_ids[o.key], **contact)
        for o in organisations
        for contact in o.contacts
        if (organisation_ids[o.key], contact["email"]) not in existing
    ]
    created["contacts"] = len(Contact.objects.bulk_create(new))

    periods = defaultdict(list)
    for membership_id, start, end in Term.objects.filter(
        membership_id__in=membership_ids.values()
    ).values_list("membership_id", "start_date", "end_date"):
        periods[membership_id].append((start, end))
    plans = {
        cluster.pk: [p for p in cluster.plans.all() if p.is_active] or list(cluster.plans.all())
        for cluster in clusters.values()
    }
    new, bills = [], []
    for organisation, membership in pairs:
        cluster = clusters[membership.cluster]
        membership_id = membership_ids[cluster.pk, membership.member_number]
        plan = _plan_for(
            plans[cluster.pk],
            category=organisation.category,
            headcount=organisation.fields["headcount"],
        )
        is_billed = (membership.cluster, membership.member_number) in billed
        for term in membership.terms:
            start, end = term.start_date, term.end_date
            if any(s <= end and start <= e for s, e in periods[membership_id]):
                continue
            bill = is_billed and start >= billed_since
            row = Term(
                membership_id=membership_id,
                plan=plan,
                start_date=start,
                end_date=end,
                fee=plan.annual_fee,
                is_paid=term.is_paid and not bill,
                paid_on=None if bill else term.paid_on,
            )
            new.append(row)
            if bill:
                bills.append(DemoBill(term=row, demo=term, membership=membership))
    created["terms"] = len(Term.objects.bulk_create(new))
    return created, organisation_ids, bills


def _accounts(clusters: dict[str, Cluster], member_contact: Contact) -> list[DemoAccount]:
    """The superuser, one staff user per source cluster, the merger committee's user and the
    member contact's login, each created if missing."""
    email = "admin@demo.example"
    _user, created = staff_user_ensure(
        email=email,
        password=ADMIN_PASSWORD,
        username="admin",
        first_name="Admin",
        last_name="Démo",
        is_superuser=True,
    )
    accounts = [DemoAccount("superuser", "admin", email, ADMIN_PASSWORD, created)]
    staff_names = {"digitalplace": ("Claire", "Fabre"), "frenchsouth": ("Julien", "Vidal")}
    for slug, cluster in clusters.items():
        email = f"personnel@{slug}.example"
        first_name, last_name = staff_names[slug]
        _user, created = staff_user_ensure(
            email=email,
            password=STAFF_PASSWORD,
            first_name=first_name,
            last_name=last_name,
            roles=[MEMBERSHIP_STAFF],
            clusters=[cluster],
        )
        accounts.append(
            DemoAccount(f"staff of {cluster.name}", email, email, STAFF_PASSWORD, created)
        )
    email = "comite-fusion@demo.example"
    _user, created = staff_user_ensure(
        email=email,
        password=COMMITTEE_PASSWORD,
        first_name="Hélène",
        last_name="Marty",
        roles=[MERGER_COMMITTEE],
    )
    accounts.append(DemoAccount("merger committee", email, email, COMMITTEE_PASSWORD, created))
    _user, created = contact_login_ensure(contact=member_contact, password=MEMBER_PASSWORD)
    accounts.append(
        DemoAccount(
            f"member contact of {member_contact.organisation.name}",
            member_contact.email,
            member_contact.email,
            MEMBER_PASSWORD,
            created,
        )
    )
    return accounts


def _legal_details_fill(clusters: dict[str, Cluster]) -> None:
    """Give each demo cluster the :data:`DEMO_LEGAL_DETAILS` it leaves blank, the
    :data:`DEMO_LATE_PAYMENT` mentions if it has set neither, and its name and e-mail as the
    sender of its reminders if that is blank; what staff entered stays, and a second run changes
    nothing."""
    for slug, cluster in clusters.items():
        blank = {
            name: value
            for name, value in DEMO_LEGAL_DETAILS[slug].items()
            if not getattr(cluster, name)
        }
        if cluster.late_payment_rate is None and not cluster.recovery_fee_mention:
            blank |= DEMO_LATE_PAYMENT
        if blank:
            for name, value in blank.items():
                setattr(cluster, name, value)
            cluster.save(update_fields=list(blank))
        # Reminders and payment follow-ups go out in the cluster's name rather than the site's
        # default sender.
        for policy in (
            reminder_policy_ensure(cluster=cluster),
            payment_follow_up_policy_ensure(cluster=cluster),
        ):
            if not policy.sender:
                policy.sender = f"{cluster.name} <{cluster.email}>"
                policy.save(update_fields=["sender"])


# --- A year of billing ---------------------------------------------------------------------------


def _billed_memberships(
    organisations: list[DemoOrganisation], rng: random.Random, *, showcase: DemoOrganisation
) -> set[tuple[str, str]]:
    """The memberships (cluster slug, member number) whose last twelve months are billed:
    :data:`BILLED_SHARE` of them (more of those with a term to pay), one draw each in the order
    they are generated, and the showcase organisation's (the demo member's login sees an invoice
    to pay and one paid)."""
    billed = {
        (membership.cluster, membership.member_number)
        for organisation in organisations
        for membership in organisation.memberships
        if rng.random()
        < BILLED_SHARE["other" if all(t.is_paid for t in membership.terms) else "pending"]
    }
    return billed | {(m.cluster, m.member_number) for m in showcase.memberships}


def _issued_on(term: Term, fraction: float) -> date:
    """When the invoice of ``term`` was issued: in December for a calendar year's renewal, the
    day they joined for a member who joined during the year."""
    start = term.start_date
    if (start.month, start.day) == (1, 1):
        return _days_after(date(start.year - 1, 12, 1), fraction, 28)
    return start


def _bills_settle(
    bills: list[DemoBill],
    rng: random.Random,
    *,
    staff: dict[int, AbstractBaseUser],
    keep_unpaid: set[str],
    today: date,
) -> None:
    """Issue the invoices of ``bills`` in order of date (their numbers follow their dates), then
    record what was received: the whole amount by card (a fake provider reference) or by
    transfer, sometimes in two parts, for a term the demo says paid (the first of each cluster
    by card). Of those it says unpaid,
    per cluster, the first is to cancel (:func:`_credit_notes_issue`), then one in two is partly
    paid, the others not at all. Transfers are recorded by the cluster's staff user (``staff``
    by cluster id). The member numbers of ``keep_unpaid`` stay unpaid."""
    unpaid = defaultdict(int)
    paid = defaultdict(int)
    for bill in bills:
        issue, method, split = (rng.random() for _draw in range(3))
        bill.issued_on = _issued_on(bill.term, issue)
        if bill.demo.is_paid:
            # The first paid of each cluster by card, so that each has card payments to show.
            first = paid[bill.membership.cluster] == 0
            paid[bill.membership.cluster] += 1
            bill.paid_by = (
                "card"
                if first or method < CARD_SHARE
                else "two transfers"
                if split < TWO_TRANSFERS_SHARE
                else "transfer"
            )
        elif bill.membership.member_number not in keep_unpaid:
            rank = unpaid[bill.membership.cluster]
            unpaid[bill.membership.cluster] += 1
            bill.cancelled = rank == 0
            bill.paid_by = "partly" if rank % 2 else ""
    bills.sort(key=lambda bill: (bill.issued_on, bill.membership.member_number))
    for bill in bills:
        bill.invoice = invoice_issue(term=bill.term, on=bill.issued_on)
    for bill in bills:
        invoice = bill.invoice
        if not bill.paid_by:
            continue
        transfer = {
            "method": PaymentMethod.TRANSFER,
            "reference": f"VIR {invoice.number}",
            "recorded_by": staff.get(invoice.cluster_id),
        }
        if bill.paid_by == "partly":
            received_on = min(today, bill.issued_on + timedelta(days=15))
            part = (invoice.amount * Decimal("0.4")).quantize(Decimal("1"))
            invoice_payment_record(
                invoice=invoice, amount=part, received_on=received_on, **transfer
            )
            continue
        received_on = max(bill.issued_on, bill.demo.paid_on)
        if bill.paid_by == "card":
            invoice_payment_record(
                invoice=invoice,
                amount=invoice.amount,
                received_on=received_on,
                method=PaymentMethod.CARD,
                provider_reference=f"cs_demo_{invoice.number}",
            )
            continue
        amount = invoice.amount
        if bill.paid_by == "two transfers":
            first = (amount / 2).quantize(Decimal("1"))
            first_on = max(bill.issued_on, received_on - timedelta(days=20))
            invoice_payment_record(invoice=invoice, amount=first, received_on=first_on, **transfer)
            amount -= first
        invoice_payment_record(invoice=invoice, amount=amount, received_on=received_on, **transfer)


def _credit_notes_issue(
    bills: list[DemoBill],
    clusters: dict[str, Cluster],
    *,
    staff: dict[int, AbstractBaseUser],
    today: date,
) -> None:
    """Per source cluster, issued by its staff user: a credit note cancelling an unpaid invoice
    (the organisation resigned before paying: its membership is resigned that day), and a
    partial one on an invoice paid by transfer (the plan corrected), whose overpayment is
    refunded (:func:`_refund_add`). Issued in order of date: their numbers follow their
    dates."""
    credit_notes = []
    for cluster in clusters.values():
        of_cluster = [bill for bill in bills if bill.invoice.cluster_id == cluster.pk]
        # A later run that bills a few new terms may find none of either kind.
        unpaid = next((bill for bill in of_cluster if bill.cancelled), None)
        if unpaid:
            credit_notes.append(
                (
                    min(today, unpaid.issued_on + timedelta(days=20)),
                    unpaid.invoice,
                    "Adhésion résiliée par l’organisation avant tout règlement : facture annulée.",
                    None,
                )
            )
        paid = next((bill for bill in of_cluster if bill.paid_by == "transfer"), None)
        if paid:
            credit_notes.append(
                (
                    min(today, max(paid.issued_on, paid.demo.paid_on) + timedelta(days=10)),
                    paid.invoice,
                    "Formule corrigée : l’effectif déclaré relève de la formule inférieure.",
                    (paid.invoice.amount * Decimal("0.2")).quantize(Decimal("0.01")),
                )
            )
    credit_notes.sort(key=lambda note: (note[0], note[1].number))
    for on, invoice, reason, amount in credit_notes:
        credit_note = credit_note_issue(
            invoice=invoice,
            reason=reason,
            amount=amount,
            issued_by=staff.get(invoice.cluster_id),
            on=on,
            # Its e-mail is of the demo's past: recorded as sent below, never sent.
            notify=False,
        )
        _past_credit_note_mails_record(credit_note)
        if amount is not None:
            _refund_add(credit_note, staff=staff.get(invoice.cluster_id), today=today)
        else:
            # The organisation resigned: its membership ends on the day of the credit note.
            Membership.objects.filter(pk=invoice.term.membership_id).update(cancelled_on=on)


def _refund_add(credit_note: CreditNote, *, staff: AbstractBaseUser | None, today: date) -> None:
    """The refund of what ``credit_note`` made overpaid on its paid invoice: a transfer to the
    member, recorded by the cluster's staff a few days later through the refunds' service."""
    invoice_refund_record(
        invoice=credit_note.invoice,
        amount=credit_note.amount,
        refunded_on=min(today, credit_note.issued_on + timedelta(days=5)),
        reference=f"REMB {credit_note.number}",
        reason=f"Trop-perçu après l’avoir {credit_note.number}.",
        recorded_by=staff,
    )


def _dunning_add(bills: list[DemoBill], *, today: date) -> None:
    """The payment follow-ups of the past: each invoice of ``bills`` left unpaid or partly paid
    (not cancelled) and past a step of its cluster's policy on ``today`` had that
    step's e-mail, recorded as sent on its day to the contacts who would have had it, in their
    language (the next pass finds it recorded: nothing reaches a mailbox)."""
    unpaid = [
        bill.invoice
        for bill in bills
        if bill.invoice is not None and bill.paid_by in ("", "partly") and not bill.cancelled
    ]
    if not unpaid:
        return
    steps = defaultdict(list)
    for step in PaymentFollowUpStep.objects.filter(
        policy__cluster_id__in={invoice.cluster_id for invoice in unpaid}
    ).select_related("policy"):
        steps[step.policy.cluster_id].append(step)
    contacts = defaultdict(list)
    organisation_of = {invoice.pk: invoice.term.membership.organisation_id for invoice in unpaid}
    for contact in contacts_to_notify_in(organisation_ids=list(set(organisation_of.values()))):
        contacts[contact.organisation_id].append(contact)
    sent = []
    for invoice in unpaid:
        for step in steps[invoice.cluster_id]:
            due_on = invoice.due_on + timedelta(days=step.days_after_due)
            if due_on > today:
                continue
            sent_at = timezone.make_aware(datetime.combine(due_on, time(8, 10)))
            sent.extend(
                PaymentFollowUp(
                    invoice=invoice,
                    step=step,
                    days_after_due=step.days_after_due,
                    due_on=due_on,
                    scheduled_on=due_on,
                    email=contact.email,
                    contact=contact,
                    language=contact.language or settings.LANGUAGE_CODE,
                    state=PaymentFollowUpState.SENT,
                    attempts=1,
                    queued_at=sent_at,
                    sent_at=sent_at,
                )
                for contact in contacts[organisation_of[invoice.pk]]
            )
    PaymentFollowUp.objects.bulk_create(sent, ignore_conflicts=True)


def _past_credit_note_mails_record(credit_note: CreditNote) -> None:
    """Record the e-mail of ``credit_note`` as sent on its day to the contacts who would have had
    it (``notice_sent_at``): the demo's past reaches nobody's mailbox."""
    sent_at = timezone.make_aware(datetime.combine(credit_note.issued_on, time(9)))
    organisation_id = credit_note.invoice.term.membership.organisation_id
    Mail.objects.bulk_create(
        Mail(
            purpose=MailPurpose.CREDIT_NOTE_NOTICE,
            content_type=ContentType.objects.get_for_model(CreditNote),
            object_id=credit_note.pk,
            email=contact.email,
            contact=contact,
            language=contact.language,
            state=MailState.SENT,
            attempts=1,
            queued_at=sent_at,
            sent_at=sent_at,
        )
        for contact in contacts_to_notify_in(organisation_ids=[organisation_id])
    )
    CreditNote.objects.filter(pk=credit_note.pk).update(notice_sent_at=sent_at)


def _past_mails_record(invoices: list[Invoice]) -> None:
    """Record the e-mails of the demo's past as sent on their day, to the contacts who would have
    had them: each invoice (``notice_sent_at``) and, once paid, its confirmation
    (``confirmation_sent_at``). The confirmations that the payments queued then find nothing
    left to send: the demo's past reaches nobody's mailbox."""
    invoices = list(
        Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices]).select_related(
            "term__membership"
        )
    )
    contacts = defaultdict(list)
    for contact in contacts_to_notify_in(
        organisation_ids={invoice.term.membership.organisation_id for invoice in invoices}
    ):
        contacts[contact.organisation_id].append(contact)
    content_type = ContentType.objects.get_for_model(Invoice)
    mails = []
    for invoice in invoices:
        sent = [(MailPurpose.INVOICE_NOTICE, invoice.issued_on, "notice_sent_at")]
        if invoice.paid_on:
            sent.append((MailPurpose.INVOICE_CONFIRMATION, invoice.paid_on, "confirmation_sent_at"))
        for purpose, day, record in sent:
            sent_at = timezone.make_aware(datetime.combine(day, time(9)))
            setattr(invoice, record, sent_at)
            mails += [
                Mail(
                    purpose=purpose,
                    content_type=content_type,
                    object_id=invoice.pk,
                    email=contact.email,
                    contact=contact,
                    language=contact.language,
                    state=MailState.SENT,
                    attempts=1,
                    queued_at=sent_at,
                    sent_at=sent_at,
                )
                for contact in contacts[invoice.term.membership.organisation_id]
            ]
    Mail.objects.bulk_create(mails)
    Invoice.objects.bulk_update(invoices, ["notice_sent_at", "confirmation_sent_at"])


def _billing_write(
    bills: list[DemoBill],
    clusters: dict[str, Cluster],
    rng: random.Random,
    *,
    keep_unpaid: set[str],
    today: date,
) -> dict[str, int]:
    """The last twelve months of billing of ``bills`` (see :func:`_bills_settle` and
    :func:`_credit_notes_issue`); return the count created per kind."""
    if not bills:
        return {"invoices": 0, "payments": 0, "credit notes": 0, "refunds": 0}
    staff = {cluster.pk: cluster.staff.order_by("pk").first() for cluster in clusters.values()}
    _bills_settle(bills, rng, staff=staff, keep_unpaid=keep_unpaid, today=today)
    _credit_notes_issue(bills, clusters, staff=staff, today=today)
    _dunning_add(bills, today=today)
    invoices = [bill.invoice for bill in bills]
    _past_mails_record(invoices)
    return {
        "invoices": len(invoices),
        "payments": Payment.objects.filter(invoice__in=invoices).count(),
        "credit notes": CreditNote.objects.filter(invoice__in=invoices).count(),
        "refunds": Refund.objects.filter(invoice__in=invoices).count(),
    }


def _statuses(clusters: dict[str, Cluster], today: date) -> dict[str, dict[str, int]]:
    """Number of memberships per status on ``today``, per cluster name."""
    rows = (
        memberships_with_status(
            on=today, queryset=Membership.objects.filter(cluster__in=clusters.values())
        )
        .order_by()
        .values("cluster__name", "status")
        .annotate(count=Count("pk"))
    )
    statuses = defaultdict(dict)
    for row in rows:
        statuses[row["cluster__name"]][row["status"]] = row["count"]
    return dict(statuses)


@transaction.atomic
def demo_seed() -> DemoReport:
    """Fill the database with the demo: the source clusters' legal details where blank, about
    200 organisations per source cluster, 10 % of them members of both, their contacts, terms up
    to this year, the logins and a year of billing for some of them, creating only what is
    missing. Raise :class:`ValidationError`
    if the source clusters do not exist (``migrate`` creates them)."""
    today = timezone.localdate()
    found = Cluster.objects.filter(slug__in=SOURCE_CLUSTERS).prefetch_related("sites", "plans")
    clusters = {cluster.slug: cluster for cluster in found}
    missing = [slug for slug in SOURCE_CLUSTERS if slug not in clusters]
    if missing:
        raise ValidationError(
            "The source clusters %(slugs)s do not exist: run `python manage.py migrate` first.",
            params={"slugs": ", ".join(missing)},
        )
    clusters = {slug: clusters[slug] for slug in SOURCE_CLUSTERS}
    _legal_details_fill(clusters)
    prefixes = {
        slug: cluster.member_number_prefix or slug[:2].upper() for slug, cluster in clusters.items()
    }
    generator = DemoGenerator(random.Random(SEED), today=today)
    organisations = generator.organisations(prefixes=prefixes)
    showcase = next(o for o in organisations if len(o.memberships) > 1)
    billing_rng = random.Random(BILLING_SEED)
    created, organisation_ids, bills = _write(
        organisations,
        clusters,
        billed=_billed_memberships(organisations, billing_rng, showcase=showcase),
        billed_since=today - timedelta(days=BILLED_DAYS),
    )
    member_contact = Contact.objects.select_related("organisation").get(
        organisation_id=organisation_ids[showcase.key], email=showcase.contacts[0]["email"]
    )
    accounts = _accounts(clusters, member_contact)
    created["users"] = sum(account.created for account in accounts)
    # The showcase's unpaid invoice stays whole: the demo member pays it.
    keep_unpaid = {m.member_number for m in showcase.memberships}
    created |= _billing_write(bills, clusters, billing_rng, keep_unpaid=keep_unpaid, today=today)
    return DemoReport(
        today=today,
        created=created,
        statuses=_statuses(clusters, today),
        accounts=accounts,
    )
