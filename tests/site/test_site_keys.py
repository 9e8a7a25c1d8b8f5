"""Development keys: the Ed25519 pair, the Django secret, `manage.py devkeys`, token signing."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from chat.keys import (
    PRIVATE_KEY_NAME,
    PUBLIC_KEY_NAME,
    dev_keypair_ensure,
    dev_secret_key_ensure,
    keypair_generate,
)
from chat.tokens import token_issue
from lambdas.tokens import InvalidToken


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keypair_generate_gives_matching_ed25519_pems():
    """The public PEM verifies what the private PEM signs, in the formats the Lambdas load."""
    private_pem, public_pem = keypair_generate()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    token = jwt.encode({"sub": "1"}, private_pem, algorithm="EdDSA")
    assert jwt.decode(token, public_pem, algorithms=["EdDSA"]) == {"sub": "1"}


def test_dev_keypair_ensure_creates_private_files(tmp_path):
    """The folder is 0700, the signing key 0600, and the two halves match."""
    folder = tmp_path / ".dev-keys"
    private_path, public_path = dev_keypair_ensure(folder=folder)
    assert (private_path, public_path) == (folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME)
    assert mode(folder) == 0o700
    assert mode(private_path) == 0o600
    private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_path.read_bytes()
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted([PRIVATE_KEY_NAME, PUBLIC_KEY_NAME])


def test_dev_keypair_ensure_is_idempotent(tmp_path):
    """A second call keeps the existing keys byte for byte."""
    private_path, public_path = dev_keypair_ensure(folder=tmp_path)
    before = private_path.read_bytes(), public_path.read_bytes()
    assert dev_keypair_ensure(folder=tmp_path) == (private_path, public_path)
    assert (private_path.read_bytes(), public_path.read_bytes()) == before


def test_dev_keypair_ensure_restores_a_lost_public_key(tmp_path):
    """With only the private key left, the public key is derived from it, not regenerated."""
    private_path, public_path = dev_keypair_ensure(folder=tmp_path)
    public_pem = public_path.read_text()
    public_path.unlink()
    dev_keypair_ensure(folder=tmp_path)
    assert public_path.read_text() == public_pem


def test_devkeys_command_prints_both_paths(settings, tmp_path):
    """`manage.py devkeys` ensures the pair in DEV_KEYS_DIR and prints the two paths."""
    settings.DEV_KEYS_DIR = tmp_path / "keys"
    out = io.StringIO()
    call_command("devkeys", stdout=out)
    call_command("devkeys", stdout=out)
    lines = out.getvalue().splitlines()
    expected = [str(tmp_path / "keys" / PRIVATE_KEY_NAME), str(tmp_path / "keys" / PUBLIC_KEY_NAME)]
    assert lines == expected * 2
    assert mode(tmp_path / "keys" / PRIVATE_KEY_NAME) == 0o600


def test_dev_secret_key_is_generated_once(tmp_path):
    """The development Django secret is random, stored 0600, and the same on every start."""
    first = dev_secret_key_ensure(folder=tmp_path)
    assert len(first) >= 50
    assert dev_secret_key_ensure(folder=tmp_path) == first
    assert mode(tmp_path / "django-secret-key") == 0o600
    assert dev_secret_key_ensure(folder=tmp_path / "other") != first


@pytest.mark.django_db
def test_token_issue_without_a_key_says_how_to_make_one(settings, tmp_path):
    """No key anywhere is ImproperlyConfigured pointing at `manage.py devkeys`."""
    settings.TOKEN_SIGNING_KEY_FILE = str(tmp_path / "missing.pem")
    user = get_user_model().objects.create_user(username="carol")
    with pytest.raises(ImproperlyConfigured, match="manage.py devkeys"):
        token_issue(user=user)


@pytest.mark.django_db
def test_signing_key_text_wins_over_the_file(settings, verify):
    """TOKEN_SIGNING_KEY (PEM text) is used even when the key file points at another key."""
    private_pem, public_pem = keypair_generate()
    settings.TOKEN_SIGNING_KEY = private_pem
    user = get_user_model().objects.create_user(username="carol")
    token = token_issue(user=user).token
    assert jwt.decode(token, public_pem, algorithms=["EdDSA"], options={"verify_aud": False})
    with pytest.raises(InvalidToken):
        verify(token)  # the session key file's public half does not match


@pytest.mark.django_db
def test_a_key_that_is_not_ed25519_is_refused(settings):
    """Only Ed25519 keys sign tokens: the Lambdas accept EdDSA and nothing else."""
    settings.TOKEN_SIGNING_KEY = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    user = get_user_model().objects.create_user(username="carol")
    with pytest.raises(ImproperlyConfigured, match="Ed25519"):
        token_issue(user=user)


def test_system_check_warns_when_no_key_exists(settings, tmp_path):
    """`manage.py check` (and runserver) warn about a missing signing key up front."""
    settings.TOKEN_SIGNING_KEY_FILE = str(tmp_path / "missing.pem")
    assert [m.id for m in run_checks() if m.id.startswith("chat.")] == ["chat.W001"]
    settings.TOKEN_SIGNING_KEY_FILE = str(dev_keypair_ensure(folder=tmp_path)[0])
    assert [m.id for m in run_checks() if m.id.startswith("chat.")] == []


def test_system_check_refuses_tokens_longer_than_the_authorizer_accepts(settings):
    """A TOKEN_TTL_SECONDS over TOKEN_MAX_LIFETIME_SECONDS would make every token fail."""
    settings.TOKEN_TTL_SECONDS = 3600
    errors = [m for m in run_checks() if m.id == "chat.E001"]
    assert len(errors) == 1 and "TOKEN_MAX_LIFETIME_SECONDS=600" in errors[0].msg
    settings.TOKEN_TTL_SECONDS = 600
    assert not [m for m in run_checks() if m.id == "chat.E001"]
