"""The gateway learns routes, route selection and the authorizer from template.yaml alone: as
CloudFormation deploys it, after SAM's transform."""

import copy
from pathlib import Path

import pytest

from emulator.gateway import LocalGateway
from emulator.template import TemplateError, load_template, read_api, translate


def test_template_routes_resolve_to_handlers():
    """Every route of the template resolves to its handler; $connect carries the authorizer."""
    api = read_api(load_template())
    assert api.selection_expression == "$request.body.action"
    assert {key: route.handler.split(".")[-2] for key, route in api.routes.items()} == {
        "$connect": "connect",
        "$disconnect": "disconnect",
        "$default": "default",
        "sendmessage": "sendmessage",
        "history": "history",
        "ping": "ping",
        "typing": "typing",
        "editmessage": "editmessage",
        "react": "react",
        "markread": "markread",
        "deletemessage": "deletemessage",
        "presence": "presence",
    }
    connect = api.routes["$connect"]
    assert connect.authorizer.handler == "lambdas.handlers.authorizer.handler"
    assert connect.authorizer.identity_sources == ("route.request.querystring.token",)
    assert all(api.routes[k].two_way for k in ("sendmessage", "history", "ping", "$default"))
    assert not api.routes["$connect"].two_way and not api.routes["$disconnect"].two_way


def test_a_route_added_to_the_template_is_served():
    """Adding a Route + Integration to the template makes the gateway select that route."""
    template = copy.deepcopy(load_template())
    resources = template["Resources"]
    resources["EchoRoute"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": {"Ref": "ChatApi"},
            "RouteKey": "echo",
            "Target": {"Fn::Sub": "integrations/${EchoIntegration}"},
        },
    }
    resources["EchoIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {"IntegrationUri": {"Fn::Sub": "arn:...:${PingFunction.Arn}/invocations"}},
    }
    gateway = LocalGateway(read_api(template))
    assert gateway.api.routes["echo"].handler == "lambdas.handlers.ping.handler"
    assert gateway.select_route('{"action": "echo"}') == "echo"
    assert gateway.select_route('{"action": "nope"}') == "$default"
    assert gateway.select_route('{"action": "$connect"}') == "$default"
    assert gateway.select_route("[1]") == "$default"
    assert gateway.select_route("not json") == "$default"


def test_a_route_without_an_integration_is_an_error():
    """A route whose target names no integration is reported, not silently skipped."""
    template = translate(load_template())  # what CloudFormation deploys: the routes SAM made
    template["Resources"]["ChatApiPingRoute"]["Properties"]["Target"] = "integrations/nothing"
    with pytest.raises(TemplateError, match="route ping"):
        read_api(template)


def test_the_routes_are_what_sam_makes_of_the_websocket_api():
    """A route added to the AWS::Serverless::WebSocketApi's Routes is served, with its function
    found through the alias SAM's integration names; nothing is read from the SAM resource
    itself (the local gateway serves what CloudFormation would deploy)."""
    template = copy.deepcopy(load_template())
    api = template["Resources"]["ChatApi"]["Properties"]
    api["Routes"]["echo"] = {"FunctionArn": {"Ref": "PingFunction.Alias"}}
    read = read_api(template)
    assert read.routes["echo"].function == "PingFunction"
    assert not read.routes["echo"].two_way  # no RouteResponse: one-way, as on AWS
    assert read.routes["echo"].authorizer is None  # SAM's Auth is the $connect route's only
    api["RouteSettings"]["echo"] = {"ThrottlingRateLimit": 1, "ThrottlingBurstLimit": 2}
    assert read_api(template).throttles.of("echo").burst == 2


def test_a_template_sam_refuses_is_refused_with_sams_reason():
    """What the transform would refuse at deploy time, the local gateway refuses at load."""
    template = copy.deepcopy(load_template())
    routes = template["Resources"]["ChatApi"]["Properties"]["Routes"]
    routes["send-message"] = routes["sendmessage"]
    with pytest.raises(TemplateError, match="SAM transform failed.*must be alphanumeric"):
        read_api(template)


def test_functions_that_are_not_routes_are_found_by_name_or_arn():
    """The fan-out function is listed with its handler; the variables naming it resolve to it."""
    api = read_api(load_template())
    fanout = api.functions["FanoutFunction"]
    assert fanout.handler == "lambdas.handlers.fanout.handler"
    # `!Ref FanoutFunction.Alias`: the alias, as Invoke names it (its ARN is what IAM grants);
    # the function is named (`${AWS::StackName}-fanout`) so that it can name itself.
    assert fanout.name == "local-fanout"
    assert api.function_variables == {
        "FANOUT_FUNCTION_NAME": "local-fanout:live",
        "INDEX_FUNCTION_NAME": "IndexFunction:live",
    }
    assert fanout.answers_to("FanoutFunction") and fanout.answers_to("FanoutFunction:live")
    assert fanout.answers_to("local-fanout:live")
    assert fanout.answers_to("arn:aws:lambda:us-east-1:000000000000:function:FanoutFunction:live")
    assert not fanout.answers_to("SendMessageFunction")
    assert not fanout.answers_to("arn:aws:lambda:us-east-1:000000000000:function:Other")


# -- other people's templates ------------------------------------------------------------------

FOREIGN = Path(__file__).parent / "projects" / "chat-sample" / "template.yaml"


@pytest.fixture
def foreign(tmp_path):
    """A SAM project as the AWS samples lay one out: a folder per function, both named app.py."""
    (tmp_path / "template.yaml").write_text(FOREIGN.read_text())
    return tmp_path


def test_a_foreign_projects_functions_are_read_as_lambda_would_run_them(foreign):
    """Both function types, each its own CodeUri; Globals, intrinsics and the Stage resolved."""
    api = read_api(load_template(foreign / "template.yaml"), template_dir=foreign)
    connect, send = api.functions["ConnectFn"], api.functions["SendFn"]
    assert (connect.code_uri, send.code_uri) == (foreign / "connect", foreign / "send")
    assert api.routes["$connect"].function == "ConnectFn"
    assert api.routes["sendmessage"].function == "SendFn"
    assert (connect.runtime, connect.timeout, connect.memory_size) == ("python3.12", 9, 256)
    assert (send.runtime, send.timeout, send.reserved_concurrency) == ("python3.13", 20, 2)
    assert connect.environment == {
        "SHARED": "from-globals",
        "OVERRIDDEN": "own",
        "TABLE_NAME": "chat-prod-conns",
        "TABLE_ARN": "arn:aws:dynamodb:us-east-1:000000000000:table/chat-prod-conns",
        "URL": "https://local.execute-api.us-east-1.amazonaws.com/prod",
    }
    assert send.environment == {}  # Globals are SAM's: AWS::Lambda::Function takes none
    assert api.stage == "prod"
    assert api.selection_path == ("action",)


def test_parameters_override_the_defaults(foreign):
    api = read_api(
        load_template(foreign / "template.yaml"), template_dir=foreign, parameters={"Stage": "x"}
    )
    assert api.stage == "x"
    assert api.functions["ConnectFn"].environment["TABLE_NAME"] == "chat-x-conns"


def test_a_route_to_a_function_that_is_not_python_is_refused_at_load(foreign):
    template = load_template(foreign / "template.yaml")
    template["Resources"]["SendFn"]["Properties"]["Runtime"] = "nodejs20.x"
    with pytest.raises(TemplateError, match="SendFn has runtime nodejs20.x"):
        read_api(template, template_dir=foreign)


@pytest.mark.parametrize("expression", ["$request.body", "$request.header.x", "action"])
def test_an_unsupported_selection_expression_fails_at_load(foreign, expression):
    template = load_template(foreign / "template.yaml")
    template["Resources"]["Api"]["Properties"]["RouteSelectionExpression"] = expression
    with pytest.raises(TemplateError, match="route selection expression"):
        read_api(template, template_dir=foreign)


def test_our_template_resolves_for_the_local_stage():
    """Our functions run from the source tree, with the local stage's table names."""
    from emulator.template import DEFAULT_TEMPLATE

    root = DEFAULT_TEMPLATE.parent
    api = read_api(load_template(), code_dir=root, parameters={"StageName": "local"})
    assert api.stage == "local"
    send = api.functions["SendMessageFunction"]
    assert send.code_uri == root
    assert send.environment["TABLE_PREFIX"] == "dynamowave-local-"
    assert send.environment["FANOUT_FUNCTION_NAME"] == "local-fanout:live"
    assert api.functions["FanoutFunction"].environment["FANOUT_FUNCTION_NAME"] == (
        "local-fanout:live"
    )
    assert send.timeout == 29
    assert "FANOUT_FUNCTION_NAME" not in api.functions["ConnectFunction"].environment


def test_a_translation_is_the_callers_own():
    """translate() hands out copies: changing one changes neither the template nor the next."""
    template = load_template()
    first = translate(template)
    assert "Transform" in template and "ChatApi" in template["Resources"]
    assert first["Resources"]["ChatApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    del first["Resources"]["ChatApiPingRoute"]
    assert "ChatApiPingRoute" in translate(template)["Resources"]
    assert template["Resources"]["ChatApi"]["Type"] == "AWS::Serverless::WebSocketApi"


def test_asynchronous_invocations_follow_each_functions_event_invoke_config():
    """Retries, event age and the on-failure destination come from the template's
    AWS::Lambda::EventInvokeConfig of the function; others get Lambda's defaults."""
    functions = read_api(load_template()).functions
    fanout, index, send = (
        functions[name] for name in ("FanoutFunction", "IndexFunction", "SendMessageFunction")
    )
    assert (fanout.max_retry_attempts, fanout.max_event_age) == (0, 60)
    assert fanout.on_failure.endswith(":FanoutFailuresQueue")
    assert (index.max_retry_attempts, index.max_event_age) == (2, 3600)
    assert index.on_failure.endswith(":IndexFailuresQueue")
    assert (send.max_retry_attempts, send.max_event_age, send.on_failure) == (2, 21600, None)
