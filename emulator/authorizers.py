"""What API Gateway does around a Lambda REQUEST authorizer: identity sources, policy, context."""

from __future__ import annotations

import fnmatch

from aiohttp import web


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
