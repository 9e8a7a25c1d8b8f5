"""Reads the WebSocket API from template.yaml: route selection, routes, authorizer, handlers,
and the functions that are not routes (invoked through the Lambda API, e.g. fan-out).

Any SAM or CloudFormation template with one WebSocket API works. A template that declares SAM's
transform is read as CloudFormation deploys it: translated first by samtranslator (the pinned
one, as `sam deploy` would), so AWS::Serverless::WebSocketApi, AWS::Serverless::Function and
their Globals are whatever API, routes, integrations, authorizer, stage and functions SAM makes of
them. A template without the transform is read as written (AWS::Serverless::Function with
Globals too, as SAM CLI reads a template). Functions have their own code folder, runtime,
environment, timeout, memory and reserved concurrency, resolved as a stack would resolve them
(emulator/intrinsics.py).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from emulator.intrinsics import Stack, Unresolvable
from emulator.throttles import StageThrottles, stage_throttles

logger = logging.getLogger(__name__)
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# What SAM's function code is replaced with for the transform, which wants an S3 object; the
# local folder is read from the template itself (code_locations).
PLACEHOLDER_CODE = "s3://local/code.zip"

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
    # Asynchronous invocations (its AWS::Lambda::EventInvokeConfig, else Lambda's defaults): how
    # often a failed one is retried, how old an event may get before it is given up, and where
    # a given-up event goes (the destination's ARN; None: only the log says so).
    max_retry_attempts: int = 2
    max_event_age: float = 6 * 60 * 60
    on_failure: str | None = None

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
    # What it was read from (before any transform), for the roles (emulator/iam.py).
    template: dict = field(default_factory=dict, compare=False, repr=False)
    parameters: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # Function URLs (emulator/function_urls.py serves them), by their function's logical id.
    function_urls: dict[str, FunctionUrl] = field(default_factory=dict)


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


def has_transform(template: dict) -> bool:
    """Whether the template declares SAM's transform (CloudFormation runs it before anything)."""
    transform = template.get("Transform", "")
    return SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform])


def translate(
    template: dict, *, parameters: dict[str, str] | None = None, region: str = "us-east-1"
) -> dict:
    """The template as CloudFormation deploys it: SAM's transform applied with the stack's
    parameter values (the template itself when it declares no transform). Every
    AWS::Serverless::Function's code is a placeholder S3 object: the transform wants one, and
    the local folders are read from the template (code_locations). TemplateError if SAM
    refuses the template, with SAM's reasons."""
    if not has_transform(template):
        return template
    key = (
        json.dumps(template, sort_keys=True, default=str),
        json.dumps(dict(parameters or {}), sort_keys=True),
        region,
    )
    if key not in _TRANSLATIONS:  # a test session reads one template for many gateways
        while len(_TRANSLATIONS) >= 16:
            _TRANSLATIONS.pop(next(iter(_TRANSLATIONS)))
        _TRANSLATIONS[key] = _translated(template, dict(parameters or {}), region)
    return copy.deepcopy(_TRANSLATIONS[key])


_TRANSLATIONS: dict[tuple[str, str, str], dict] = {}


def _translated(template: dict, parameters: dict[str, str], region: str) -> dict:
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)  # in the template's order: resources are read in it
    (sam.get("Globals", {}).get("Function", {}) or {}).pop("CodeUri", None)
    for resource in sam.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "InlineCode" not in props:
            resource["Properties"] = {**props, "CodeUri": PLACEHOLDER_CODE}
    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # samtranslator picks the partition
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        return translator.translate(sam, parameter_values=parameters, get_managed_policy_map=dict)
    except Exception as error:  # samtranslator's InvalidDocumentException lists every reason
        raise TemplateError(f"the SAM transform failed: {error}") from None


def code_locations(template: dict) -> dict[str, object]:
    """Each function's code as the template gives it (CodeUri, with Globals; or Code), by
    logical id: what the transform replaces with an S3 object."""
    defaults = template.get("Globals", {}).get("Function", {}) or {}
    found: dict[str, object] = {}
    for rid, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {}) or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            found[rid] = props.get("CodeUri", defaults.get("CodeUri"))
        elif resource.get("Type") == "AWS::Lambda::Function":
            found[rid] = props.get("Code")  # SAM CLI accepts a local folder here too
    return found


def _one(resources: dict, refs: set[str], type_: str, what: str) -> tuple[str, dict]:
    matches = [
        (rid, resources[rid]) for rid in sorted(refs) if resources.get(rid, {}).get("Type") == type_
    ]
    if len(matches) != 1:
        raise TemplateError(f"{what} must refer to exactly one {type_}, found {len(matches)}")
    return matches[0]


def _functions_named(resources: dict, value: object) -> set[str]:
    """The functions a value refers to: directly, or through an alias or a version of one
    (what SAM's integrations name: `!Ref Function.Alias` is the AWS::Lambda::Alias it makes)."""
    found = set()
    for rid in _refs(value):
        resource = resources.get(rid, {})
        if resource.get("Type") in FUNCTION_TYPES:
            found.add(rid)
        elif resource.get("Type") in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            found |= _functions_named(resources, resource.get("Properties", {}).get("FunctionName"))
    return found


def _function_of(resources: dict, uri: object, what: str) -> str:
    """The logical id of the one function an integration or authorizer URI refers to."""
    matches = sorted(_functions_named(resources, uri))
    if len(matches) != 1:
        raise TemplateError(
            f"{what} must refer to exactly one AWS::Serverless::Function or "
            f"AWS::Lambda::Function, found {len(matches)}"
        )
    return matches[0]


@dataclass(frozen=True)
class FunctionUrl:
    function: str  # the function's logical id
    auth_type: str  # NONE or AWS_IAM


def read_function_urls(resources: dict) -> dict[str, FunctionUrl]:
    """Each AWS::Lambda::Url of a deployed template (what SAM makes of FunctionUrlConfig), by
    its function's logical id (its target is the function's `live` alias)."""
    urls = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::Url":
            continue
        props = resource.get("Properties", {}) or {}
        for function in _functions_named(resources, props.get("TargetFunctionArn")):
            urls[function] = FunctionUrl(function, str(props.get("AuthType", "AWS_IAM")))
    return urls


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


def _function(
    stack: Stack,
    rid: str,
    resource: dict,
    template_dir: Path,
    code_dir: Path | None,
    code: object,
) -> Function:
    kind = resource["Type"]
    props = resource.get("Properties", {}) or {}
    if kind == "AWS::Serverless::Function":  # a template read as written (no transform)
        props = _merged(stack.template.get("Globals", {}).get("Function", {}) or {}, props)
    folder = code_dir or template_dir / (code if isinstance(code, str) else ".")
    environment: dict[str, str] = {}
    for variable, value in (props.get("Environment", {}) or {}).get("Variables", {}).items():
        try:
            environment[variable] = _function_named(stack, value) or stack.text(value)
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


def _function_named(stack: Stack, value: object) -> str | None:
    """What a `Ref` to a function or its alias names it as, for Invoke: "name" or "name:alias"
    (`!Ref Function.Alias` is the AWS::Lambda::Alias SAM makes; Ref gives its ARN on AWS, which
    names the same alias). None for any other value."""
    ref = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(ref, str):
        return None
    resource = stack.resources.get(ref.split(".")[0], {})
    if resource.get("Type") in FUNCTION_TYPES:
        return stack.text(value)  # its name, or "name:alias" for SAM's `Function.Alias`
    if resource.get("Type") == "AWS::Lambda::Alias":
        props = resource.get("Properties", {})
        if _functions_named(stack.resources, props.get("FunctionName")):
            return f"{stack.text(props.get('FunctionName'))}:{stack.text(props.get('Name'))}"
    return None


def read_functions(
    template: dict,
    *,
    template_dir: Path = DEFAULT_TEMPLATE.parent,
    code_dir: Path | None = None,
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> tuple[dict[str, Function], dict[str, str]]:
    """Every function, as Lambda would run it, and the variables whose value names a function."""
    deployed = translate(template, parameters=parameters, region=region)
    return _read_functions(deployed, template, template_dir, code_dir, parameters, region)


def _read_functions(
    deployed: dict,
    template: dict,
    template_dir: Path,
    code_dir: Path | None,
    parameters: dict[str, str] | None,
    region: str = "us-east-1",
) -> tuple[dict[str, Function], dict[str, str]]:
    stack = Stack(deployed, parameters=dict(parameters or {}), region=region)
    code = code_locations(template)
    functions: dict[str, Function] = {}
    variables: dict[str, str] = {}
    for rid, resource in stack.resources.items():
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        functions[rid] = _function(stack, rid, resource, template_dir, code_dir, code.get(rid))
        env = (resource.get("Properties", {}).get("Environment", {}) or {}).get("Variables", {})
        for variable, value in env.items():
            named = _function_named(stack, value)
            if named is not None:
                variables[variable] = named  # e.g. "local-fanout:live"
    for rid, resource in stack.resources.items():
        if resource.get("Type") == "AWS::Lambda::EventInvokeConfig":
            _invoke_config(stack, rid, resource.get("Properties", {}) or {}, functions)
    return functions, variables


def _invoke_config(stack: Stack, rid: str, props: dict, functions: dict[str, Function]) -> None:
    """Apply an EventInvokeConfig to its function (whatever its Qualifier: locally every
    version and alias of a function is the same code)."""
    named = _functions_named(stack.resources, props.get("FunctionName"))
    if len(named) != 1 or next(iter(named)) not in functions:
        logger.warning("%s: its FunctionName is no function of the template; ignored", rid)
        return
    logical_id = next(iter(named))
    changes: dict[str, object] = {}
    if "MaximumRetryAttempts" in props:
        changes["max_retry_attempts"] = int(stack.resolve(props["MaximumRetryAttempts"]))
    if "MaximumEventAgeInSeconds" in props:
        changes["max_event_age"] = float(stack.resolve(props["MaximumEventAgeInSeconds"]))
    destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination is not None:
        try:
            changes["on_failure"] = stack.text(destination)
        except Unresolvable as error:
            logger.warning("%s: its OnFailure destination is unknown here (%s)", rid, error)
    functions[logical_id] = dataclasses.replace(functions[logical_id], **changes)


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
    region: str = "us-east-1",
) -> WebSocketApi:
    """The single WEBSOCKET API of the template, with every route resolved to its function:
    the AWS::ApiGatewayV2 resources of the template as CloudFormation deploys it (translate:
    what SAM makes of an AWS::Serverless::WebSocketApi, or the resources as written).

    `template_dir` is where relative CodeUris start; `code_dir` replaces every CodeUri (our own
    template's CodeUri is a build output; locally its functions run from the source tree).
    `parameters` override the template's parameter defaults; `region` is AWS::Region's value.
    """
    deployed = translate(template, parameters=parameters, region=region)
    resources = deployed.get("Resources", {})
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
    functions, variables = _read_functions(
        deployed, template, template_dir, code_dir, parameters, region
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
        stage=_stage(deployed, apis[0], parameters),
        throttles=_throttles(deployed, apis[0], parameters),
        selection_path=path,
        template=template,
        parameters=dict(parameters or {}),
        function_urls=read_function_urls(resources),
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
