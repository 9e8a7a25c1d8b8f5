"""`/api/uploads/` and `/api/files/<id>/`: a member gets a presigned POST whose policy the local
S3 enforces (key, size range, content type, expiry), bad input is refused with a code and
nothing stored, and files are served to the room's readers only, never inline unless a checked
raster image."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from chat.services.members import member_add
from chat.services.rooms import room_create
from lambdas.models import Upload
from lambdas.services import uploads

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("s3")]


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {name: make(username=name) for name in ("alice", "bob", "eve")}


@pytest.fixture
def team(users) -> str:
    """A private room of alice and bob."""
    room = room_create(
        name=f"team-{uuid.uuid4().hex[:10]}",
        title="Team",
        description="",
        created_by="alice",
        private=True,
        creator_id=str(users["alice"].pk),
    )
    member_add(room=room, user_id=str(users["bob"].pk), username="bob", added_by="alice")
    return room.name


def create(client, room: str, **fields):
    body = {"room": room, "name": "notes.txt", "size": 5, "type": "text/plain"} | fields
    return client.post("/api/uploads/", json.dumps(body), content_type="application/json")


def post_file(upload: dict, content: bytes, **overrides: str) -> requests.Response:
    fields = upload["fields"] | overrides
    return requests.post(upload["url"], data=fields, files={"file": ("f", content)}, timeout=30)


def test_a_member_gets_a_presigned_post_that_stores_the_file(client, users, team, s3):
    client.force_login(users["alice"])
    response = create(client, team)
    assert response.status_code == 201
    upload = response.json()["upload"]
    assert set(upload) == {"id", "url", "fields", "expires_at", "max_bytes"}
    assert upload["fields"]["key"] == f"files/{upload['id']}"
    assert post_file(upload, b"hello").status_code == 204
    stored = uploads.s3_client().get_object(Bucket=uploads._bucket(), Key=f"files/{upload['id']}")
    assert stored["Body"].read() == b"hello"
    tags = uploads.s3_client().get_object_tagging(
        Bucket=uploads._bucket(), Key=f"files/{upload['id']}"
    )["TagSet"]
    assert tags == [{"Key": "unsent", "Value": "1"}]
    # Never sent: the item goes by TTL a day later, the objects by the lifecycle rule's tag.
    item = Upload.get(upload["id"])
    assert (item.expires_at - item.created_at).total_seconds() == pytest.approx(
        uploads.UNSENT_SECONDS, abs=1
    )
    shown = client.get(f"/api/uploads/{upload['id']}/").json()["upload"]
    assert shown == {
        "id": upload["id"],
        "state": "pending",
        "name": "notes.txt",
        "size": 5,
        "type": "text/plain",
        "thumb": False,
    }


def test_the_local_s3_enforces_the_posts_policy(client, users, team, configure):
    configure(MAX_FILE_BYTES="10")
    client.force_login(users["alice"])
    upload = create(client, team, size=10).json()["upload"]
    # Over the size range, another key, another type, an empty file: refused, nothing stored.
    assert post_file(upload, b"x" * 11).status_code == 400
    assert post_file(upload, b"hello", key="files/other").status_code == 403
    assert post_file(upload, b"hello", **{"Content-Type": "text/html"}).status_code == 403
    assert post_file(upload, b"").status_code == 400
    listed = uploads.s3_client().list_objects_v2(Bucket=uploads._bucket(), Prefix="files/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert f"files/{upload['id']}" not in keys and "files/other" not in keys


def test_an_expired_post_is_refused(client, users, team, monkeypatch):
    monkeypatch.setattr(uploads, "POST_SECONDS", -1)
    client.force_login(users["alice"])
    upload = create(client, team).json()["upload"]
    response = post_file(upload, b"hello")
    assert response.status_code == 403 and b"Policy expired" in response.content


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": 10 * 1024 * 1024 + 1}, "file_too_large"),
        ({"size": 0}, "file_too_large"),
        ({"type": "image/svg+xml", "name": "x.svg"}, "type_not_allowed"),
        ({"type": "text/html", "name": "x.png"}, "type_not_allowed"),
        ({"name": "../etc/passwd"}, "bad_name"),
        ({"name": "a\\b.txt"}, "bad_name"),
        ({"name": "bad\x00name.txt"}, "bad_name"),
        ({"name": "line\nbreak.txt"}, "bad_name"),
        ({"name": "x" * 201}, "bad_name"),
        ({"name": "  "}, "bad_name"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(client, users, team, fields, code):
    client.force_login(users["alice"])
    before = Upload.count()
    response = create(client, team, **fields)
    assert (response.status_code, response.json()["error"]) == (400, code)
    assert Upload.count() == before


def test_a_non_member_gets_no_upload(client, users, team):
    client.force_login(users["eve"])
    response = create(client, team)
    assert (response.status_code, response.json()["error"]) == (403, "not_a_member")


def test_the_days_bytes_are_a_quota(client, users, team, configure):
    configure(UPLOAD_BYTES_PER_USER_PER_DAY="12")
    client.force_login(users["bob"])
    assert create(client, team, size=10).status_code == 201
    response = create(client, team, size=5)
    assert (response.status_code, response.json()["error"]) == (429, "quota_exceeded")


def test_uploads_per_minute_are_rate_limited(client, users, team, configure):
    configure(UPLOADS_PER_USER_PER_MINUTE="1")
    client.force_login(users["alice"])
    assert create(client, team).status_code == 201
    response = create(client, team)
    assert (response.status_code, response.json()["error"]) == (429, "rate_limited")
    assert response["Retry-After"]


def test_an_unsent_file_is_its_uploaders_only(client, users, team):
    client.force_login(users["alice"])
    upload = create(client, team).json()["upload"]
    Upload(upload["id"]).update(actions=[Upload.state.set("ready")])
    client.force_login(users["bob"])
    assert client.get(f"/api/uploads/{upload['id']}/").status_code == 404
    response = client.get(f"/api/files/{upload['id']}/")
    assert (response.status_code, response.json()["error"]) == (403, "not_a_member")


def test_a_sent_file_is_served_to_members_as_an_attachment(client, users, team):
    client.force_login(users["alice"])
    upload = create(client, team).json()["upload"]
    assert post_file(upload, b"hello").status_code == 204
    Upload(upload["id"]).update(actions=[Upload.state.set("ready"), Upload.message_id.set("m")])
    client.force_login(users["bob"])
    response = client.get(f"/api/files/{upload['id']}/")
    assert response.status_code == 302
    got = requests.get(response["Location"], timeout=30)
    assert got.content == b"hello"
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    client.force_login(users["eve"])
    response = client.get(f"/api/files/{upload['id']}/")
    assert (response.status_code, response.json()["error"]) == (403, "not_a_member")


def test_an_expired_link_is_refused(client, users, team, monkeypatch):
    client.force_login(users["alice"])
    upload = create(client, team).json()["upload"]
    assert post_file(upload, b"hello").status_code == 204
    Upload(upload["id"]).update(actions=[Upload.state.set("ready")])
    monkeypatch.setattr(uploads, "GET_SECONDS", -1)
    response = client.get(f"/api/files/{upload['id']}/")
    assert requests.get(response["Location"], timeout=30).status_code == 403
