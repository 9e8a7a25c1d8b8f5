"""Production's alarms reach someone, cover what a chat needs, and roll a bad release back."""

from __future__ import annotations

import json
import os
import re

import pytest

from deploy.config import PARAMETERS_DIR, ROOT, SITE_FUNCTION
from deploy.template import cfn_lint, template_load, template_with_code, template_write
from emulator.template import load_template, read_api

NO_VALUE = {"Ref": "AWS::NoValue"}
ALARM = "AWS::CloudWatch::Alarm"
TOPIC_RESOURCES = ("AlarmTopic", "AlarmTopicKey", "AlarmTopicPolicy", "AlarmEmailSubscription")
# The address the deploy passes from SSM; prod.json itself names no address.
EMAIL = "oncall@example.com"


def _stage(stage: str, **overrides: str) -> dict[str, str]:
    """A stage's CloudFormation parameters as the deploy passes them: its file's values for the
    template's parameters (the file also holds the deploy's own settings), and its name."""
    values = json.loads((PARAMETERS_DIR / f"{stage}.json").read_text())
    known = template_load()["Parameters"]
    return {**{k: v for k, v in values.items() if k in known}, "StageName": stage, **overrides}


PROD = _stage("prod", AlarmEmail=EMAIL, AlarmTopicArn="")


def _translate(parameters: dict[str, str]) -> dict:
    """The SAM transform as CloudFormation runs it for a stage: with its parameter values (the
    DeploymentPreference's Type is resolved from them at transform time)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sam = template_with_code(template_load(), "s3://test-artifacts/lambda.zip")
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    return translator.translate(sam, parameter_values=parameters, get_managed_policy_map=dict)


def _conditions(template: dict, parameters: dict[str, str]) -> dict[str, bool]:
    """Every condition's value for these parameters (the others at their defaults)."""
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values.update(parameters)
    known: dict[str, bool] = {}

    def evaluate(node: object) -> object:
        if not isinstance(node, dict):
            return node
        ((key, arg),) = node.items()
        operations = {
            "Ref": lambda: values[arg],
            "Condition": lambda: condition(arg),
            "Fn::Equals": lambda: str(evaluate(arg[0])) == str(evaluate(arg[1])),
            "Fn::Not": lambda: not evaluate(arg[0]),
            "Fn::And": lambda: all(evaluate(a) for a in arg),
            "Fn::Or": lambda: any(evaluate(a) for a in arg),
        }
        return operations[key]()

    def condition(name: str) -> bool:
        if name not in known:
            known[name] = bool(evaluate(template["Conditions"][name]))
        return known[name]

    return {name: condition(name) for name in template["Conditions"]}


def _resolve(value: object, conditions: dict[str, bool]) -> object:
    """The value with every Fn::If decided and AWS::NoValue dropped, as CloudFormation would."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, if_true, if_false = value["Fn::If"]
            return _resolve(if_true if conditions[name] else if_false, conditions)
        resolved = {k: _resolve(v, conditions) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [r for r in (_resolve(v, conditions) for v in value) if r != NO_VALUE]
    return value


def _created(template: dict, conditions: dict[str, bool]) -> set[str]:
    return {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), "Condition" not in resource)
    }


# The condition of the alarms that step provisioned concurrency up (template.yaml).
SCALING = "ScaleConcurrency"


def _alarms(template: dict) -> dict[str, dict]:
    """The alarms that tell people (the topic): not those that scale provisioned concurrency
    (ConcurrencyScaling "true" only; tests/deploy/test_template_domain.py)."""
    return {
        k: r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == ALARM and r.get("Condition") != SCALING
    }


def _metrics(alarm: dict) -> list[dict]:
    """The metrics an alarm reads: its own, or those of its metric math."""
    if "MetricName" in alarm:
        return [{k: alarm.get(k) for k in ("Namespace", "MetricName", "Dimensions")}]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def _watching(template: dict, metric: str, function: str) -> set[str]:
    """The alarms that read `metric` (AWS/Lambda) of the function with this logical id."""
    return {
        logical_id
        for logical_id, alarm in _alarms(template).items()
        for m in _metrics(alarm)
        if m["Namespace"] == "AWS/Lambda"
        and m["MetricName"] == metric
        and {"Name": "FunctionName", "Value": {"Ref": function}} in m["Dimensions"]
    }


def _functions(template: dict) -> dict[str, dict]:
    globals_ = template["Globals"]["Function"]
    return {
        k: {**globals_, **r["Properties"]}
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _behind_routes() -> dict[str, bool]:
    """{logical id: is a route's integration} of every function a client reaches through a
    route: the integrations, and the $connect authorizer."""
    routes = read_api(load_template()).routes.values()
    found = {route.function: True for route in routes}
    found.update({r.authorizer.function: False for r in routes if r.authorizer})
    return found


@pytest.fixture(scope="module")
def prod_translated() -> dict:
    return _translate(PROD)


def test_every_alarm_notifies_the_topic_made_for_production(template, prod_translated):
    """With prod's parameters (an address, no topic) the stack makes the topic, its key, policy
    and subscription, and every alarm's AlarmActions and OKActions are that topic."""
    conditions = _conditions(prod_translated, PROD)
    assert set(TOPIC_RESOURCES) <= _created(prod_translated, conditions)
    alarms = _alarms(prod_translated)
    assert len(alarms) == len(_alarms(template)) >= 30
    for logical_id, alarm in alarms.items():
        resolved = _resolve(alarm, conditions)
        assert resolved.get("AlarmActions") == [{"Ref": "AlarmTopic"}], logical_id
        assert resolved.get("OKActions") == [{"Ref": "AlarmTopic"}], logical_id
    subscription = prod_translated["Resources"]["AlarmEmailSubscription"]["Properties"]
    assert subscription == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_a_given_topic_wins_and_without_either_nothing_is_made(template):
    """AlarmTopicArn set: alarms notify it and no topic is made; neither set: no topic, no
    actions (the deploy refuses that for prod)."""
    given = _conditions(
        template, {"AlarmTopicArn": "arn:aws:sns:us-east-1:1:t", "AlarmEmail": EMAIL}
    )
    neither = _conditions(template, {})
    for conditions, actions in ((given, [{"Ref": "AlarmTopicArn"}]), (neither, None)):
        assert not set(TOPIC_RESOURCES) & _created(template, conditions)
        for logical_id, alarm in _alarms(template).items():
            resolved = _resolve(alarm, conditions)
            assert resolved.get("AlarmActions") == actions, logical_id
            assert resolved.get("OKActions") == actions, logical_id


def test_the_made_topic_is_one_cloudwatch_can_publish_to(template):
    """The topic is encrypted with a key whose policy lets CloudWatch use it (the AWS managed
    alias/aws/sns does not), and its policy admits this stage's alarms: all of them by name."""
    resources = template["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = {s["Principal"].get("Service"): s["Action"] for s in key["KeyPolicy"]["Statement"]}
    assert set(grants["cloudwatch.amazonaws.com"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    statements = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    publish = next(s for s in statements if s["Effect"] == "Allow")
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    source = publish["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    prefix = source.rsplit(":alarm:", 1)[1].removesuffix("*")
    for logical_id, alarm in _alarms(template).items():
        assert alarm["AlarmName"]["Fn::Sub"].startswith(prefix), logical_id


def test_every_function_behind_a_route_releases_with_its_alarms(template):
    """Each function a route reaches (and the fan-out, index, thumbnail and health) has a
    DeploymentPreference: the stage's DeploymentType, and alarms on its own errors, throttles and
    duration (routes: and the stage's integration error rate) that roll it back, unless
    DeploymentAlarms is "false"."""
    functions = _functions(template)
    behind = _behind_routes()
    assert len(behind) == 13
    assert set(behind) | {
        "FanoutFunction",
        "IndexFunction",
        "ThumbnailFunction",
        "HealthFunction",
    } == set(functions)
    for logical_id in functions:
        own = template["Resources"][logical_id]["Properties"].get("DeploymentPreference")
        assert own, f"{logical_id}: no DeploymentPreference (its alarms)"
        preference = {**template["Globals"]["Function"]["DeploymentPreference"], **own}
        assert preference["Type"] == {"Ref": "DeploymentType"}, logical_id
        condition, alarms, otherwise = preference["Alarms"]["Fn::If"]
        assert (condition, otherwise) == ("RollBackOnAlarms", []), logical_id
        named = {alarm["Ref"] for alarm in alarms}
        for metric in ("Errors", "Throttles", "Duration"):
            assert named & _watching(template, metric, logical_id), (logical_id, metric)
        assert ("ApiIntegrationErrorsAlarm" in named) == behind.get(logical_id, False), logical_id


def test_prod_releases_gradually_and_dev_all_at_once():
    """prod.json picks a canary or linear DeploymentType; dev keeps the default, AllAtOnce."""
    assert re.fullmatch(r"(Canary|Linear)10Percent\w+", PROD.get("DeploymentType", "AllAtOnce"))
    assert _stage("dev").get("DeploymentType", "AllAtOnce") == "AllAtOnce"


def test_production_translates_to_deployment_groups_with_rollback_alarms(template, prod_translated):
    """In prod's translation every route function's alias is shifted by a CodeDeploy deployment
    group with prod's DeploymentType, which rolls back on the function's alarms."""
    deployment_type = PROD.get("DeploymentType", "AllAtOnce")
    resources = prod_translated["Resources"]
    conditions = _conditions(prod_translated, PROD)
    assert resources["ServerlessDeploymentApplication"]["Properties"]["ComputePlatform"] == "Lambda"
    for logical_id in _behind_routes():
        alias = resources[f"{logical_id}Aliaslive"]
        assert "UpdatePolicy" in alias, f"{logical_id}: no CodeDeploy deployment group"
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        group_id = update["DeploymentGroupName"]["Ref"]
        group = _resolve(resources[group_id]["Properties"], conditions)
        text, names = group["DeploymentConfigName"]["Fn::Sub"]
        assert text.replace("${ConfigName}", names["ConfigName"]) == (
            f"CodeDeployDefault.Lambda{deployment_type}"
        )
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        own = template["Resources"][logical_id]["Properties"].get("DeploymentPreference", {})
        expected = _resolve(own.get("Alarms", []), conditions)
        assert expected and group.get("AlarmConfiguration") == {
            "Enabled": True,
            "Alarms": [{"Name": alarm} for alarm in expected],
        }, logical_id


@pytest.mark.tool  # cfn-lint
def test_the_production_translation_passes_cfn_lint(prod_translated, tmp_path):
    """Prod's own translation (canary deployment groups, the topic) is valid CloudFormation:
    no dependency cycle between aliases, deployment groups and alarms, no warning."""
    result = cfn_lint(template_write(prod_translated, tmp_path / "prod.json"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_has_a_duration_alarm_near_its_timeout(template):
    """One alarm per function on its p99 (or maximum) Duration, at 70-90 % of its timeout."""
    for logical_id, function in _functions(template).items():
        (alarm_id,) = _watching(template, "Duration", logical_id)
        alarm = _alarms(template)[alarm_id]
        share = alarm["Threshold"] / (function["Timeout"] * 1000)
        assert 0.7 <= share <= 0.9, (logical_id, share)
        assert alarm.get("ExtendedStatistic") == "p99" or alarm.get("Statistic") == "Maximum"
        assert alarm["ComparisonOperator"].startswith("GreaterThan")
        assert alarm["DatapointsToAlarm"] >= 2, logical_id


def test_the_site_functions_errors_are_alarmed(template):
    """The Zappa function (not in this stack) has an errors alarm under its deployed name."""
    site = {"Fn::Sub": SITE_FUNCTION.format(stage="${StageName}")}
    errors = [
        logical_id
        for logical_id, alarm in _alarms(template).items()
        for m in _metrics(alarm)
        if (m["Namespace"], m["MetricName"]) == ("AWS/Lambda", "Errors")
        and m["Dimensions"] == [{"Name": "FunctionName", "Value": site}]
    ]
    assert errors == ["SiteErrorsAlarm"]


def _value(alarm: dict, data: dict[str, float | None]) -> float:
    """What a metric math alarm compares with its threshold, for one period's data points."""
    namespace = {"FILL": lambda x, d: d if x is None else x, "IF": lambda c, a, b: a if c else b}
    namespace.update(data)
    pending = [m for m in alarm["Metrics"] if "Expression" in m]
    while pending:  # expressions may use one another: evaluate those whose inputs are known
        ready = [
            m for m in pending if set(re.findall(r"\b[a-z]\w*", m["Expression"])) <= set(namespace)
        ]
        assert ready, f"unknown ids in {pending}"
        for metric in ready:
            namespace[metric["Id"]] = eval(metric["Expression"], {"__builtins__": {}}, namespace)
            pending.remove(metric)
    (result,) = (m["Id"] for m in alarm["Metrics"] if m.get("ReturnData", True))
    return namespace[result]


@pytest.mark.parametrize("metric", ["IntegrationError", "ClientError", "ExecutionError"])
def test_stage_error_rates_alarm_only_with_traffic(template, metric):
    """The stage's error rate over connects and messages breaches on a busy minute with 20 %
    errors, not on a quiet one where 5 of 10 failed, nor with no errors reported."""
    stage = [
        {"Name": "ApiId", "Value": {"Ref": "ChatApi"}},
        {"Name": "Stage", "Value": {"Ref": "StageName"}},
    ]
    (alarm,) = (
        a for a in _alarms(template).values() if any(m["MetricName"] == metric for m in _metrics(a))
    )
    ids = {
        m["MetricStat"]["Metric"]["MetricName"]: m["Id"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    assert {"ConnectCount", "MessageCount", metric} == set(ids)
    assert all(m["Dimensions"] == stage for m in _metrics(alarm))

    def breaches(connects: float, messages: float, errors: float | None) -> bool:
        data = {ids["ConnectCount"]: connects, ids["MessageCount"]: messages, ids[metric]: errors}
        return _value(alarm, data) > alarm["Threshold"]

    assert breaches(100, 900, 200)
    assert not breaches(2, 8, 5)
    assert not breaches(100, 900, None)
    assert alarm["DatapointsToAlarm"] >= 2


def test_deploy_md_states_the_alarm_count_and_cost(template):
    """DEPLOY.md's cost notes name the number of alarms and the metrics they bill for."""
    alarms = _alarms(template).values()
    metrics = sum(len(_metrics(alarm)) for alarm in alarms)
    text = " ".join((ROOT / "DEPLOY.md").read_text().split())
    assert f"{len(alarms)} alarms reading {metrics} metrics" in text
    assert f"${metrics / 10:.2f} a month" in text
