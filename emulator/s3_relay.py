"""A relay in front of a local S3 server (moto's server mode) that does what moto does not: it
refuses browser uploads (presigned POSTs) whose policy is expired, whose signature is wrong or
whose fields or size break the policy's conditions, and presigned GETs past their expiry; it
applies a POST's `tagging` field (moto ignores it); and it delivers object-created
notifications, in the shape of AWS's S3 event ("Event message structure"), to `notify`.

moto 5.2 checks none of a POST policy's conditions, its expiry, or a presigned URL's expiry
(verified against its server: every one answered 204 or 200), so without this relay tests could
not see the refusals S3 makes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def _error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def post_policy_check(
    fields: dict[str, str], size: int, *, secrets: dict[str, str], now: float
) -> str | None:
    """Why S3 would refuse this POST form (None: it would take it)."""
    try:
        policy_text = base64.b64decode(fields["policy"])
        policy = json.loads(policy_text)
        credential = fields["x-amz-credential"]
        signature = fields["x-amz-signature"]
    except (KeyError, ValueError):
        return "AccessDenied:a POST needs a policy and its signature"
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if expiration.timestamp() < now:
        return "AccessDenied:Invalid according to Policy: Policy expired."
    access_key, date, region, *_ = credential.split("/")
    secret = secrets.get(access_key)
    if secret is None:
        return "InvalidAccessKeyId:the access key is unknown"
    expected = hmac.new(
        _signing_key(secret, date, region), fields["policy"].encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch:the policy's signature does not match"
    lowered = {name.lower(): value for name, value in fields.items()}
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            op = "eq"
        elif condition[0] == "content-length-range":
            if not condition[1] <= size <= condition[2]:
                return "EntityTooLarge:Invalid according to Policy: content-length-range"
            continue
        else:
            op, name, value = condition
            name = name.lstrip("$")
        given = lowered.get(name.lower(), "")
        if name.lower() == "bucket":
            continue  # the URL's, checked by the server
        if (op == "eq" and given != value) or (op == "starts-with" and not given.startswith(value)):
            return f"AccessDenied:Invalid according to Policy: Policy Condition failed: {name}"
    return None


def presigned_expired(query: dict[str, list[str]], now: float) -> bool:
    """Whether a presigned (query-signed) request's X-Amz-Date + X-Amz-Expires has passed."""
    if "X-Amz-Date" not in query or "X-Amz-Expires" not in query:
        return False
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed.timestamp() + int(query["X-Amz-Expires"][0]) < now


def object_created_event(
    *, bucket: str, key: str, size: int, etag: str, method: str, region: str
) -> dict:
    """An S3 notification as AWS delivers it to Lambda (tests/events/s3-object-created.json)."""
    now = datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": f"ObjectCreated:{method}",
                "userIdentity": {"principalId": "AWS:LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": uuid.uuid4().hex,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        # Keys arrive URL-encoded (spaces as +), as AWS sends them.
                        "key": key.replace(" ", "+"),
                        "size": size,
                        "eTag": etag.strip('"'),
                        "sequencer": f"{time.time_ns():016X}",
                    },
                },
            }
        ]
    }


class S3Relay:
    """Listens on 127.0.0.1 (port 0: any) and forwards every request to `upstream`; see the
    module's docstring for what it adds. `notify(event)` is called for each object created under
    one of `prefixes` (all when empty), from the request's thread, after S3's answer is sent."""

    def __init__(
        self,
        upstream: str,
        *,
        secrets: dict[str, str],
        notify: Callable[[dict], None] | None = None,
        prefixes: tuple[str, ...] = (),
        region: str = "us-east-1",
        port: int = 0,
    ):
        self.upstream = urlsplit(upstream)
        self.secrets, self.notify, self.prefixes, self.region = secrets, notify, prefixes, region
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                relay._handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> S3Relay:
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="s3-relay", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread = None
        self.server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        refusal = None
        form: dict[str, str] | None = None
        file_size = 0
        if request.command == "POST" and "multipart/form-data" in (
            request.headers.get("Content-Type") or ""
        ):
            form, file_size = _form(request.headers.get("Content-Type"), body)
            refusal = post_policy_check(form, file_size, secrets=self.secrets, now=time.time())
        elif request.command in ("GET", "HEAD") and presigned_expired(query, time.time()):
            refusal = "AccessDenied:Request has expired"
        if refusal:
            code, _, message = refusal.partition(":")
            self._answer(
                request, 403 if code != "EntityTooLarge" else 400, {}, _error(code, message)
            )
            return
        status, headers, answer = self._forward(request, body)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        ok = 200 <= status < 300
        if ok and form is not None:
            key = form.get("key", "")
            # Before the answer: S3 stores the tags with the object, never after it.
            if form.get("tagging"):
                self._tag(bucket, key, form["tagging"])
        self._answer(request, status, headers, answer)
        if not ok:
            return
        if form is not None:
            self._created(bucket, key, file_size, headers.get("etag", ""), "Post")
        elif request.command == "PUT" and key and not query:
            if "x-amz-copy-source" in request.headers:
                self._created(bucket, key, 0, "", "Copy")
            else:
                self._created(bucket, key, len(body), headers.get("etag", ""), "Put")

    def _created(self, bucket: str, key: str, size: int, etag: str, method: str) -> None:
        if self.notify is None or (self.prefixes and not key.startswith(self.prefixes)):
            return
        event = object_created_event(
            bucket=bucket, key=key, size=size, etag=etag, method=method, region=self.region
        )
        try:
            self.notify(event)
        except Exception as exc:  # S3 never fails an upload for a notification it could not send
            logger.warning("S3 notification for %s/%s not delivered: %s", bucket, key, exc)

    def _tag(self, bucket: str, key: str, xml: str) -> None:
        """What S3 does with a POST's `tagging` field (moto drops it)."""
        import xml.etree.ElementTree as ElementTree

        import boto3

        tags = [
            {"Key": tag.findtext("Key"), "Value": tag.findtext("Value") or ""}
            for tag in ElementTree.fromstring(xml).iter("Tag")
        ]
        client = boto3.client(
            "s3",
            endpoint_url=self.upstream.geturl(),
            region_name=self.region,
            aws_access_key_id="relay",
            aws_secret_access_key="relay",
        )
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["Host"] = request.headers.get("Host", "")
        try:
            connection.request(request.command, request.path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, answer
        finally:
            connection.close()

    def _answer(
        self, request: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name not in HOP_HEADERS and name not in ("server", "date"):
                request.send_header(name, value)
        if request.command != "HEAD":
            request.send_header("Content-Length", str(len(body)))
        elif "content-length" in headers:
            request.send_header("Content-Length", headers["content-length"])
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], int]:
    """A multipart form's text fields and its file's size."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    size = 0
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            size = len(payload)
        elif name:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, size
