"""A guard on the import's staging layer: on PostgreSQL it writes new organisations, memberships,
terms and contacts with ``COPY`` (:meth:`members.imports.staging.MemberBase._insert`), which fills
every column itself, from the row, from the keys :meth:`~members.imports.staging.MemberBase.flush`
links, or from the field's Python default and ``auto_now``. ``COPY`` skips what Django would do on
``save()``: a ``save()`` or ``pre_save`` rule, a database default, a signal. These tests fail when
one of the models gains a column, a database default or such a rule, so that whoever adds it
decides how the import fills it, here and in ``_insert``."""

import pytest
from django.db.models import NOT_PROVIDED, DateField, DateTimeField, Field, Model
from django.db.models.signals import post_save, pre_save

from members.imports import staging
from members.models import Contact, Membership, Organisation, Term

#: Filled by COPY from the sequence (``id``) and with the time of the flush.
AUTOMATIC = {"id", "created_at", "updated_at"}

#: For each model COPY writes: the fields the staging layer reads from a row, the keys ``flush``
#: links, and the fields left to their Python default (a new record has none of them).
COPIED = {
    Organisation: (staging.ORGANISATION_FIELDS, (), ("website", "merged_into_id")),
    Membership: (
        staging.MEMBERSHIP_FIELDS,
        ("cluster_id", "organisation_id", "member_number"),
        ("cancelled_on", "transferred_on", "transferred_to_id", "notes"),
    ),
    # An imported term is never cancelled: only a credit note cancels one.
    Term: (staging.TERM_FIELDS, ("membership_id", "end_date"), ("cancelled_on",)),
    Contact: (staging.CONTACT_FIELDS, ("organisation_id", "email"), ("user_id",)),
}

MODELS = pytest.mark.parametrize("model", list(COPIED), ids=lambda model: model.__name__)


@MODELS
def test_copy_knows_how_it_fills_every_column(model):
    from_row, linked, defaulted = COPIED[model]
    columns = {field.attname for field in model._meta.concrete_fields}

    assert columns == {*AUTOMATIC, *from_row, *linked, *defaulted}, (
        f"{model.__name__} has new or removed columns: decide how the import's COPY fills them "
        "(members.imports.staging), then update this list."
    )
    automatic = {
        field.attname
        for field in model._meta.concrete_fields
        if field.primary_key
        or getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
    }
    assert automatic == AUTOMATIC


@MODELS
def test_no_column_has_a_database_default_that_copy_would_overwrite(model):
    # COPY writes every column, so a db_default would never apply to imported rows.
    with_db_default = [
        field.attname
        for field in model._meta.concrete_fields
        if field.db_default is not NOT_PROVIDED
    ]
    assert with_db_default == []


@MODELS
def test_no_save_rule_that_copy_would_skip(model):
    assert model.save is Model.save, f"{model.__name__}.save() is overridden: COPY skips it."
    assert model.save_base is Model.save_base
    # A field computing its value on save (other than auto_now's timestamps, filled by COPY).
    computed = [
        field.attname
        for field in model._meta.concrete_fields
        if type(field).pre_save not in (Field.pre_save, DateField.pre_save, DateTimeField.pre_save)
    ]
    assert computed == []
    assert not pre_save.has_listeners(model) and not post_save.has_listeners(model), (
        f"a pre_save or post_save receiver of {model.__name__}: COPY sends no signal."
    )
