"""The merger's texts stored for later display (see :mod:`members.texts`): the reasons an
execution left a proposal aside, kept in the merger's history (``MergerEvent.details``) and shown
in the reader's language. Imported by :class:`merger.apps.MergerConfig` when the app is ready."""

from django.utils.translation import gettext_lazy as _

from members.texts import register

register(
    {
        "merger.execution_nothing_to_transfer": _(
            "Plus aucune adhésion à jour, en grâce ou en attente au %(date)s : rien à "
            "transférer. Décidez à nouveau."
        ),
        "merger.execution_facts_changed": _(
            "Les faits ont changé depuis la décision (%(changes)s) : approuvez-la à nouveau."
        ),
        "merger.execution_no_plan": _(
            "Aucune formule du successeur ne correspond à celle de l’adhésion : complétez la "
            "correspondance des formules, puis approuvez à nouveau."
        ),
        "merger.execution_already_member": _(
            "L’organisation est déjà adhérente du successeur (n° %(number)s)."
        ),
    }
)
