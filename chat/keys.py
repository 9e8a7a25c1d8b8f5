"""Development secrets: the token-signing Ed25519 key pair and the Django secret key, on disk."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE_KEY_NAME = "token-signing-key.pem"
PUBLIC_KEY_NAME = "token-public-key.pem"
SECRET_KEY_NAME = "django-secret-key"


def keypair_generate() -> tuple[str, str]:
    """A fresh Ed25519 pair: (private PEM, PKCS#8 unencrypted; public PEM, SubjectPublicKeyInfo)."""
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return private_pem.decode(), public_pem.decode()


def private_folder_ensure(*, folder: Path) -> Path:
    """The folder, created owner-only (0700) when missing."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _write_once(*, path: Path, text: str, mode: int) -> bool:
    """Write `text` to `path` unless it exists; False when another writer got there first.

    Written to a temporary file and hard-linked into place, so concurrent starters (runserver and
    the gateway, or parallel test workers) never see a half-written key and never overwrite one.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def dev_keypair_ensure(*, folder: Path) -> tuple[Path, Path]:
    """Paths of the development signing key (0600) and its public key, generated when missing."""
    private_folder_ensure(folder=folder)
    private_path, public_path = folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME
    if not private_path.exists():
        private_pem, public_pem = keypair_generate()
        if _write_once(path=private_path, text=private_pem, mode=0o600):
            # We own the new private key, so its public half must follow it, even over a stale one.
            public_path.unlink(missing_ok=True)
            _write_once(path=public_path, text=public_pem, mode=0o644)
    if not public_path.exists():
        # Only the private key survived (deleted by hand, or a crash between the two writes).
        _write_once(path=public_path, text=public_pem_from(private_path.read_text()), mode=0o644)
    return private_path, public_path


def public_pem_from(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of an Ed25519 private key PEM."""
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValueError("the token signing key must be an Ed25519 private key")
    return (
        private_key.public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def dev_secret_key_ensure(*, folder: Path) -> str:
    """The development Django secret key stored in `folder` (0600), generated on first use."""
    private_folder_ensure(folder=folder)
    path = folder / SECRET_KEY_NAME
    if not path.exists():
        _write_once(path=path, text=secrets.token_urlsafe(50), mode=0o600)
    secret = path.read_text().strip()
    if not secret:
        raise ValueError(f"{path} is empty: delete it to generate a new development secret")
    return secret
