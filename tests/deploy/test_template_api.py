"""The WebSocket API that SAM's AWS::Serverless::WebSocketApi expands to is the one the
hand-written AWS::ApiGatewayV2 resources it replaced declared, property by property.

Both templates are translated by samtranslator and their API resources resolved (parameters at
their defaults, a stand-in account, Region and API id) into a shape that does not depend on
logical ids: the API, each route with its authorizer, integration and route responses, the
Lambda permissions, the stage (its throttles, logging, access logs), what the stage waits for,
and what the rest of the stack says about the API (the functions' execute-api grants, the
alarms' dimensions, the outputs). `expected_api.json` is that shape as recorded from the
template before the change (commit bc54f2f, hand-written resources):

    .venv/bin/python -m tests.deploy.test_template_api OLD_TEMPLATE > tests/deploy/expected_api.json

What SAM makes differently is listed in sam_differences, each with why it is equivalent;
everything else must be equal. A change to the API made on purpose records the shape again.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

from emulator.intrinsics import Stack

EXPECTED = Path(__file__).with_name("expected_api.json")
API = "AWS::ApiGatewayV2::Api"
API_ID = "a1b2c3d4e5"  # the stand-in for the API's id (Ref, and GetAtt ApiId)


class _Stack(Stack):
    """The local resolver, with the API's `ApiId` attribute (what SAM's permissions name): the
    same id its Ref returns."""

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "ApiId" and self.resources.get(logical_id, {}).get("Type") == API:
            return self.api_id
        return super().get_att(logical_id, attribute)


def _refs(value: object) -> set[str]:
    """The logical ids a value refers to (Ref, Fn::GetAtt, Fn::Sub; parameters included)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(str(inner).split(".")[0])
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (inner[0], inner[1]) if isinstance(inner, list) else (inner, {})
                named = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= (named - set(variables)) | _refs(variables)
            else:
                found |= _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner)
    return found


def _dependencies(resources: dict, logical_id: str) -> set[str]:
    """Every resource CloudFormation creates before this one (DependsOn and references)."""
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        resource = resources[todo.pop()]
        depends = resource.get("DependsOn", [])
        found = {depends} if isinstance(depends, str) else set(depends)
        found |= _refs(resource.get("Properties", {}))
        for dependency in found & set(resources) - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


def _of_type(resources: dict, kind: str) -> dict[str, dict]:
    return {k: r.get("Properties", {}) for k, r in resources.items() if r["Type"] == kind}


def _one(refs: set[str], found: dict[str, dict]) -> str:
    (logical_id,) = refs & set(found)
    return logical_id


def api_shape(translated: dict) -> dict:
    """The API of a translated template, resolved, without its resources' logical ids."""
    stack = _Stack(translated, region="us-east-1", account="123456789012", api_id=API_ID)
    resources = translated["Resources"]
    apis = _of_type(resources, API)
    (api_logical_id,) = apis

    def resolved(properties: dict, *leave_out: str) -> dict:
        kept = {k: v for k, v in properties.items() if k not in ("ApiId", *leave_out)}
        return stack.resolve(kept)

    routes = _of_type(resources, "AWS::ApiGatewayV2::Route")
    integrations = _of_type(resources, "AWS::ApiGatewayV2::Integration")
    authorizers = _of_type(resources, "AWS::ApiGatewayV2::Authorizer")
    responses = _of_type(resources, "AWS::ApiGatewayV2::RouteResponse")
    shaped_routes = {}
    for logical_id, route in routes.items():
        shaped = resolved(route, "RouteKey", "Target", "AuthorizerId")
        # API Gateway's defaults, said or not.
        shaped.setdefault("AuthorizationType", "NONE")
        shaped.setdefault("ApiKeyRequired", False)
        if "AuthorizerId" in route:
            shaped["Authorizer"] = resolved(
                authorizers[_one(_refs(route["AuthorizerId"]), authorizers)]
            )
        integration = resolved(integrations[_one(_refs(route["Target"]), integrations)])
        integration.setdefault("TimeoutInMillis", 29000)
        shaped["Integration"] = integration
        shaped["RouteResponses"] = sorted(
            r["RouteResponseKey"] for r in responses.values() if _refs(r["RouteId"]) == {logical_id}
        )
        shaped_routes[route["RouteKey"]] = shaped
    (stage_id, stage), *more = _of_type(resources, "AWS::ApiGatewayV2::Stage").items()
    assert not more, "one stage"
    waits_for = _dependencies(resources, stage_id)
    route_keys = {logical_id: route["RouteKey"] for logical_id, route in routes.items()}
    permissions = [
        resolved(p)
        for p in _of_type(resources, "AWS::Lambda::Permission").values()
        if p.get("Principal") == "apigateway.amazonaws.com"
        and API_ID in json.dumps(stack.resolve(p.get("SourceArn")))
    ]
    grants = sorted(
        {
            f"{role}: {statement.get('Sid')} {statement['Action']} {target}"
            for role, properties in _of_type(resources, "AWS::IAM::Role").items()
            for policy in properties.get("Policies", [])
            for statement in stack.resolve(policy["PolicyDocument"])["Statement"]
            for target in (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            if API_ID in target
        }
    )
    alarms = {
        name: [m for m in stack.resolve(alarm.get("Metrics", [])) if API_ID in json.dumps(m)]
        for name, alarm in _of_type(resources, "AWS::CloudWatch::Alarm").items()
    }
    outputs = {
        name: stack.resolve(output["Value"])
        for name, output in translated.get("Outputs", {}).items()
        if api_logical_id in _refs(output["Value"])
    }
    return {
        "Api": resolved(apis[api_logical_id]),
        "Routes": dict(sorted(shaped_routes.items())),
        "Permissions": sorted(permissions, key=lambda p: json.dumps(p, sort_keys=True)),
        "Stage": resolved(stage),
        "StageWaitsFor": sorted(
            route_keys.get(d, d)
            for d in waits_for
            if d in route_keys or d in ("ApiGatewayAccount", "ApiAccessLogs")
        ),
        "Grants": grants,
        "AlarmMetrics": {name: metrics for name, metrics in sorted(alarms.items()) if metrics},
        "Outputs": outputs,
    }


def sam_differences(recorded: dict) -> dict:
    """The recorded shape with what SAM makes differently, each equivalent (see the comments)."""
    shape = copy.deepcopy(recorded)
    # SAM tags the API and its stage as made by it (tags change nothing API Gateway does).
    shape["Api"]["Tags"] = {"websocketapi:createdBy": "SAM"}
    stage = shape["Stage"]
    stage["Tags"] = {"websocketapi:createdBy": "SAM"}
    # The stage deploys the API itself on every change (AutoDeploy) instead of pointing at a
    # Deployment resource, which never redeployed by itself (the deploy command used to make a
    # fresh deployment after each stack update: no longer needed).
    del stage["DeploymentId"]
    stage["AutoDeploy"] = True
    # SAM's permission for the authorizer names the API's authorizers (`authorizers/*`) rather
    # than its one authorizer's id: the API has only this authorizer, and any other would be
    # the same API's, declared in this template.
    for permission in shape["Permissions"]:
        source = permission["SourceArn"]
        if "/authorizers/" in source:
            permission["SourceArn"] = source.rsplit("/", 1)[0] + "/*"
    shape["Permissions"].sort(key=lambda p: json.dumps(p, sort_keys=True))
    return shape


def test_the_translated_api_is_the_recorded_one(translated):
    """Routes, route keys, authorizer, integrations (function aliases), route responses,
    permissions, stage settings, grants, alarms and outputs: as recorded, but for what
    sam_differences lists."""
    recorded = json.loads(EXPECTED.read_text())
    shape = api_shape(translated)
    expected = sam_differences(recorded)
    for part in expected:
        assert shape[part] == expected[part], part
    assert shape == expected


def test_the_recording_covers_every_route_and_the_stage_settings():
    """The recording is of the whole API: twelve routes, the authorizer on $connect only, ten
    two-way routes, a tighter sendmessage, access logs, and the stage after the account's role."""
    recorded = json.loads(EXPECTED.read_text())
    routes = recorded["Routes"]
    assert len(routes) == 12 and len(recorded["Permissions"]) == 13
    assert [k for k, r in routes.items() if "Authorizer" in r] == ["$connect"]
    assert routes["$connect"]["Authorizer"]["IdentitySource"] == ["route.request.querystring.token"]
    assert sum(r["RouteResponses"] == ["$default"] for r in routes.values()) == 10
    for key, route in routes.items():
        assert route["Integration"]["IntegrationUri"].endswith(":live/invocations"), key
    stage = recorded["Stage"]
    assert set(stage["RouteSettings"]) == {"sendmessage"}
    assert stage["AccessLogSettings"]["DestinationArn"].endswith("ApiAccessLogs")
    assert "ApiGatewayAccount" in recorded["StageWaitsFor"]
    assert set(routes) <= set(recorded["StageWaitsFor"])


def test_a_changed_route_is_caught(translated):
    """The comparison sees a route's integration pointing at another function."""
    changed = copy.deepcopy(translated)
    resources = changed["Resources"]
    (integration,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
        and "PingFunction" in json.dumps(r["Properties"]["IntegrationUri"])
    ]
    integration["Properties"]["IntegrationUri"] = json.loads(
        json.dumps(integration["Properties"]["IntegrationUri"]).replace("Ping", "History")
    )
    shape = api_shape(changed)
    assert shape["Routes"] != sam_differences(json.loads(EXPECTED.read_text()))["Routes"]


if __name__ == "__main__":  # records the shape of a template: see the module's docstring
    from deploy.template import template_load, template_translate, template_with_code

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    template = template_load(path) if path else template_load()
    shape = api_shape(template_translate(template_with_code(template, "s3://record/lambda.zip")))
    print(json.dumps(shape, indent=1, sort_keys=True))
