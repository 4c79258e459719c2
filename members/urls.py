"""URLs of the member area: the organisations of the signed-in contact, renewal, invoices and
payments. Every URL naming an organisation, membership, term or invoice answers 404 to a user
who is not a contact of its organisation."""

from django.urls import path

from members.views import area, billing, payments, renewal

app_name = "members"

urlpatterns = [
    path("espace/", area.member_area, name="area"),
    path(
        "espace/organisations/<int:organisation_id>/modifier/",
        area.organisation_edit,
        name="organisation_edit",
    ),
    path(
        "espace/organisations/<int:organisation_id>/contacts/ajouter/",
        area.contact_add,
        name="contact_add",
    ),
    path(
        "espace/organisations/<int:organisation_id>/contacts/<int:contact_id>/modifier/",
        area.contact_edit,
        name="contact_edit",
    ),
    path(
        "espace/organisations/<int:organisation_id>/contacts/<int:contact_id>/retirer/",
        area.contact_remove,
        name="contact_remove",
    ),
    path(
        "espace/adhesions/<int:membership_id>/renouveler/",
        renewal.renewal_details,
        name="renewal_details",
    ),
    path(
        "espace/adhesions/<int:membership_id>/renouveler/formule/",
        renewal.renewal_plan,
        name="renewal_plan",
    ),
    path(
        "espace/adhesions/<int:membership_id>/renouveler/confirmer/",
        renewal.renewal_confirm,
        name="renewal_confirm",
    ),
    path("renouveler/<str:token>/", renewal.renewal_link, name="renewal_link"),
    path("espace/factures/<int:invoice_id>/", payments.invoice_detail, name="invoice_detail"),
    path("espace/factures/<int:invoice_id>/pdf/", billing.invoice_pdf, name="invoice_pdf"),
    path(
        "espace/avoirs/<int:credit_note_id>/pdf/",
        billing.credit_note_pdf,
        name="credit_note_pdf",
    ),
    path(
        "espace/periodes/<int:term_id>/facture/",
        billing.term_invoice,
        name="term_invoice",
    ),
    path(
        "espace/periodes/<int:term_id>/attestation/",
        billing.certificate_pdf,
        name="certificate_pdf",
    ),
    path("espace/factures/<int:invoice_id>/carte/", payments.card_checkout, name="card_checkout"),
    path(
        "espace/factures/<int:invoice_id>/carte/retour/",
        payments.card_return,
        name="card_return",
    ),
    path("paiements/stripe/webhook/", payments.stripe_webhook, name="stripe_webhook"),
]
