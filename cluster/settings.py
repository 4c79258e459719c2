"""Settings of the Grand Cluster membership system.

Everything comes from the environment (see ``.env.example``). The defaults are for development and
need no server: SQLite under ``var/``, Celery on kombu's filesystem transport under ``var/``, e-mail
written as files under ``var/mail/``. With ``DJANGO_DEBUG=false`` there is no default secret key:
the project refuses to start without ``DJANGO_SECRET_KEY``.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file; the tests point DJANGO_ENV_FILE to an
# empty file so that a developer's .env cannot change what they check.
environ.Env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# Runtime files of development (SQLite database, Celery queue and results, beat schedule, e-mail).
VAR_DIR = BASE_DIR / env.str("DJANGO_VAR_DIR", default="var")

DEBUG = env.bool("DJANGO_DEBUG", default=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production mode (DJANGO_DEBUG=false) refuses to start "
            "without a secret key: set DJANGO_SECRET_KEY to a long random string."
        )
    SECRET_KEY = "django-insecure-development-only-never-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the project's site: sign-in through allauth (cluster.admin_site).
    "cluster.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "import_export",
    "members",
    "assemblies",
    "merger",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "cluster.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "cluster.urls"
WSGI_APPLICATION = "cluster.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share the file: WAL and immediate transactions keep
    # them from failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Short queries: the JIT compiler costs more than it saves (100-250 ms on admin lists).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (allauth's rate limits need a real, shared one in production) -------------------------
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Authentication -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "members.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Members sign in with a code sent by e-mail (the sign-in page offers it first) or, once they
# have set one, a password; there is no open sign-up (members.adapters.AccountAdapter).
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "members:area"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "members.forms.LoginForm",
    "request_login_code": "members.forms.RequestLoginCodeForm",
    "confirm_login_code": "members.forms.ConfirmLoginCodeForm",
    "reset_password": "members.forms.ResetPasswordForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
# With a password field in the sign-up fields, allauth offers password sign-in beside the code.
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
# Ten minutes rather than allauth's three: company mail filters can hold a message that long. With
# three attempts per code, that is still out of reach of guessing.
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 10 * 60
# The subjects of our e-mails say what they are about; the sender names the cluster.
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
# allauth's default rate limits apply (e.g. code requests: 20 a minute per IP address, 3 a minute
# per e-mail); they live in the default cache, so production needs a shared one (CACHE_URL=redis://…;
# `check --deploy` warns otherwise).
if not env.bool("ACCOUNT_RATE_LIMITS_ENABLED", default=True):
    # Tests turn them off: an empty dict would change nothing (allauth #3893).
    ACCOUNT_RATE_LIMITS = False
# The limits per address count the client's address: REMOTE_ADDR, or, behind this many reverse
# proxies, the address that the last of them added to X-Forwarded-For (allauth reads it from the
# right end, so what a client puts in the header itself is passed over). Behind a TLS proxy, one
# by default: with none, every request would count against the proxy's address, and twenty code
# requests a minute from one client would block every other. `check --deploy` warns when a TLS
# proxy is declared and 0 is set (members.W003).
_behind_tls_proxy = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
ALLAUTH_TRUSTED_PROXY_COUNT = env.int(
    "ALLAUTH_TRUSTED_PROXY_COUNT", default=1 if _behind_tls_proxy else 0
)

# Two-factor authentication (allauth.mfa): an authenticator app (TOTP) and recovery codes, which
# staff turn on from the admin ("Double authentification"); allauth asks for the app's code after
# the password, at the admin's sign-in as at the member site's (cluster.admin_site).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_ADAPTER = "members.adapters.MFAAdapter"
# The name under which the account shows in the authenticator app (allauth: the host otherwise).
MFA_TOTP_ISSUER = "Grand Cluster"
# Superusers may see and change everything: with this on, one without an authenticator app is
# sent to set one up before any admin page, and cannot turn it off. On in production.
MFA_REQUIRED_FOR_SUPERUSERS = env.bool("MFA_REQUIRED_FOR_SUPERUSERS", default=not DEBUG)

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates written out in full ("December 31, 2026") and never month first in numbers
# ("5 Dec 2026"; date fields read "05/12/2026" as in French): see cluster/formats/en.
FORMAT_MODULE_PATH = ["cluster.formats"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files browsers ask for at the site's root (/favicon.ico), served by WhiteNoise as they are.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Member imports -------------------------------------------------------------------------------
# Largest spreadsheet accepted, in bytes, checked before reading it.
IMPORT_MAX_FILE_SIZE = env.int("IMPORT_MAX_FILE_SIZE", default=20 * 1024 * 1024)
# Largest total uncompressed size of an XLSX or ODS file (a zip), against zip bombs: real
# workbooks compress about 10:1, so ten times the largest file.
IMPORT_MAX_UNCOMPRESSED_SIZE = env.int("IMPORT_MAX_UNCOMPRESSED_SIZE", default=200 * 1024 * 1024)

# Where imported files are kept: private (no URL), outside MEDIA_ROOT; staff download them from
# the admin. Back it up with the database: each import's record points to its file.
IMPORT_FILES_ROOT = env.path("IMPORT_FILES_ROOT", default=str(VAR_DIR / "imports"))
# Files with more data rows than this are analysed and imported by a Celery task, with progress
# shown, rather than during the admin's request.
IMPORT_BACKGROUND_ROWS = env.int("IMPORT_BACKGROUND_ROWS", default=2000)

# --- Renewals, invoices and payments --------------------------------------------------------------
# Members may renew from this many days before the end of their latest term.
RENEWAL_OPENS_DAYS_BEFORE = env.int("RENEWAL_OPENS_DAYS_BEFORE", default=90)
# An invoice is due this many days after it is issued.
INVOICE_PAYMENT_DAYS = env.int("INVOICE_PAYMENT_DAYS", default=30)
# Scheme and host of the site, for the absolute links of e-mails sent outside a request (the
# renewal link of reminders, invoices, the merger's notices). `check --deploy` warns when it is
# not HTTPS or names this machine outside DEBUG (members.W004).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")

# --- Stripe (card payment) ------------------------------------------------------------------------
# Without a secret key, card payment is off and invoices are paid by bank transfer only.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# Signing secrets of the webhook endpoints that post to /paiements/stripe/webhook/, comma-separated:
# the platform's, and the one of the endpoint listening to connected accounts when clusters have
# their own Stripe account (Cluster.stripe_account). Empty: the endpoint is off.
STRIPE_WEBHOOK_SECRET = env.list("STRIPE_WEBHOOK_SECRET", default=[])
# Stripe's API; tests point it to a local fake server.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")

# --- E-mail ---------------------------------------------------------------------------------------
# django-environ drops the first "/" of the path: an absolute folder takes four slashes in all,
# as in EMAIL_URL=filemail:////srv/mail (three would write under the current directory).
vars().update(env.email_url("EMAIL_URL", default=f"filemail:///{VAR_DIR / 'mail'}"))
# Seconds an SMTP connection may hang before the sending task gives up and retries later.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# First delay, in seconds, before an e-mail task retries after an SMTP failure; it doubles at each
# retry (jittered), up to 30 minutes, eight times (members.mailing.MAIL_RETRY).
MAIL_RETRY_BACKOFF = 60
# The most a convocation attaches of its assembly's files, in bytes, in all (10 MB by default):
# those beyond it are listed, for the voter to read from the member area.
ASSEMBLY_ATTACHMENTS_MAX_BYTES = env.int("ASSEMBLY_ATTACHMENTS_MAX_BYTES", default=10_000_000)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Grand Cluster <adhesions@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND",
    default=CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else f"file://{VAR_DIR / 'celery' / 'results'}",
)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task (acks_late) of a worker that died goes to another worker after this.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
elif CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Exchange bindings; kombu's default is "control" in the current directory.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    for _folder in ("queue", "processed", "control", "results"):
        (VAR_DIR / "celery" / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE = {
    # The reminder pass, every morning (CELERY_TIMEZONE: Europe/Paris). A day it does not run is
    # caught up by the next pass (members.services.reminders); exactly one beat must run.
    "reminders-daily": {
        "task": "members.tasks.reminders_pass",
        "schedule": crontab(hour=8, minute=0),
    },
    # Renewals still unpaid past their cluster's delay are cancelled by a credit note, every
    # morning before the reminders (members.services.renewals.renewals_expire); a day it does
    # not run is caught up by the next pass.
    "renewals-expiry-daily": {
        "task": "members.tasks.renewals_expire_pass",
        "schedule": crontab(hour=7, minute=0),
    },
    # The payment follow-ups of unpaid invoices (J+15, J+30 after their due date by default),
    # every morning after the reminders; caught up the same way (members.services.follow_ups).
    "payment-follow-ups-daily": {
        "task": "members.tasks.payment_follow_ups_pass",
        "schedule": crontab(hour=8, minute=10),
    },
    # The reminders of the assemblies convened or voting (J-7, J-1 by default) to the voices that
    # have neither voted nor given a proxy, and the convocations whose task was lost, every
    # morning after the payment follow-ups (assemblies.mails.assembly_reminders_schedule).
    "assembly-reminders-daily": {
        "task": "assemblies.tasks.assembly_reminders_pass",
        "schedule": crontab(hour=8, minute=20),
    },
    # The invoice e-mails whose task was lost or ran out of retries, queued again every hour
    # (members.mailing.mails_requeue); each is still sent once.
    "mails-hourly": {
        "task": "members.tasks.mails_pass",
        "schedule": crontab(minute=20),
    },
}

# --- Security (production) ------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _behind_tls_proxy else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
