"""Configuration of the Lambda functions, read once from the environment and validated."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ISSUER = "dynamowave-site"
DEFAULT_AUDIENCE = "dynamowave-websocket"


class ConfigError(RuntimeError):
    """The environment does not describe a usable configuration."""


# Per user, across all their connections: (per second, burst), set by RATE_<BUCKET>_PER_SECOND
# and RATE_<BUCKET>_BURST. A person types, opens a room, scrolls back and corrects far slower; a
# script flooding the room's fan-out does not. Every route has one (limits.ROUTE_BUCKETS).
RATE_DEFAULTS = {
    "messages": (5, 10),
    "typing": (1, 3),
    "presence": (1, 5),
    "history": (5, 20),
    "edits": (2, 10),
    "deletes": (2, 10),
    "reactions": (2, 10),
    "reads": (5, 20),
    # The page pings after 7 minutes without sending, and each time it is shown again: far
    # below one a second per tab. Checked in each container's memory first, a quarter of it
    # there (limits.LOCAL_FIRST), so ten tabs (MAX_CONNECTIONS_PER_USER) in one busy room fit
    # in the shared bucket and the local lines together.
    "ping": (5, 20),
    # Frames no route matched: the page sends none; a client asking for help or its own
    # connection's details needs a few. In memory first too.
    "default": (1, 5),
}

# Every environment variable load_config reads: the configuration's whole surface, for whoever
# sets a function's environment (a template, a deployment, a harness) to hand over by name.
VARIABLES = (
    "STAGE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "TABLE_PREFIX",
    "DYNAMODB_ENDPOINT_URL",
    "MANAGEMENT_ENDPOINT_URL",
    "LAMBDA_ENDPOINT_URL",
    "TOKEN_PUBLIC_KEYS",
    "TOKEN_PUBLIC_KEY_FILE",
    "TOKEN_PUBLIC_KEYS_PARAMETER",
    "TOKEN_ISSUER",
    "TOKEN_AUDIENCE",
    "TOKEN_MAX_LIFETIME_SECONDS",
    "MAX_MESSAGE_CHARS",
    "HISTORY_PAGE_SIZE",
    "CONNECTION_TTL_SECONDS",
    "FANOUT_WORKERS",
    "FANOUT_CONCURRENCY",
    "FANOUT_SHARD_SIZE",
    "FANOUT_FUNCTION_NAME",
    "FANOUT_ATTEMPTS",
    "CHANGE_SETTLE_SECONDS",
    "INDEX_FUNCTION_NAME",
    "SEARCH_DATABASE_ARN",
    "SEARCH_SECRET_ARN",
    "SEARCH_DATABASE_NAME",
    "SEARCH_LANGUAGE",
    "RDS_DATA_ENDPOINT_URL",
    "UPLOADS_BUCKET",
    "S3_ENDPOINT_URL",
    "MAX_FILE_BYTES",
    "UPLOAD_BYTES_PER_USER_PER_DAY",
    "UPLOADS_PER_USER_PER_MINUTE",
    *(
        f"RATE_{bucket.upper()}_{part}"
        for bucket in RATE_DEFAULTS
        for part in ("PER_SECOND", "BURST")
    ),
    "FLOOD_REFUSALS_ALLOWED",
    "FLOOD_COOLDOWN_SECONDS",
    "MAX_CONNECTIONS_PER_USER",
    "LOGIN_FAILURES_ALLOWED",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "PRESENCE_COALESCE_MS",
    "PRESENCE_BROADCAST_MAX",
    "BATCH_ROOM_SIZE",
    "BATCH_WINDOW_MS",
    "POWERTOOLS_METRICS_NAMESPACE",
    "PRIMARY_REGION",
    "PEER_HEALTH_URL",
    "FENCE_TTL_SECONDS",
)


@dataclass(frozen=True)
class Config:
    stage: str
    region: str
    table_prefix: str
    dynamodb_endpoint_url: str | None
    management_endpoint_url: str | None
    token_public_keys: tuple[str, ...]
    token_issuer: str
    token_audience: str
    max_message_chars: int
    history_page_size: int
    connection_ttl_seconds: int
    fanout_workers: int  # threads starting shard invocations; boto3's pool for GET and DELETE
    # Posts in flight at once per environment and endpoint (lambdas/fanout_client.py).
    fanout_concurrency: int
    # Sharded fan-out (lambdas/services/broadcast.py): rooms above fanout_shard_size are split
    # into shards posted by asynchronous invocations of fanout_function_name, when it is set.
    fanout_shard_size: int
    fanout_function_name: str | None
    # A change number taken this long ago whose write is not stored never will be: a function
    # runs 29 s at most (its Timeout), so history may call the number empty for good.
    change_settle_seconds: int
    fanout_attempts: int
    lambda_endpoint_url: str | None
    # Per-user limits (lambdas/services/limits.py), held in the `limits` table: the token
    # bucket of each route, {bucket: (per second, burst)} (RATE_DEFAULTS).
    rates: dict[str, tuple[int, int]]
    # A user refused this many times more than limits.STRIKES_FADE per token their bucket
    # refills is flooding: the connection that sends the next frame is closed
    # (DELETE @connections), and $connect refuses the user for flood_cooldown_seconds.
    flood_refusals_allowed: int
    flood_cooldown_seconds: int
    max_connections_per_user: int
    login_failures_allowed: int
    # The longest a token may live (exp − iat); the site's TOKEN_TTL_SECONDS must fit in it.
    token_max_lifetime_seconds: int
    # Presence announcements of one room within this long become one broadcast (0: each its own).
    presence_coalesce_ms: int
    # Rooms with more people online than this hear no presence lists: each would be an API
    # Gateway message (of up to 4 units) to every one of them per arrival or departure. Their
    # pages ask for the list (`presence`, answered to the asker) and show the room's count.
    presence_broadcast_max: int
    # Rooms with more people online than this get their changes in batches
    # (lambdas/services/batches.py): one POST per connection per batch_window_ms carries every
    # change of the window, not one per change (0: never).
    batch_room_size: int
    batch_window_ms: int
    login_failure_window_seconds: int
    metrics_namespace: str
    # The search index (lambdas/services/indexing.py): each stored, edited or deleted message is
    # handed to index_function_name by an asynchronous invocation (none: not indexed here, the
    # backfill catches up), which writes it through the RDS Data API to the cluster and database
    # named here, as the secret's user. Unset database: the indexing function indexes nothing.
    index_function_name: str | None = None
    search_database_arn: str | None = None
    search_secret_arn: str | None = None
    search_database_name: str = "dynamowave"
    search_language: str = "english"  # a PostgreSQL text search configuration (regconfig)
    rds_data_endpoint_url: str | None = None  # a local Data API (devstack/data_api.py)
    # Files in messages (lambdas/services/uploads.py): the private bucket browsers upload to by
    # presigned POST, and a local S3 (devstack/s3.py) in place of AWS's endpoint.
    uploads_bucket: str | None = None
    s3_endpoint_url: str | None = None
    max_file_bytes: int = 10 * 1024 * 1024  # per file, images and others alike
    upload_bytes_per_user_per_day: int = 200 * 1024 * 1024
    uploads_per_user_per_minute: int = 30
    # Two Regions (docs/multi-region.md, "The fence"): the Region the stage writes in while the
    # active-Region marker is absent, and the other Region's health route, probed before this
    # Region takes the writes over. No primary: one Region, the fence is off (no request).
    primary_region: str | None = None
    peer_health_url: str | None = None
    # How long a container trusts the marker it read (and a probe of the peer): the fence's
    # whole cost on the hot path is one eventually consistent GetItem per this many seconds.
    fence_ttl_seconds: int = 5

    @property
    def fenced(self) -> bool:
        return self.primary_region is not None

    def table_name(self, base: str) -> str:
        return f"{self.table_prefix}{base}"


def _int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _ssm_text(name: str, env: Mapping[str, str]) -> str:
    """An SSM String parameter ("name" or "name:version"), read once per container."""
    import boto3  # only the deployed authorizer reads SSM: keep it off everyone's import path
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("ssm", region_name=_region(env))
        return client.get_parameter(Name=name)["Parameter"]["Value"]
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"TOKEN_PUBLIC_KEYS_PARAMETER {name} cannot be read: {exc}") from None


def _region(env: Mapping[str, str]) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _public_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """PEM public keys from TOKEN_PUBLIC_KEYS (several PEMs allow rotation), a file, or SSM.

    In AWS the authorizer reads the SSM parameter TOKEN_PUBLIC_KEYS_PARAMETER names; a key or
    file given directly wins (development keys, tests).
    """
    text = env.get("TOKEN_PUBLIC_KEYS", "")
    path = env.get("TOKEN_PUBLIC_KEY_FILE", "")
    parameter = env.get("TOKEN_PUBLIC_KEYS_PARAMETER", "")
    if not text and path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"TOKEN_PUBLIC_KEY_FILE cannot be read: {exc}") from None
    elif not text and parameter:
        text = _ssm_text(parameter, env)
    marker = "-----END PUBLIC KEY-----"
    return tuple(part.strip() + "\n" + marker + "\n" for part in text.split(marker) if part.strip())


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """The configuration `env` describes (this process's environment by default); raises
    ConfigError if it is not usable. Reads nothing else but the files and parameter it names."""
    env = os.environ if env is None else env
    stage = env.get("STAGE", "local")
    return Config(
        stage=stage,
        region=_region(env),
        table_prefix=env.get("TABLE_PREFIX", f"dynamowave-{stage}-"),
        dynamodb_endpoint_url=env.get("DYNAMODB_ENDPOINT_URL") or None,
        management_endpoint_url=env.get("MANAGEMENT_ENDPOINT_URL") or None,
        token_public_keys=_public_keys(env),
        token_issuer=env.get("TOKEN_ISSUER", DEFAULT_ISSUER),
        token_audience=env.get("TOKEN_AUDIENCE", DEFAULT_AUDIENCE),
        max_message_chars=_int(env, "MAX_MESSAGE_CHARS", 4000),
        history_page_size=_int(env, "HISTORY_PAGE_SIZE", 50),
        connection_ttl_seconds=_int(env, "CONNECTION_TTL_SECONDS", 2 * 60 * 60),
        fanout_workers=_int(env, "FANOUT_WORKERS", 32),
        # Each post in flight holds a socket, and a Lambda environment has 1,024 descriptors.
        fanout_concurrency=_int(env, "FANOUT_CONCURRENCY", 64, maximum=512),
        fanout_shard_size=_int(env, "FANOUT_SHARD_SIZE", 500),
        fanout_function_name=env.get("FANOUT_FUNCTION_NAME") or None,
        change_settle_seconds=_int(env, "CHANGE_SETTLE_SECONDS", 35, minimum=1, maximum=900),
        fanout_attempts=_int(env, "FANOUT_ATTEMPTS", 3),
        lambda_endpoint_url=env.get("LAMBDA_ENDPOINT_URL") or None,
        rates={
            bucket: (
                _int(env, f"RATE_{bucket.upper()}_PER_SECOND", rate),
                _int(env, f"RATE_{bucket.upper()}_BURST", burst),
            )
            for bucket, (rate, burst) in RATE_DEFAULTS.items()
        },
        flood_refusals_allowed=_int(env, "FLOOD_REFUSALS_ALLOWED", 10),
        # At most an hour: the cooldown lives in the user's revocation item, whose TTL a later
        # logout may set to TOKEN_MAX_LIFETIME_SECONDS from then (lambdas/services/sessions.py).
        flood_cooldown_seconds=_int(env, "FLOOD_COOLDOWN_SECONDS", 60, maximum=3600),
        max_connections_per_user=_int(env, "MAX_CONNECTIONS_PER_USER", 10),
        login_failures_allowed=_int(env, "LOGIN_FAILURES_ALLOWED", 5),
        token_max_lifetime_seconds=_int(env, "TOKEN_MAX_LIFETIME_SECONDS", 600),
        presence_coalesce_ms=_int(env, "PRESENCE_COALESCE_MS", 250, minimum=0, maximum=5000),
        presence_broadcast_max=_int(env, "PRESENCE_BROADCAST_MAX", 100, minimum=0),
        batch_room_size=_int(env, "BATCH_ROOM_SIZE", 100, minimum=0),
        batch_window_ms=_int(env, "BATCH_WINDOW_MS", 300, minimum=0, maximum=5000),
        login_failure_window_seconds=_int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 300),
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "DynamoWave",
        index_function_name=env.get("INDEX_FUNCTION_NAME") or None,
        search_database_arn=env.get("SEARCH_DATABASE_ARN") or None,
        search_secret_arn=env.get("SEARCH_SECRET_ARN") or None,
        search_database_name=env.get("SEARCH_DATABASE_NAME") or "dynamowave",
        search_language=_language(env),
        rds_data_endpoint_url=env.get("RDS_DATA_ENDPOINT_URL") or None,
        uploads_bucket=env.get("UPLOADS_BUCKET") or None,
        s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
        # At most 100 MB: the thumbnail function reads a file whole into its memory.
        max_file_bytes=_int(env, "MAX_FILE_BYTES", 10 * 1024 * 1024, maximum=100 * 1024 * 1024),
        upload_bytes_per_user_per_day=_int(env, "UPLOAD_BYTES_PER_USER_PER_DAY", 200 * 1024 * 1024),
        uploads_per_user_per_minute=_int(env, "UPLOADS_PER_USER_PER_MINUTE", 30),
        **_fence(env),
    )


def _fence(env: Mapping[str, str]) -> dict:
    """PRIMARY_REGION, PEER_HEALTH_URL and FENCE_TTL_SECONDS: a primary needs the peer's health
    URL (http(s) only: urllib opens file:// too), or a failover could never be decided."""
    primary = env.get("PRIMARY_REGION", "").strip() or None
    peer = env.get("PEER_HEALTH_URL", "").strip() or None
    if peer is not None and not peer.startswith(("https://", "http://")):
        raise ConfigError(f"PEER_HEALTH_URL must be an http(s) URL, got {peer!r}")
    if primary is not None and peer is None:
        raise ConfigError("PRIMARY_REGION is set: PEER_HEALTH_URL (the other Region's) must be too")
    return {
        "primary_region": primary,
        "peer_health_url": peer,
        "fence_ttl_seconds": _int(env, "FENCE_TTL_SECONDS", 5, minimum=0, maximum=60),
    }


def _language(env: Mapping[str, str]) -> str:
    """SEARCH_LANGUAGE: a text search configuration's name, cast in SQL (regconfig), so only a
    plain identifier is accepted."""
    language = env.get("SEARCH_LANGUAGE") or "english"
    if not language.isidentifier() or not language.isascii():
        raise ConfigError(f"SEARCH_LANGUAGE must be a text search configuration, got {language!r}")
    return language


_bound: Config | None = None
_lock = threading.Lock()
_followers: list[Callable[[Config], None]] = []


def get_config() -> Config:
    """The process's configuration: the one bound by configure(), else the environment's, read
    once at first use (a Lambda environment's variables never change while it lives)."""
    config = _bound
    if config is None:
        with _lock:
            if _bound is None:
                _bind(load_config())
            config = _bound
    return config


def configure(config: Config) -> Config:
    """Bind the process's configuration: get_config() returns it from now on, and what modules
    built from the previous one (the models' tables, cached clients) follows it."""
    with _lock:
        _bind(config)
        followers = list(_followers)
    for follow in followers:
        follow(config)
    return config


def follow_config(follower: Callable[[Config], None]) -> Callable[[Config], None]:
    """Register `follower(config)`, called by every later configure(): a module whose state is
    built from the configuration rebuilds it there, so no caller has to know that state."""
    with _lock:
        _followers.append(follower)
    return follower


def _bind(config: Config) -> None:
    global _bound
    _bound = config
