"""Writes of the domain core, one module per concept: accounts, billing, organisations,
renewals, reminders, terms."""

from .accounts import contact_login_ensure, staff_user_ensure
from .organisations import contact_add, contact_remove, organisation_update

__all__ = [
    "contact_add",
    "contact_login_ensure",
    "contact_remove",
    "organisation_update",
    "staff_user_ensure",
]
