"""Texts the system stores for later display, rendered in the language of whoever reads them.

An import's refusals, warnings and changes, the reminder ledger's detail, the merger's history:
what they say is written once and read later, by staff who may read French or English. So they
are stored as a *code* with its *values*, never as a translated sentence::

    {"code": "import.date_invalid", "params": {"value": "31/02/2026"}}

and rendered with gettext when shown (:func:`text_render`, the template filter ``text`` of the
``members`` tag library).

- Each app lists its codes, each with its French msgid (a ``gettext_lazy``), in its own
  ``texts`` module and hands them to :func:`register` when the module is imported (the app's
  ``ready`` imports it): ``members/texts.py`` below, ``merger/texts.py``.
- Code builds a :class:`Text` (``Text("import.date_invalid", value=cell)``): ``str()`` of it is the
  sentence in the active language, so it goes wherever a message string goes (a ``ValueError``,
  a ``ValidationError``, a log line, a command's output), and :func:`text_store` turns it, or a
  list or dict holding it, into what the database keeps.
- A value may be a :class:`Text` itself (rendered in the same language), a ``gettext_lazy``
  string (kept by its French msgid, translated when shown), a date (shown with
  :func:`members.formatting.short_date`), a model field (:class:`FieldLabel`, shown by its
  ``verbose_name``), a list of them (joined by commas) or plain text and numbers (shown as they
  are: names, SIRETs, the file's own cells). ``None`` and ``""`` show as « — ».
- What was stored before codes existed is plain text: it is shown as it is. Free text typed by
  people (a decision's reason, a note) is never a :class:`Text`.
"""

import datetime as dt

from django.apps import apps
from django.utils import translation
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.formatting import short_date

#: Every registered code → its French msgid (lazy).
CODES: dict[str, object] = {}


def register(codes: dict[str, object]) -> None:
    """Add ``codes`` (code → lazy French msgid) to the catalogue; a code is registered once."""
    for code, msgid in codes.items():
        if CODES.get(code, msgid) != msgid:
            raise ValueError(f"Text code {code!r} registered twice")
        CODES[code] = msgid


class FieldLabel:
    """A model field named in a text (« Formule : A → B »), shown by its ``verbose_name``."""

    __slots__ = ("model", "name")

    def __init__(self, model, name: str):
        self.model = model._meta.label_lower
        self.name = name

    def stored(self) -> dict:
        return {"field": f"{self.model}.{self.name}"}


class Text:
    """A sentence to show later: a registered ``code`` and its values."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, **params):
        if code not in CODES:
            raise KeyError(f"Unknown text code {code!r}: register it in the app's texts module")
        self.code = code
        self.params = params

    def stored(self) -> dict:
        return {"code": self.code, "params": {k: _param_store(v) for k, v in self.params.items()}}

    def __str__(self) -> str:
        return text_render(self.stored())

    def __repr__(self) -> str:
        return f"Text({self.code!r}, {self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Text) and self.stored() == other.stored()

    def __hash__(self) -> int:
        return hash(self.code)


class TextError(Exception):
    """An error whose reason is one or more :class:`Text` (sentences that follow each other):
    ``exc.texts`` to store them, ``str(exc)`` says them in the active language."""

    def __init__(self, *texts):
        super().__init__(*texts)
        self.texts = list(texts)

    def __str__(self) -> str:
        return " ".join(str(text) for text in self.texts)


def _param_store(value):
    if isinstance(value, Text | FieldLabel):
        return value.stored()
    if isinstance(value, Promise):
        with translation.override(None):  # no translation: the msgid itself
            return {"msgid": str(value)}
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, list | tuple):
        return {"list": [_param_store(item) for item in value]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def text_store(value):
    """``value`` as the database keeps it: every :class:`Text` in it (it may be one, or a list or
    dict holding some, at any depth) replaced by its code and values."""
    if isinstance(value, Text):
        return value.stored()
    if isinstance(value, list | tuple):
        return [text_store(item) for item in value]
    if isinstance(value, dict):
        return {key: text_store(item) for key, item in value.items()}
    return value


def _param_render(value):
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value  # for msgids written with %(…)d
    if isinstance(value, dict):
        if "code" in value:
            return text_render(value)
        if "date" in value:
            return short_date(dt.date.fromisoformat(value["date"]))
        if "msgid" in value:
            return gettext(value["msgid"])
        if "field" in value:
            model, name = value["field"].rsplit(".", 1)
            try:
                label = apps.get_model(model)._meta.get_field(name).verbose_name
            except LookupError:
                label = name
            return capfirst(str(label))
        if "list" in value:
            return ", ".join(_param_render(item) for item in value["list"])
    return str(value)


def text_render(value) -> str:
    """What is stored (a code with its values, or plain text stored before codes existed), as a
    sentence in the active language; a list of them as sentences that follow each other. An
    unknown code (a text of a later version, read by an older one) shows its code and values
    rather than breaking the page."""
    if isinstance(value, Text):
        value = value.stored()
    if isinstance(value, list):
        return " ".join(text_render(item) for item in value)
    if not isinstance(value, dict) or "code" not in value:
        return "" if value is None else str(value)
    params = {key: _param_render(item) for key, item in (value.get("params") or {}).items()}
    msgid = CODES.get(value["code"])
    if msgid is None:
        return f"{value['code']} {params}"
    sentence = str(msgid)
    if not params:
        return sentence
    try:
        return sentence % params
    except (KeyError, TypeError, ValueError):
        # Values stored by another version of the sentence: the sentence, then the values.
        return f"{sentence} {params}"


def texts_render(values) -> list[str]:
    """:func:`text_render` of each of ``values``."""
    return [text_render(value) for value in values or ()]


register(
    {
        # An import's refusals, warnings and changes (members.imports: widgets, staging, resources,
        # tables), kept in ImportRecord.refused, .warnings and .changes.
        "import.value_missing": _("Valeur obligatoire manquante."),
        "import.member_number_missing": _("N° d’adhérent manquant."),
        "import.name_missing": _("Raison sociale manquante."),
        "import.formula": _(
            "« %(value)s » ressemble à une formule de tableur : refusé par sécurité."
        ),
        "import.too_long": _("« %(value)s » est trop long (%(max)d caractères au plus)."),
        "import.email_invalid": _("« %(value)s » n’est pas une adresse e-mail valide."),
        "import.email_too_long": _("L’adresse e-mail est trop longue."),
        "import.identifier_invalid_length": _(
            "%(label)s « %(value)s » n’a pas le bon nombre de chiffres."
        ),
        "import.identifier_invalid_format": _(
            "%(label)s « %(value)s » ne doit contenir que des chiffres."
        ),
        "import.identifier_invalid_checksum": _(
            "%(label)s « %(value)s » est invalide (clé de contrôle incorrecte)."
        ),
        "import.identifier_invalid": _("%(label)s « %(value)s » est invalide."),
        "import.postcode_invalid": _("« %(value)s » n’est pas un code postal (5 chiffres)."),
        "import.headcount_invalid": _(
            "« %(value)s » n’est pas un effectif (nombre entier attendu)."
        ),
        "import.amount_invalid": _("« %(value)s » n’est pas un montant."),
        "import.amount_negative": _("Le montant ne peut pas être négatif (« %(value)s »)."),
        "import.date_invalid": _("« %(value)s » n’est pas une date valide (jj/mm/aaaa attendu)."),
        "import.yes_no_invalid": _("« %(value)s » : « Oui » ou « Non » attendu."),
        "import.choice_invalid": _(
            "%(label)s : « %(value)s » ne fait pas partie des valeurs possibles (%(expected)s)."
        ),
        "import.quoted": _("« %(value)s »"),
        "import.object_unknown": _(
            "%(label)s : « %(value)s » n’existe pas chez %(cluster)s (possibles : %(known)s)."
        ),
        "import.other_cluster": _(
            "Cette ligne est une adhésion de « %(row)s », pas de « %(cluster)s »."
        ),
        "import.siren_not_siret": _(
            "Le SIREN %(siren)s n’est pas celui du SIRET %(siret)s (ses 9 premiers chiffres)."
        ),
        "import.siret_differs": _(
            "Le n° d’adhérent %(number)s est « %(name)s », SIRET %(stored)s ; "
            "la ligne indique le SIRET %(siret)s."
        ),
        "import.siren_differs": _(
            "« %(name)s » a le SIREN %(stored)s ; la ligne indique %(siren)s."
        ),
        "import.end_date_missing": _(
            "Date de fin d’adhésion manquante : la période d’adhésion ne peut pas être datée."
        ),
        "import.plan_missing": _("Formule manquante pour la période d’adhésion."),
        "import.paid_on_unpaid": _(
            "Une date de règlement est indiquée alors que la cotisation n’est pas réglée."
        ),
        "import.siret_taken": _(
            "Le SIRET %(siret)s est déjà celui de « %(name)s », adhérent n° %(number)s de ce "
            "cluster."
        ),
        "import.period_reversed": _("La période commence le %(start)s, après sa fin le %(end)s."),
        "import.period_overlap": _(
            "La période du %(start)s au %(end)s chevauche la période du %(other_start)s "
            "au %(other_end)s déjà enregistrée pour cet adhérent."
        ),
        "import.paid_kept": _(
            "La cotisation jusqu’au %(end)s est enregistrée comme réglée : elle le reste."
        ),
        "import.invoiced_value_kept": _("%(field)s : %(stored)s (la ligne indique %(value)s)"),
        "import.invoiced_kept": _(
            "La période jusqu’au %(end)s est facturée (%(number)s) : elle garde ses "
            "valeurs, %(kept)s ; une correction passe par un avoir."
        ),
        "import.contact_without_email": _(
            "Contact %(slot)d sans e-mail : il n’est pas enregistré."
        ),
        "import.phone_unknown": _("Téléphone « %(phone)s » non reconnu : enregistré tel quel."),
        "import.values_kept": _(
            "Valeurs différentes de la ligne %(row)d, qui sont gardées : %(fields)s."
        ),
        "import.columns_ignored": _("Colonnes ignorées (inconnues du profil) : %(columns)s."),
        "import.new_organisation": _("nouvelle organisation"),
        "import.new_membership": _("nouvelle adhésion"),
        "import.new_term": _("période du %(start)s au %(end)s"),
        "import.new_contact": _("nouveau contact %(email)s"),
        "import.changed": _("%(field)s : %(before)s → %(after)s"),
        # Why a file could not be imported (ImportRecord.message: members.imports readers,
        # tables and services).
        "import.file_too_large": _(
            "Le fichier « %(name)s » fait %(size)s Mo : la taille maximale est %(limit)s Mo."
        ),
        "import.file_empty": _("Le fichier « %(name)s » est vide."),
        "import.file_not_ods": _(
            "Le fichier « %(name)s » n’est pas un classeur OpenDocument valide "
            "(ce n’est pas une archive zip)."
        ),
        "import.file_not_xls": _(
            "Le fichier « %(name)s » n’est pas un classeur Excel valide (son contenu n’est pas "
            "celui d’un fichier .xls) : ouvrez-le dans un tableur et enregistrez-le en .xlsx."
        ),
        "import.file_not_xlsx": _(
            "Le fichier « %(name)s » n’est pas un classeur Excel valide "
            "(ce n’est pas une archive zip)."
        ),
        "import.file_inflates_too_much": _(
            "Le fichier « %(name)s » est refusé : une fois décompressé, son contenu "
            "serait anormalement gros (%(size)s Mo)."
        ),
        "import.file_zip_without_workbook": _(
            "Le fichier « %(name)s » est une archive zip qui ne contient pas de "
            "classeur Excel (.xlsx) ou OpenDocument (.ods)."
        ),
        "import.file_zip_damaged": _(
            "Le fichier « %(name)s » est endommagé : l’archive zip ne peut pas être lue."
        ),
        "import.file_password": _(
            "Le fichier « %(name)s » est protégé par un mot de passe : enregistrez-en une "
            "copie sans mot de passe."
        ),
        "import.file_damaged": _(
            "Le fichier « %(name)s » est un classeur endommagé ou illisible (%(error)s)."
        ),
        "import.file_csv_unreadable": _(
            "Le fichier « %(name)s » n’est pas un CSV lisible (ligne %(row)s : %(error)s)."
        ),
        "import.file_binary": _(
            "Le fichier « %(name)s » n’est ni un classeur (.xlsx, .ods, .xls) "
            "ni un fichier CSV : son contenu est binaire."
        ),
        "import.file_encoding": _(
            "Le fichier « %(name)s » n’est pas un texte lisible : son encodage n’est ni UTF-8 ni "
            "Windows-1252. Enregistrez-le en « CSV UTF-8 »."
        ),
        "import.file_size": _(
            "Le fichier « %(file)s » fait %(size)s : la taille maximale est %(max)s."
        ),
        "import.columns_missing": _(
            "Colonnes obligatoires absentes de « %(file)s » (en-têtes ligne %(row)d) : %(missing)s."
        ),
        "import.no_data_rows": _(
            "Le fichier « %(file)s » n’a aucune ligne de données sous les en-têtes "
            "(ligne %(row)d) : rien à importer."
        ),
        "import.no_header": _(
            "Aucune ligne d’en-têtes du profil « %(profile)s » dans les %(rows)d premières lignes "
            "de « %(file)s » (colonnes attendues : %(expected)s)."
        ),
        "import.looks_like": _("Ce fichier ressemble au profil « %(profile)s »."),
        "import.profile_unknown": _(
            "Profil d’import inconnu « %(profile)s » (profils : %(profiles)s)."
        ),
        "import.profile_of_another_cluster": _(
            "Ce format est celui des fichiers de %(owner)s, pas de %(cluster)s : "
            "choisissez le format de %(cluster)s ou le format standard."
        ),
        # The reminder ledger's detail (Reminder.detail).
        "reminder.send_error": _("Erreur du serveur d’envoi : %(error)s"),
    }
)
