"""The payment follow-ups a cluster starts with: fifteen and thirty days after an unpaid
invoice's due date, in French and English.

Plain data, without models, so that migration ``0020`` gives it to the existing clusters and
:func:`members.services.follow_ups.payment_follow_up_policy_ensure` to new ones. Staff edit the
texts in the admin afterwards; ``{name}`` placeholders are those of
:data:`members.models.follow_ups.FOLLOW_UP_PLACEHOLDERS`.
"""

DEFAULT_MAX_LATENESS_DAYS = 7

DEFAULT_STEPS = [
    {
        "days_after_due": 15,
        "subject_fr": "Facture {invoice_number} : paiement en attente",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "Sauf erreur de notre part, la facture {invoice_number} de {organisation} pour son "
            "adhésion à {cluster} (n° {member_number}), échue le {due_date}, n’est pas encore "
            "réglée : il reste {amount_left} à payer.\n\n"
            "Vous pouvez la régler par carte ou retrouver nos coordonnées bancaires depuis votre "
            "espace adhérent : {payment_url}\n\n"
            "Si votre paiement est déjà en route, merci et ne tenez pas compte de ce message."
        ),
        "subject_en": "Invoice {invoice_number}: payment pending",
        "body_en": (
            "Hello {contact_name},\n\n"
            "Unless we are mistaken, invoice {invoice_number} of {organisation} for its "
            "{cluster} membership (no. {member_number}), due on {due_date}, has not been paid "
            "yet: {amount_left} remains to be paid.\n\n"
            "You can pay it by card or find our bank details in your member area: "
            "{payment_url}\n\n"
            "If your payment is already on its way, thank you, and please disregard this "
            "message."
        ),
    },
    {
        "days_after_due": 30,
        "subject_fr": "Deuxième relance : facture {invoice_number} impayée",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "La facture {invoice_number} de {organisation} pour son adhésion à {cluster} "
            "(n° {member_number}) est échue depuis le {due_date}, il y a {days_late} jours, et "
            "il reste {amount_left} à payer.\n\n"
            "Merci de la régler dès que possible depuis votre espace adhérent : {payment_url}\n\n"
            "Une difficulté ? Répondez simplement à ce message : nous trouverons une solution."
        ),
        "subject_en": "Second reminder: invoice {invoice_number} unpaid",
        "body_en": (
            "Hello {contact_name},\n\n"
            "Invoice {invoice_number} of {organisation} for its {cluster} membership "
            "(no. {member_number}) was due on {due_date}, {days_late} days ago, and "
            "{amount_left} remains to be paid.\n\n"
            "Please pay it as soon as possible from your member area: {payment_url}\n\n"
            "Any difficulty? Just reply to this message: we will find a solution."
        ),
    },
]
