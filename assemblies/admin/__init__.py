"""The assemblies' admin, one module per concern."""

from assemblies.admin import consultations  # noqa: F401  (registers the consultation's admin)
