"""The REQUEST authorizer allows valid site tokens and denies everything else without raising."""

import base64
import hmac
import io
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lambdas.handlers import authorizer
from tests.helpers import load_event


def authorize(token: str | None) -> dict:
    event = load_event("websocket-authorizer-request")
    if token is not None:
        event["queryStringParameters"] = {"token": token}
        event["multiValueQueryStringParameters"] = {"token": [token]}
    return authorizer.handler(event, None)


def effect(response: dict) -> str:
    (statement,) = response["policyDocument"]["Statement"]
    return statement["Effect"]


def test_valid_token_is_allowed_with_user_context(keys):
    """A valid token gets an Allow for this API and stage, with the user in the context."""
    token = keys.token(user_id="42", username="bob", staff=True)
    response = authorize(token)
    (statement,) = response["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [
        "arn:aws:execute-api:us-east-1:533568316194:c5jwxq709g/production/*"
    ]
    assert response["principalId"] == "42"
    context = response.pop("context")
    issued_at = jwt.decode(token, options={"verify_signature": False})["iat"]
    assert context.pop("issuedAt") == issued_at  # the token's own iat
    assert context == {"userId": "42", "username": "bob", "isStaff": True}


def test_the_tokens_browser_session_is_carried_into_the_context(keys):
    """A token's `sid` reaches `$connect` as `sessionId`; a token without one has none (API
    Gateway refuses a null context value)."""
    context = authorize(keys.token(user_id="42", sid="Zq3hV0c9kL2xW8yT1bN4mA"))["context"]
    assert context["sessionId"] == "Zq3hV0c9kL2xW8yT1bN4mA"
    assert "sessionId" not in authorize(keys.token(user_id="42"))["context"]


def test_a_token_living_longer_than_the_maximum_is_denied(keys):
    """Signed by the site's key and unexpired, but minted for a day: refused (it would outlast
    any ban); the longest allowed (TOKEN_MAX_LIFETIME_SECONDS, 600 s) passes."""
    now = int(time.time())
    assert effect(authorize(keys.token(iat=now, nbf=now, exp=now + 86400))) == "Deny"
    assert effect(authorize(keys.token(iat=now, nbf=now, exp=now + 600))) == "Allow"
    assert effect(authorize(keys.token(iat=now, nbf=now, exp=now + 601))) == "Deny"


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _valid_claims() -> dict:
    now = int(time.time())
    return {
        "sub": "1",
        "username": "a",
        "iss": "dynamowave-site",
        "aud": "dynamowave-websocket",
        "iat": now,
        "exp": now + 60,
    }


def _hs256_with_public_key(keys) -> str:
    # The classic algorithm-confusion attack: an HMAC "signed" with the verifier's public key.
    header, payload = _unsigned(_valid_claims()).split(".")[:2]
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    signature = hmac.new(keys.public_pem.encode(), f"{header}.{payload}".encode(), "sha256")
    return (
        f"{header}.{payload}." + base64.urlsafe_b64encode(signature.digest()).rstrip(b"=").decode()
    )


BAD_TOKENS = {
    "expired": lambda k: k.token(exp=int(time.time()) - 120, iat=int(time.time()) - 600),
    "not yet valid": lambda k: k.token(nbf=int(time.time()) + 600),
    "signed by another key": lambda k: k.token(key=Ed25519PrivateKey.generate()),
    "wrong audience": lambda k: k.token(aud="someone-else"),
    "wrong issuer": lambda k: k.token(iss="evil"),
    "no expiry": lambda k: k.token(exp=None),
    "no subject": lambda k: k.token(sub=None),
    "staff not a bool": lambda k: k.token(staff="yes"),
    "session not a string": lambda k: k.token(sid=12),
    "empty session": lambda k: k.token(sid=""),
    "session too long": lambda k: k.token(sid="s" * 65),
    "alg none": lambda k: _unsigned(_valid_claims()),
    "HS256 with the public key as secret": lambda k: _hs256_with_public_key(k),
    "tampered payload": lambda k: (
        lambda t: (
            t.split(".")[0]
            + "."
            + _unsigned({"sub": "2", "username": "mallory"}).split(".")[1]
            + "."
            + t.split(".")[2]
        )
    )(k.token()),
    "garbage": lambda k: "not-a-token",
    "empty": lambda k: "",
    "oversized": lambda k: "a" * 10_000,
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_are_denied(keys, case):
    """Every kind of bad token gets a Deny policy, never an exception."""
    response = authorize(BAD_TOKENS[case](keys))
    assert effect(response) == "Deny"
    assert "context" not in response


def test_missing_token_is_denied(keys):
    """The captured event has no query string at all: the authorizer denies it."""
    assert effect(authorize(None)) == "Deny"


def test_rotated_keys_are_all_trusted(keys, monkeypatch):
    """With two public keys configured, tokens signed by either are allowed."""
    from cryptography.hazmat.primitives import serialization

    from tests.helpers import bind_config

    new_key = Ed25519PrivateKey.generate()
    new_pem = (
        new_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    bind_config(TOKEN_PUBLIC_KEYS=new_pem + keys.public_pem)
    try:
        assert effect(authorize(keys.token(key=new_key))) == "Allow"
        assert effect(authorize(keys.token())) == "Allow"
    finally:
        bind_config()


def test_tokens_never_reach_the_logs(keys):
    """Neither an allowed nor a denied token appears in anything the authorizer logs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(authorizer.logger.registered_formatter)  # the JSON lines Lambda ships
    std_logger = logging.getLogger(authorizer.logger.name)
    std_logger.addHandler(handler)
    try:
        good, expired = keys.token(), keys.token(exp=int(time.time()) - 120)
        authorize(good)
        authorize(expired)
    finally:
        std_logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "connection denied" in logged and "ExpiredSignatureError" in logged
    assert good not in logged and expired not in logged
