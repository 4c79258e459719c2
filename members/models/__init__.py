"""Models of the domain core, one module per concept, re-exported here."""

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
from .clusters import Cluster, Plan, PlanCategory, Site
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
