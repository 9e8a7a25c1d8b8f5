"""What the thumbnail function does with each object that lands in the uploads bucket: check its
content against the allow-list by magic bytes (not its name or declared type), refuse what is
empty, too large, not what was declared, a decompression bomb or too many pixels, and for images
apply the EXIF orientation, strip the metadata (GPS location with it) and write a thumbnail.
Content it refuses is recorded (`rejected`, a reason) and deleted; it never raises for content.

The original is kept byte for byte unless it carries metadata (EXIF, XMP, ICC aside): then it is
rewritten, upright and without it, which S3 reports as another object-created event; that one
finds the upload no longer pending and does nothing (one extra invocation per such image).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from lambdas.config import get_config
from lambdas.models import Upload
from lambdas.services.uploads import (
    IMAGE_TYPES,
    ORIGINALS,
    THUMBS,
    UNSENT_TAG,
    _bucket,
    s3_client,
)

logger = logging.getLogger(__name__)

THUMB_SIDE = 480  # the thumbnail's longest side, in pixels
# Above this many pixels an image is refused before it is decoded (a 48 MP phone photo passes;
# decoded RGB it is ~150 MB of the function's 1,024). Pillow's own bomb check is set to it too:
# it raises DecompressionBombError at open() past twice as many.
MAX_PIXELS = 50_000_000

PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
ZIP_TYPES = {
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
TEXT_TYPES = {"text/plain", "text/csv", "text/markdown", "application/json"}


class Rejected(Exception):
    """The content is refused; `reason` is what the page is told."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Inspected:
    upload_id: str
    state: str  # ready, rejected, or skipped (not pending, or no upload)
    reason: str | None = None


def content_kind(data: bytes) -> str:
    """What the bytes are, by their magic: an image type, pdf, zip, text, or unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return "unknown"


def content_matches(declared: str, kind: str) -> bool:
    if declared in IMAGE_TYPES:
        return kind == declared
    if declared == "application/pdf":
        return kind == "pdf"
    if declared in ZIP_TYPES:
        return kind == "zip"
    if declared in TEXT_TYPES:
        return kind == "text"
    return False


def upload_inspect(*, key: str) -> Inspected:
    """Check the object at `key` (files/<upload id>) and record the outcome on its upload."""
    upload_id = key.removeprefix(ORIGINALS)
    client, bucket = s3_client(), _bucket()
    if not key.startswith(ORIGINALS) or "/" in upload_id:
        return Inspected(upload_id, "skipped")
    try:
        upload = Upload.get(upload_id, consistent_read=True)
    except Upload.DoesNotExist:
        # Nobody's (its item expired, or never was): S3 keeps nothing we cannot account for.
        client.delete_object(Bucket=bucket, Key=key)
        return Inspected(upload_id, "skipped", "no upload")
    if upload.state != "pending":
        return Inspected(upload_id, "skipped")
    data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        found = _check(upload, data)
    except Rejected as rejected:
        client.delete_object(Bucket=bucket, Key=key)
        client.delete_object(Bucket=bucket, Key=f"{THUMBS}{upload_id}.webp")
        upload.update(
            actions=[Upload.state.set("rejected"), Upload.reason.set(rejected.reason)],
            condition=Upload.state == "pending",
        )
        logger.info("upload rejected", extra={"upload": upload_id, "reason": rejected.reason})
        return Inspected(upload_id, "rejected", rejected.reason)
    actions = [Upload.state.set("ready")]
    if found is not None:
        (width, height), thumb, cleaned = found
        tagging = f"{UNSENT_TAG[0]}={UNSENT_TAG[1]}"
        thumb_key = f"{THUMBS}{upload_id}.webp"
        client.put_object(
            Bucket=bucket, Key=thumb_key, Body=thumb, ContentType="image/webp", Tagging=tagging
        )
        if cleaned is not None:
            client.put_object(
                Bucket=bucket, Key=key, Body=cleaned, ContentType=upload.type, Tagging=tagging
            )
        actions += [
            Upload.width.set(width),
            Upload.height.set(height),
            Upload.thumb_key.set(thumb_key),
        ]
    upload.update(actions=actions, condition=Upload.state == "pending")
    return Inspected(upload_id, "ready")


def _check(upload: Upload, data: bytes):
    """Rejected, or None for a file, or for an image ((width, height), thumbnail bytes, the
    original rewritten without metadata or None if it had none)."""
    if not data:
        raise Rejected("empty")
    if len(data) > get_config().max_file_bytes:
        raise Rejected("too_large")
    if len(data) != int(upload.size):
        raise Rejected("size_mismatch")
    kind = content_kind(data)
    if not content_matches(upload.type, kind):
        raise Rejected("type_mismatch")
    if upload.type not in IMAGE_TYPES:
        return None
    return _image(data, PIL_FORMATS[upload.type])


def _image(data: bytes, expected_format: str):
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with warnings.catch_warnings():
        # Past MAX_PIXELS Pillow only warns (it raises past twice that): our own check below
        # refuses those, before anything is decoded.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise Rejected("decompression_bomb") from None
        except Exception:  # Pillow raises many kinds for a malformed file
            raise Rejected("unreadable") from None
        if image.format != expected_format:
            raise Rejected("type_mismatch")
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise Rejected("too_many_pixels")
        try:
            image.load()
            has_metadata = bool(image.getexif()) or any(
                name in image.info for name in ("exif", "xmp", "XML:com.adobe.xmp", "comment")
            )
            upright = ImageOps.exif_transpose(image)
            thumb = upright.copy()
            thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
            if thumb.mode not in ("RGB", "RGBA"):
                thumb = thumb.convert("RGBA" if "transparency" in thumb.info else "RGB")
            out = io.BytesIO()
            thumb.save(out, "WEBP", quality=80)
            cleaned = None
            if has_metadata:
                cleaned = _without_metadata(upright, expected_format)
        except Image.DecompressionBombError:
            raise Rejected("decompression_bomb") from None
        except Exception:
            raise Rejected("unreadable") from None
    return upright.size, out.getvalue(), cleaned


def _without_metadata(image, image_format: str) -> bytes:
    """The image saved again with no EXIF, XMP or comment (the orientation already applied)."""
    image.info.pop("exif", None)
    image.info.pop("xmp", None)
    image.info.pop("comment", None)
    out = io.BytesIO()
    options = {"quality": 92} if image_format in ("JPEG", "WEBP") else {}
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, image_format, exif=b"", **options)
    return out.getvalue()
