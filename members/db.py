"""Database helpers the ORM lacks, each written for PostgreSQL and SQLite."""

from django.db import models

TERM_NO_OVERLAP = "members_term_no_overlap"


class AddDays(models.Func):
    """``date + days`` as a date, where ``days`` is an integer expression (e.g. a column)."""

    output_field = models.DateField()
    arity = 2

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" + ")

    def as_sqlite(self, compiler, connection, **extra_context):
        # The modifier is "N days", N signed or not ("+-30 days" would be NULL).
        day, days = self.source_expressions
        day_sql, day_params = compiler.compile(day)
        days_sql, days_params = compiler.compile(days)
        return f"date({day_sql}, ({days_sql}) || ' days')", (*day_params, *days_params)


class IntegerIn(models.lookups.In):
    """``in`` on an integer field, leaving out the values that no integer column holds: they match
    no row. Django does so for ``=``, ``<``, ``>`` and the like (``IntegerFieldOverflow``), not
    for ``in``, where SQLite raised ``OverflowError``: an admin list's action on a selected row
    ``99999999999999999999``, a posted choice among several, was a 500. Registered on
    ``IntegerField`` (and so on the identifiers) by :class:`members.apps.MembersConfig`."""

    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value():
            low, high = connection.ops.integer_field_range(
                self.lhs.output_field.get_internal_type()
            )
            self.rhs = [
                value
                for value in self.rhs
                if not isinstance(value, int)
                or ((low is None or value >= low) and (high is None or value <= high))
            ]
        return super().process_rhs(compiler, connection)


def term_overlap_guard_install(schema_editor, *, uncancelled_only: bool = False) -> None:
    """Make the database refuse two overlapping terms in one membership.

    PostgreSQL: an exclusion constraint on ``daterange(start, end, '[]')`` (needs btree_gist for
    the equality on the membership). SQLite has no exclusion constraints: two triggers do the same.
    SQLite drops triggers when Django rebuilds a table, so ``post_migrate`` calls this again
    (``IF NOT EXISTS`` makes it idempotent).

    With ``uncancelled_only`` (from migration ``0017``, once terms have ``cancelled_on``) a
    cancelled term is left out: a term cancelled by a credit note keeps its dates, and the term
    that re-invoices it at a corrected fee covers the same ones.
    """
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        where = " WHERE (cancelled_on IS NULL)" if uncancelled_only else ""
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        schema_editor.execute(
            f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{TERM_NO_OVERLAP}') THEN
                ALTER TABLE members_term ADD CONSTRAINT {TERM_NO_OVERLAP}
                  EXCLUDE USING gist (
                    membership_id WITH =, daterange(start_date, end_date, '[]') WITH &&
                  ){where};
              END IF;
            END $$;
            """
        )
    elif vendor == "sqlite":
        uncancelled = (
            " AND t.cancelled_on IS NULL AND NEW.cancelled_on IS NULL" if uncancelled_only else ""
        )
        overlap = (
            "EXISTS (SELECT 1 FROM members_term t WHERE t.membership_id = NEW.membership_id"
            " AND t.start_date <= NEW.end_date AND NEW.start_date <= t.end_date{extra}"
            f"{uncancelled})"
        )
        columns = "membership_id, start_date, end_date" + (
            ", cancelled_on" if uncancelled_only else ""
        )
        for event, extra in (
            ("INSERT", ""),
            (f"UPDATE OF {columns}", " AND t.id <> NEW.id"),
        ):
            name = f"{TERM_NO_OVERLAP}_{event.split()[0].lower()}"
            schema_editor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON members_term "
                f"WHEN {overlap.format(extra=extra)} "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {TERM_NO_OVERLAP}'); END"
            )


def term_overlap_guard_remove(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE members_term DROP CONSTRAINT IF EXISTS {TERM_NO_OVERLAP}"
        )
    elif vendor == "sqlite":
        for event in ("insert", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TERM_NO_OVERLAP}_{event}")


TERM_INVOICED_FROZEN = "members_term_invoiced_frozen"


def term_invoiced_guard_install(schema_editor) -> None:
    """Make the database refuse to change the membership, fee, plan or period of a term that has
    an invoice (what the invoice prints), or to delete such a term; its payment may still change.

    PostgreSQL: a trigger before ``UPDATE`` and ``DELETE``, raising an integrity error (SQLSTATE
    23000) that names the invoice. SQLite: a trigger before ``UPDATE``; the delete is refused by
    the invoice's foreign key when the transaction commits (a ``DELETE`` trigger would break
    Django's flush of a test database, which empties the tables in any order). SQLite drops
    triggers when Django rebuilds a table, so ``post_migrate`` calls this again once the
    migration that installs it has run (idempotent on both).
    """
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # "%%" is "%" once the schema editor has passed the statement through its parameters.
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {TERM_INVOICED_FROZEN}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
              invoice_number text;
            BEGIN
              SELECT number INTO invoice_number FROM members_invoice WHERE term_id = OLD.id;
              IF invoice_number IS NOT NULL AND (
                TG_OP = 'DELETE'
                OR (NEW.membership_id, NEW.fee, NEW.plan_id, NEW.start_date, NEW.end_date)
                   IS DISTINCT FROM
                   (OLD.membership_id, OLD.fee, OLD.plan_id, OLD.start_date, OLD.end_date)
              ) THEN
                RAISE EXCEPTION
                  '{TERM_INVOICED_FROZEN}: term %% is invoiced (%%): its membership, fee, plan '
                  'and period are frozen and it is not deleted', OLD.id, invoice_number
                  USING ERRCODE = 'integrity_constraint_violation';
              END IF;
              IF TG_OP = 'DELETE' THEN
                RETURN OLD;
              END IF;
              RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS {TERM_INVOICED_FROZEN} ON members_term;
            CREATE TRIGGER {TERM_INVOICED_FROZEN}
              BEFORE UPDATE OF membership_id, fee, plan_id, start_date, end_date OR DELETE
              ON members_term
              FOR EACH ROW EXECUTE FUNCTION {TERM_INVOICED_FROZEN}();
            """
        )
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TERM_INVOICED_FROZEN}_update")
        schema_editor.execute(
            f"CREATE TRIGGER {TERM_INVOICED_FROZEN}_update "
            "BEFORE UPDATE OF membership_id, fee, plan_id, start_date, end_date ON members_term "
            "WHEN EXISTS (SELECT 1 FROM members_invoice i WHERE i.term_id = OLD.id) "
            "AND (NEW.membership_id IS NOT OLD.membership_id "
            "OR NEW.fee IS NOT OLD.fee OR NEW.plan_id IS NOT OLD.plan_id "
            "OR NEW.start_date IS NOT OLD.start_date OR NEW.end_date IS NOT OLD.end_date) "
            f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {TERM_INVOICED_FROZEN}'); END"
        )


def term_invoiced_guard_remove(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TERM_INVOICED_FROZEN} ON members_term")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {TERM_INVOICED_FROZEN}()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TERM_INVOICED_FROZEN}_update")
