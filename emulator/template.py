"""Reads the WebSocket API from template.yaml: route selection, routes, authorizer, handlers,
and the functions that are not routes (invoked through the Lambda API, e.g. fan-out).

Any SAM or CloudFormation template with one WebSocket API works: functions may be
AWS::Serverless::Function (with Globals) or AWS::Lambda::Function, each with its own code
folder, runtime, environment, timeout, memory and reserved concurrency, resolved as a stack
would resolve them (emulator/intrinsics.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from emulator.intrinsics import Stack, Unresolvable
from emulator.throttles import StageThrottles, stage_throttles

logger = logging.getLogger(__name__)
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class TemplateError(ValueError):
    """template.yaml does not describe a WebSocket API the gateway can serve."""


@dataclass(frozen=True)
class Authorizer:
    handler: str  # "package.module.function", as in the function's Handler property
    identity_sources: tuple[str, ...]  # e.g. ("route.request.querystring.token",)
    function: str = ""  # the function's logical id


@dataclass(frozen=True)
class Route:
    key: str
    handler: str
    authorizer: Authorizer | None
    two_way: bool  # has a route response: the integration's body is sent back to the caller
    function: str = ""  # the integration's function, by logical id
    authorization_type: str = "NONE"  # or AWS_IAM (SigV4) or CUSTOM (the authorizer)
    api_key_required: bool = False  # the handshake must carry a known `x-api-key`


@dataclass(frozen=True)
class Function:
    """A function of the template, as the Lambda Invoke API finds it and Lambda would run it."""

    logical_id: str
    handler: str
    name: str | None  # its FunctionName, when the template gives one
    runtime: str = "python3.13"
    code_uri: Path | None = None  # the folder its Handler is imported from
    environment: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    timeout: float = 3.0  # seconds (Lambda's default)
    memory_size: int = 128  # MB (Lambda's default)
    architecture: str = "x86_64"  # Architectures[0]: what its GB-seconds are priced as
    reserved_concurrency: int | None = None

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
    stage: str | None = None  # the AWS::ApiGatewayV2::Stage's StageName, if there is one
    # Its DefaultRouteSettings and RouteSettings throttles (enforced with Settings.throttles).
    throttles: StageThrottles = field(default_factory=StageThrottles)
    # The route selection expression as a path into the frame: ("action",) for
    # `$request.body.action` or `${request.body.action}`.
    selection_path: tuple[str, ...] = ("action",)
    # What it was read from, for the roles (emulator/iam.py).
    template: dict = field(default_factory=dict, compare=False, repr=False)
    parameters: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


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


def _function_of(resources: dict, uri: object, what: str) -> str:
    """The logical id of the one function an integration or authorizer URI refers to."""
    refs = _refs(uri)
    matches = sorted(rid for rid in refs if resources.get(rid, {}).get("Type") in FUNCTION_TYPES)
    if len(matches) != 1:
        raise TemplateError(
            f"{what} must refer to exactly one AWS::Serverless::Function or "
            f"AWS::Lambda::Function, found {len(matches)}"
        )
    return matches[0]


def _merged(defaults: dict, props: dict) -> dict:
    """SAM's Globals: the function's own properties win; Environment.Variables merge."""
    merged = {**defaults, **props}
    variables = {
        **(defaults.get("Environment", {}) or {}).get("Variables", {}),
        **(props.get("Environment", {}) or {}).get("Variables", {}),
    }
    if variables:
        merged["Environment"] = {"Variables": variables}
    return merged


def _function(stack: Stack, rid: str, resource: dict, template_dir: Path, code_dir: Path | None):
    kind = resource["Type"]
    props = resource.get("Properties", {}) or {}
    if kind == "AWS::Serverless::Function":
        props = _merged(stack.template.get("Globals", {}).get("Function", {}) or {}, props)
        code = props.get("CodeUri")
    else:
        code = props.get("Code")  # SAM CLI accepts a local folder here too
    folder = code_dir or template_dir / (code if isinstance(code, str) else ".")
    environment: dict[str, str] = {}
    for variable, value in (props.get("Environment", {}) or {}).get("Variables", {}).items():
        try:
            environment[variable] = stack.text(value)
        except Unresolvable as error:
            logger.warning("%s: %s is left unset (%s)", rid, variable, error)
    reserved = stack.resolve(props.get("ReservedConcurrentExecutions"))
    name = stack.resolve(props.get("FunctionName"))
    return Function(
        logical_id=rid,
        handler=props.get("Handler", ""),
        name=name if isinstance(name, str) else None,
        runtime=str(stack.resolve(props.get("Runtime", "python3.13"))),
        code_uri=folder.resolve(),
        environment=environment,
        timeout=float(stack.resolve(props.get("Timeout", 3))),
        memory_size=int(stack.resolve(props.get("MemorySize", 128))),
        architecture=str(stack.resolve((props.get("Architectures") or ["x86_64"])[0])),
        reserved_concurrency=int(reserved) if isinstance(reserved, (int, str)) else None,
    )


def read_functions(
    template: dict,
    *,
    template_dir: Path = DEFAULT_TEMPLATE.parent,
    code_dir: Path | None = None,
    parameters: dict[str, str] | None = None,
) -> tuple[dict[str, Function], dict[str, str]]:
    """Every function, as Lambda would run it, and the variables whose value names a function."""
    stack = Stack(template, parameters=dict(parameters or {}))
    resources = stack.resources
    functions = {
        rid: _function(stack, rid, resource, template_dir, code_dir)
        for rid, resource in resources.items()
        if resource.get("Type") in FUNCTION_TYPES
    }
    variables: dict[str, str] = {}
    for resource in resources.values():
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        env = (resource.get("Properties", {}).get("Environment", {}) or {}).get("Variables", {})
        for variable, value in env.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if isinstance(ref, str) and ref.split(".")[0] in functions:
                variables[variable] = str(stack.ref(ref))  # e.g. "FanoutFunction:live"
    return functions, variables


_SELECTION = re.compile(
    r"^(?:\$request\.body\.([A-Za-z0-9_.]+)|\$\{request\.body\.([A-Za-z0-9_.]+)\})$"
)


def selection_path(expression: str) -> tuple[str, ...]:
    """The frame path a route selection expression reads, or TemplateError (at load)."""
    match = _SELECTION.fullmatch(expression)
    if not match:
        raise TemplateError(
            f"unsupported route selection expression {expression!r}: the local gateway "
            "evaluates $request.body.<path> and ${request.body.<path>}"
        )
    return tuple((match.group(1) or match.group(2)).split("."))


def _python(function: Function, what: str) -> Function:
    if not function.runtime.startswith("python"):
        raise TemplateError(
            f"{what}: {function.logical_id} has runtime {function.runtime}; the local gateway "
            "runs Python functions only"
        )
    if not function.handler or "." not in function.handler:
        raise TemplateError(f"{what}: the function has no Handler like 'module.function'")
    return function


def _check_access(key: str, authorization: str, props: dict, api_props: dict) -> None:
    """Refuse, as API Gateway does at deploy, route authorization it does not accept.

    "You can configure authorization on the $connect route only" (API Gateway Developer Guide,
    "The $connect route"): AWS_IAM or CUSTOM, or an authorizer, on any other route (on
    $disconnect above all) is refused. API keys are read from `x-api-key` only.
    """
    if authorization not in ("NONE", "AWS_IAM", "CUSTOM"):
        raise TemplateError(
            f"route {key}: AuthorizationType {authorization!r} is not one of NONE, AWS_IAM, "
            "CUSTOM (a WebSocket API's)"
        )
    if key != "$connect" and (authorization != "NONE" or props.get("AuthorizerId")):
        raise TemplateError(
            f"route {key}: AuthorizationType {authorization}"
            + (" with an AuthorizerId" if props.get("AuthorizerId") else "")
            + ": API Gateway refuses authorization on any route but $connect (it authorizes "
            "a WebSocket connection once, at the handshake); set AuthorizationType: NONE"
        )
    selection = api_props.get("ApiKeySelectionExpression", "$request.header.x-api-key")
    if props.get("ApiKeyRequired") and selection != "$request.header.x-api-key":
        raise TemplateError(
            f"route {key} requires an API key from {selection}; the local gateway reads "
            "API keys from $request.header.x-api-key only"
        )


def read_api(
    template: dict,
    *,
    template_dir: Path = DEFAULT_TEMPLATE.parent,
    code_dir: Path | None = None,
    parameters: dict[str, str] | None = None,
) -> WebSocketApi:
    """The single WEBSOCKET API of the template, with every route resolved to its function.

    `template_dir` is where relative CodeUris start; `code_dir` replaces every CodeUri (our own
    template's CodeUri is a build output; locally its functions run from the source tree).
    `parameters` override the template's parameter defaults.
    """
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
    expression = api_props.get("RouteSelectionExpression", "$request.body.action")
    path = selection_path(expression)
    functions, variables = read_functions(
        template, template_dir=template_dir, code_dir=code_dir, parameters=parameters
    )
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
        what = f"route {key}"
        function = _python(
            functions[
                _function_of(resources, integration["Properties"].get("IntegrationUri"), what)
            ],
            what,
        )
        authorization = str(props.get("AuthorizationType") or "NONE")
        _check_access(key, authorization, props, api_props)
        authorizer = None
        if authorization == "CUSTOM":
            _, auth = _one(
                resources,
                _refs(props.get("AuthorizerId")),
                "AWS::ApiGatewayV2::Authorizer",
                f"route {key}'s authorizer",
            )
            auth_props = auth["Properties"]
            if auth_props.get("AuthorizerType") != "REQUEST":
                raise TemplateError("only REQUEST authorizers exist for WebSocket APIs")
            auth_function = _python(
                functions[
                    _function_of(resources, auth_props.get("AuthorizerUri"), "the authorizer")
                ],
                "the authorizer",
            )
            authorizer = Authorizer(
                handler=auth_function.handler,
                identity_sources=tuple(auth_props.get("IdentitySource", [])),
                function=auth_function.logical_id,
            )
        routes[key] = Route(
            key=key,
            handler=function.handler,
            authorizer=authorizer,
            two_way=rid in two_way,
            function=function.logical_id,
            authorization_type=authorization,
            api_key_required=str(props.get("ApiKeyRequired", False)).lower() == "true",
        )
    return WebSocketApi(
        selection_expression=expression,
        routes=routes,
        functions=functions,
        function_variables=variables,
        stage=_stage(template, apis[0], parameters),
        throttles=_throttles(template, apis[0], parameters),
        selection_path=path,
        template=template,
        parameters=dict(parameters or {}),
    )


def _stage_properties(stack: Stack, api_id: str) -> dict | None:
    for resource in stack.resources.values():
        props = resource.get("Properties", {}) or {}
        if resource.get("Type") == "AWS::ApiGatewayV2::Stage" and api_id in _refs(
            props.get("ApiId")
        ):
            return props
    return None


def _stage(template: dict, api_id: str, parameters: dict[str, str] | None) -> str | None:
    stack = Stack(template, parameters=dict(parameters or {}))
    props = _stage_properties(stack, api_id)
    if props is None:
        return None
    try:
        return stack.text(props.get("StageName"))
    except Unresolvable:
        return None


def _throttles(template: dict, api_id: str, parameters: dict[str, str] | None) -> StageThrottles:
    stack = Stack(template, parameters=dict(parameters or {}))
    props = _stage_properties(stack, api_id)
    return StageThrottles() if props is None else stage_throttles(stack, props)
