"""What template.yaml makes of a stage's parameters, worked out offline as CloudFormation
resolves the template: each function's concurrency, the WebSocket stage's throttles, the tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deploy.stage import NO_VALUE, Stage


@dataclass
class Resolver:
    """Ref, Fn::If, Fn::Sub and conditions over the template's parameters (defaults, then the
    given values). Anything else (GetAtt, ImportValue...) is not known before the stack exists."""

    template: dict
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = {
            name: str(spec["Default"])
            for name, spec in self.template.get("Parameters", {}).items()
            if "Default" in spec
        }
        self.values = {**defaults, **self.values}

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                if argument == "AWS::NoValue":
                    return NO_VALUE
                if argument in self.values:
                    return self.values[argument]
                raise ValueError(f"Ref {argument} is only known once the stack exists")
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Sub" and isinstance(argument, str):
                return re.sub(
                    r"\$\{([A-Za-z0-9]+)\}", lambda m: str(self.resolve({"Ref": m[1]})), argument
                )
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in map(self.resolve, value) if v is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        return self._truth(self.template["Conditions"][name])

    def _truth(self, expression) -> bool:
        ((key, argument),) = expression.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            left, right = (str(self.resolve(v)) for v in argument)
            return left == right
        if key == "Fn::Not":
            return not self._truth(argument[0])
        if key == "Fn::And":
            return all(self._truth(v) for v in argument)
        if key == "Fn::Or":
            return any(self._truth(v) for v in argument)
        raise ValueError(f"condition function {key} is not supported offline")

    def present(self, resource: dict) -> bool:
        """False for a resource whose Condition is false: CloudFormation does not create it."""
        return "Condition" not in resource or self.condition(resource["Condition"])


def refs(value) -> list[str]:
    """The parameter names an expression refers to."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return [value["Ref"]]
        return [name for v in value.values() for name in refs(v)]
    if isinstance(value, list):
        return [name for v in value for name in refs(v)]
    return []


def resolver_for(template: dict, stage: Stage) -> Resolver:
    return Resolver(template, {**stage.parameters, "StageName": stage.name})


@dataclass(frozen=True)
class Claim:
    """A function's hold on the Region's concurrency: a reservation, and provisioned instances,
    which count against the reservation if there is one and against the account if not."""

    function: str
    reserved: int | None
    provisioned: int
    parameter: str | None  # the parameter its reservation comes from

    @property
    def claimed(self) -> int:
        return max(self.reserved or 0, self.provisioned)


_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def _scaled_provisioned(template: dict, resolver: Resolver) -> dict[str, int]:
    """{function logical id: the most provisioned instances Application Auto Scaling may give
    its alias}: a scaled stage holds its MaxCapacity at a peak, not the template's start."""
    found: dict[str, int] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        properties = resource.get("Properties", {})
        if properties.get("ScalableDimension") != "lambda:function:ProvisionedConcurrency":
            continue
        if not resolver.present(resource):
            continue
        # ResourceId is !Sub "function:${<Function>}:<alias>": the function it names.
        named = re.search(r"\$\{([A-Za-z0-9]+)\}", str(properties["ResourceId"]))
        if named:
            found[named[1]] = int(float(resolver.resolve(properties["MaxCapacity"])))
    return found


def concurrency_claims(template: dict, resolver: Resolver) -> list[Claim]:
    defaults = template.get("Globals", {}).get("Function", {})
    scaled = _scaled_provisioned(template, resolver)
    claims = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in _FUNCTION_TYPES or not resolver.present(resource):
            continue
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties = {**defaults, **properties}
        reserved_expression = properties.get("ReservedConcurrentExecutions", NO_VALUE)
        reserved = resolver.resolve(reserved_expression)
        provisioned = resolver.resolve(properties.get("ProvisionedConcurrencyConfig", NO_VALUE))
        found = provisioned if isinstance(provisioned, dict) else {}
        count = found.get("ProvisionedConcurrentExecutions", 0)
        claims.append(
            Claim(
                function=logical_id,
                reserved=None if reserved is NO_VALUE else int(reserved),
                provisioned=max(int(count or 0), scaled.get(logical_id, 0)),
                parameter=next(iter(refs(reserved_expression)), None),
            )
        )
    return claims


@dataclass(frozen=True)
class Throttle:
    where: str  # "every route" or the route's key
    rate: float
    burst: int
    rate_parameter: str | None
    burst_parameter: str | None


# What declares a WebSocket stage's throttles: the stage itself, or SAM's WebSocket API (which
# passes DefaultRouteSettings and RouteSettings to the stage it makes).
_STAGE_TYPES = ("AWS::ApiGatewayV2::Stage", "AWS::Serverless::WebSocketApi")


def api_throttles(template: dict, resolver: Resolver) -> list[Throttle]:
    """The WebSocket stage's default and per-route throttles."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] not in _STAGE_TYPES or not resolver.present(resource):
            continue
        properties = resource["Properties"]
        settings = [("every route", properties.get("DefaultRouteSettings", {}))]
        settings += sorted(properties.get("RouteSettings", {}).items())
        for where, route in settings:
            rate, burst = route.get("ThrottlingRateLimit"), route.get("ThrottlingBurstLimit")
            if rate is None and burst is None:
                continue
            found.append(
                Throttle(
                    where=where,
                    rate=float(resolver.resolve(rate)) if rate is not None else 0.0,
                    burst=int(float(resolver.resolve(burst))) if burst is not None else 0,
                    rate_parameter=next(iter(refs(rate)), None),
                    burst_parameter=next(iter(refs(burst)), None),
                )
            )
    return found


@dataclass(frozen=True)
class Table:
    name: str
    provisioned: bool
    holders: int  # the table and each global secondary index: each has its own capacity
    read: int  # initial (minimum) capacity of each holder, when provisioned
    write: int


def tables(template: dict, resolver: Resolver) -> list[Table]:
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            continue
        if not resolver.present(resource):
            continue
        properties = resource["Properties"]
        # Only what the quotas depend on: other properties may name resources (GetAtt, Ref).
        throughput = resolver.resolve(properties.get("ProvisionedThroughput", NO_VALUE))
        throughput = {} if throughput is NO_VALUE else throughput
        found.append(
            Table(
                name=resolver.resolve(properties.get("TableName", logical_id)),
                provisioned=resolver.resolve(properties.get("BillingMode")) == "PROVISIONED",
                holders=1 + len(properties.get("GlobalSecondaryIndexes", [])),
                read=int(throughput.get("ReadCapacityUnits", 0)),
                write=int(throughput.get("WriteCapacityUnits", 0)),
            )
        )
    return found
