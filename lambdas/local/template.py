"""Reads the WebSocket API from template.yaml: route selection, routes, authorizer, handlers,
and the functions that are not routes (invoked through the Lambda API, e.g. fan-out)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class TemplateError(ValueError):
    """template.yaml does not describe a WebSocket API the gateway can serve."""


@dataclass(frozen=True)
class Authorizer:
    handler: str  # "package.module.function", as in the function's Handler property
    identity_sources: tuple[str, ...]  # e.g. ("route.request.querystring.token",)


@dataclass(frozen=True)
class Route:
    key: str
    handler: str
    authorizer: Authorizer | None
    two_way: bool  # has a route response: the integration's body is sent back to the caller


@dataclass(frozen=True)
class Function:
    """A function of the template, as the Lambda Invoke API finds it."""

    logical_id: str
    handler: str
    name: str | None  # its FunctionName, when the template gives a literal one

    def answers_to(self, name: str) -> bool:
        """Whether Invoke's FunctionName (name, "name:qualifier" or an ARN) means this function."""
        if name.startswith("arn:"):
            name = name.split(":")[6] if name.count(":") >= 6 else name
        name = name.split(":")[0]
        return name in (self.logical_id, self.name)


@dataclass(frozen=True)
class WebSocketApi:
    selection_expression: str
    routes: dict[str, Route]
    functions: dict[str, Function] = field(default_factory=dict)
    # Environment variables that name a function (`!Ref FanoutFunction.Alias`): locally they
    # resolve to its logical id, which the gateway's Invoke API answers to.
    function_variables: dict[str, str] = field(default_factory=dict)


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...) as long-form dicts."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)

_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def _refs(value: object) -> set[str]:
    """Logical ids a property value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(_SUB_REF.findall(text))
                if isinstance(inner, list):
                    found.update(_refs(inner[1:]))
            else:
                found.update(_refs(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(_refs(inner))
    return found


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> dict:
    with open(path) as stream:
        return yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def _one(resources: dict, refs: set[str], type_: str, what: str) -> tuple[str, dict]:
    matches = [
        (rid, resources[rid]) for rid in sorted(refs) if resources.get(rid, {}).get("Type") == type_
    ]
    if len(matches) != 1:
        raise TemplateError(f"{what} must refer to exactly one {type_}, found {len(matches)}")
    return matches[0]


def _handler(resources: dict, uri: object, what: str) -> str:
    _, function = _one(resources, _refs(uri), "AWS::Serverless::Function", what)
    handler = function.get("Properties", {}).get("Handler")
    if not handler or "." not in handler:
        raise TemplateError(f"{what}: the function has no Handler like 'module.function'")
    return handler


def read_functions(template: dict) -> tuple[dict[str, Function], dict[str, str]]:
    """Every function with its handler, and the variables whose value is a function's name."""
    resources = template.get("Resources", {})
    functions: dict[str, Function] = {}
    variables: dict[str, str] = {}
    for rid, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        name = props.get("FunctionName")
        functions[rid] = Function(
            logical_id=rid,
            handler=props.get("Handler", ""),
            name=name if isinstance(name, str) else None,
        )
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        env = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for variable, value in env.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if isinstance(ref, str) and ref.split(".")[0] in functions:
                variables[variable] = ref.split(".")[0]
    return functions, variables


def read_api(template: dict) -> WebSocketApi:
    """The single WEBSOCKET API of the template, with every route resolved to its handler."""
    resources = template.get("Resources", {})
    apis = [
        rid
        for rid, r in resources.items()
        if r.get("Type") == "AWS::ApiGatewayV2::Api"
        and r.get("Properties", {}).get("ProtocolType") == "WEBSOCKET"
    ]
    if len(apis) != 1:
        raise TemplateError(f"expected one WebSocket API, found {len(apis)}")
    api_props = resources[apis[0]]["Properties"]
    two_way = {
        ref
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGatewayV2::RouteResponse"
        for ref in _refs(r.get("Properties", {}).get("RouteId"))
    }
    routes: dict[str, Route] = {}
    for rid, resource in resources.items():
        if resource.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        key = props["RouteKey"]
        _, integration = _one(
            resources, _refs(props.get("Target")), "AWS::ApiGatewayV2::Integration", f"route {key}"
        )
        handler = _handler(
            resources, integration["Properties"].get("IntegrationUri"), f"route {key}"
        )
        authorizer = None
        if props.get("AuthorizationType") == "CUSTOM":
            _, auth = _one(
                resources,
                _refs(props.get("AuthorizerId")),
                "AWS::ApiGatewayV2::Authorizer",
                f"route {key}'s authorizer",
            )
            auth_props = auth["Properties"]
            if auth_props.get("AuthorizerType") != "REQUEST":
                raise TemplateError("only REQUEST authorizers exist for WebSocket APIs")
            authorizer = Authorizer(
                handler=_handler(resources, auth_props.get("AuthorizerUri"), "the authorizer"),
                identity_sources=tuple(auth_props.get("IdentitySource", [])),
            )
        routes[key] = Route(key=key, handler=handler, authorizer=authorizer, two_way=rid in two_way)
    functions, variables = read_functions(template)
    return WebSocketApi(
        selection_expression=api_props.get("RouteSelectionExpression", "$request.body.action"),
        routes=routes,
        functions=functions,
        function_variables=variables,
    )
