"""Resolves CloudFormation intrinsics (Ref, Fn::Sub, Fn::GetAtt, Fn::If, ...) for a local stack.

Locally there is no stack: parameters take their defaults (or the overrides given), pseudo
parameters are fixed local values, a resource's Ref is its physical name when the template
gives one (a table's TableName) and its logical id otherwise, and Arn attributes are built as
AWS would build them. What cannot be known locally raises Unresolvable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NO_VALUE = object()  # AWS::NoValue: the property is left out
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class Unresolvable(ValueError):
    """An intrinsic that has no local value (an import, an unknown reference)."""


# The local account: in the ARNs the gateway builds, the events it sends and the roles it enforces.
ACCOUNT_ID = "000000000000"


@dataclass
class Stack:
    """The template's resources, parameters and conditions, seen from a local stack."""

    template: dict
    parameters: dict[str, str] = field(default_factory=dict)  # overrides of the defaults
    region: str = "us-east-1"
    account: str = ACCOUNT_ID
    stack_name: str = "local"
    api_id: str = "local"  # what Ref of an AWS::ApiGatewayV2::Api is: the gateway's api id
    # Its ApiEndpoint, once a gateway listens (LocalGateway.api_endpoint); until then AWS's form.
    api_endpoint: str | None = None

    @property
    def resources(self) -> dict:
        return self.template.get("Resources", {})

    def parameter(self, name: str) -> object:
        if name in self.parameters:
            return self.parameters[name]
        declared = self.template.get("Parameters", {}).get(name)
        if declared is None or "Default" not in declared:
            raise Unresolvable(f"parameter {name} has no default; pass it as an override")
        return declared["Default"]

    def ref(self, name: str) -> object:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
            f"{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}) or name in self.parameters:
            return self.parameter(name)
        logical_id = name.split(".")[0]  # `Function.Alias`, `Function.Version` (SAM)
        resource = self.resources.get(logical_id)
        if resource is None:
            raise Unresolvable(f"Ref to {name}, which is neither a parameter nor a resource")
        if resource.get("Type") == "AWS::Lambda::Alias":  # what SAM's AutoPublishAlias makes
            props = resource.get("Properties", {})
            function = self.resolve(props.get("FunctionName"))
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{function}:" + str(
                self.resolve(props.get("Name"))
            )
        if name.endswith(".Alias"):  # the function's alias: "Fn:live", as Invoke names it
            alias = self._auto_publish_alias(resource)
            if alias:
                return f"{self.physical_name(logical_id)}:{alias}"
        return self.physical_name(logical_id)

    def _auto_publish_alias(self, resource: dict) -> str | None:
        props = resource.get("Properties", {}) or {}
        defaults = self.template.get("Globals", {}).get("Function", {}) or {}
        alias = self.resolve(props.get("AutoPublishAlias", defaults.get("AutoPublishAlias")))
        return alias if isinstance(alias, str) else None

    def physical_name(self, logical_id: str) -> str:
        """What Ref returns: the name the template gives the resource, else its logical id."""
        resource = self.resources[logical_id]
        if resource.get("Type") == "AWS::ApiGatewayV2::Api":
            return self.api_id
        props = resource.get("Properties", {}) or {}
        for key in ("TableName", "FunctionName"):
            if key in props:
                value = self.resolve(props[key])
                if isinstance(value, str):
                    return value
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise Unresolvable(f"Fn::GetAtt of {logical_id}, which is not a resource")
        kind = resource.get("Type", "")
        if kind == "AWS::ApiGatewayV2::Api" and attribute in ("ApiEndpoint", "ApiId"):
            return self.api_attribute(resource, attribute)
        if attribute != "Arn":
            return f"{logical_id}.{attribute}"
        name = self.physical_name(logical_id)
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
        return f"arn:aws:{service}:{self.region}:{self.account}:{name}"

    def api_attribute(self, resource: dict, attribute: str) -> str:
        if attribute == "ApiId":
            return self.api_id
        if self.api_endpoint is not None:
            return self.api_endpoint
        # AWS's: wss:// for a WebSocket API, https:// for an HTTP API; no stage either way.
        protocol = (resource.get("Properties", {}) or {}).get("ProtocolType")
        scheme = "wss" if protocol == "WEBSOCKET" else "https"
        return f"{scheme}://{self.api_id}.execute-api.{self.region}.amazonaws.com"

    def condition(self, name: str) -> bool:
        definition = self.template.get("Conditions", {}).get(name)
        if definition is None:
            raise Unresolvable(f"condition {name} is not defined")
        return bool(self.resolve(definition))

    def resolve(self, value: object) -> object:
        """The value with every intrinsic replaced; NO_VALUE for AWS::NoValue."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, arg)
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} has no local value")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def text(self, value: object) -> str:
        """A resolved scalar as an environment variable holds it."""
        value = self.resolve(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise Unresolvable(f"{value!r} is not a string")


def declared_variables(template: dict, logical_id: str) -> dict[str, object]:
    """A function's Environment.Variables as the template writes them, unresolved (for an
    AWS::Serverless::Function, over those of the Globals)."""
    resource = template.get("Resources", {}).get(logical_id, {})
    props = resource.get("Properties", {}) or {}
    variables = (props.get("Environment", {}) or {}).get("Variables", {}) or {}
    if resource.get("Type") != "AWS::Serverless::Function":
        return dict(variables)
    defaults = template.get("Globals", {}).get("Function", {}) or {}
    return {**((defaults.get("Environment", {}) or {}).get("Variables", {}) or {}), **variables}


def reads_attribute(value: object, attribute: str) -> bool:
    """Whether a property value reads this attribute of a resource (Fn::GetAtt, or Fn::Sub's
    ${Resource.Attribute})."""
    if isinstance(value, list):
        return any(reads_attribute(item, attribute) for item in value)
    if not isinstance(value, dict):
        return False
    get_att = value.get("Fn::GetAtt")
    if get_att is not None:
        name = get_att[1] if isinstance(get_att, list) else str(get_att).partition(".")[2]
        if name == attribute:
            return True
    sub = value.get("Fn::Sub")
    text = sub[0] if isinstance(sub, list) and sub else sub
    if isinstance(text, str) and any(name.endswith(f".{attribute}") for name in _SUB.findall(text)):
        return True
    return any(reads_attribute(inner, attribute) for inner in value.values())


def _sub(stack: Stack, arg: object) -> str:
    text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in variables:
            return stack.text(variables[name])
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            if attribute in ("Alias", "Version"):
                return stack.text({"Ref": name})
            return stack.get_att(logical_id, attribute)
        return stack.text({"Ref": name})

    return _SUB.sub(replace, text).replace("${!", "${")


def _get_att(stack: Stack, arg: object) -> str:
    logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return stack.get_att(logical_id, stack.text(attribute))


def _if(stack: Stack, arg: list) -> object:
    name, when_true, when_false = arg
    return stack.resolve(when_true if stack.condition(name) else when_false)


def _scalar(value: object) -> object:
    # CloudFormation compares parameter values as strings: 0 (YAML int) equals "0" (override).
    return str(value) if isinstance(value, (int, float, str)) else value


_FUNCTIONS = {
    "Ref": lambda stack, name: stack.ref(name),
    "Fn::Sub": _sub,
    "Fn::GetAtt": _get_att,
    "Fn::If": _if,
    "Fn::Join": lambda s, a: s.text(a[0]).join(s.text(v) for v in s.resolve(a[1])),
    "Fn::Select": lambda s, a: s.resolve(a[1])[int(s.text(a[0]))],
    "Fn::Split": lambda s, a: s.text(a[1]).split(s.text(a[0])),
    "Fn::Equals": lambda s, a: _scalar(s.resolve(a[0])) == _scalar(s.resolve(a[1])),
    "Fn::Not": lambda s, a: not s.resolve(a[0]),
    "Fn::And": lambda s, a: all(s.resolve(v) for v in a),
    "Fn::Or": lambda s, a: any(s.resolve(v) for v in a),
    "Condition": lambda s, name: s.condition(name),
    "Fn::FindInMap": lambda s, a: s.template["Mappings"][s.text(a[0])][s.text(a[1])][s.text(a[2])],
}
