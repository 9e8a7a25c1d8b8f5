"""Verification of the short-lived Ed25519 JWTs the site issues for opening a WebSocket."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

ALGORITHM = "EdDSA"
MAX_TOKEN_LENGTH = 4096  # ours are ~400 bytes; anything huge is refused before parsing
LEEWAY_SECONDS = 30  # clock skew between the site and Lambda
MAX_SESSION_ID_LENGTH = 64  # the site's are 22 characters; it is stored with each connection


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by a key we trust."""


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    is_staff: bool
    issued_at: float = 0  # the token's `iat` (epoch seconds): tokens issued before a ban are void
    # The token's `sid`: the browser session it was issued to, so that logging out of that
    # session ends its connections and voids its tokens (None: issued without one).
    session_id: str | None = None


@lru_cache(maxsize=8)
def _load_keys(pems: tuple[str, ...]) -> tuple:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys = []
    for pem in pems:
        key = load_pem_public_key(pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("token public keys must be Ed25519")
        keys.append(key)
    return tuple(keys)


def token_verify(
    token: str | None,
    *,
    public_keys: tuple[str, ...],
    issuer: str,
    audience: str,
    max_lifetime: int | None = None,
) -> User:
    """Check signature, expiry, issuer and audience; several keys allow rotation. A token that
    lives longer than `max_lifetime` seconds (exp − iat) is refused: a leaked signing setup
    must not mint tokens that outlast every ban."""
    # Imported here: every handler reads `User` from this module, only the authorizer verifies.
    import jwt

    if not token or not isinstance(token, str):
        raise InvalidToken("no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token too long")
    keys = _load_keys(public_keys)
    if not keys:
        raise InvalidToken("no public key configured")
    last_error: Exception | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],  # never trust the token's own `alg` (e.g. "none")
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            break
        except jwt.InvalidSignatureError as exc:
            last_error = exc  # maybe signed by another (rotated) key
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
    else:
        raise InvalidToken(type(last_error).__name__)
    username = claims.get("username")
    staff = claims.get("staff", False)
    if not isinstance(username, str) or not username or not isinstance(staff, bool):
        raise InvalidToken("malformed claims")
    issued_at, expires_at = claims["iat"], claims["exp"]
    if not all(isinstance(t, int | float) for t in (issued_at, expires_at)):
        raise InvalidToken("malformed claims")
    if max_lifetime is not None and expires_at - issued_at > max_lifetime:
        raise InvalidToken("token lifetime too long")
    session_id = claims.get("sid")
    if session_id is not None and not (
        isinstance(session_id, str) and 0 < len(session_id) <= MAX_SESSION_ID_LENGTH
    ):
        raise InvalidToken("malformed claims")
    return User(
        user_id=claims["sub"],
        username=username,
        is_staff=staff,
        issued_at=issued_at,
        session_id=session_id,
    )
