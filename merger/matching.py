"""Finding the organisation records that may be one company, for the committee's duplicate review.

Candidates come from blocks, never from comparing every record with every other: records sharing
a SIREN, the same name once normalised (its words, in any order), the same postcode or the same
e-mail domain (a company's own, not a webmail's). Within a postcode or domain block, names are
compared with rapidfuzz. A pair qualifies when it has the same SIREN (other SIRETs, or a record
known by its SIREN only), or the same normalised name, or close names with the same postcode or
e-mail domain; its score says how sure the match is and its reasons why.
"""

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from rapidfuzz import fuzz, process

from members.models import Contact, Organisation

#: Words of a name that say its legal form, not who it is.
LEGAL_FORM_WORDS = frozenset(
    {
        *("sa", "sas", "sasu", "sarl", "eurl", "ei", "eirl", "sci", "snc", "scop", "scic"),
        *("selarl", "gie", "gip", "sem", "spl", "association", "asso"),
    }
)
#: E-mail domains of webmail providers: two companies may share one without being one.
PUBLIC_EMAIL_DOMAINS = frozenset(
    {
        *("gmail.com", "googlemail.com", "yahoo.fr", "yahoo.com", "hotmail.fr", "hotmail.com"),
        *("outlook.fr", "outlook.com", "live.fr", "live.com", "msn.com", "orange.fr"),
        *("wanadoo.fr", "free.fr", "sfr.fr", "neuf.fr", "laposte.net", "icloud.com", "me.com"),
        *("protonmail.com", "proton.me", "gmx.fr", "gmx.com", "aol.com", "bbox.fr"),
        "numericable.fr",
    }
)
#: How close two names must be (rapidfuzz's token sort ratio, 0–100) to be "close".
CLOSE_NAMES = 88
#: A postcode or domain shared by more records than this says nothing about any two of them.
LARGEST_BLOCK = 5000


def name_key(name: str) -> str:
    """``name`` reduced to what identifies it: lower case, no accents, no punctuation, no legal
    form, its words sorted. « OC-VISION MOBILITÉ » and « Oc Vision Mobilité SAS » give the same
    key."""
    ascii_name = "".join(
        char
        for char in unicodedata.normalize("NFKD", name.lower())
        if not unicodedata.combining(char)
    )
    words = "".join(char if char.isalnum() else " " for char in ascii_name).split()
    return " ".join(sorted(word for word in words if word not in LEGAL_FORM_WORDS))


@dataclass(frozen=True)
class Record:
    """What the matching reads of an organisation."""

    pk: int
    name: str
    siret: str
    siren: str
    postcode: str
    key: str
    domains: frozenset[str]

    def as_json(self) -> dict:
        return {
            "id": self.pk,
            "name": self.name,
            "siret": self.siret,
            "siren": self.siren,
            "postcode": self.postcode,
        }


@dataclass(frozen=True)
class Candidate:
    """A pair of records that may be one company: ``a`` has the smaller id."""

    a: Record
    b: Record
    score: float
    reasons: tuple[str, ...]

    def as_json(self) -> dict:
        return {
            "a": self.a.as_json(),
            "b": self.b.as_json(),
            "score": self.score,
            "reasons": list(self.reasons),
        }


def _records() -> list[Record]:
    """Every organisation record that is not an alias, with its contacts' company domains. Two
    queries."""
    domains = defaultdict(set)
    for organisation_id, email in Contact.objects.filter(
        organisation__merged_into__isnull=True
    ).values_list("organisation_id", "email"):
        domain = email.rpartition("@")[2]
        if domain and domain not in PUBLIC_EMAIL_DOMAINS:
            domains[organisation_id].add(domain)
    return [
        Record(
            pk=pk,
            name=name,
            siret=siret,
            siren=siren,
            postcode=postcode,
            key=name_key(name),
            domains=frozenset(domains[pk]),
        )
        for pk, name, siret, siren, postcode in Organisation.objects.filter(
            merged_into__isnull=True
        ).values_list("pk", "name", "siret", "siren", "postcode")
    ]


def _score(a: Record, b: Record, similarity: float) -> tuple[float, tuple[str, ...]] | None:
    """The score (0–1) and reasons of the pair, or ``None`` if it does not qualify."""
    reasons = []
    same_postcode = bool(a.postcode) and a.postcode == b.postcode
    same_domain = bool(a.domains & b.domains)
    if a.siren and a.siren == b.siren:
        # Other SIRETs of one SIREN (establishments of one company), or a record that only
        # knows the company's SIREN beside one that knows an establishment's SIRET.
        reasons.append("siren_only" if not (a.siret and b.siret) else "same_siren")
        base = 0.85
    elif a.key and a.key == b.key:
        base = 0.75
    elif similarity >= CLOSE_NAMES and (same_postcode or same_domain):
        base = 0.4
    else:
        return None
    if a.key and a.key == b.key:
        reasons.append("same_name")
    elif similarity >= CLOSE_NAMES:
        reasons.append("close_name")
    if same_postcode:
        reasons.append("same_postcode")
    if same_domain:
        reasons.append("same_domain")
    score = base + 0.05 * (similarity / 100) + 0.05 * same_postcode + 0.05 * same_domain
    if reasons[0] == "close_name":
        score += 0.3 * (similarity - CLOSE_NAMES) / (100 - CLOSE_NAMES)
    return round(min(score, 1.0), 3), tuple(reasons)


def duplicate_candidates(*, excluded: set[tuple[int, int]] = frozenset()) -> list[Candidate]:
    """The pairs of organisation records that may be one company, best first, but those of
    ``excluded`` (pairs of ids, smaller first: those already judged). Three queries."""
    records = _records()
    by_pk = {record.pk: record for record in records}
    blocks = defaultdict(list)
    for record in records:
        if record.siren:
            blocks["siren", record.siren].append(record.pk)
        if record.key:
            blocks["name", record.key].append(record.pk)
        if record.postcode:
            blocks["postcode", record.postcode].append(record.pk)
        for domain in record.domains:
            blocks["domain", domain].append(record.pk)

    pairs: dict[tuple[int, int], float] = {}
    for (kind, _value), members in blocks.items():
        if len(members) < 2:
            continue
        if kind in ("siren", "name"):
            for a, b in combinations(sorted(members), 2):
                pairs.setdefault((a, b), -1)
            continue
        if len(members) > LARGEST_BLOCK:
            continue
        keys = [by_pk[pk].key for pk in members]
        for i, key in enumerate(keys[:-1]):
            # Each name against those after it in the block: every pair once.
            for _match, similarity, offset in process.extract(
                key,
                keys[i + 1 :],
                scorer=fuzz.token_sort_ratio,
                score_cutoff=CLOSE_NAMES,
                limit=None,
            ):
                a, b = sorted((members[i], members[i + 1 + offset]))
                pairs[a, b] = similarity

    candidates = []
    for (a, b), similarity in pairs.items():
        if (a, b) in excluded:
            continue
        first, second = by_pk[a], by_pk[b]
        if similarity < 0:
            similarity = fuzz.token_sort_ratio(first.key, second.key)
        scored = _score(first, second, similarity)
        if scored is not None:
            candidates.append(Candidate(first, second, *scored))
    candidates.sort(key=lambda candidate: (-candidate.score, candidate.a.pk, candidate.b.pk))
    return candidates
