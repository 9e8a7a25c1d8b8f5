"""The local stack's endpoints and tables, for every `manage.py` command run on this machine.

`make run` (manage.py runstack) hands its site the endpoints of the dynalite, PostgreSQL and
gateway it started. A second terminal's `manage.py shell` or `createsuperuser` would know none of
them: its users would go to another database, its revocations to AWS's real endpoints (without
credentials, so nowhere). runstack writes what its children were given into
`<data dir>/stack.json` while it runs; manage.py applies that, or the defaults `make run` starts
with when no stack runs, under whatever the environment sets.

Imported by manage.py before Django: the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"
STAGE = "local"  # the gateway's stage, /local in its URLs, and the tables' stage by default
GATEWAY_PORT = 8001
DYNALITE_PORT = 8002
STATE_FILE = "stack.json"
# "0" (or false, no, off): this terminal means its own endpoints, e.g. a deployed stage's.
OPT_OUT = "DYNAMOWAVE_LOCAL_STACK"

# What a running stack's site is given that another terminal needs to see the same data. Never a
# secret: the file is plain text next to the database.
SHARED = (
    "DYNAMODB_ENDPOINT_URL",
    "MANAGEMENT_ENDPOINT_URL",
    "WEBSOCKET_URL",
    "STAGE",
    "TABLE_PREFIX",
    "AWS_DEFAULT_REGION",
    "TOKEN_PUBLIC_KEY_FILE",
    "TOKEN_SIGNING_KEY_FILE",
)
# Applied together or not at all: a terminal that names one of them means its own pair (a
# STAGE of its own with the stack's TABLE_PREFIX would name tables of neither).
TOGETHER = (("STAGE", "TABLE_PREFIX"), ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))

# The fallbacks of devstack.dynamodb.local_aws_environment(), which the stack runs with:
# local endpoints check no signature, but boto3 signs nothing without credentials ("Unable to
# locate credentials"). Not written into the state file, so real keys never land on disk.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
TRUE = ("1", "true", "yes", "on")


def data_dir(environ: Mapping[str, str]) -> Path:
    """settings.DATA_DIR, known before the settings load (an empty variable is the default)."""
    return Path(environ.get("LOCAL_DATA_DIR") or BASE_DIR / ".data")


def _database(environ: Mapping[str, str]) -> str:
    # Which database a process uses (DATABASE_URL, or the data dir's sqlite), without writing
    # a URL and its password down (the stack's own server's URL, which has none, is shared).
    return hashlib.sha256(environ.get("DATABASE_URL", "").encode()).hexdigest()


def stack_state_write(*, folder: Path, env: Mapping[str, str], own_database: bool = False) -> Path:
    """Record the running stack's shared settings in `folder`; the file's path.

    `own_database`: env's DATABASE_URL is the PostgreSQL server the stack started, shared too
    (it holds no password: trust on loopback). A URL the developer set is never written down.
    """
    shared = SHARED + (("DATABASE_URL",) if own_database else ())
    state = {
        "env": {name: env[name] for name in shared if env.get(name)},
        "database": _database(env),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    part = path.with_suffix(".part")
    part.write_text(json.dumps(state, indent=2) + "\n")
    part.replace(path)  # a command starting meanwhile reads the whole file or none
    return path


def stack_state_remove(*, folder: Path) -> None:
    (folder / STATE_FILE).unlink(missing_ok=True)


def _stack_state_read(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("env"), dict):
        return None
    return state


def _elsewhere(environ: Mapping[str, str]) -> bool:
    """Whether the environment says this is not the developer's machine or not its stack."""
    if environ.get(OPT_OUT, "").lower() in ("0", "false", "no", "off"):
        return True
    # Lambda (Zappa runs no manage.py, but a deployed site must never guess local endpoints),
    # and the deployed site's own switch.
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME")) or (
        environ.get("DJANGO_SECURE", "").lower() in TRUE
    )


def stack_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """What this machine's commands use when the environment does not say: the running stack's
    endpoints and tables, or `make run`'s defaults; nothing where it is not the local stack."""
    if _elsewhere(environ):
        return {}
    state = _stack_state_read(data_dir(environ))
    if state is not None:
        # This command's database: its own DATABASE_URL, or else the stack's own server's.
        served = environ.get("DATABASE_URL") or state["env"].get("DATABASE_URL", "")
        if state.get("database") != _database({"DATABASE_URL": served}):
            state = None  # the running stack serves another database than this command's
    stage = state["env"].get("STAGE", STAGE) if state else STAGE
    if (environ.get("STAGE") or stage) != stage:
        return {}  # a stage of its own, perhaps a deployed one: not the local stack's tables
    if state is not None:
        return {**LOCAL_CREDENTIALS, **state["env"]}
    if environ.get("DATABASE_URL"):
        # Not the running stack's database: perhaps a deployed stage's (DEPLOY.md creates the
        # first superuser so), whose users' sessions no local DynamoDB knows.
        return {}
    gateway = f"{HOST}:{GATEWAY_PORT}/{STAGE}"
    return {
        **LOCAL_CREDENTIALS,
        "DYNAMODB_ENDPOINT_URL": f"http://{HOST}:{environ.get('DYNALITE_PORT') or DYNALITE_PORT}",
        "MANAGEMENT_ENDPOINT_URL": f"http://{gateway}",
        "WEBSOCKET_URL": f"ws://{gateway}",
        "STAGE": STAGE,
    }


def stack_defaults_apply(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each default the environment leaves unset (or empty); what was set."""
    environ = os.environ if environ is None else environ
    defaults = stack_defaults(environ)
    taken = {name for group in TOGETHER if any(environ.get(n) for n in group) for name in group}
    applied = {
        name: value
        for name, value in defaults.items()
        if not environ.get(name) and name not in taken
    }
    environ.update(applied)
    return applied
