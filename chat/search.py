"""`GET /api/search/?q=…`: the chat page's message search, as JSON (chat/selectors/search.py).

Session-authenticated; every error is JSON with a code: 401 not_authenticated, 400
query_too_long (with `limit`), bad_query, invalid_page_token, 429 rate_limited (with
`retry_after`, and Retry-After)."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat.errors import ChatError, InvalidRequest, NotAuthenticated, error_response
from chat.selectors.search import MAX_LIMIT, SearchResult, message_search
from chat.services.limits import quota_take
from lambdas.models import iso

DEFAULT_LIMIT = 20


def _result_json(result: SearchResult) -> dict:
    return {
        "message_id": result.message_id,
        "room": result.room,
        "room_label": result.room_label,
        "room_kind": result.room_kind,
        "thread": result.thread,
        "user_id": result.user_id,
        "username": result.username,
        "sent_at": iso(result.sent_at),
        "snippet": [{"text": text, "mark": mark} for text, mark in result.snippet],
        "url": reverse("room", kwargs={"room": result.room}),
    }


def _limit_parse(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidRequest(f"`limit` is a number from 1 to {MAX_LIMIT}")
    return int(value)


@never_cache
@require_http_methods(["GET"])
def search_api(request: HttpRequest) -> JsonResponse:
    """`{"query", "results": [{message_id, room, room_label, room_kind, thread, user_id,
    username, sent_at, snippet: [{text, mark}], url}], "next_cursor"}`; `cursor` pages on."""
    try:
        if not request.user.is_authenticated:
            raise NotAuthenticated("log in first")
        # Like every read of the page, counted per user (the `limits` table, every instance):
        # each search reads the user's rooms from DynamoDB and runs a ranked full-text query.
        quota_take(
            key=f"search#{request.user.pk}",
            allowed=settings.SEARCHES_PER_USER_PER_MINUTE,
            window=60,
            what="searches",
        )
        query = request.GET.get("q", "")
        page = message_search(
            user=request.user,
            query=query,
            limit=_limit_parse(request.GET.get("limit")),
            cursor=request.GET.get("cursor") or None,
        )
    except ChatError as error:
        return error_response(error)
    return JsonResponse(
        {
            "query": query.replace("\x00", ""),
            "results": [_result_json(result) for result in page.results],
            "next_cursor": page.next_cursor,
        }
    )
