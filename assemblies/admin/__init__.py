"""The assemblies in the admin site, one module per concept, each registering its models;
importing this package (Django's admin autodiscovery does) registers them all. Who sees what is
:mod:`members.admin.scoping`'s.

- :mod:`~assemblies.admin.mails`: the ledger of the convocations and reminders, read-only.
"""

from assemblies.admin import mails  # noqa: F401
