"""API keys a WebSocket API's stage accepts: the template's, through its usage plans, and the
developer's own (`--api-key`).

As in API Gateway, a key lets a caller in only if it is enabled and one of its usage plans
(AWS::ApiGateway::UsagePlanKey → AWS::ApiGateway::UsagePlan) lists this API's stage in its
ApiStages ("Creating and using usage plans with API keys"). CloudFormation's ApiKey is disabled
unless `Enabled: true`; one without a Value gets a generated value, printed at start.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import string
from dataclasses import dataclass

from emulator.intrinsics import Stack, Unresolvable

HEADER = "x-api-key"  # `$request.header.x-api-key`: the only key source read locally


@dataclass(frozen=True)
class ApiKey:
    id: str  # what `Ref` of the AWS::ApiGateway::ApiKey returns, and events' `apiKeyId`
    value: str  # what the client sends in `x-api-key`, and events' `apiKey`
    name: str = ""
    generated: bool = False  # the template gives no Value: made up here, printed at start

    @classmethod
    def of_value(cls, value: str, name: str = "--api-key") -> ApiKey:
        return cls(id=_key_id(value), value=value, name=name)


def _key_id(seed: str) -> str:
    """A stable id shaped like API Gateway's (10 lowercase letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def _stage_names(stack: Stack, stage: object) -> set[str]:
    """What a usage plan's `Stage` may say for a stage: its name, or Ref to its Stage resource
    (whose Ref is its StageName in CloudFormation, its logical id in intrinsics.Stack)."""
    names: set[str] = set()
    with contextlib.suppress(Unresolvable):
        names.add(stack.text(stage))
    if isinstance(stage, dict) and isinstance(stage.get("Ref"), str):
        resource = stack.resources.get(stage["Ref"], {})
        if resource.get("Type") in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage"):
            with contextlib.suppress(Unresolvable):
                names.add(stack.text((resource.get("Properties") or {}).get("StageName")))
    return names


def template_api_keys(
    template: dict, *, stage: str | None, parameters: dict[str, str] | None = None
) -> tuple[ApiKey, ...]:
    """The enabled keys of the usage plans that name the template's WebSocket API and, when
    `stage` is given, that stage."""
    stack = Stack(template, parameters=dict(parameters or {}))
    resources = stack.resources
    apis = {
        rid
        for rid, r in resources.items()
        if r.get("Type") == "AWS::ApiGatewayV2::Api"
        and (r.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
    }
    plans = set()
    for rid, resource in resources.items():
        if resource.get("Type") != "AWS::ApiGateway::UsagePlan":
            continue
        for entry in (resource.get("Properties") or {}).get("ApiStages") or []:
            api = entry.get("ApiId") if isinstance(entry, dict) else None
            if not (isinstance(api, dict) and api.get("Ref") in apis):
                continue
            if stage is None or stage in _stage_names(stack, entry.get("Stage")):
                plans.add(rid)
    keys: dict[str, ApiKey] = {}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::ApiGateway::UsagePlanKey":
            continue
        plan, key = props.get("UsagePlanId"), props.get("KeyId")
        if not (isinstance(plan, dict) and plan.get("Ref") in plans):
            continue
        if not isinstance(key, dict) or not isinstance(key.get("Ref"), str):
            continue
        key_id = key["Ref"]
        declared = resources.get(key_id, {})
        key_props = declared.get("Properties") or {}
        if declared.get("Type") != "AWS::ApiGateway::ApiKey" or key_id in keys:
            continue
        if str(stack.resolve(key_props.get("Enabled", False))).lower() != "true":
            continue
        try:
            value, generated = stack.text(key_props["Value"]), False
        except (KeyError, Unresolvable):
            value, generated = secrets.token_urlsafe(30), True
        try:
            name = stack.text(key_props.get("Name", key_id))
        except Unresolvable:
            name = key_id
        keys[key_id] = ApiKey(id=_key_id(key_id), value=value, name=name, generated=generated)
    return tuple(keys.values())
