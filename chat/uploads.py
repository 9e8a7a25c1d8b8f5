"""The page's file calls: a presigned POST for one file (`POST /api/uploads/`), its state while the
thumbnail function checks it (`GET /api/uploads/<id>/`), and a short-lived link to a file of a
message (`GET /api/files/<id>/`). Session-authenticated; every error is JSON with a code."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.errors import ChatError, CsrfFailed, InvalidRequest, NotAuthenticated, error_response
from chat.services.limits import quota_take
from chat.sidebar import _room_for_api
from chat.views import csrf_failure, room_may_use
from lambdas.config import get_config
from lambdas.errors import NotAMember, RoomNotFound
from lambdas.models import iso
from lambdas.protocol import upload_frame
from lambdas.services.rooms import room_get
from lambdas.services.uploads import (
    file_link,
    upload_create,
    upload_for_owner,
    upload_get,
)

MAX_BODY_BYTES = 2048


def _user_id(request: HttpRequest) -> str:
    if not request.user.is_authenticated:
        raise NotAuthenticated("log in first")
    return str(request.user.pk)


# CSRF is checked by csrf_failure, answering JSON rather than Django's HTML page.
@csrf_exempt
@never_cache
@require_http_methods(["POST"])
def upload_create_api(request: HttpRequest) -> JsonResponse:
    """`{"room", "name", "size", "type"}` → 201 `{"upload": {"id", "url", "fields",
    "expires_at", "max_bytes"}}`: the page POSTs the file to `url` with `fields` (multipart,
    the file last, as S3 wants). Errors: not_a_member, file_too_large, type_not_allowed,
    bad_name, quota_exceeded (the day's bytes), rate_limited."""
    try:
        user_id = _user_id(request)
        reason = csrf_failure(request)
        if reason:
            raise CsrfFailed(f"CSRF check failed: {reason}")
        if len(request.body) > MAX_BODY_BYTES:
            raise InvalidRequest("the request is too large")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest("the body is JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("room"), str):
            raise InvalidRequest('the body is {"room", "name", "size", "type"}')
        room = _room_for_api(request, body["room"])
        quota_take(
            key=f"uploads#{user_id}",
            allowed=get_config().uploads_per_user_per_minute,
            window=60,
            what="uploads",
        )
        post = upload_create(
            user_id=user_id,
            room=room.name,
            name=body.get("name"),
            size=body.get("size"),
            type=body.get("type"),
        )
    except ChatError as error:
        return error_response(error)
    return JsonResponse(
        {
            "upload": {
                "id": post.upload.id,
                "url": post.url,
                "fields": post.fields,
                "expires_at": iso(post.expires_at),
                "max_bytes": post.max_bytes,
            }
        },
        status=201,
    )


@never_cache
@require_http_methods(["GET"])
def upload_api(request: HttpRequest, upload_id: str) -> JsonResponse:
    """`{"upload": {"id", "state": pending|ready|rejected, "reason"?, "name", "size", "type",
    "width"?, "height"?, "thumb"}}`: the uploader's own uploads only (404 otherwise)."""
    try:
        upload = upload_for_owner(upload_id=upload_id, user_id=_user_id(request))
    except ChatError as error:
        return error_response(error)
    return JsonResponse({"upload": upload_frame(upload)})


@never_cache
@require_http_methods(["GET"])
def file_api(request: HttpRequest, upload_id: str) -> HttpResponse:
    """302 to a presigned GET (5 minutes) of a file of a message (`?variant=original|thumb`),
    for whoever may read its room now; 403 not_a_member, 404 upload_not_found otherwise."""
    try:
        user_id = _user_id(request)
        variant = request.GET.get("variant") or "original"
        if variant not in ("original", "thumb"):
            raise InvalidRequest("`variant` is original or thumb")
        upload = upload_get(upload_id=upload_id)
        may_read = False
        if upload.user_id != user_id:
            try:
                found = room_get(name=upload.room, create_default=False)
                may_read = room_may_use(request.user, found)
            except (RoomNotFound, ChatError):
                may_read = False
            if not may_read:
                raise NotAMember("only the room's members may open its files")
        url = file_link(upload=upload, user_id=user_id, may_read_room=may_read, variant=variant)
    except ChatError as error:
        return error_response(error)
    return HttpResponseRedirect(url)
