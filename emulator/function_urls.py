"""Lambda function URLs on the local gateway: the template's AWS::Lambda::Url resources (what SAM
makes of a function's FunctionUrlConfig), each served under `/@url/<LogicalId>/` as its own host
would serve it on AWS (`https://<url-id>.lambda-url.<region>.on.aws/`): a payload format 2.0
event, the answer's statusCode, headers and body.

Only AuthType NONE answers; an AWS_IAM URL is refused (403) as an unsigned request would be.
"""

from __future__ import annotations

import base64
import json

from aiohttp import web

from emulator import events
from emulator.functions import FunctionError
from emulator.pool import Throttled

PREFIX = "/@url/"
MAX_BODY = 6 * 1024 * 1024  # a synchronous invocation's payload limit


def url_id(logical_id: str) -> str:
    """A stand-in for the URL's id (32 lowercase characters on AWS), stable per function."""
    return (logical_id.lower() + "0" * 32)[:32]


def function_url_event(request: web.Request, *, logical_id: str, path: str, body: bytes) -> dict:
    """The event Lambda gives a function behind its URL (request payload format 2.0)."""
    epoch = events.now_ms()
    host = f"{url_id(logical_id)}.lambda-url.us-east-1.on.aws"
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = host
    source_ip = request.remote or "127.0.0.1"
    text = body.decode("utf-8", errors="strict") if body else None
    event: dict = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": request.query_string,
        "headers": headers,
    }
    if request.query:
        event["queryStringParameters"] = {
            k: ",".join(request.query.getall(k)) for k in request.query
        }
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": url_id(logical_id),
        "domainName": host,
        "domainPrefix": url_id(logical_id),
        "http": {
            "method": request.method,
            "path": path,
            "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
            "sourceIp": source_ip,
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": events.new_id(36),
        "routeKey": "$default",
        "stage": "$default",
        "time": events.request_time(epoch),
        "timeEpoch": epoch,
    }
    if text is not None:
        event["body"] = text
    event["isBase64Encoded"] = False
    return event


def url_response(result: object) -> web.Response:
    """The HTTP answer for what the function returned: a dict with statusCode is a response;
    anything else is the body of a 200 as JSON (Lambda's rule for function URLs)."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = web.Response(status=int(result["statusCode"]), body=data)
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        return response
    return web.Response(
        status=200, body=json.dumps(result).encode(), content_type="application/json"
    )


class FunctionUrls:
    """The gateway's side: answers `/@url/<LogicalId>/…` (LocalGateway mixes it in)."""

    api: object

    async def function_url(self, request: web.Request) -> web.Response:
        logical_id = request.match_info["function"]
        url = self.api.function_urls.get(logical_id)
        if url is None:
            return web.json_response({"Message": "Forbidden"}, status=403)
        if url.auth_type != "NONE":
            return web.json_response({"Message": "Forbidden"}, status=403)  # unsigned here
        body = await request.read()
        if len(body) > MAX_BODY:
            return web.json_response({"Message": "Request Too Long"}, status=413)
        path = "/" + request.match_info["path"]
        event = function_url_event(request, logical_id=logical_id, path=path, body=body)
        try:
            result = await self.invoke(self.function(logical_id), event)
        except Throttled:
            return web.json_response({"Message": "Rate Exceeded."}, status=429)
        except FunctionError:
            return web.json_response({"Message": "Internal Server Error"}, status=502)
        return url_response(result)
