"""The domain core: clusters, their sites and plans, member organisations, contacts, memberships
and their terms."""
