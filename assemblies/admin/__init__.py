"""The assemblies in the admin site, one module per concept, each registering its models;
importing this package (Django's admin autodiscovery does) registers them all. Who sees what is
:mod:`members.admin.scoping`'s.

- :mod:`~assemblies.admin.assemblies`: the assemblies, their rules, agenda and documents, the
  steps of their life, the list of voices, the attendance page of the room, the results;
- :mod:`~assemblies.admin.mails`: the ledger of the convocations and reminders, read-only.
"""

from assemblies.admin import assemblies, mails  # noqa: F401
