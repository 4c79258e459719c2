"""The reminder policy a cluster starts with: four reminders, in French and English.

Plain data, without models, so that migration ``0007`` gives it to the existing clusters and
:func:`members.services.reminders.reminder_policy_ensure` to new ones. Staff edit the texts in
the admin afterwards; ``{name}`` placeholders are those of
:data:`members.models.reminders.REMINDER_PLACEHOLDERS`.
"""

DEFAULT_MAX_LATENESS_DAYS = 7

DEFAULT_STEPS = [
    {
        "offset_days": -30,
        "subject_fr": "Votre adhésion à {cluster} se termine le {end_date}",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "L’adhésion de {organisation} à {cluster} (n° {member_number}) se termine le "
            "{end_date}, dans {days} jours.\n\n"
            "Vous pouvez la renouveler dès maintenant en quelques minutes : vérifiez vos "
            "coordonnées, choisissez votre formule, et la facture vous est envoyée aussitôt ; "
            "vous la réglez ensuite depuis votre espace adhérent.\n\n"
            "Merci de votre fidélité."
        ),
        "subject_en": "Your {cluster} membership ends on {end_date}",
        "body_en": (
            "Hello {contact_name},\n\n"
            "The {cluster} membership of {organisation} (no. {member_number}) ends on "
            "{end_date}, in {days} days.\n\n"
            "You can renew it now in a few minutes: check your details, choose your plan, and "
            "the invoice is sent to you straight away; you then pay it from your member area."
            "\n\n"
            "Thank you for your loyalty."
        ),
    },
    {
        "offset_days": -7,
        "subject_fr": "Plus qu’une semaine pour renouveler votre adhésion à {cluster}",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "L’adhésion de {organisation} à {cluster} (n° {member_number}) se termine le "
            "{end_date}. Renouvelez-la dès aujourd’hui pour garder sans interruption les "
            "avantages de membre.\n\n"
            "Si vous avez déjà fait le nécessaire, merci et ne tenez pas compte de ce message."
        ),
        "subject_en": "One week left to renew your {cluster} membership",
        "body_en": (
            "Hello {contact_name},\n\n"
            "The {cluster} membership of {organisation} (no. {member_number}) ends on "
            "{end_date}. Renew it today to keep your member benefits without a break.\n\n"
            "If you have already done so, thank you, and please disregard this message."
        ),
    },
    {
        "offset_days": 0,
        "subject_fr": "Votre adhésion à {cluster} se termine aujourd’hui",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "L’adhésion de {organisation} à {cluster} (n° {member_number}) se termine "
            "aujourd’hui, {end_date}.\n\n"
            "Renouvelez-la pour rester membre : cela ne prend que quelques minutes."
        ),
        "subject_en": "Your {cluster} membership ends today",
        "body_en": (
            "Hello {contact_name},\n\n"
            "The {cluster} membership of {organisation} (no. {member_number}) ends today, "
            "{end_date}.\n\n"
            "Renew it to remain a member: it only takes a few minutes."
        ),
    },
    {
        "offset_days": 15,
        "subject_fr": "Votre adhésion à {cluster} a pris fin le {end_date}",
        "body_fr": (
            "Bonjour {contact_name},\n\n"
            "L’adhésion de {organisation} à {cluster} (n° {member_number}) a pris fin le "
            "{end_date}, il y a {days} jours. Vous profitez encore d’un délai de grâce : "
            "renouvelez-la maintenant pour rester membre et garder votre ancienneté.\n\n"
            "Une question ? Répondez simplement à ce message."
        ),
        "subject_en": "Your {cluster} membership ended on {end_date}",
        "body_en": (
            "Hello {contact_name},\n\n"
            "The {cluster} membership of {organisation} (no. {member_number}) ended on "
            "{end_date}, {days} days ago. You are still within a grace period: renew it now "
            "to remain a member and keep your seniority.\n\n"
            "Any question? Just reply to this message."
        ),
    },
]
