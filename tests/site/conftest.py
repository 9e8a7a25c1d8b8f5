"""Fixtures of the site's tests: a token key pair per session, fast hashing, a user, a verifier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chat.keys import keypair_generate

PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # WhiteNoise warns that STATIC_ROOT is missing until `collectstatic` runs; that is a deploy
    # concern, and the test client serves nothing from there.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:No directory at:UserWarning"))


@pytest.fixture(scope="session")
def token_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The signing key file and public PEM that every site test issues and verifies tokens with."""
    private_pem, public_pem = keypair_generate()
    path = tmp_path_factory.mktemp("site-keys") / "token-signing-key.pem"
    path.write_text(private_pem)
    path.chmod(0o600)
    return path, public_pem


@pytest.fixture(autouse=True)
def _site_settings(settings, token_keypair: tuple[Path, str]) -> None:
    # No DynamoDB here: a test that touches it asks for `dynamodb` itself (so it is a `server`
    # test, tests/conftest.py), as every test that logs in must: failures are counted in the
    # `limits` table (chat/throttle.py).
    settings.TOKEN_SIGNING_KEY = ""
    settings.TOKEN_SIGNING_KEY_FILE = str(token_keypair[0])
    # The real hasher costs ~0.3 s per login; these tests are about the flow, not the hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _logins_need_dynamodb(request: pytest.FixtureRequest, monkeypatch) -> None:
    """Without `dynamodb`, a login fails the test, rather than passing on the throttle's
    in-memory fallback (or on a dynalite that another test happened to start)."""
    if "dynamodb" in request.fixturenames:
        return
    from chat import throttle

    def refuse(**kwargs: object) -> None:
        raise AssertionError("a login reads the limits table: this test needs `dynamodb`")

    monkeypatch.setattr(throttle, "login_check", refuse)
    monkeypatch.setattr(throttle, "login_failure_record", refuse)


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def verify(token_keypair: tuple[Path, str]) -> Callable:
    """Check a token exactly as the Lambda authorizer does, with the current lambdas config."""
    from lambdas.config import get_config
    from lambdas.tokens import token_verify

    def verify(token: str):
        config = get_config()
        return token_verify(
            token,
            public_keys=(token_keypair[1],),
            issuer=config.token_issuer,
            audience=config.token_audience,
        )

    return verify
