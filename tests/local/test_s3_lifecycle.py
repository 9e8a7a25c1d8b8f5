"""The uploads bucket's lifecycle rules, read from template.yaml, applied to the local S3
(emulator/s3_lifecycle.py): an abandoned upload (original and thumbnail still tagged unsent)
is expired once the rule's days have passed to midnight UTC, a sent one (its tags removed) is
kept, an incomplete multipart upload is aborted; a rule the sweeper would not apply is refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from devstack.s3 import BUCKET_RESOURCE
from emulator.s3_lifecycle import DAY, Rule, UnsupportedRule, due, lifecycle_rules
from emulator.template import load_template
from lambdas.services import uploads
from tests.helpers import recv_json
from tests.lambdas.test_message_files import objects, tags, uploaded
from tests.lambdas.test_thumbnails import png


def test_the_templates_rules_are_the_ones_applied():
    template = load_template()
    declared = template["Resources"][BUCKET_RESOURCE]["Properties"]["LifecycleConfiguration"]
    rules = lifecycle_rules(template, BUCKET_RESOURCE)
    assert [r.id for r in rules] == [r["Id"] for r in declared["Rules"]]
    unsent, multipart = rules
    assert unsent == Rule(id="expire-unsent", tags={"unsent": "1"}, expire_days=1)
    assert multipart == Rule(id="abort-incomplete-multipart", abort_multipart_days=1)
    # The tag the rule filters on is the one uploads put and sending removes.
    assert unsent.tags == dict([uploads.UNSENT_TAG])


def test_a_rule_the_sweeper_would_not_apply_is_refused():
    template = load_template()
    bucket = template["Resources"][BUCKET_RESOURCE]["Properties"]
    bucket["LifecycleConfiguration"]["Rules"].append(
        {"Id": "cold", "Status": "Enabled", "Transitions": [{"StorageClass": "GLACIER"}]}
    )
    with pytest.raises(UnsupportedRule, match="'cold': Transitions is not applied"):
        lifecycle_rules(template, BUCKET_RESOURCE)
    bucket["LifecycleConfiguration"]["Rules"][-1]["Status"] = "Disabled"
    with pytest.raises(UnsupportedRule):  # refused even while disabled: it may be enabled
        lifecycle_rules(template, BUCKET_RESOURCE)


def test_days_count_to_the_next_midnight_utc():
    made = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert due(made, 1) == datetime(2026, 3, 3, tzinfo=UTC)
    assert due(datetime(2026, 3, 1, tzinfo=UTC), 1) == datetime(2026, 3, 2, tzinfo=UTC)


def test_an_abandoned_upload_expires_and_a_sent_one_is_kept(s3, connect, room, monkeypatch):
    """Given an upload never sent and one sent in a message, both with their thumbnails, and an
    object under no rule's tag; when the sweeper runs a day on (not yet due) and then two days
    on, then only the abandoned upload's objects are gone, and an incomplete multipart upload
    is aborted. (Two days on, any unsent object left in the session's bucket goes too.)"""
    alice = connect(room, user_id="1", username="alice")
    abandoned = uploaded(png(80, 60), room=room)
    sent = uploaded(png(60, 80), room=room)
    alice.send(json.dumps({"action": "sendmessage", "files": [sent]}))
    assert recv_json(alice, skip=("presence", "unread"))["type"] == "message"
    client, bucket = uploads.s3_client(), uploads._bucket()
    client.put_object(Bucket=bucket, Key=f"other/{room}", Body=b"x")
    multipart = client.create_multipart_upload(Bucket=bucket, Key=f"files/{room}-parts")
    gone = {f"files/{abandoned}", f"thumbs/{abandoned}.webp"}
    kept = {f"files/{sent}", f"thumbs/{sent}.webp", f"other/{room}"}
    assert all(tags(key) == [{"Key": "unsent", "Value": "1"}] for key in gone)
    assert all(tags(key) == [] for key in kept)

    later = time.time()
    monkeypatch.setattr(s3.lifecycle, "clock", lambda: later)
    s3.lifecycle.sweep()  # now: lists the multipart upload (moto does not say when it began)
    later += DAY
    swept = s3.lifecycle.sweep()
    assert not gone & set(swept.expired) and gone | kept <= objects()
    assert f"files/{room}-parts" not in swept.aborted

    later = time.time() + 2 * DAY
    swept = s3.lifecycle.sweep()
    assert gone <= set(swept.expired) and not kept & set(swept.expired)
    assert not gone & objects() and kept <= objects()
    assert f"files/{room}-parts" in swept.aborted
    uploads_left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert multipart["UploadId"] not in {u["UploadId"] for u in uploads_left}
    client.delete_object(Bucket=bucket, Key=f"other/{room}")
