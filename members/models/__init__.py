"""Models of the domain core, one module per concept, re-exported here."""

from .accounting import AccountingSettings
from .billing import (
    CheckoutSession,
    CheckoutStatus,
    CreditNote,
    CreditNoteOrigin,
    CreditNoteSequence,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    Payment,
    PaymentChange,
    PaymentChangeKind,
    PaymentMethod,
    Refund,
    RefundState,
)
from .clusters import Cluster, MembershipYear, Plan, PlanCategory, Proration, Site
from .follow_ups import (
    PaymentFollowUp,
    PaymentFollowUpPolicy,
    PaymentFollowUpReason,
    PaymentFollowUpState,
    PaymentFollowUpStep,
)
from .imports import ImportRecord
from .mailing import Mail, MailPurpose, MailState
from .memberships import Membership, MembershipStatus, Term
from .organisations import Contact, ContactRole, Organisation
from .reminders import Reminder, ReminderPolicy, ReminderReason, ReminderState, ReminderStep

__all__ = [
    "AccountingSettings",
    "CheckoutSession",
    "CheckoutStatus",
    "Cluster",
    "Contact",
    "ContactRole",
    "CreditNote",
    "CreditNoteOrigin",
    "CreditNoteSequence",
    "ImportRecord",
    "Invoice",
    "InvoiceSequence",
    "InvoiceStatus",
    "Mail",
    "MailPurpose",
    "MailState",
    "Membership",
    "MembershipStatus",
    "MembershipYear",
    "Organisation",
    "Payment",
    "PaymentChange",
    "PaymentChangeKind",
    "PaymentFollowUp",
    "PaymentFollowUpPolicy",
    "PaymentFollowUpReason",
    "PaymentFollowUpState",
    "PaymentFollowUpStep",
    "PaymentMethod",
    "Plan",
    "PlanCategory",
    "Proration",
    "Refund",
    "RefundState",
    "Reminder",
    "ReminderPolicy",
    "ReminderReason",
    "ReminderState",
    "ReminderStep",
    "Site",
    "Term",
]
