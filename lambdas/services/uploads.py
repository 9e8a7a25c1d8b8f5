"""Files in messages: presigned POSTs straight to the uploads bucket, their items, short-lived
presigned GETs, and what a message does with them when it is sent or deleted.

An object lands under `files/<upload id>` tagged `unsent=1` (the POST policy's `tagging` field:
no request of ours), the thumbnail function checks it (lambdas/services/thumbnails.py) and puts
its thumbnail under `thumbs/<upload id>.webp`, tagged the same. Sending removes both tags
(DeleteObjectTagging, a DELETE request: free); the bucket's lifecycle rule expires what is still
tagged a day later, so an abandoned upload costs no request of ours to clean up.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from lambdas.clients import cached_client
from lambdas.config import Config, get_config
from lambdas.errors import (
    BadName,
    ChatError,
    FileTooLarge,
    NotAMember,
    QuotaExceeded,
    TypeNotAllowed,
    UploadNotFound,
    UploadNotReady,
)
from lambdas.models import Upload, UploadFile, utcnow

ORIGINALS = "files/"
THUMBS = "thumbs/"
UNSENT_TAG = ("unsent", "1")
POST_SECONDS = 5 * 60  # a presigned POST's life
GET_SECONDS = 5 * 60  # a presigned GET's life
UNSENT_SECONDS = 24 * 60 * 60  # an unsent upload's item and objects (the lifecycle rule's day)
MAX_NAME_CHARS = 200
MAX_FILES_PER_MESSAGE = 10

# The allow-list, by declared type: the thumbnail function checks the content against it.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
FILE_TYPES = (
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
    "application/zip",
    # Office documents are zip archives inside.
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
ALLOWED_TYPES = IMAGE_TYPES + FILE_TYPES
# Shown inline (an <img> of the page): only the checked raster images. Everything else is
# served as a download of an opaque type, never rendered by the browser (SVG, HTML, PDF...).
INLINE_TYPES = frozenset(IMAGE_TYPES)


@dataclass(frozen=True)
class PresignedPost:
    upload: Upload
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@cached_client("s3", endpoint="s3_endpoint_url")
def s3_client(config: Config) -> dict:
    """The uploads bucket's client (imported lazily: only the functions that touch files)."""
    # Virtual-hosted addresses need DNS a local S3 has not: path style there.
    style = "path" if config.s3_endpoint_url else "virtual"
    return {"signature_version": "s3v4", "s3": {"addressing_style": style}}


def _bucket() -> str:
    bucket = get_config().uploads_bucket
    if not bucket:
        raise ChatError("file uploads are not configured here")
    return bucket


def upload_name_check(name: object) -> str:
    """The file's name as stored and shown: refused (BadName) if empty, too long, or holding a
    path separator, a control character or a name the file system reserves ("." and "..")."""
    if not isinstance(name, str):
        raise BadName("`name` is the file's name")
    name = unicodedata.normalize("NFC", name).strip()
    if not name or name in (".", "..") or len(name) > MAX_NAME_CHARS:
        raise BadName(f"a file's name has 1 to {MAX_NAME_CHARS} characters")
    if "/" in name or "\\" in name:
        raise BadName("a file's name may not hold / or \\")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise BadName("a file's name may not hold control characters")
    return name


def upload_create(
    *, user_id: str, room: str, name: object, size: object, type: object
) -> PresignedPost:
    """Check what the page declares and hand it a presigned POST for one object: its policy
    fixes the key, the size range [1, limit], the content type and the unsent tag, for 5
    minutes. The day's bytes are counted now (a refused or abandoned upload counted too: they
    cost storage until the lifecycle rule runs). The caller has checked the room."""
    from lambdas.errors import RateLimited
    from lambdas.services.limits import limit_update

    config = get_config()
    name = upload_name_check(name)
    if type not in ALLOWED_TYPES:
        raise TypeNotAllowed(
            f"files of type {type!r} cannot be shared here", allowed=list(ALLOWED_TYPES)
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise FileTooLarge(
            "`size` is the file's size in bytes, at least 1", max_bytes=config.max_file_bytes
        )
    if size > config.max_file_bytes:
        raise FileTooLarge(
            f"a file may have at most {config.max_file_bytes} bytes",
            max_bytes=config.max_file_bytes,
        )
    allowed = config.upload_bytes_per_user_per_day

    def take(live, now: float) -> tuple[float, float]:
        used = live.level if live is not None else 0
        if used + size > allowed:
            raise QuotaExceeded(
                f"at most {allowed} bytes of files a day",
                retry_after=max(1, int(live.expires_at.timestamp() - now)) if live else 1,
            )
        return used + size, live.expires_at.timestamp() if live else now + 86400

    if not limit_update(f"quota-upload-bytes#{user_id}", take):
        raise RateLimited("too many uploads at once; try again", retry_after=1)

    now = utcnow()
    upload_id = secrets.token_urlsafe(16)
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        room=room,
        key=f"{ORIGINALS}{upload_id}",
        name=name,
        size=size,
        type=type,
        state="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=UNSENT_SECONDS),
    )
    upload.save()
    tagging = _tagging_xml(*UNSENT_TAG)
    post = s3_client().generate_presigned_post(
        _bucket(),
        upload.key,
        Fields={"Content-Type": type, "tagging": tagging},
        Conditions=[
            ["content-length-range", 1, config.max_file_bytes],
            {"Content-Type": type},
            {"tagging": tagging},
        ],
        ExpiresIn=POST_SECONDS,
    )
    return PresignedPost(
        upload=upload,
        url=post["url"],
        fields=post["fields"],
        expires_at=now + timedelta(seconds=POST_SECONDS),
        max_bytes=config.max_file_bytes,
    )


def _tagging_xml(key: str, value: str) -> str:
    return f"<Tagging><TagSet><Tag><Key>{key}</Key><Value>{value}</Value></Tag></TagSet></Tagging>"


def upload_get(*, upload_id: str) -> Upload:
    try:
        return Upload.get(upload_id, consistent_read=True)
    except Upload.DoesNotExist:
        raise UploadNotFound("there is no such upload") from None


def upload_for_owner(*, upload_id: str, user_id: str) -> Upload:
    """The user's own upload (someone else's is as absent as a missing one)."""
    upload = upload_get(upload_id=upload_id)
    if upload.user_id != user_id:
        raise UploadNotFound("there is no such upload")
    return upload


def file_link(*, upload: Upload, user_id: str, may_read_room: bool, variant: str) -> str:
    """A presigned GET of the original or its thumbnail, for GET_SECONDS: for the uploader, and
    once the file is in a message for whoever may read its room. Only checked raster images
    are served inline; everything else as an attachment of an opaque type."""
    if upload.user_id != user_id and not (upload.message_id and may_read_room):
        raise NotAMember("only the room's members may open its files")
    if upload.state != "ready":
        raise UploadNotFound("this file is not available")
    if variant == "thumb":
        if not upload.thumb_key:
            raise UploadNotFound("this file has no thumbnail")
        key, content_type, inline = upload.thumb_key, "image/webp", True
    else:
        key, inline = upload.key, upload.type in INLINE_TYPES
        content_type = upload.type if inline else "application/octet-stream"
    quoted = upload.name.replace("\\", "_").replace('"', "_")
    ascii_name = quoted.encode("ascii", "replace").decode().replace("?", "_")
    from urllib.parse import quote

    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(upload.name)}"
    )
    return s3_client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": _bucket(),
            "Key": key,
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
        },
        ExpiresIn=GET_SECONDS,
    )


def uploads_attach(*, ids: list[str], user_id: str, room: str, message_id: str) -> list[UploadFile]:
    """Check the uploads a message names (the sender's own, in this room, ready, and unsent or
    claimed by this message already: a retried send) and return what the message stores of
    each, in order. UploadNotReady otherwise."""
    if len(ids) > MAX_FILES_PER_MESSAGE:
        raise UploadNotReady(f"at most {MAX_FILES_PER_MESSAGE} files per message")
    if len(set(ids)) != len(ids):
        raise UploadNotReady("a file is named twice")
    found = {u.id: u for u in Upload.batch_get(ids, consistent_read=True)} if ids else {}
    files = []
    for upload_id in ids:
        upload = found.get(upload_id)
        if (
            upload is None
            or upload.user_id != user_id
            or upload.room != room
            or upload.state != "ready"
            or upload.message_id not in (None, message_id)
        ):
            raise UploadNotReady(f"file {upload_id} cannot be sent (yet)", upload=upload_id)
        files.append(
            UploadFile(
                id=upload.id,
                name=upload.name,
                size=int(upload.size),
                type=upload.type,
                width=upload.width,
                height=upload.height,
                thumb=bool(upload.thumb_key) or None,
            )
        )
    return files


def uploads_sent(*, ids: list[str], message_id: str) -> None:
    """The uploads are the message's (no TTL any more) and their objects lose the unsent tag,
    so the lifecycle rule keeps them: one UpdateItem and one or two DeleteObjectTagging (DELETE
    requests: free) per file. UploadNotReady if another message claimed one meanwhile."""
    from pynamodb.exceptions import UpdateError

    from lambdas.models import condition_failed

    client, bucket = s3_client(), _bucket()
    for upload_id in ids:
        try:
            upload = Upload(id=upload_id)
            upload.update(
                actions=[Upload.message_id.set(message_id), Upload.expires_at.remove()],
                condition=Upload.message_id.does_not_exist() | (Upload.message_id == message_id),
            )
        except UpdateError as error:
            if not condition_failed(error):
                raise
            raise UploadNotReady(f"file {upload_id} was sent already", upload=upload_id) from None
        for key in _keys(upload):
            client.delete_object_tagging(Bucket=bucket, Key=key)


def _keys(upload: Upload) -> list[str]:
    return [upload.key, *([upload.thumb_key] if upload.thumb_key else [])]


def uploads_delete(*, ids: list[str]) -> None:
    """A deleted message's files: their objects (originals and thumbnails) and items."""
    if not ids:
        return
    client, bucket = s3_client(), _bucket()
    uploads = list(Upload.batch_get(ids))
    keys = [key for upload in uploads for key in _keys(upload)]
    for start in range(0, len(keys), 1000):
        client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
        )
    for upload in uploads:  # at most MAX_FILES_PER_MESSAGE
        upload.delete()
