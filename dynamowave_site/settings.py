"""Django settings: one base for every environment; production differs only by variables."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from chat.keys import dev_secret_key_ensure
from dynamowave_site.local_stack import data_dir
from dynamowave_site.ssm import database_secret_read, ssm_secrets_read

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Opt-in, as in cookiecutter-django: a stray .env must never silently change what tests run with.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))
# An empty variable means "use the default", so a copy of .env.example (all values empty) changes
# nothing, instead of e.g. turning ALLOWED_HOSTS into an empty list.
env.ENVIRON = {name: value for name, value in os.environ.items() if value != ""}
# Deployed (Zappa) sites name SSM parameters for their secrets instead of holding them.
env.ENVIRON.update(ssm_secrets_read(env.ENVIRON))
# The stack's Aurora cluster: DATABASE_URL names it, its secret (RDS's) holds the credentials.
DATABASE_SECRET_ARN = env.str("DATABASE_SECRET_ARN", default="")
env.ENVIRON.update(database_secret_read(env.ENVIRON))

# Git-ignored folders of the local stack: generated dev keys, and its data (SQLite, dynalite).
DEV_KEYS_DIR = Path(env.str("LOCAL_KEYS_DIR", default=str(BASE_DIR / ".dev-keys")))
DATA_DIR = data_dir(env.ENVIRON)  # also where manage.py finds a running stack (local_stack.py)

# Off unless asked for: the local stack (`manage.py runstack`) sets DJANGO_DEBUG=true itself.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The site is served over HTTPS: secure cookies, HSTS, redirects, a real secret key required.
SECURE = env.bool("DJANGO_SECURE", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if SECURE:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_SECURE is true")
    try:
        # Generated once per checkout and kept out of git, so no secret ever lives in the repo.
        SECRET_KEY = dev_secret_key_ensure(folder=DEV_KEYS_DIR)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set and no development secret is usable: {exc}"
        ) from exc

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "chat.apps.ChatAdminConfig",  # django.contrib.admin with the "Live chat" dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "chat",
]
# `manage.py runstack` (make run): where the local stack can be imported, never in a package.
if importlib.util.find_spec("devstack") is not None:
    INSTALLED_APPS.append("devstack")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dynamowave_site.urls"
WSGI_APPLICATION = "dynamowave_site.wsgi.application"
ASGI_APPLICATION = "dynamowave_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env.str("DATABASE_URL", default="")
if not _database_url:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _database_url = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASE_SECRET_ARN and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A rotated password is read again when the server refuses the one this instance holds.
    DATABASES["default"]["ENGINE"] = "dynamowave_site.rotating_postgres"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Behind CloudFront at a custom domain the site is at / although Zappa, seeing its API's own
# host, says SCRIPT_NAME /<stage>: "/" here (DEPLOY.md, "A custom domain"). Unset: WSGI's.
FORCE_SCRIPT_NAME = env.str("DJANGO_FORCE_SCRIPT_NAME", default=None)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "build" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names need `collectstatic` first, so they are for deployments, not tests or dev.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("DJANGO_STATIC_MANIFEST", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Mail (password resets): printed locally; deployed (DJANGO_SECURE), sent through Amazon SES
# (django-ses, the site's role may send) or the SMTP server the environment names. A backend
# that writes mail anywhere but to its recipient would put reset links in the logs.
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="django_ses.SESBackend" if SECURE else "django.core.mail.backends.console.EmailBackend",
)
UNDELIVERING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
if SECURE and EMAIL_BACKEND in UNDELIVERING_EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        f"DJANGO_EMAIL_BACKEND={EMAIL_BACKEND} does not deliver mail: with DJANGO_SECURE on, "
        "use django_ses.SESBackend (the default) or django.core.mail.backends.smtp.EmailBackend"
    )
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="webmaster@localhost")
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=587 if SECURE else 25)
EMAIL_HOST_USER = env.str("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=SECURE)
AWS_SES_REGION_NAME = env.str("AWS_REGION", default="us-east-1")
AWS_SES_REGION_ENDPOINT = f"email.{AWS_SES_REGION_NAME}.amazonaws.com"

# HTTPS hardening. Off by default because the local stack and test live servers speak plain HTTP.
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SECURE)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    # Only behind a proxy that sets this header itself; otherwise clients could forge it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# WebSocket tokens: Ed25519 JWTs that the Lambda authorizer verifies with the public key.
# The PEM text wins over the file; both are read when a token is issued, not at import.
TOKEN_SIGNING_KEY = env.str("TOKEN_SIGNING_KEY", default="", multiline=True)
TOKEN_SIGNING_KEY_FILE = env.str(
    "TOKEN_SIGNING_KEY_FILE", default=str(DEV_KEYS_DIR / "token-signing-key.pem")
)
# The header holding the caller's address as API Gateway saw it, when a proxy in front sets it
# from the request context (Zappa's context_header_mappings: zappa_settings.json); empty:
# REMOTE_ADDR. Login throttling counts failures per caller.
CLIENT_IP_HEADER = env.str("DJANGO_CLIENT_IP_HEADER", default="")
# Behind CloudFront at a custom domain: the caller is CloudFront-Viewer-Address when the request
# carries the edge header (chat/edge.py), else CLIENT_IP_HEADER's.
BEHIND_CLOUDFRONT = env.bool("DJANGO_BEHIND_CLOUDFRONT", default=False)
TOKEN_TTL_SECONDS = env.int("TOKEN_TTL_SECONDS", default=300)
if TOKEN_TTL_SECONDS < 1:
    raise ImproperlyConfigured("TOKEN_TTL_SECONDS must be a positive number of seconds")
WEBSOCKET_URL = env.str("WEBSOCKET_URL", default="ws://127.0.0.1:8001/local")

# Rooms: may every signed-in user create one (staff always can)?
ROOMS_USER_CREATE = env.bool("ROOMS_USER_CREATE", default=True)
# Quotas (the `limits` table): rooms a user who is not staff may create a day, and accounts one
# caller (an IPv4 address or IPv6 /64) may sign up an hour.
ROOMS_PER_USER_PER_DAY = env.int("ROOMS_PER_USER_PER_DAY", default=10)
SIGNUPS_PER_IP_PER_HOUR = env.int("SIGNUPS_PER_IP_PER_HOUR", default=5)
# Message search (chat/selectors/search.py): the text search configuration the index was built
# with (the indexing function must use the same one), and searches per user per minute.
SEARCH_LANGUAGE = env.str("SEARCH_LANGUAGE", default="english")
if not re.fullmatch(r"[a-z_]{1,63}", SEARCH_LANGUAGE):
    raise ImproperlyConfigured("SEARCH_LANGUAGE names a text search configuration, e.g. english")
SEARCHES_PER_USER_PER_MINUTE = env.int("SEARCHES_PER_USER_PER_MINUTE", default=30)
# Overrides of the chat page's client timings, as data attributes (`backoff-base-ms`,
# `backoff-max-ms`, `ping-interval-ms`, `pong-timeout-ms`, `refresh-after-ms`, `stable-after-ms`):
# the browser tests shorten them. Empty: the defaults in static/chat/connection.js.
CHAT_CLIENT_TIMINGS: dict[str, int] = {}
