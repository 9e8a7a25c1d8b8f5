"""Signature Version 4, checked as API Gateway checks a route with `AuthorizationType: AWS_IAM`.

A WebSocket client signs its handshake either in the query string (a presigned `wss://` URL:
X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature) or in an
`Authorization` header, for the service `execute-api`. The canonical request, the string to sign
and the signing key are AWS's ("Create a signed AWS API request", IAM User Guide); the answers
to a missing, expired or wrong signature are API Gateway's gateway responses
MISSING_AUTHENTICATION_TOKEN, EXPIRED_TOKEN and INVALID_SIGNATURE (all 403), with the messages
API Gateway sends for them.

The emulator knows the callers' secrets (keys it issues, or ones the developer names); it does
not evaluate the callers' own IAM policies, which live outside the template.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from emulator.intrinsics import ACCOUNT_ID

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STAMP = "%Y%m%dT%H%M%SZ"
# A request signed in headers is good for 5 minutes either side of its X-Amz-Date (IAM User
# Guide); a presigned one from X-Amz-Date until X-Amz-Expires seconds later (at most 7 days).
SKEW = timedelta(minutes=5)
MAX_EXPIRES = 7 * 24 * 3600

MISSING = "Missing Authentication Token"
INVALID_KEY = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


class SignatureError(Exception):
    """The handshake's signature is missing or wrong: API Gateway's 403, with this message."""

    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Credentials:
    """An access key the emulator accepts, and the IAM principal it stands for."""

    access_key: str
    secret_key: str
    user_arn: str = f"arn:aws:iam::{ACCOUNT_ID}:user/local"

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """`ACCESS_KEY:SECRET` or `ACCESS_KEY:SECRET:USER_ARN` (the ARN holds colons)."""
        access_key, _, rest = text.partition(":")
        secret_key, _, arn = rest.partition(":")
        if not access_key or not secret_key:
            raise ValueError("credentials are ACCESS_KEY:SECRET[:USER_ARN]")
        if arn and not re.fullmatch(r"arn:aws[\w-]*:(iam|sts)::\d{12}:.+", arn):
            raise ValueError(f"{arn!r} is not an IAM user or role ARN")
        return cls(access_key, secret_key, arn or cls.user_arn)

    @classmethod
    def issue(cls) -> Credentials:
        """A fresh key pair shaped like IAM's (AKIA + 16, and a 40-character secret)."""
        alphabet = string.ascii_uppercase + string.digits
        access_key = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        secret_alphabet = string.ascii_letters + string.digits + "/+"
        secret_key = "".join(secrets.choice(secret_alphabet) for _ in range(40))
        return cls(access_key, secret_key)

    def identity(self) -> dict[str, str]:
        """The `requestContext.identity` fields API Gateway fills for a caller signed with this
        key: accountId, caller and user (the principal's unique id; `AROA…:session` for an
        assumed role), userArn and accessKey."""
        account = self.user_arn.split(":")[4]
        unique = _unique_id(self.user_arn)
        if ":assumed-role/" in self.user_arn:
            principal = f"AROA{unique}:{self.user_arn.rsplit('/', 1)[-1]}"
        else:
            principal = f"AIDA{unique}"
        return {
            "accountId": account,
            "caller": principal,
            "user": principal,
            "userArn": self.user_arn,
            "accessKey": self.access_key,
        }


def _unique_id(arn: str) -> str:
    """A stable IAM-style unique id (17 characters) for a principal's ARN."""
    digest = hashlib.sha256(arn.encode()).digest()
    alphabet = string.ascii_uppercase + string.digits
    return "".join(alphabet[b % len(alphabet)] for b in digest[:17])


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_uri(path: str) -> str:
    """The path, dot segments removed (trailing slash kept), URI-encoded except '/'."""
    normalized = posixpath.normpath(path) if path else "/"
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized.replace("//", "/"), safe="/~")


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """Decoded query pairs, each name and value encoded, sorted by name then value."""
    return "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in pairs))


def canonical_headers(headers: list[tuple[str, str]], signed: list[str]) -> str:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    lines = []
    for name in signed:
        if name not in values:
            raise SignatureError(MISMATCH)  # a signed header the request does not carry
        lines.append(f"{name}:{','.join(values[name])}\n")
    return "".join(lines)


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(
    credentials: Credentials,
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    signed_headers: list[str],
    payload_hash: str,
    stamp: str,
    region: str,
) -> str:
    """The hex signature of a request, as the client computes it."""
    canonical = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(credentials.secret_key, stamp[:8], region)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Signed:
    credential: str
    stamp: str
    signed_headers: list[str]
    signature: str
    expires: int | None  # presigned: seconds from `stamp`; None: signed in headers
    query: list[tuple[str, str]]  # what the signature covers (without X-Amz-Signature)


def _parse(query: list[tuple[str, str]], headers: list[tuple[str, str]]) -> _Signed:
    names = {name for name, _ in query}
    header = next((v for k, v in headers if k.lower() == "authorization"), None)
    if "X-Amz-Signature" in names:
        values = dict(query)
        if values.get("X-Amz-Algorithm") != ALGORITHM:
            raise SignatureError(MISSING)
        try:
            expires = int(values["X-Amz-Expires"])
            signed = _Signed(
                credential=values["X-Amz-Credential"],
                stamp=values["X-Amz-Date"],
                signed_headers=values["X-Amz-SignedHeaders"].split(";"),
                signature=values["X-Amz-Signature"],
                expires=expires,
                query=[(k, v) for k, v in query if k != "X-Amz-Signature"],
            )
        except (KeyError, ValueError):
            raise SignatureError(MISSING) from None
        if not 1 <= expires <= MAX_EXPIRES:
            raise SignatureError(
                f"X-Amz-Expires must be less than a week (in seconds) that is 604800: {expires}"
            )
        return signed
    if header and header.startswith(ALGORITHM + " "):
        fields = dict(
            part.strip().partition("=")[::2] for part in header[len(ALGORITHM) :].split(",")
        )
        stamp = next((v for k, v in headers if k.lower() == "x-amz-date"), "")
        try:
            return _Signed(
                credential=fields["Credential"],
                stamp=stamp,
                signed_headers=fields["SignedHeaders"].split(";"),
                signature=fields["Signature"],
                expires=None,
                query=query,
            )
        except KeyError:
            raise SignatureError(MISSING) from None
    raise SignatureError(MISSING)


def verify(
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    keys: dict[str, Credentials],
    region: str,
    now: datetime | None = None,
) -> Credentials:
    """The credentials that signed this request, or SignatureError.

    `query` holds the decoded query pairs, `headers` the request's headers, `keys` the access
    keys the emulator knows.
    """
    signed = _parse(query, headers)
    access_key, date, scope_region, service, terminal = (signed.credential.split("/") + [""] * 5)[
        :5
    ]
    if terminal != "aws4_request" or not access_key:
        raise SignatureError(f"Authorization header requires 'Credential' parameter. {MISSING}")
    try:
        when = datetime.strptime(signed.stamp, STAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(MISSING) from None
    if date != signed.stamp[:8]:
        raise SignatureError(
            f"Credential should be scoped to a valid date: {date}, not {signed.stamp[:8]}"
        )
    if scope_region != region:
        raise SignatureError(
            f"Credential should be scoped to a valid region, not '{scope_region}'. "
        )
    if service != SERVICE:
        raise SignatureError(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    now = now or datetime.now(UTC)
    if signed.expires is not None:
        if now > when + timedelta(seconds=signed.expires):
            raise SignatureError("Signature expired: request has expired")
        if when > now + SKEW:
            raise SignatureError("Signature not yet current")
    elif abs(now - when) > SKEW:
        raise SignatureError(
            f"Signature expired: {signed.stamp} is now earlier than "
            f"{(now - SKEW).strftime(STAMP)} ({now.strftime(STAMP)} - 5 min.)"
        )
    credentials = keys.get(access_key)
    if credentials is None:
        raise SignatureError(INVALID_KEY)
    claimed = next((v for k, v in headers if k.lower() == "x-amz-content-sha256"), None)
    # A presigned URL covers no body: clients put the empty body's hash or UNSIGNED-PAYLOAD.
    for payload_hash in [claimed] if claimed else [EMPTY_SHA256, UNSIGNED_PAYLOAD]:
        expected = signature(
            credentials,
            method=method,
            path=path,
            query=signed.query,
            headers=headers,
            signed_headers=signed.signed_headers,
            payload_hash=payload_hash,
            stamp=signed.stamp,
            region=region,
        )
        if hmac.compare_digest(expected, signed.signature):
            return credentials
    raise SignatureError(MISMATCH)
