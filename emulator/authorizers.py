"""What API Gateway does to authorize a handshake: a Lambda REQUEST authorizer (identity sources,
policy, context), an AWS_IAM signature, an API key."""

from __future__ import annotations

import fnmatch
import logging

from aiohttp import web

from emulator import sigv4
from emulator.apikeys import HEADER, ApiKey, template_api_keys
from emulator.events import Caller
from emulator.settings import Settings
from emulator.sigv4 import Credentials
from emulator.template import WebSocketApi

logger = logging.getLogger("emulator.gateway")


def identity_value(source: str, request: web.Request) -> str | None:
    """The value of one of the authorizer's identity sources in the handshake request."""
    prefix, _, name = source.rpartition(".")
    if prefix == "route.request.querystring":
        return request.query.get(name)
    if prefix == "route.request.header":
        return request.headers.get(name)
    raise ValueError(f"unsupported identity source {source!r}")


def policy_allows(response: object, method_arn: str) -> bool:
    """IAM evaluation of the authorizer's policy for this method: an explicit Deny wins."""
    if not isinstance(response, dict) or "principalId" not in response:
        raise ValueError("authorizer response has no principalId")
    statements = response.get("policyDocument", {}).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def authorizer_context(response: dict) -> dict[str, str]:
    """The authorizer's context as routes receive it: strings, numbers and booleans only.

    API Gateway refuses any other value (an object, a list, null) with a 500, as here.
    """
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise ValueError("the authorizer's context is not an object")
    for key, value in context.items():
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise ValueError(
                f"the authorizer's context value {key!r} is not a string, number or boolean"
            )
    return {key: _stringify(value) for key, value in context.items()}


def _stringify(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RouteAccess:
    """What API Gateway checks on the handshake besides a Lambda authorizer: the SigV4
    signature of an `AuthorizationType: AWS_IAM` $connect and the API key of an
    `ApiKeyRequired` one. Either refusal is a 403 before any function is invoked ("If
    authorization fails on $connect, the connection will not be established, and the client
    will receive a 401 or 403 response"); an admitted caller's identity fields go into every
    event of its connection.

    API keys are evaluated on $connect only: the Developer Guide offers "API Key Required" for
    the $connect route, and a connection is authorized once. `ApiKeyRequired` on another
    route (undocumented) is not checked per frame; read_api's caller is warned.
    """

    def __init__(self, api: WebSocketApi, settings: Settings) -> None:
        connect = api.routes.get("$connect")
        self.iam = connect is not None and connect.authorization_type == "AWS_IAM"
        self.key_required = connect is not None and connect.api_key_required
        self.region = settings.region
        # Keys the gateway made up for this run: printed at start (cli.py), read by tests.
        self.issued = Credentials.issue() if self.iam and settings.issue_key else None
        known = [*settings.credentials, *([self.issued] if self.issued else [])]
        self.credentials = {c.access_key: c for c in known}
        stage = settings.stage
        template_keys = template_api_keys(api.template, stage=stage, parameters=api.parameters)
        keys = [*template_keys, *(ApiKey.of_value(v) for v in settings.api_keys)]
        self.api_keys = {key.value: key for key in keys}
        for route in api.routes.values():
            if route.api_key_required and route.key != "$connect":
                logger.warning(
                    "route %s: ApiKeyRequired is evaluated on $connect only (as API Gateway "
                    "authorizes a connection once); frames to it are not checked",
                    route.key,
                )
        if self.key_required and not self.api_keys:
            logger.warning("$connect requires an API key and none is known: pass --api-key")

    def admit(self, request: web.Request, caller: Caller, *, now=None) -> web.Response | None:
        """None: the handshake may go on (the caller's identity now says who it is); or
        API Gateway's 403."""
        identity: dict[str, str] = {}
        if self.iam:
            try:
                signer = sigv4.verify(
                    method=request.method,
                    path=request.path,
                    query=list(request.query.items()),
                    headers=list(request.headers.items()),
                    keys=self.credentials,
                    region=self.region,
                    now=now,
                )
            except sigv4.SignatureError as refused:
                return _refusal(403, refused.message)
            identity.update(signer.identity())
        if self.key_required:
            key = self.api_keys.get(request.headers.get(HEADER, ""))
            if key is None:  # INVALID_API_KEY: 403 Forbidden, missing or unknown alike
                return _refusal(403, "Forbidden")
            identity.update(apiKey=key.value, apiKeyId=key.id)
        caller.identity.update(identity)
        return None


def _refusal(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)
