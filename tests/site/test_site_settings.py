"""Settings: import with no environment at all, and production differences only via variables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from dynamowave_site import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS,
    "DATABASE": s.DATABASES["default"]["NAME"],
    "ENGINE": s.DATABASES["default"]["ENGINE"],
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "TOKEN_SIGNING_KEY_FILE": s.TOKEN_SIGNING_KEY_FILE,
    "TOKEN_TTL_SECONDS": s.TOKEN_TTL_SECONDS,
    "EMAIL_BACKEND": s.EMAIL_BACKEND,
    "WEBSOCKET_URL": s.WEBSOCKET_URL,
}))
"""


def settings_in(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter that sees only `env` (plus PATH)."""
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_with(env: dict[str, str]) -> dict:
    result = settings_in(env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_import_with_no_environment():
    """With no variables at all the site is a safe local default: no DEBUG, sqlite, dev secret."""
    values = settings_with({})
    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == (ROOT / ".dev-keys" / "django-secret-key").read_text().strip()
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "testserver"]
    assert values["CSRF_TRUSTED_ORIGINS"] == []
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASE"] == str(ROOT / ".data" / "db.sqlite3")
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["TOKEN_SIGNING_KEY_FILE"] == str(ROOT / ".dev-keys" / "token-signing-key.pem")
    assert values["TOKEN_TTL_SECONDS"] == 300
    assert values["WEBSOCKET_URL"] == "ws://127.0.0.1:8001/local"


def test_production_is_driven_by_variables(tmp_path):
    """Every production difference comes from a variable, with HTTPS hardening behind one switch."""
    values = settings_with(
        {
            "DJANGO_SECRET_KEY": "s3cret-from-the-environment",
            "DJANGO_SECURE": "true",
            "DJANGO_ALLOWED_HOSTS": "chat.example.com,www.chat.example.com",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "TOKEN_TTL_SECONDS": "120",
            "WEBSOCKET_URL": "wss://ws.chat.example.com/prod",
        }
    )
    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "s3cret-from-the-environment"
    assert values["ALLOWED_HOSTS"] == ["chat.example.com", "www.chat.example.com"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://chat.example.com"]
    assert values["DATABASE"] == str(tmp_path / "prod.sqlite3")
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0
    assert values["TOKEN_TTL_SECONDS"] == 120
    assert values["WEBSOCKET_URL"] == "wss://ws.chat.example.com/prod"


def test_debug_is_opt_in():
    """DEBUG is on only when DJANGO_DEBUG says so (the local stack sets it)."""
    assert settings_with({"DJANGO_DEBUG": "true"})["DEBUG"] is True


def test_https_without_a_real_secret_key_refuses_to_start():
    """A site served over HTTPS never falls back to the development secret."""
    result = settings_in({"DJANGO_SECURE": "true"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_empty_variables_mean_defaults():
    """A copy of .env.example (every value empty) changes nothing."""
    names = env_example_names()
    assert settings_with(dict.fromkeys(names, "")) == settings_with({})


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_token_ttl_must_be_positive(ttl):
    """A zero or negative token lifetime is a configuration error, not instantly dead tokens."""
    result = settings_in({"TOKEN_TTL_SECONDS": ttl})
    assert result.returncode != 0
    assert "TOKEN_TTL_SECONDS" in result.stderr


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_variable_the_settings_read():
    """Each variable settings.py reads appears in .env.example, with an empty value."""
    source = (ROOT / "dynamowave_site" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source))
    read.discard("DJANGO_READ_DOT_ENV_FILE")  # meaningless inside the file it switches on
    assert read <= env_example_names()
    assert not re.search(r"^[A-Z][A-Z0-9_]*=.+$", (ROOT / ".env.example").read_text(), re.M)


SECURE = {"DJANGO_SECURE": "true", "DJANGO_SECRET_KEY": "a-real-secret-for-this-test"}


@pytest.mark.parametrize("backend", ["console", "locmem", "filebased", "dummy"])
def test_secure_mode_refuses_a_mail_backend_that_does_not_deliver(backend):
    """Deployed, a console backend would write password-reset links into the logs: refused."""
    name = f"django.core.mail.backends.{backend}.EmailBackend"
    result = settings_in({**SECURE, "DJANGO_EMAIL_BACKEND": name})
    assert result.returncode != 0
    assert f"DJANGO_EMAIL_BACKEND={name} does not deliver mail" in result.stderr


def test_secure_mode_sends_mail_through_ses_or_smtp_and_locally_prints_it():
    assert settings_with(SECURE)["EMAIL_BACKEND"] == "django_ses.SESBackend"
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert settings_with({**SECURE, "DJANGO_EMAIL_BACKEND": smtp})["EMAIL_BACKEND"] == smtp
    local = settings_with({})["EMAIL_BACKEND"]
    assert local == "django.core.mail.backends.console.EmailBackend"
