"""Messages with files, through the local gateway and S3: a message carries its sender's ready
uploads of its room (a caption optional), everyone in the room hears them in its frame, their
objects lose the unsent tag; anything else is refused; deleting the message deletes them."""

from __future__ import annotations

import json

import pytest
import requests

from lambdas.models import Upload
from lambdas.services import uploads
from tests.helpers import recv_json, wait_for
from tests.lambdas.test_thumbnails import png


def uploaded(data: bytes, *, room: str, user_id: str = "1", type: str = "image/png") -> str:
    """A checked upload of the user's in the room (waits for the thumbnail function)."""
    post = uploads.upload_create(
        user_id=user_id, room=room, name="shot.png", size=len(data), type=type
    )
    response = requests.post(post.url, data=post.fields, files={"file": ("f", data)}, timeout=30)
    assert response.status_code == 204
    wait_for(lambda: Upload.get(post.upload.id, consistent_read=True).state != "pending")
    return post.upload.id


def objects() -> set[str]:
    listed = uploads.s3_client().list_objects_v2(Bucket=uploads._bucket())
    return {item["Key"] for item in listed.get("Contents", [])}


def tags(key: str) -> list[dict]:
    return uploads.s3_client().get_object_tagging(Bucket=uploads._bucket(), Key=key)["TagSet"]


def test_a_message_carries_files_and_deleting_it_deletes_them(connect, room):
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    upload_id = uploaded(png(640, 320), room=room)
    alice.send(json.dumps({"action": "sendmessage", "message": "", "files": [upload_id]}))
    frame = recv_json(bob, skip=("presence", "unread"))
    assert frame["type"] == "message" and frame["text"] == ""
    assert frame["files"] == [
        {
            "id": upload_id,
            "name": "shot.png",
            "size": len(png(640, 320)),
            "type": "image/png",
            "width": 640,
            "height": 320,
            "thumb": True,
        }
    ]
    keys = {f"files/{upload_id}", f"thumbs/{upload_id}.webp"}
    assert keys <= objects() and all(tags(key) == [] for key in keys)
    stored = Upload.get(upload_id)
    assert (stored.message_id, stored.expires_at) == (frame["id"], None)
    alice.send(json.dumps({"action": "deletemessage", "id": frame["id"]}))
    deleted = recv_json(bob, skip=("presence", "unread"))
    assert deleted["type"] == "message_deleted"
    wait_for(lambda: not keys & objects())
    with pytest.raises(Upload.DoesNotExist):
        Upload.get(upload_id)


@pytest.mark.parametrize("case", ["someone_elses", "other_room", "pending", "rejected", "sent"])
def test_files_a_message_may_not_carry_are_refused(connect, room, make_room, case):
    alice = connect(room, user_id="1", username="alice")
    if case == "someone_elses":
        upload_id = uploaded(png(10, 10), room=room, user_id="2")
    elif case == "other_room":
        upload_id = uploaded(png(10, 10), room=make_room())
    elif case == "pending":
        upload_id = uploads.upload_create(
            user_id="1", room=room, name="a.png", size=10, type="image/png"
        ).upload.id
    elif case == "rejected":
        upload_id = uploaded(b"not a png", room=room)
    else:
        upload_id = uploaded(png(10, 10), room=room)
        alice.send(json.dumps({"action": "sendmessage", "message": "", "files": [upload_id]}))
        assert recv_json(alice, skip=("presence", "unread"))["type"] == "message"
    alice.send(json.dumps({"action": "sendmessage", "message": "x", "files": [upload_id]}))
    frame = recv_json(alice, skip=("presence", "unread"))
    assert (frame["type"], frame["code"]) == ("error", "upload_not_ready")


def test_a_message_without_text_needs_files(connect, room):
    alice = connect(room, user_id="1", username="alice")
    alice.send(json.dumps({"action": "sendmessage", "message": "", "files": []}))
    frame = recv_json(alice, skip=("presence", "unread"))
    assert frame["type"] == "error"
    alice.send(json.dumps({"action": "sendmessage", "message": "x", "files": ["a"] * 11}))
    assert recv_json(alice, skip=("presence", "unread"))["code"] == "invalid_request"
