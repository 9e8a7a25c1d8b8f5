"""The S3 relay (emulator/s3_relay.py): its notifications have the shape of a captured S3 event,
and it refuses POST forms S3 would refuse (bad signature, expired policy, a broken condition)
and presigned requests past their expiry."""

from __future__ import annotations

import time

import boto3
from botocore.config import Config

from emulator.s3_relay import object_created_event, post_policy_check, presigned_expired
from tests.helpers import load_event

SECRETS = {"key": "secret"}


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_the_relays_event_has_the_shape_of_a_captured_s3_event():
    """Same keys and value types as AWS's ObjectCreated:Put event; keys URL-encoded."""
    captured = load_event("s3-object-created")["Records"][0]
    made = object_created_event(
        bucket="b", key="files/a b", size=3, etag='"e"', method="Post", region="us-east-1"
    )["Records"][0]
    assert _shape(made) == _shape(captured)
    assert made["s3"]["object"]["key"] == "files/a+b"


def _form(expires: int = 300, **conditions):
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="key",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    post = client.generate_presigned_post(
        "bucket",
        "files/x",
        Fields={"Content-Type": "image/png"},
        Conditions=[["content-length-range", 1, 10], {"Content-Type": "image/png"}],
        ExpiresIn=expires,
    )
    return post["fields"]


def test_post_forms_are_checked_as_s3_checks_them():
    """A good form passes; a changed key or type, a size out of range, an expired policy, a
    wrong signature or an unknown key are each refused with S3's code."""
    now = time.time()
    fields = _form()
    assert post_policy_check(fields, 5, secrets=SECRETS, now=now) is None
    assert post_policy_check(fields, 11, secrets=SECRETS, now=now).startswith("EntityTooLarge")
    assert post_policy_check(fields, 0, secrets=SECRETS, now=now).startswith("EntityTooLarge")
    for name, value in (("key", "files/y"), ("Content-Type", "text/html")):
        refused = post_policy_check(fields | {name: value}, 5, secrets=SECRETS, now=now)
        assert refused.startswith("AccessDenied") and name in refused
    assert "expired" in post_policy_check(_form(expires=-1), 5, secrets=SECRETS, now=now)
    forged = fields | {"x-amz-signature": "0" * 64}
    assert post_policy_check(forged, 5, secrets=SECRETS, now=now).startswith("Signature")
    assert post_policy_check(fields, 5, secrets={}, now=now).startswith("InvalidAccessKeyId")


def test_presigned_requests_expire():
    """X-Amz-Date plus X-Amz-Expires in the past: expired; a request without them is not."""
    query = {"X-Amz-Date": ["20260601T000000Z"], "X-Amz-Expires": ["300"]}
    signed = time.mktime(time.strptime("20260601T000000Z", "%Y%m%dT%H%M%SZ")) - time.timezone
    assert not presigned_expired(query, signed + 299)
    assert presigned_expired(query, signed + 301)
    assert not presigned_expired({}, time.time())
