"""REQUEST authorizer on `$connect`: allow the connection if `?token=` is a valid site token."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponseWebSocket,
)

from lambdas.config import get_config
from lambdas.metrics import metric_count, with_metrics
from lambdas.tokens import InvalidToken, token_verify

logger = Logger(service="dynamowave")


@with_metrics
def handler(event: dict, context: object) -> dict:
    request = APIGatewayAuthorizerRequestEvent(event)
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    config = get_config()
    try:
        user = token_verify(
            (request.query_string_parameters or {}).get("token"),
            public_keys=config.token_public_keys,
            issuer=config.token_issuer,
            audience=config.token_audience,
            max_lifetime=config.token_max_lifetime_seconds,
        )
    except InvalidToken as reason:
        # Deny rather than raise: a raised error counts as a function error in metrics.
        # The reason is ours (e.g. "ExpiredSignatureError"), never the token itself.
        logger.info("connection denied", extra={"reason": str(reason)})
        metric_count("ConnectionsDenied")
        policy = APIGatewayAuthorizerResponseWebSocket.from_route_arn(
            request.method_arn, "anonymous"
        )
        policy.deny_all_routes()
        return policy.asdict()
    context = {
        "userId": user.user_id,
        "username": user.username,
        "isStaff": user.is_staff,
        "issuedAt": user.issued_at,  # $connect refuses tokens issued before a ban
    }
    if user.session_id is not None:  # API Gateway refuses a null context value (a 500)
        context["sessionId"] = user.session_id  # $connect refuses a logged-out session's
    policy = APIGatewayAuthorizerResponseWebSocket.from_route_arn(
        request.method_arn, user.user_id, context=context
    )
    policy.allow_all_routes()
    return policy.asdict()
