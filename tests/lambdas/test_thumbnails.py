"""The thumbnail function, through the local stack: an upload by presigned POST to the local S3
makes S3's object-created notification reach the function (the emulator's relay), which makes
an upright thumbnail without metadata, or refuses the content, records why and deletes it."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image

from lambdas.models import Upload
from lambdas.services import thumbnails, uploads
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("gateway")


def jpeg_with_exif(width: int = 60, height: int = 30) -> bytes:
    """A JPEG stored wider than tall, whose EXIF says to rotate it a quarter turn (orientation 6)
    and holds a GPS position."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def upload(data: bytes, *, type: str, name: str = "file", room: str | None = None) -> str:
    """Upload `data` as the page does: a presigned POST, then the file to S3. Its upload id."""
    post = uploads.upload_create(
        user_id="u1", room=room or "r1", name=name, size=len(data) or 1, type=type
    )
    response = requests.post(post.url, data=post.fields, files={"file": ("f", data)}, timeout=30)
    assert response.status_code == 204, response.text
    return post.upload.id


def settled(upload_id: str) -> Upload:
    return wait_for(
        lambda: (u := Upload.get(upload_id, consistent_read=True)).state != "pending" and u
    )


def objects() -> set[str]:
    listed = uploads.s3_client().list_objects_v2(Bucket=uploads._bucket())
    return {item["Key"] for item in listed.get("Contents", [])}


def test_an_image_gets_an_upright_thumbnail_and_loses_its_location():
    upload_id = upload(jpeg_with_exif(), type="image/jpeg", name="photo.jpg")
    found = settled(upload_id)
    assert (found.state, found.width, found.height) == ("ready", 30, 60)
    client, bucket = uploads.s3_client(), uploads._bucket()
    thumb = Image.open(
        io.BytesIO(client.get_object(Bucket=bucket, Key=found.thumb_key)["Body"].read())
    )
    assert (thumb.format, thumb.size) == ("WEBP", (30, 60))
    original = client.get_object(Bucket=bucket, Key=found.key)["Body"].read()
    cleaned = Image.open(io.BytesIO(original))
    assert cleaned.size == (30, 60)
    assert not cleaned.getexif() and "exif" not in cleaned.info  # no GPS, no orientation
    tags = client.get_object_tagging(Bucket=bucket, Key=found.thumb_key)["TagSet"]
    assert tags == [{"Key": "unsent", "Value": "1"}]


def test_a_file_without_metadata_is_kept_byte_for_byte():
    data = png(300, 200)
    found = settled(upload(data, type="image/png"))
    assert (found.state, found.width, found.height) == ("ready", 300, 200)
    stored = uploads.s3_client().get_object(Bucket=uploads._bucket(), Key=found.key)
    assert stored["Body"].read() == data
    pdf = b"%PDF-1.4\n%%EOF\n"
    found = settled(upload(pdf, type="application/pdf", name="a.pdf"))
    assert (found.state, found.thumb_key, found.width) == ("ready", None, None)


@pytest.mark.parametrize(
    ("data", "type", "reason"),
    [
        (b"<html><script>alert(1)</script></html>", "image/png", "type_mismatch"),
        (b"MZ\x90\x00\x03 an executable renamed .pdf", "application/pdf", "type_mismatch"),
        (png(20, 20), "image/jpeg", "type_mismatch"),
        (b"\x89PNG\r\n\x1a\n truncated", "image/png", "unreadable"),
        (png(20_000, 20_000), "image/png", "decompression_bomb"),
        (png(8_000, 7_000), "image/png", "too_many_pixels"),
    ],
    ids=["html-as-png", "exe-as-pdf", "png-as-jpeg", "broken", "bomb", "pixels"],
)
def test_bad_content_is_rejected_recorded_and_deleted(data, type, reason):
    found = settled(upload(data, type=type))
    assert (found.state, found.reason) == ("rejected", reason)
    assert found.key not in objects() and f"thumbs/{found.id}.webp" not in objects()


def test_a_size_other_than_declared_is_rejected(configure):
    post = uploads.upload_create(user_id="u1", room="r1", name="a.txt", size=3, type="text/plain")
    response = requests.post(
        post.url, data=post.fields, files={"file": ("f", b"12345")}, timeout=30
    )
    assert response.status_code == 204
    found = settled(post.upload.id)
    assert (found.state, found.reason) == ("rejected", "size_mismatch")


def test_an_object_of_no_upload_is_deleted():
    key = f"files/{uuid.uuid4().hex}"
    client, bucket = uploads.s3_client(), uploads._bucket()
    client.put_object(Bucket=bucket, Key=key, Body=b"stray")
    wait_for(lambda: key not in objects())


def test_content_is_recognised_by_its_magic_bytes():
    assert thumbnails.content_kind(png(2, 2)) == "image/png"
    assert thumbnails.content_kind(b"PK\x03\x04rest") == "zip"
    assert thumbnails.content_kind("héllo".encode()) == "text"
    assert thumbnails.content_kind(b"\x00\x01binary") == "unknown"
