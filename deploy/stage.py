"""A stage's settings: deploy/parameters/<stage>.json checked against template.yaml's parameters
(deploy/figures.py works out what the template makes of them), and the stack's parameters."""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from deploy.config import PARAMETERS_DIR, ROOT, TEMPLATE, ssm_names
from deploy.errors import BadInput

# The file's one key that is not a CloudFormation parameter: settings of the deploy command.
DEPLOY_KEY = "Deploy"
# Regions: per-Region parameters of a stage deployed to two Regions (DEPLOY.md, "Two Regions"),
# {"us-west-2": {"WebSocketCertificateArn": "arn:aws:acm:us-west-2:..."}}: what differs there.
DEPLOY_SETTINGS = {"AlarmTargetRequired": bool, "Regions": dict}
# Parameters the deploy command sets itself (from the stage's name, SSM and the alarm options).
SET_BY_DEPLOY = (
    "StageName",
    "TokenPublicKeysParameterName",
    "TokenPublicKeysVersion",
    "AlarmTopicArn",
    "AlarmEmail",
    "SiteApiHost",  # Zappa's REST API host, CloudFront's origin: read from Zappa's stack
    "SiteEdgeSecret",  # CloudFront's header to the site: from the site's secret key
    "PrimaryRegion",  # --regions: the first one
    "PeerHealthUrl",  # --regions: the other Region's stack's HealthCheckUrl
)
# A custom domain's parameters (DEPLOY.md, "A custom domain"): both certificates go with it.
DOMAIN_CERTIFICATES = ("WebSocketCertificateArn", "SiteCertificateArn")
NO_VALUE = object()  # AWS::NoValue: the property is left out
# The one stage whose site may be served over plain http (the local stack's, on localhost); a
# deployed site is https, and a browser's Origin header says so.
LOCAL_STAGE = "local"


def site_origin(host: str) -> str:
    """The Origin a browser sends from pages of the site at `host` (scheme and host only)."""
    return f"https://{host}"


@functools.lru_cache(maxsize=2)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    from deploy.template import template_load

    return template_load(Path(path))


def template_cached(path: Path = TEMPLATE) -> dict:
    """template.yaml as data, parsed once per version of the file (parsing takes ~0.4 s, and a
    deploy reads it for the stage check, the variant and the stack); a copy to change freely."""
    stat = path.stat()
    return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size))


@dataclass(frozen=True)
class Stage:
    name: str
    path: Path
    parameters: dict[str, str]  # the file's CloudFormation parameters, as strings
    alarm_target_required: bool = False
    # Deploy.Regions: a Region's own values of some parameters (its certificate), as strings.
    regions: dict[str, dict[str, str]] = field(default_factory=dict)

    def in_region(self, region: str) -> Stage:
        """The stage as deployed in `region`: its file's parameters with the Region's own."""
        return replace(self, parameters={**self.parameters, **self.regions.get(region, {})})

    @property
    def domain(self) -> str:
        """The custom domain (DEPLOY.md, "A custom domain"), or ""."""
        return self.parameters.get("DomainName", "")

    @property
    def file(self) -> str:
        return (
            str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else str(self.path)
        )


def _check_value(name: str, value: str, spec: dict) -> str | None:
    """CloudFormation's own parameter constraints; None when the value passes them."""
    kind = spec.get("Type", "String")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{name} is {value!r}, not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{name} is {value}, below its MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{name} is {value}, above its MaxValue {spec['MaxValue']}"
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        return f"{name} is {value!r}, not one of {', '.join(allowed)}"
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, value):
        return f"{name} is {value!r}, which does not match {pattern}"
    for key, test in (
        ("MinLength", lambda n: len(value) < n),
        ("MaxLength", lambda n: len(value) > n),
    ):
        if key in spec and test(int(spec[key])):
            return f"{name} has {len(value)} characters, outside its {key} {spec[key]}"
    return None


def stage_load(name: str, *, template: dict, path: Path | None = None) -> Stage:
    """The stage's file, every value checked as CloudFormation would check it (BadInput lists
    each problem on its own line)."""
    path = path or PARAMETERS_DIR / f"{name}.json"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.is_file():
        raise BadInput(
            f"{shown} does not exist: each stage has its parameters file (copy"
            " deploy/parameters/dev.json)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{shown} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{shown} must hold a JSON object of parameter names and values")
    deploy = data.pop(DEPLOY_KEY, {})
    declared = template.get("Parameters", {})
    problems: list[str] = []
    if not isinstance(deploy, dict):
        problems.append(f'"{DEPLOY_KEY}" must be an object such as {{"AlarmTargetRequired": true}}')
        deploy = {}
    for key, value in deploy.items():
        wanted = DEPLOY_SETTINGS.get(key)
        if wanted is None:
            problems.append(
                f"{DEPLOY_KEY}.{key} is not a deploy setting ({', '.join(DEPLOY_SETTINGS)})"
            )
        elif not isinstance(value, wanted):
            problems.append(f"{DEPLOY_KEY}.{key} must be {wanted.__name__}, not {value!r}")
    parameters: dict[str, str] = {}
    regions: dict[str, dict[str, str]] = {}
    for region, values in (deploy.get("Regions") or {}).items():
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", region) or not isinstance(values, dict):
            problems.append(
                f"{DEPLOY_KEY}.Regions.{region} must be a Region's name and an object of parameters"
            )
            continue
        regions[region] = {}
        for key, value in values.items():
            if key not in declared or key in SET_BY_DEPLOY:
                problems.append(
                    f"{DEPLOY_KEY}.Regions.{region}.{key} is not a parameter a stage file sets"
                )
                continue
            regions[region][key] = str(value)
            problem = _check_value(key, regions[region][key], declared[key])
            if problem:
                problems.append(f"{DEPLOY_KEY}.Regions.{region}: {problem}")
    for key, value in data.items():
        if key in SET_BY_DEPLOY:
            problems.append(f"{key} is set by the deploy command, not by the stage's file")
        elif key not in declared:
            problems.append(f"{key} is not a parameter of template.yaml")
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(f"{key} must be a string or a number, not {json.dumps(value)}")
        else:
            parameters[key] = str(value)
            problem = _check_value(key, parameters[key], declared[key])
            if problem:
                problems.append(problem)
    origin = parameters.get("SiteOrigin", "")
    if origin and name != LOCAL_STAGE and not origin.startswith("https://"):
        problems.append(
            f"SiteOrigin is {origin!r}: a deployed site is served over https, so its pages'"
            " Origin is https://HOST (leave SiteOrigin out to use the site's own address)"
        )
    domain = parameters.get("DomainName", "")
    for key in DOMAIN_CERTIFICATES:
        if domain and not parameters.get(key):
            problems.append(f"DomainName {domain} needs {key} (DEPLOY.md, 'A custom domain')")
        if parameters.get(key) and not domain:
            problems.append(f"{key} is set without a DomainName")
    if domain and origin and origin != site_origin(domain):
        problems.append(
            f"SiteOrigin is {origin!r} but the site is served at {site_origin(domain)}:"
            " leave SiteOrigin out (the domain sets it)"
        )
    if parameters.get("ConcurrencyScaling") == "true":
        low, high = (
            float(parameters.get(key, declared[key].get("Default", 0)))
            for key in ("ProvisionedConcurrencyMin", "ProvisionedConcurrencyMax")
        )
        if low > high:
            problems.append(
                f"ProvisionedConcurrencyMin {low:g} is above ProvisionedConcurrencyMax {high:g}"
            )
    for key, spec in declared.items():
        if "Default" not in spec and key not in parameters and key not in SET_BY_DEPLOY:
            problems.append(f"{key} has no default in template.yaml: set it")
    if problems:
        raise BadInput(*(f"{shown}: {problem}" for problem in problems))
    return Stage(name, path, parameters, bool(deploy.get("AlarmTargetRequired", False)), regions)


def stack_parameters(
    stage: Stage,
    template: dict,
    *,
    keys_version: str = "",
    alarm_topic: str = "",
    alarm_email: str = "",
    origin: str = "",
    site_api_host: str = "",
    edge_secret: str = "",
) -> dict[str, str]:
    """The stack's CloudFormation parameters: the stage's file plus what the deploy knows, each
    only where the deployed template declares it (the global-tables variant has fewer). The
    site's `origin` (its deployed address) is the SiteOrigin unless the file names one or a
    DomainName (https://<it>); with none, the template's default stands. `site_api_host`
    (Zappa's REST API, CloudFront's origin) and `edge_secret` (the header CloudFront adds,
    chat/edge.py) only matter with a DomainName."""
    domain = stage.parameters.get("DomainName", "")
    values = {
        **({"SiteOrigin": origin} if origin else {}),
        **({"SiteOrigin": site_origin(domain)} if domain else {}),
        **({"SiteApiHost": site_api_host} if domain and site_api_host else {}),
        **({"SiteEdgeSecret": edge_secret} if domain and edge_secret else {}),
        **stage.parameters,
        "StageName": stage.name,
        "TokenPublicKeysParameterName": ssm_names(stage.name)["public_keys"],
        "TokenPublicKeysVersion": keys_version,
        "AlarmTopicArn": alarm_topic,
        "AlarmEmail": alarm_email,
    }
    declared = template.get("Parameters", {})
    return {name: value for name, value in values.items() if name in declared}
