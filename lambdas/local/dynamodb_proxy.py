"""DynamoDB as each function's role allows it: the gateway's proxy in front of dynalite.

With IAM enforced (process mode), a function whose environment names a DynamoDB endpoint gets
the gateway's `/_dynamodb/N` instead, which stands for that endpoint. A call signed with a
function's credentials is authorized against the function's role first (lambdas/local/iam.py):
the operation's action on every table or index it names, as IAM authorizes it (a Query of an
index is `dynamodb:Query` on `…:table/T/index/I`; a BatchWriteItem is `dynamodb:BatchWriteItem`
on each table of its RequestItems; a TransactWriteItems is each item's own action). A call the
role does not allow gets DynamoDB's answer, 400 AccessDeniedException; any other is forwarded
byte for byte, and so is the answer (botocore checks its CRC32).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from lambdas.local.iam import ACCOUNT_ID

if TYPE_CHECKING:
    from lambdas.local.iam import Iam
    from lambdas.local.settings import Settings

TARGET = "DynamoDB_20120810."
# Transactions: each item's action, as IAM authorizes them.
TRANSACT_ACTIONS = {
    "Get": "GetItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Answers are passed on as they are, except for what aiohttp sets itself.
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "date", "server", "host"}


def authorizations(operation: str, body: dict, *, region: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs IAM checks for one DynamoDB request."""

    def arn(table: object, index: object = None) -> str:
        resource = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
        return f"{resource}/index/{index}" if index else resource

    if operation in ("BatchGetItem", "BatchWriteItem"):
        items = body.get("RequestItems")
        tables = list(items) if isinstance(items, dict) else []
        return [(f"dynamodb:{operation}", arn(table)) for table in tables]
    if operation in ("TransactGetItems", "TransactWriteItems"):
        pairs = []
        for item in body.get("TransactItems") or []:
            for kind, request in item.items() if isinstance(item, dict) else []:
                if kind in TRANSACT_ACTIONS and isinstance(request, dict):
                    action = f"dynamodb:{TRANSACT_ACTIONS[kind]}"
                    pairs.append((action, arn(request.get("TableName"))))
        return pairs
    if "TableName" in body:
        return [(f"dynamodb:{operation}", arn(body["TableName"], body.get("IndexName")))]
    return [(f"dynamodb:{operation}", "*")]  # ListTables, DescribeLimits, …


class DynamoDbProxy:
    """POST /_dynamodb/{upstream}, for LocalGateway."""

    iam: Iam | None
    settings: Settings
    host: str
    port: int | None
    _dynamodb_upstreams: list[str]
    _dynamodb_session: aiohttp.ClientSession | None

    def dynamodb_endpoint(self, upstream: str) -> str:
        """The gateway's URL standing for the DynamoDB endpoint `upstream`."""
        if upstream not in self._dynamodb_upstreams:
            self._dynamodb_upstreams.append(upstream)
        return (
            f"http://{self.host}:{self.port}/_dynamodb/{self._dynamodb_upstreams.index(upstream)}"
        )

    async def dynamodb(self, request: web.Request) -> web.Response:
        try:
            upstream = self._dynamodb_upstreams[int(request.match_info["upstream"])]
        except (ValueError, IndexError):
            return web.Response(status=404)
        body = await request.read()
        function = self.iam.caller(request.headers.get("Authorization")) if self.iam else None
        if function is not None and (denied := self._dynamodb_denied(function, request, body)):
            return denied
        if self._dynamodb_session is None:
            self._dynamodb_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            async with self._dynamodb_session.post(upstream, data=body, headers=headers) as answer:
                data = await answer.read()
                passed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        except aiohttp.ClientConnectionError:
            # DynamoDB cannot be reached: the function's connection fails, as it would without
            # us in between (botocore retries, then raises a connection error).
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=502)
        return web.Response(status=answer.status, body=data, headers=passed)

    def _dynamodb_denied(
        self, function: str, request: web.Request, body: bytes
    ) -> web.Response | None:
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET):
            return None  # not a DynamoDB call: DynamoDB answers it
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return None  # DynamoDB answers with its own SerializationException
        document = document if isinstance(document, dict) else {}
        operation = target.removeprefix(TARGET)
        for action, resource in authorizations(operation, document, region=self.settings.region):
            if not self.iam.allows(function, action, resource):
                message = self.iam.denial(function, action, resource)
                error = {"__type": "com.amazon.coral.service#AccessDeniedException"}
                return web.json_response(
                    error | {"Message": message},
                    status=400,
                    content_type="application/x-amz-json-1.0",
                )
        return None

    async def dynamodb_close(self) -> None:
        if self._dynamodb_session is not None:
            await self._dynamodb_session.close()
            self._dynamodb_session = None
