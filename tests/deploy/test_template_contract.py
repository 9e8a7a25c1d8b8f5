"""template.yaml, the local gateway and lambdas/handlers agree; the roles are least-privilege."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re

import lambdas.handlers
from emulator.gateway import LocalGateway
from emulator.template import load_template, read_api

# Functions that are not WebSocket routes: the $connect authorizer, the fan-out shards that
# broadcast() invokes through the Lambda API, and the search index the message changes invoke.
NOT_ROUTES = {
    "authorizer": "AuthorizerFunction",
    "fanout": "FanoutFunction",
    "index": "IndexFunction",
    "thumbnail": "ThumbnailFunction",
    "health": "HealthFunction",  # Route 53's health checks, on a function URL
}

MANAGE_CONNECTIONS = re.compile(
    r"^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
    r"\$\{ChatApi\}/\$\{StageName\}/(POST|GET|DELETE)/@connections/\*$"
)


def _functions(template: dict) -> dict[str, dict]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_routes_gateway_and_handler_modules_are_one_set(translated):
    """Route keys in the template (the routes SAM makes of it) = routes the local gateway serves
    = modules in handlers/."""
    in_template = {
        r["Properties"]["RouteKey"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    served = set(LocalGateway(read_api(load_template())).api.routes)
    modules = {
        info.name
        for info in pkgutil.iter_modules(lambdas.handlers.__path__)
        if not info.name.startswith("_") and info.name not in NOT_ROUTES
    }
    assert in_template == served
    assert {key.removeprefix("$") for key in in_template} == modules
    api = read_api(load_template())
    for key, route in api.routes.items():
        assert route.handler == f"lambdas.handlers.{key.removeprefix('$')}.handler"


def test_functions_that_are_not_routes_are_documented_exceptions(template):
    """Handler modules outside the routes are exactly the authorizer, fan-out and index
    functions."""
    handlers = {f["Handler"]: logical_id for logical_id, f in _functions(template).items()}
    routed = {route.handler for route in read_api(load_template()).routes.values()}
    assert {handlers[h] for h in set(handlers) - routed} == set(NOT_ROUTES.values())
    for module, logical_id in NOT_ROUTES.items():
        assert handlers[f"lambdas.handlers.{module}.handler"] == logical_id


# Functions that POST to at most a bounded number of connections, never in shards: the caller's
# own (at most MAX_CONNECTIONS_PER_USER: markread, and a ping carrying a read position), or a
# room's only when it has at most TYPING_MAX_RECIPIENTS others (messages.py typing_send).
BOUNDED_POSTS = {"MarkReadFunction", "PingFunction", "TypingFunction"}


# The functions that store, edit or delete messages (lambdas/services/messages.py): each change
# goes to the search index.
CHANGES_MESSAGES = {"SendMessageFunction", "EditMessageFunction", "DeleteMessageFunction"}


def test_broadcasting_functions_may_invoke_the_fanout_function_only(translated):
    """Every function that may POST to a room's connections can invoke the fan-out alias, those
    that change messages the index alias too, and nothing else."""
    resources = translated["Resources"]
    fanout_alias = {"Ref": "FanoutFunctionAliaslive"}
    index_alias = {"Ref": "IndexFunctionAliaslive"}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        if logical_id in {"FanoutFunction", "IndexFunction"} | BOUNDED_POSTS:
            continue
        role = resources[resource["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        posts = any("/POST/@connections/" in json.dumps(s["Resource"]) for s in statements)
        indexes = logical_id in CHANGES_MESSAGES
        invokes = [s["Resource"] for s in statements if s["Action"] == "lambda:InvokeFunction"]
        expected = ([fanout_alias] if posts else []) + ([index_alias] if indexes else [])
        assert invokes == expected, logical_id
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        assert (variables.get("FANOUT_FUNCTION_NAME") == fanout_alias) == posts, logical_id
        assert (variables.get("INDEX_FUNCTION_NAME") == index_alias) == indexes, logical_id


def test_the_index_function_writes_the_stacks_database_only(translated):
    """The index function names the stack's cluster, secret and database, may call the Data API
    on that cluster, read that secret and send failures to its queue, and nothing else; it is
    retried twice, then its event goes to that queue."""
    resources = translated["Resources"]
    function = resources["IndexFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    cluster = {"Fn::GetAtt": ["DatabaseCluster", "DBClusterArn"]}
    secret = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
    assert variables["SEARCH_DATABASE_ARN"] == cluster
    assert variables["SEARCH_SECRET_ARN"] == secret
    assert variables["SEARCH_DATABASE_NAME"] == {"Ref": "DatabaseName"}
    role = resources[function["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = {
        s["Sid"]: (s["Action"], s["Resource"])
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    }
    assert statements == {
        "IndexWrite": (["rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement"], cluster),
        "DatabaseSecret": ("secretsmanager:GetSecretValue", secret),
        "FailedChanges": ("sqs:SendMessage", {"Fn::GetAtt": ["IndexFailuresQueue", "Arn"]}),
    }
    config = resources["IndexInvokeConfig"]["Properties"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["IndexFailuresQueue", "Arn"]
    }
    cluster_props = resources["DatabaseCluster"]["Properties"]
    assert cluster_props["EnableHttpEndpoint"] is True
    assert cluster_props["ManageMasterUserPassword"] is True
    assert cluster_props["StorageEncrypted"] is True


def test_every_function_handler_imports(template):
    """Each function's Handler names a callable that imports, without Django."""
    for logical_id, function in _functions(template).items():
        module, _, name = function["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), logical_id


def test_every_function_is_bounded_and_logged(template):
    """Each function has reserved concurrency (optional), a log group with retention, JSON logs."""
    resources = template["Resources"]
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"
    assert template["Globals"]["Function"]["AutoPublishAlias"] == "live"
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)
    for logical_id, function in _functions(template).items():
        reserved = function["ReservedConcurrentExecutions"]["Fn::If"]
        assert reserved[2] == {"Ref": "AWS::NoValue"}, logical_id
        group = resources[function["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    hot = {
        logical_id
        for logical_id, function in _functions(template).items()
        if "ProvisionedConcurrencyConfig" in function
    }
    assert hot == {"AuthorizerFunction", "ConnectFunction", "SendMessageFunction"}


def test_stage_throttles_sendmessage_harder_and_logs_without_data_trace(template, translated):
    """Default route throttling, a tighter sendmessage, access logs, and no full-event logging."""
    (stage,) = (
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Stage"
    )
    parameters = template["Parameters"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert stage["RouteSettings"]["sendmessage"]["ThrottlingRateLimit"] == {
        "Ref": "SendMessageRateLimit"
    }
    default_rate = parameters["ThrottlingRateLimit"]["Default"]
    assert parameters["SendMessageRateLimit"]["Default"] < default_rate
    assert stage["DefaultRouteSettings"]["DataTraceEnabled"] is False
    assert "querystring" not in json.dumps(stage["AccessLogSettings"]).lower()


def test_one_least_privilege_role_per_function(translated):
    """Each function has its own role; @connections only on this API's stage; no "*" resources."""
    resources = translated["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(functions) == 17
    for role in [*roles, "SiteRole"]:
        for policy in resources[role]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                targets = statement["Resource"]
                targets = targets if isinstance(targets, list) else [targets]
                assert "*" not in targets, (role, statement)
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                assert not any(action.endswith(":*") for action in actions), (role, statement)
                if "execute-api:ManageConnections" in actions:
                    for target in targets:
                        assert MANAGE_CONNECTIONS.match(target["Fn::Sub"]), (role, target)


def test_the_authorizer_reads_its_keys_from_ssm_only(translated):
    """The authorizer may read one SSM parameter and nothing else (no table, no @connections)."""
    role = translated["Resources"]["AuthorizerFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [s["Action"] for s in statements] == ["ssm:GetParameter"]
    assert statements[0]["Resource"]["Fn::Sub"].endswith(
        ":parameter${TokenPublicKeysParameterName}"
    )


def test_alarms_cover_functions_tables_and_the_api(template):
    """Errors and throttles of every function, throttling of every table, and one alarm for each
    of the stage's error kinds: refused by API Gateway (4xx), its calls failing (5xx), and
    error statuses from the functions (tests/deploy/test_template_alarms.py: the rest)."""
    alarms = [
        json.dumps(r["Properties"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        # The scaling alarms act on provisioned concurrency, not on people (the topic).
        and r.get("Condition") != "ScaleConcurrency"
    ]
    for logical_id in _functions(template):
        for metric in ("Errors", "Throttles"):
            assert any(logical_id in a and f'"{metric}"' in a for a in alarms), (logical_id, metric)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert any(logical_id in a and "ThrottleEvents" in a for a in alarms), logical_id
    assert sum("ClientError" in a for a in alarms) == 1
    assert sum("ExecutionError" in a for a in alarms) == 1
    assert sum("IntegrationError" in a for a in alarms) == 1
    assert all("AlarmTopicArn" in a for a in alarms)


def test_outputs_name_what_the_site_needs(template):
    """The outputs the deploy command wires into the Zappa stage, and every function's ARN."""
    outputs = template["Outputs"]
    assert {"WebSocketUrl", "ManagementEndpoint", "TablePrefix", "SiteRoleArn"} <= set(outputs)
    for logical_id in _functions(template):
        assert f"{logical_id}Arn" in outputs


def test_the_database_is_private_encrypted_backed_up_and_protected_in_production(template):
    """The cluster pauses when idle, keeps its credentials in Secrets Manager, is encrypted and
    backed up, protected from deletion in prod (a snapshot on delete everywhere), and reachable
    on 5432 from the site's security group only; the site's group opens nothing inward."""
    resources = template["Resources"]
    cluster = resources["DatabaseCluster"]
    props = cluster["Properties"]
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    assert props["DeletionProtection"] == {"Fn::If": ["IsProduction", True, False]}
    assert props["BackupRetentionPeriod"]["Fn::If"][0] == "IsProduction"
    assert props["StorageEncrypted"] is True and props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props
    assert template["Parameters"]["DatabaseMinCapacity"]["Default"] == 0
    scaling = props["ServerlessV2ScalingConfiguration"]
    assert scaling["MinCapacity"] == {"Ref": "DatabaseMinCapacity"}
    assert scaling["MaxCapacity"] == {"Ref": "DatabaseMaxCapacity"}
    assert resources["DatabaseInstance"]["Properties"]["PubliclyAccessible"] is False
    ingress = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"
    ]
    assert ingress == [
        {
            "GroupId": {"Ref": "DatabaseSecurityGroup"},
            "Description": "PostgreSQL from the site's functions",
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "SourceSecurityGroupId": {"Ref": "SiteSecurityGroup"},
        }
    ]
    for group in ("SiteSecurityGroup", "DatabaseSecurityGroup"):
        assert "SecurityGroupIngress" not in resources[group]["Properties"], group
    private = [resources[s]["Properties"] for s in ("PrivateSubnetA", "PrivateSubnetB")]
    assert all(subnet["MapPublicIpOnLaunch"] is False for subnet in private)
