"""Admin site of the domain core, for membership staff, the merger committee and superusers.

One module per concept, each registering its models; importing this package (Django's admin
autodiscovery does) registers them all. Who sees what is decided in one place,
:mod:`members.admin.scoping`, which every other module builds on and which imports none of them:

- :mod:`~members.admin.clusters`: clusters, their sites and plans;
- :mod:`~members.admin.organisations`: organisations and contacts;
- :mod:`~members.admin.memberships`: memberships and their terms, the standard export;
- :mod:`~members.admin.billing`: invoices, payments, credit notes, issuing a term's invoice;
- :mod:`~members.admin.reminders`: reminder policies and the reminders' ledger;
- :mod:`~members.admin.follow_ups`: payment follow-up policies and their ledger;
- :mod:`~members.admin.imports`: upload → preview → confirm, and the record of every import.
"""

from members.admin import (  # noqa: F401
    billing,
    clusters,
    follow_ups,
    imports,
    memberships,
    organisations,
    reminders,
)
