"""What the roles may do in the consultation on the successor's name, added to their groups after
every ``migrate`` (:func:`members.roles.role_grant`): the merger committee runs it (opens it,
moves its phases, gives the name) and moderates; membership staff moderate the proposals of
their clusters' members."""

from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE, role_grant

MODERATION_PERMISSIONS = [
    ("assemblies", "view_nameconsultation"),
    ("assemblies", "view_nameproposal"),
    ("assemblies", "change_nameproposal"),
]

CONSULTATION_PERMISSIONS = {
    MERGER_COMMITTEE: [
        *MODERATION_PERMISSIONS,
        ("assemblies", "add_nameconsultation"),
        ("assemblies", "change_nameconsultation"),
        ("assemblies", "run_nameconsultation"),
    ],
    MEMBERSHIP_STAFF: MODERATION_PERMISSIONS,
}


def consultation_roles_ensure(sender=None, **kwargs) -> None:
    """``post_migrate`` receiver: the roles hold the consultation's permissions."""
    for role, permissions in CONSULTATION_PERMISSIONS.items():
        role_grant(role, permissions)
