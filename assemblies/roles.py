"""What each role may do with the assemblies and the consultation on the successor's name, added
to its group after every ``migrate`` (:func:`members.roles.role_grant`): membership staff prepare
and run their clusters' assemblies (the admin scopes them to their clusters), resend their failed
convocations and moderate their members' name proposals; the merger committee reads every
cluster's assemblies, runs the consultation (opens it, moves its phases, gives the name) and
moderates every proposal. Superusers may do everything."""

from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE, role_grant

READ_MODELS = ("assembly", "resolution", "assemblydocument", "voice", "proxy", "assemblymail")

MODERATION_PERMISSIONS = [
    ("assemblies", "view_nameconsultation"),
    ("assemblies", "view_nameproposal"),
    ("assemblies", "change_nameproposal"),
]

STAFF_PERMISSIONS = [
    *(("assemblies", f"view_{model}") for model in READ_MODELS),
    # Prepare an assembly: its rules, agenda and documents, while it is in preparation.
    *(
        ("assemblies", f"{action}_{model}")
        for model in ("assembly", "resolution", "assemblydocument")
        for action in ("add", "change", "delete")
    ),
    # The day in the room: attendance, striking a voice off, the ballots cast in the room.
    ("assemblies", "change_voice"),
    ("assemblies", "add_ballot"),
    ("assemblies", "resend_assemblymail"),
    *MODERATION_PERMISSIONS,
]

COMMITTEE_PERMISSIONS = [
    *(("assemblies", f"view_{model}") for model in READ_MODELS),
    *MODERATION_PERMISSIONS,
    ("assemblies", "add_nameconsultation"),
    ("assemblies", "change_nameconsultation"),
    ("assemblies", "run_nameconsultation"),
]


def assemblies_roles_ensure(sender=None, **kwargs) -> None:
    """``post_migrate`` receiver: the staff's and the committee's groups hold their permissions
    on the assemblies and the consultation."""
    role_grant(MEMBERSHIP_STAFF, STAFF_PERMISSIONS)
    role_grant(MERGER_COMMITTEE, COMMITTEE_PERMISSIONS)
