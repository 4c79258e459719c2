"""Payment follow-ups: each cluster's policy and steps, and their ledger; every existing cluster
gets the default policy (members/follow_up_defaults.py), which staff then edit in the admin.
Clusters created later get it from the admin (see
members.services.follow_ups.payment_follow_up_policy_ensure)."""

import django.core.validators
import django.db.models.deletion
import members.models.follow_ups
import members.models.reminders
from django.db import migrations, models

from members.follow_up_defaults import DEFAULT_MAX_LATENESS_DAYS, DEFAULT_STEPS


def create_policies(apps, schema_editor):
    Cluster = apps.get_model("members", "Cluster")
    Policy = apps.get_model("members", "PaymentFollowUpPolicy")
    Step = apps.get_model("members", "PaymentFollowUpStep")
    for cluster in Cluster.objects.filter(payment_follow_up_policy__isnull=True):
        policy = Policy.objects.create(cluster=cluster, max_lateness_days=DEFAULT_MAX_LATENESS_DAYS)
        Step.objects.bulk_create(Step(policy=policy, **step) for step in DEFAULT_STEPS)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0017_credit_notes_and_refunds"),
    ]

    operations = [
        migrations.CreateModel(
            name="PaymentFollowUpPolicy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "is_active",
                    models.BooleanField(
                        default=True,
                        help_text="Décochez pour suspendre les relances de paiement de ce cluster.",
                        verbose_name="relances de paiement actives",
                    ),
                ),
                (
                    "sender",
                    models.CharField(
                        blank=True,
                        help_text="Adresse d’envoi, seule (adhesions@digitalplace.fr) ou précédée d’un nom, l’adresse étant alors entre chevrons. Vide : l’adresse par défaut du site. Les réponses vont à l’e-mail du cluster.",
                        max_length=254,
                        validators=[members.models.reminders.validate_sender],
                        verbose_name="expéditeur",
                    ),
                ),
                (
                    "max_lateness_days",
                    models.PositiveSmallIntegerField(
                        default=7,
                        help_text="Après des jours sans passage, seule la relance la plus récente part, et seulement si elle est due depuis au plus ce nombre de jours.",
                        validators=[django.core.validators.MaxValueValidator(90)],
                        verbose_name="retard maximal (jours)",
                    ),
                ),
                (
                    "cluster",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="payment_follow_up_policy",
                        to="members.cluster",
                        verbose_name="cluster",
                    ),
                ),
            ],
            options={
                "verbose_name": "politique de relance de paiement",
                "verbose_name_plural": "politiques de relance de paiement",
                "ordering": ["cluster__kind", "cluster__name"],
            },
        ),
        migrations.CreateModel(
            name="PaymentFollowUpStep",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "days_after_due",
                    models.PositiveSmallIntegerField(
                        help_text="15 : quinze jours après la date d’échéance de la facture (J+15).",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(365),
                        ],
                        verbose_name="jours après l’échéance",
                    ),
                ),
                (
                    "subject_fr",
                    models.CharField(
                        max_length=200,
                        validators=[members.models.follow_ups.validate_follow_up_placeholders],
                        verbose_name="objet (français)",
                    ),
                ),
                (
                    "body_fr",
                    models.TextField(
                        validators=[members.models.follow_ups.validate_follow_up_placeholders],
                        verbose_name="message (français)",
                    ),
                ),
                (
                    "subject_en",
                    models.CharField(
                        blank=True,
                        max_length=200,
                        validators=[members.models.follow_ups.validate_follow_up_placeholders],
                        verbose_name="objet (anglais)",
                    ),
                ),
                (
                    "body_en",
                    models.TextField(
                        blank=True,
                        help_text="Vide : les contacts anglophones reçoivent la version française.",
                        validators=[members.models.follow_ups.validate_follow_up_placeholders],
                        verbose_name="message (anglais)",
                    ),
                ),
                (
                    "policy",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="members.paymentfollowuppolicy",
                        verbose_name="politique de relance de paiement",
                    ),
                ),
            ],
            options={
                "verbose_name": "relance de paiement",
                "verbose_name_plural": "relances de paiement",
                "ordering": ["policy", "days_after_due"],
            },
        ),
        migrations.CreateModel(
            name="PaymentFollowUp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "days_after_due",
                    models.PositiveSmallIntegerField(verbose_name="jours après l’échéance"),
                ),
                ("due_on", models.DateField(verbose_name="due le")),
                (
                    "scheduled_on",
                    models.DateField(help_text="Date du passage.", verbose_name="programmée le"),
                ),
                (
                    "email",
                    models.EmailField(blank=True, max_length=254, verbose_name="destinataire"),
                ),
                ("language", models.CharField(blank=True, max_length=10, verbose_name="langue")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "À envoyer"),
                            ("sent", "Envoyée"),
                            ("failed", "Échec"),
                            ("cancelled", "Annulée"),
                        ],
                        default="pending",
                        max_length=10,
                        verbose_name="état",
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("paid", "Facture payée"),
                            ("cancelled", "Facture annulée par un avoir"),
                            ("withdrawn", "Relance retirée ou suspendue dans la politique"),
                            ("no_contact", "Aucun contact à qui écrire"),
                            ("smtp_error", "Erreur du serveur d’envoi"),
                        ],
                        help_text="Pourquoi la relance a été annulée ou a échoué.",
                        max_length=12,
                        verbose_name="raison",
                    ),
                ),
                (
                    "error",
                    models.TextField(
                        blank=True, help_text="Réponse du serveur d’envoi.", verbose_name="erreur"
                    ),
                ),
                (
                    "attempts",
                    models.PositiveSmallIntegerField(default=0, verbose_name="tentatives"),
                ),
                (
                    "queued_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="mise en file le"),
                ),
                ("sent_at", models.DateTimeField(blank=True, null=True, verbose_name="envoyée le")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="créée le")),
                (
                    "contact",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="members.contact",
                        verbose_name="contact",
                    ),
                ),
                (
                    "invoice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="follow_ups",
                        to="members.invoice",
                        verbose_name="facture",
                    ),
                ),
                (
                    "step",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="follow_ups",
                        to="members.paymentfollowupstep",
                        verbose_name="texte",
                    ),
                ),
            ],
            options={
                "verbose_name": "relance de paiement envoyée",
                "verbose_name_plural": "journal des relances de paiement",
                "ordering": ["-scheduled_on", "pk"],
                "permissions": [
                    ("resend_paymentfollowup", "Renvoyer une relance de paiement en échec")
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="paymentfollowupstep",
            constraint=models.UniqueConstraint(
                fields=("policy", "days_after_due"), name="follow_up_step_unique_days"
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentfollowupstep",
            constraint=models.CheckConstraint(
                condition=models.Q(("days_after_due__gte", 1)), name="follow_up_step_after_due"
            ),
        ),
        migrations.AddIndex(
            model_name="paymentfollowup",
            index=models.Index(fields=["state", "queued_at"], name="follow_up_state_queued_idx"),
        ),
        migrations.AddConstraint(
            model_name="paymentfollowup",
            constraint=models.UniqueConstraint(
                fields=("invoice", "days_after_due", "email"),
                name="follow_up_once_per_invoice_step_and_recipient",
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentfollowup",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "sent"), _negated=True),
                    ("sent_at__isnull", False),
                    _connector="OR",
                ),
                name="follow_up_sent_has_sent_at",
            ),
        ),
        migrations.RunPython(create_policies, migrations.RunPython.noop),
    ]
