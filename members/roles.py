"""The staff roles, as groups with their permissions, kept up to date after every ``migrate``.

Which cluster a membership-staff user works for is :attr:`members.models.Cluster.staff`; the
admin scopes its querysets with :mod:`members.selectors`.
"""

from django.contrib.auth.models import Group, Permission

MEMBERSHIP_STAFF = "Personnel des adhésions"
MERGER_COMMITTEE = "Comité de fusion"

MEMBERS_MODELS = ("organisation", "contact", "membership", "term")
SETTINGS_MODELS = ("cluster", "site", "plan")
REMINDER_MODELS = ("reminder", "reminderpolicy", "reminderstep")
FOLLOW_UP_MODELS = ("paymentfollowup", "paymentfollowuppolicy", "paymentfollowupstep")

# (app label, codename) pairs per role; other apps add theirs with role_grant().
ROLE_PERMISSIONS = {
    MEMBERSHIP_STAFF: [
        *(
            ("members", f"{action}_{model}")
            for model in MEMBERS_MODELS
            for action in ("view", "add", "change", "delete")
        ),
        ("members", "view_cluster"),
        ("members", "change_cluster"),
        # Their clusters' journals and accounts, for the accounting export.
        ("members", "view_accountingsettings"),
        ("members", "add_accountingsettings"),
        ("members", "change_accountingsettings"),
        # Import spreadsheets into their clusters, and read the history of imports.
        ("members", "view_importrecord"),
        ("members", "add_importrecord"),
        # Invoices never change: "change" lets the invoice's page take payments (its inline), and
        # "add" lets staff issue the invoice of a term that has none. A payment recorded by hand
        # is corrected or removed with a reason kept in the invoice's history.
        ("members", "view_invoice"),
        ("members", "add_invoice"),
        ("members", "change_invoice"),
        ("members", "view_payment"),
        ("members", "add_payment"),
        ("members", "change_payment"),
        ("members", "delete_payment"),
        # An invoice is cancelled or reduced only by a credit note, which never changes either.
        ("members", "view_creditnote"),
        ("members", "add_creditnote"),
        # Refund what was over-paid (by card through Stripe, by transfer, or carried over to
        # another invoice), with a reason; a refund, once recorded, never changes.
        ("members", "view_refund"),
        ("members", "add_refund"),
        *(
            ("members", f"{action}_{model}")
            for model in ("site", "plan")
            for action in ("view", "add", "change")
        ),
        # Watch their clusters' reminders and resend failed ones; the policy is the operator's.
        *(("members", f"view_{model}") for model in REMINDER_MODELS),
        ("members", "resend_reminder"),
        # Their clusters' payment follow-ups: the policy and its texts are theirs to change.
        *(("members", f"view_{model}") for model in FOLLOW_UP_MODELS),
        ("members", "change_paymentfollowuppolicy"),
        *(("members", f"{action}_paymentfollowupstep") for action in ("add", "change", "delete")),
        ("members", "resend_paymentfollowup"),
    ],
    MERGER_COMMITTEE: [
        *(("members", f"view_{model}") for model in MEMBERS_MODELS + SETTINGS_MODELS),
        ("members", "view_accountingsettings"),
        ("members", "view_importrecord"),
        ("members", "view_invoice"),
        ("members", "view_payment"),
        ("members", "view_creditnote"),
        ("members", "view_refund"),
        *(("members", f"view_{model}") for model in REMINDER_MODELS),
        *(("members", f"view_{model}") for model in FOLLOW_UP_MODELS),
        ("members", "view_all_clusters"),
    ],
}


def role_grant(role: str, permissions: list[tuple[str, str]]) -> None:
    """Create the group ``role`` if needed and give it ``permissions`` (app label, codename)."""
    group, _created = Group.objects.get_or_create(name=role)
    wanted = Permission.objects.none()
    for app_label, codename in permissions:
        wanted |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    group.permissions.add(*wanted)


def roles_ensure(sender=None, **kwargs) -> None:
    """``post_migrate`` receiver: the role groups exist and hold at least their permissions."""
    for role, permissions in ROLE_PERMISSIONS.items():
        role_grant(role, permissions)
