"""Writes of the domain core, one module per concept: accounts, billing, renewals."""

from .accounts import contact_login_ensure, staff_user_ensure

__all__ = ["contact_login_ensure", "staff_user_ensure"]
