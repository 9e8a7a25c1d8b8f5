"""Fuzz: the authorizer denies every token that is not ours and valid, and never raises.

Random strings, truncated and tampered tokens, tokens re-signed with a stranger's key, `alg: none`
and HMAC-with-our-public-key forgeries, expired, not-yet-valid and oversized tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from emulator.events import LambdaContext
from lambdas.handlers import authorizer
from lambdas.tokens import LEEWAY_SECONDS, MAX_TOKEN_LENGTH
from tests.fuzzing import fuzz_settings, json_values, scaled
from tests.helpers import AUDIENCE, ISSUER, load_event

CONTEXT = LambdaContext(function_name="fuzz-authorizer", aws_request_id="req-fuzz")
STRANGER = Ed25519PrivateKey.generate()
CALLS = [0]  # authorizer invocations: each suite checks that all its examples ran


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: object) -> dict:
    now = int(time.time())
    base = {
        "sub": "1",
        "username": "alice",
        "staff": False,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def decide(token: object, *, params: object = "default") -> str:
    """Run the authorizer on a captured request carrying `token`; return the policy's effect."""
    event = load_event("websocket-authorizer-request")
    if params == "default":
        params = {"token": token}
    event["queryStringParameters"] = params
    CALLS[0] += 1
    policy = authorizer.handler(event, CONTEXT)
    (statement,) = policy["policyDocument"]["Statement"]
    if statement["Effect"] == "Allow":
        assert policy["context"]["userId"] and policy["context"]["username"]
    return statement["Effect"]


@pytest.fixture
def valid(keys):
    """A fresh valid token (the sanity check that the authorizer allows at all)."""
    token = keys.token()
    assert decide(token) == "Allow"
    return token


def never_ours(keys) -> st.SearchStrategy[str]:
    now = int(time.time())
    ours = keys.private
    return st.one_of(
        st.text(max_size=300),
        st.lists(st.binary(max_size=60).map(b64), min_size=1, max_size=5).map(".".join),
        # Signed by someone else, whatever the claims say.
        # (not "iss": PyJWT itself refuses to sign a non-string issuer)
        st.dictionaries(
            st.text(max_size=8).filter(lambda key: key != "iss"), json_values, max_size=4
        ).map(lambda extra: jwt.encode(claims() | extra, STRANGER, algorithm="EdDSA")),
        # alg none, and HS256 keyed with our public key (the classic algorithm confusion).
        st.sampled_from(["none", "None", "NONE", ""]).map(
            lambda alg: (
                f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}."
                f"{b64(json.dumps(claims()).encode())}."
            )
        ),
        st.just(keys.public_pem).map(_hmac_forgery),
        # Ours, but expired or not yet valid (beyond the clock-skew leeway).
        st.integers(min_value=LEEWAY_SECONDS + 1, max_value=10**8).map(
            lambda ago: jwt.encode(
                claims(exp=now - ago, iat=now - ago - 300, nbf=now - ago - 300),
                ours,
                algorithm="EdDSA",
            )
        ),
        # Ahead of the clock when drawn, not when the suite started: a slow run (CI under
        # load) had moved the clock 6 s on, into the leeway, and the token was allowed.
        st.integers(min_value=LEEWAY_SECONDS + 5, max_value=10**8).map(
            lambda ahead: jwt.encode(
                claims(nbf=int(time.time()) + ahead, exp=int(time.time()) + ahead + 300),
                ours,
                algorithm="EdDSA",
            )
        ),
        # Ours, but for another audience or issuer, or missing a required claim.
        st.sampled_from(["aud", "iss", "exp", "iat", "sub"]).flatmap(
            lambda name: st.one_of(st.none(), st.text(max_size=10)).map(
                lambda value: jwt.encode(
                    claims(**{name: value if name in ("aud", "iss") else None}),
                    ours,
                    algorithm="EdDSA",
                )
            )
        ),
        # Ours, but oversized.
        st.integers(min_value=0, max_value=2000).map(
            lambda n: jwt.encode(claims(pad="x" * (MAX_TOKEN_LENGTH + n)), ours, algorithm="EdDSA")
        ),
    )


def _hmac_forgery(pem: str) -> str:
    """HS256 keyed with our public key: accepted by verifiers that trust the token's `alg`."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_tokens_not_ours_are_denied(keys, valid):
    """Forged, stale, premature, misaddressed and oversized tokens are denied, never raised."""

    @fuzz_settings(2000)
    @given(never_ours(keys))
    def run(token):
        assert decide(token) == "Deny"

    before = CALLS[0]
    run()
    assert CALLS[0] - before == scaled(2000)


def test_truncated_and_tampered_tokens_are_denied(keys, valid):
    """Any proper prefix of a valid token, or one with a changed header or payload character."""
    header_and_payload = valid.rsplit(".", 1)[0]

    @fuzz_settings(800)
    @given(
        st.integers(min_value=0, max_value=len(valid) - 1).map(lambda n: valid[:n])
        | st.tuples(
            st.integers(min_value=0, max_value=len(header_and_payload) - 1),
            st.characters(codec="ascii"),
        )
        .filter(lambda change: valid[change[0]] != change[1])
        .map(lambda change: valid[: change[0]] + change[1] + valid[change[0] + 1 :])
    )
    def run(token):
        assert decide(token) == "Deny"

    before = CALLS[0]
    run()
    assert CALLS[0] - before == scaled(800)


def test_query_strings_of_any_shape_are_denied(keys):
    """No query string, no token, or a token that is not a string: deny, never raise."""

    @fuzz_settings(300)
    @given(
        st.none()
        | st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3)
        | json_values.map(lambda value: {"token": value})
    )
    def run(params):
        assert decide(None, params=params) == "Deny"

    before = CALLS[0]
    run()
    assert CALLS[0] - before == scaled(300)
