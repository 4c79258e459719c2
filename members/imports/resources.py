"""The import profiles: django-import-export resources, one per spreadsheet format.

A spreadsheet row describes one membership of the cluster being imported, its organisation, the
term it ends with and one or two contacts. A profile's resource maps the file's columns to the
attributes of a :class:`MemberRow` with import-export ``Field``\\ s and the widgets of
:mod:`members.imports.widgets`; :class:`MemberRowResource` then works through the library's hooks:

- ``before_import`` loads what the cluster already holds, once (:class:`~members.imports.staging.
  MemberBase`), so that no row costs a query;
- ``import_instance`` (the library's) cleans every cell with its widget and collects the errors by
  column; ``validate_instance`` adds the checks between cells and against the stored members;
- ``save_instance`` stages the row's changes; ``after_import_row`` writes them in batches
  (``bulk_create``/``bulk_update``), ``after_import`` writes the last batch;
- the row results say ``new`` (the row creates a record), ``update`` (it changes stored values)
  or ``skip`` (unchanged), and the result keeps each refused row by its number in the file.

``Meta.use_transactions`` puts the whole import in one transaction; the caller decides whether
refused rows roll it back (``rollback_on_validation_errors``).
"""

import contextlib
from collections import OrderedDict

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy
from import_export import resources
from import_export.fields import Field
from import_export.results import InvalidRow, Result, RowResult

from members.models import Cluster, ContactRole, Plan, Site
from members.texts import Text

from . import widgets as w
from .staging import CONTACT_FIELDS, CONTACT_SLOTS, ORGANISATION_FIELDS, MemberBase

#: The dataset column holding each row's number as spreadsheet software shows it.
ROW_NUMBER = "#"


class MemberRow:
    """One cleaned spreadsheet row: the attributes the resource's fields write to."""

    ATTRIBUTES = (
        "cluster",
        "member_number",
        *ORGANISATION_FIELDS,
        "site",
        "member_since",
        "status",
        "plan",
        "start_date",
        "end_date",
        "fee",
        "is_paid",
        "paid_on",
        *(f"contact{slot}_{name}" for slot in CONTACT_SLOTS for name in ("email", *CONTACT_FIELDS)),
    )

    pk = None

    def __init__(self):
        for attribute in self.ATTRIBUTES:
            setattr(self, attribute, None)
        self.number = None
        self.outcome = None
        self.changes = []
        self.warnings = []
        self.label = ""

    def __str__(self) -> str:
        return self.label

    @classmethod
    def of(cls, **values) -> "MemberRow":
        """A row holding ``values``: how the export turns stored records into cells."""
        row = cls()
        for name, value in values.items():
            if name not in cls.ATTRIBUTES:
                raise AttributeError(f"MemberRow has no attribute {name!r}")
            setattr(row, name, value)
        return row


class InstanceLoader:
    """Every row starts from a blank :class:`MemberRow`; the stored records it matches are found
    by :class:`~members.imports.staging.MemberBase`."""

    def __init__(self, resource, dataset=None):
        self.resource = resource

    def get_instance(self, row):
        return None


class MemberRowResult(RowResult):
    """A row's result, with its number in the file."""

    def __init__(self):
        super().__init__()
        self.number = None


class MemberImportResult(Result):
    """Keeps refused rows by their number in the file, not their position in the dataset. Of the
    other rows it keeps only those that broke off with an error: the totals count them all and
    the resource keeps the details the report shows, so that a large import's memory does not
    grow with its rows."""

    def append_row_result(self, row_result):
        if row_result.errors:
            super().append_row_result(row_result)

    def append_invalid_row(self, number, row, validation_error):
        self.invalid_rows.append(
            InvalidRow(number=row[ROW_NUMBER], validation_error=validation_error, values=())
        )


class MemberRowResource(resources.Resource):
    """What every profile shares; a profile declares its fields and :attr:`required_columns`."""

    #: Machine name of the profile (``--profile``).
    profile = ""
    #: Its name for staff.
    label = ""
    #: Attributes whose column must be in the file; the import refuses the file up front otherwise.
    required_columns = ("member_number", "name", "siret")
    #: Other spellings of some headers (compared normalised), by attribute.
    header_aliases: dict[str, tuple[str, ...]] = {}
    #: Attributes whose header may carry a year after it, e.g. "Cotisation 2017".
    headers_with_year: tuple[str, ...] = ()
    #: At most this many warnings and new or updated rows are reported.
    DETAILS_KEPT = 5000

    class Meta:
        instance_loader_class = InstanceLoader
        import_id_fields = ()
        force_init_instance = True
        use_transactions = True
        skip_diff = True
        report_skipped = False
        clean_model_instances = False
        # No savepoint per row. Rows are written in batches by MemberBase (after_import_row), so
        # the library's own bulk lists stay empty.
        use_bulk = True

    def __init__(self, *, cluster: Cluster, batch_size: int = 2000, progress=None, **kwargs):
        super().__init__(**kwargs)
        self.cluster = cluster
        self.batch_size = batch_size
        #: The first :attr:`DETAILS_KEPT` warnings and new or updated rows, for the report.
        self.warnings: list[dict] = []
        self.changes: list[dict] = []
        #: Called as ``progress(rows_done, rows_total)`` every :attr:`progress_every` rows.
        self.progress = progress
        self.progress_every = 500
        self.rows_done = self.rows_total = 0
        self.base = None
        self.write = True
        self.skip_invalid = False
        #: The file's own header of each attribute, for messages; the reader sets it.
        self.header_of = {name: field.column_name for name, field in self.fields.items()}
        for field in self.fields.values():
            if isinstance(field.widget, w.NamedObjectWidget):
                field.widget.cluster = cluster

    # Fields and headers

    @classmethod
    def header_labels(cls) -> dict[str, tuple[str, ...]]:
        """Normalised accepted headers of each attribute."""
        labels = {}
        for name, field in cls.fields.items():
            accepted = (field.column_name, *cls.header_aliases.get(name, ()))
            labels[name] = tuple(w.normalise_label(header) for header in accepted)
        return labels

    # Library hooks

    def get_result_class(self):
        return MemberImportResult

    def get_row_result_class(self):
        return MemberRowResult

    def init_instance(self, row=None):
        instance = MemberRow()
        instance.number = row[ROW_NUMBER]
        return instance

    def import_data(self, dataset, dry_run=False, **kwargs):
        # The library passes dry_run to the row hooks only; before_import needs it too.
        self.write = not dry_run
        return super().import_data(dataset, dry_run=dry_run, **kwargs)

    def before_import(self, dataset, **kwargs):
        self.skip_invalid = kwargs.get("skip_invalid", False)
        self.rows_total = len(dataset)
        siret = self.fields["siret"].column_name
        sirets = set()
        if siret in dataset.headers:
            widget = self.fields["siret"].widget
            for value in dataset[siret]:
                with contextlib.suppress(ValueError):
                    sirets.add(widget.clean(value))
        self.base = MemberBase(self.cluster, sirets=sirets - {""}, lock=self.write)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if not errors:
            errors.update(self.base.check(instance))
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        self.base.stage(instance)

    def after_import_row(self, row, row_result, **kwargs):
        row_result.number = row[ROW_NUMBER]
        self.rows_done += 1
        if self.progress and self.rows_done % self.progress_every == 0:
            self.progress(self.rows_done, self.rows_total)
        if row_result.validation_error is not None:
            if not self.skip_invalid:
                # This import will not be written: stop writing batches, keep reporting.
                self.write = False
            return
        instance = self.base.last_staged
        row_result.import_type = {
            "new": RowResult.IMPORT_TYPE_NEW,
            "update": RowResult.IMPORT_TYPE_UPDATE,
            "unchanged": RowResult.IMPORT_TYPE_SKIP,
        }[instance.outcome]
        row_result.object_repr = instance.label
        for message in instance.warnings[: self.DETAILS_KEPT - len(self.warnings)]:
            self.warnings.append({"row": instance.number, "message": message})
        if instance.outcome != "unchanged" and len(self.changes) < self.DETAILS_KEPT:
            self.changes.append(
                {
                    "row": instance.number,
                    "outcome": row_result.import_type,
                    "label": instance.label,
                    "changes": instance.changes,
                }
            )
        if self.write and self.base.pending_rows >= self.batch_size:
            self.base.flush()

    def after_import(self, dataset, result, **kwargs):
        if self.write:
            self.base.flush()

    def import_instance(self, instance, row, **kwargs):
        # The library's, but keeping each widget's refusal as it was raised (a Text, shown later
        # in the reader's language) where the library turns it into a string at once.
        errors = {}
        for field in self.get_import_fields():
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                message = exc.args[0] if exc.args else str(exc)
                errors[field.attribute] = ValidationError(message, code="invalid")
        if errors:
            raise ValidationError(errors)

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.validation_error is not None:
            self.after_import_row(row, row_result, **kwargs)
        return row_result

    # Reporting

    def refusals(self, result) -> list[dict]:
        """``[{"row", "column", "message"}]`` of every refused row, in file order; each message a
        :class:`~members.texts.Text` (or a string, from a check that has no code)."""
        refused = []
        for invalid in result.invalid_rows:
            error = invalid.error
            by_attribute = getattr(error, "error_dict", None)
            if by_attribute is None:
                by_attribute = {NON_FIELD_ERRORS: error.error_list}
            for attribute, errors in by_attribute.items():
                if attribute == NON_FIELD_ERRORS:
                    column = ""
                else:
                    column = self.header_of.get(attribute, attribute)
                for each in errors:
                    message = each.message % each.params if each.params else each.message
                    refused.append({"row": invalid.number, "column": column, "message": message})
        return sorted(refused, key=lambda refusal: refusal["row"])


#: The widget (class and arguments) of each attribute.
WIDGETS = {
    "cluster": (w.TextWidget, {"max_length": 50}),
    "member_number": (
        w.TextWidget,
        {
            "max_length": 32,
            "required": True,
            "missing_code": "import.member_number_missing",
        },
    ),
    "name": (
        w.TextWidget,
        {
            "max_length": 200,
            "required": True,
            "missing_code": "import.name_missing",
        },
    ),
    "siret": (w.SiretWidget, {}),
    "siren": (w.SirenWidget, {}),
    "legal_form": (w.TextWidget, {"max_length": 100}),
    "address_line1": (w.TextWidget, {"max_length": 200}),
    "address_line2": (w.TextWidget, {"max_length": 200}),
    "postcode": (w.PostcodeWidget, {}),
    "city": (w.TextWidget, {"max_length": 100}),
    "headcount": (w.HeadcountWidget, {}),
    "sector": (w.TextWidget, {"max_length": 200}),
    "site": (w.NamedObjectWidget, {"model": Site, "label": gettext_lazy("Site")}),
    "member_since": (w.FrenchDateWidget, {}),
    "plan": (w.NamedObjectWidget, {"model": Plan, "label": gettext_lazy("Formule")}),
    "start_date": (w.FrenchDateWidget, {}),
    "end_date": (w.FrenchDateWidget, {}),
    "fee": (w.FrenchDecimalWidget, {}),
    "is_paid": (w.OuiNonWidget, {}),
    "paid_on": (w.FrenchDateWidget, {}),
    "civility": (
        w.ChoiceWidget,
        {
            "choices": {
                "M.": ("M.", "M", "Mr", "Monsieur"),
                "Mme": ("Mme", "Madame", "Mlle", "Mademoiselle", "Mrs", "Ms"),
            },
            "label": gettext_lazy("Civilité"),
        },
    ),
    "first_name": (w.PersonNameWidget, {"max_length": 100}),
    "last_name": (w.PersonNameWidget, {"max_length": 100}),
    "job_title": (w.TextWidget, {"max_length": 150}),
    "email": (w.EmailWidget, {}),
    "phone": (w.TextWidget, {"max_length": 40}),
    "role": (
        w.ChoiceWidget,
        {
            "choices": {
                ContactRole.PRIMARY: ("Principal", "primary", "Contact principal"),
                ContactRole.BILLING: ("Facturation", "billing", "Contact facturation"),
                ContactRole.MEMBER: ("Collaborateur", "member"),
            },
            "label": gettext_lazy("Rôle"),
        },
    ),
    "language": (
        w.ChoiceWidget,
        {
            "choices": {"fr": ("fr", "Français", "French"), "en": ("en", "Anglais", "English")},
            "label": gettext_lazy("Langue"),
        },
    ),
}


def _field(attribute: str, name: str, header: str, *, unescape: bool) -> Field:
    widget_class, arguments = WIDGETS[name]
    if unescape:
        # The project's own export: text is read back exactly as it was stored (behind the
        # apostrophe that escaped formulas; names in capitals stay so).
        if widget_class is w.PersonNameWidget:
            widget_class = w.TextWidget
        widget_class = w.unescaping(widget_class)
    return Field(attribute, header, widget_class(**arguments))


def member_fields(*, unescape: bool = False, **headers: str) -> dict[str, Field]:
    """Fields of the membership, its organisation and its term, by attribute → column header."""
    return {name: _field(name, name, header, unescape=unescape) for name, header in headers.items()}


def contact_fields(slot: int, *, unescape: bool = False, **headers: str) -> dict[str, Field]:
    """Fields of contact ``slot`` (1 or 2), by attribute → column header."""
    return {
        f"contact{slot}_{name}": _field(f"contact{slot}_{name}", name, header, unescape=unescape)
        for name, header in headers.items()
    }


def columns(*groups: dict[str, Field]):
    """Class decorator: the resource's fields, in column order (the export's order)."""

    def declare(resource):
        resource.fields = OrderedDict(resource.fields)
        for group in groups:
            resource.fields.update(group)
        return resource

    return declare


@columns(
    member_fields(
        member_number="N° adhérent",
        name="Raison sociale",
        siret="SIRET",
        legal_form="Forme juridique",
        address_line1="Adresse",
        postcode="Code postal",
        city="Ville",
        headcount="Effectif",
        sector="Secteur d'activité",
        member_since="Date d'adhésion",
        plan="Formule",
        fee="Cotisation",
        is_paid="Réglée",
        paid_on="Date de règlement",
        end_date="Fin d'adhésion",
    ),
    contact_fields(
        1,
        civility="Civilité",
        first_name="Prénom",
        last_name="Nom",
        job_title="Fonction",
        email="E-mail",
        phone="Téléphone",
    ),
)
class DigitalPlaceResource(MemberRowResource):
    """DigitalPlace's export: sheet "Adhérents", title rows above the headers, one row per
    contact (a company with two contacts has two rows with the same member number)."""

    profile = "digitalplace"
    label = "DigitalPlace"
    required_columns = ("member_number", "name", "siret", "plan", "fee", "end_date")
    headers_with_year = ("fee",)
    header_aliases = {
        "member_number": ("N° d'adhérent", "Numéro adhérent", "No adhérent"),
        "contact1_email": ("Email", "Courriel", "Adresse e-mail"),
        "is_paid": ("Réglé", "Payée"),
    }


@columns(
    member_fields(
        member_number="id_membre",
        name="nom_structure",
        siren="siren",
        siret="siret",
        address_line1="adresse_1",
        address_line2="adresse_2",
        postcode="cp",
        city="ville",
        site="antenne",
        plan="categorie",
        headcount="nb_salaries",
        member_since="date_premiere_adhesion",
        fee="cotisation_montant",
        is_paid="cotisation_payee",
        end_date="fin_adhesion",
    ),
    contact_fields(
        1,
        civility="contact_civilite",
        last_name="contact_nom",
        first_name="contact_prenom",
        email="contact_email",
        phone="contact_tel",
    ),
    contact_fields(
        2,
        last_name="contact2_nom",
        first_name="contact2_prenom",
        email="contact2_email",
        phone="contact2_tel",
    ),
)
class FrenchSouthResource(MemberRowResource):
    """FrenchSouth.digital's export: CSV as French Excel writes it, one row per member with up to
    two contacts, and the site (« antenne ») of the member."""

    profile = "frenchsouth"
    label = "FrenchSouth.digital"
    required_columns = ("member_number", "name", "siret", "plan", "fee", "end_date")


@columns(
    member_fields(
        unescape=True,
        cluster="Cluster",
        member_number="N° adhérent",
        name="Raison sociale",
        siret="SIRET",
        siren="SIREN",
        legal_form="Forme juridique",
        address_line1="Adresse",
        address_line2="Complément d'adresse",
        postcode="Code postal",
        city="Ville",
        headcount="Effectif",
        sector="Secteur d'activité",
        site="Site",
        member_since="Date d'adhésion",
    ),
    {"status": Field("status", "Statut", readonly=True)},
    member_fields(
        unescape=True,
        plan="Formule",
        start_date="Début de période",
        end_date="Fin de période",
        fee="Cotisation",
        is_paid="Réglée",
        paid_on="Date de règlement",
    ),
    contact_fields(
        1,
        unescape=True,
        civility="Civilité",
        first_name="Prénom",
        last_name="Nom",
        job_title="Fonction",
        email="E-mail",
        phone="Téléphone",
        role="Rôle",
        language="Langue",
    ),
)
class StandardResource(MemberRowResource):
    """The project's own format, the one it exports: one row per contact of each membership, with
    the membership's latest term. Exporting and re-importing it changes nothing: text that
    spreadsheet software would take for a formula is exported behind an apostrophe, which the
    import removes."""

    profile = "standard"
    label = gettext_lazy("Format standard")
    required_columns = (
        "member_number",
        "name",
        "siret",
        "plan",
        "end_date",
        "fee",
        "contact1_email",
    )

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        if instance.cluster and instance.cluster != self.cluster.slug:
            raise ValidationError(
                {
                    "cluster": Text(
                        "import.other_cluster", row=instance.cluster, cluster=self.cluster.slug
                    )
                }
            )
        super().validate_instance(instance, import_validation_errors, validate_unique)


PROFILES: dict[str, type[MemberRowResource]] = OrderedDict(
    (resource.profile, resource)
    for resource in (DigitalPlaceResource, FrenchSouthResource, StandardResource)
)
