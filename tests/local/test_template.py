"""The gateway learns routes, route selection and the authorizer from template.yaml alone."""

import copy

import pytest

from lambdas.local.gateway import LocalGateway
from lambdas.local.template import TemplateError, load_template, read_api


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
            "ApiId": {"Ref": "WebSocketApi"},
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
    template = copy.deepcopy(load_template())
    template["Resources"]["PingRoute"]["Properties"]["Target"] = "integrations/nothing"
    with pytest.raises(TemplateError, match="route ping"):
        read_api(template)


def test_functions_that_are_not_routes_are_found_by_name_or_arn():
    """The fan-out function is listed with its handler; the variables naming it resolve to it."""
    api = read_api(load_template())
    fanout = api.functions["FanoutFunction"]
    assert fanout.handler == "lambdas.handlers.fanout.handler"
    assert api.function_variables == {"FANOUT_FUNCTION_NAME": "FanoutFunction"}
    assert fanout.answers_to("FanoutFunction")
    assert fanout.answers_to("FanoutFunction:live")
    assert fanout.answers_to("arn:aws:lambda:us-east-1:123456789012:function:FanoutFunction:live")
    assert not fanout.answers_to("SendMessageFunction")
    assert not fanout.answers_to("arn:aws:lambda:us-east-1:123456789012:function:Other")
