"""The assemblies in the admin site, one module per concept, each registering its models;
importing this package (Django's admin autodiscovery does) registers them all. Who sees what is
:mod:`members.admin.scoping`'s.

- :mod:`~assemblies.admin.assemblies`: the assemblies, their rules, agenda and documents, the
  steps of their life, the list of voices, the attendance page of the room, the results;
- :mod:`~assemblies.admin.mails`: the ledger of the convocations and reminders, read-only;
- :mod:`~assemblies.admin.consultations`: the consultation on the successor's name, its phases,
  the moderation of the proposals, the result and the name given.
"""

from assemblies.admin import assemblies, consultations, mails  # noqa: F401
