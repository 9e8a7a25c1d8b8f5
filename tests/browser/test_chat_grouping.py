"""Grouping and long messages in Chromium: one person's consecutive messages within five minutes
show one name and time (history added above, deletions, pending sends and days kept right), and
a long message is collapsed behind "Show more"; then the chat page itself, with Markdown, groups
and a collapsed message, looked at and checked by axe at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.chatpage import ARTIFACTS, axe_violations, wait_until
from tests.browser.test_chat_history import ulid_at
from tests.browser.test_chat_markdown import harness

T0 = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris (the harness's time zone)
USERS = {"alice": "1", "bob": "2", "carol": "3"}
LONG = "\n".join(f"line {i} of a long log paste that goes on" for i in range(40))

# A MessageList on an <ol> of its own, as chat.js makes it; alice is the viewer.
SCRIPT = """
import { MessageList } from '/static/chat/render.js';
window.calls = [];
const ol = document.getElementById('messages');
window.list = new MessageList(ol, { userId: '1', username: 'alice', staff: false }, {
    edit: (id, text) => { window.calls.push(['edit', id, text]); return true; },
    remove: (id) => window.calls.push(['remove', id]),
    react: (id, emoji, remove) => window.calls.push(['react', id, emoji, remove]),
})"""
BODY = (
    "<main class='chat' style='height:100vh;display:flex;flex-direction:column'>"
    "<ol id=messages class=messages aria-label='Messages in test'></ol></main>"
)


@pytest.fixture
def lists(live_server) -> Iterator:
    """The harness page with `window.list`: a MessageList of static/chat/render.js."""
    with harness(live_server, BODY, SCRIPT) as page:
        yield page


def message(n: int, user: str, minutes: float, text: str | None = None, **extra) -> dict:
    at = T0 + timedelta(minutes=minutes)
    return {
        "id": ulid_at(at, n),
        "user": {"id": USERS[user], "username": user},
        "text": text if text is not None else f"message {n}",
        "sent_at": at.isoformat().replace("+00:00", "Z"),
        **extra,
    }


def upsert(page, *messages: dict) -> None:
    page.evaluate(
        "(ms) => { for (const m of ms) window.list.upsert(m); window.list.refreshSeparators(); }",
        list(messages),
    )


def groups(page) -> list[tuple[str, bool]]:
    """(text, continued) of each message, top to bottom."""
    found = page.evaluate(
        """() => [...document.querySelectorAll('#messages > li.message')].map((li) =>
            [li.querySelector('.text').textContent, li.classList.contains('continued')])"""
    )
    return [tuple(pair) for pair in found]


def test_consecutive_messages_within_five_minutes_share_a_name_and_time(lists):
    upsert(
        lists,
        message(1, "bob", 0),
        message(2, "bob", 1),
        message(3, "bob", 5.5),  # 4.5 minutes after the one before: still the group
        message(4, "alice", 6),
        message(5, "alice", 20),  # 14 minutes later: a new group
        message(6, "bob", 21),
    )
    assert groups(lists) == [
        ("message 1", False),
        ("message 2", True),
        ("message 3", True),
        ("message 4", False),
        ("message 5", False),
        ("message 6", False),
    ]
    # Shown once, but a screen reader still hears whose message and when.
    continued = lists.get_by_role("article", name="bob 10:01")
    assert continued.evaluate("(li) => li.classList.contains('continued')")
    assert continued.locator(".author").bounding_box()["width"] <= 1  # visually hidden


def test_grouping_follows_history_added_above_and_deletions(lists):
    middle = message(3, "bob", 2)
    upsert(lists, middle, message(4, "bob", 3))
    assert groups(lists) == [("message 3", False), ("message 4", True)]

    # An older page arrives above: the first message shown so far now continues it.
    upsert(lists, message(1, "carol", 0), message(2, "bob", 1))
    assert groups(lists) == [
        ("message 1", False),
        ("message 2", False),
        ("message 3", True),
        ("message 4", True),
    ]

    # A deleted message keeps its place (it is shown as deleted) and the group stays.
    lists.evaluate("(id) => { window.list.update({ id, deleted: true, text: '' }); }", middle["id"])
    assert groups(lists) == [
        ("message 1", False),
        ("message 2", False),
        ("message deleted", True),
        ("message 4", True),
    ]


def test_grouping_across_days_and_for_pending_sends(lists):
    # 23:58 and 00:01 in Paris: three minutes apart, on two days.
    late = -(10 * 60) + (23 * 60 + 58) - 24 * 60  # minutes from T0 to 23:58 the day before
    upsert(lists, message(1, "alice", late), message(2, "alice", late + 3))
    assert groups(lists) == [("message 1", False), ("message 2", False)]
    assert lists.locator("#messages li.day-separator").count() == 2

    # alice's sends continue her newest message while pending, failed or settled.
    now = datetime.now(UTC)
    recent = {
        "id": ulid_at(now - timedelta(minutes=1), 9),
        "user": {"id": "1", "username": "alice"},
        "text": "just now",
        "sent_at": (now - timedelta(minutes=1)).isoformat(),
    }
    upsert(lists, recent)
    lists.evaluate("() => window.list.addPending('c1', 'on its way')")
    wait_until(lists, "() => document.querySelector('li.pending').classList.contains('continued')")
    lists.evaluate(
        "() => window.list.pendingState('c1', { state: 'failed', label: 'not sent: offline' })"
    )
    # The state of a send shows even in a group.
    assert lists.locator("#messages li.pending .state").is_visible()
    lists.evaluate("() => window.list.settle('c1')")
    echoed = {**recent, "id": ulid_at(now, 10), "text": "on its way", "sent_at": now.isoformat()}
    upsert(lists, echoed)
    assert groups(lists)[-2:] == [("just now", False), ("on its way", True)]


def test_long_messages_are_collapsed_behind_show_more(lists):
    upsert(lists, message(1, "bob", 0, LONG), message(2, "bob", 1, "short"))
    more = lists.locator("#messages li.message .more")
    more.wait_for()
    assert more.count() == 1  # the short one has none
    text = lists.locator("#messages li.message .text").first
    collapsed = text.bounding_box()["height"]
    assert more.get_attribute("aria-expanded") == "false"
    assert more.text_content() == "Show more"

    more.click()
    assert more.get_attribute("aria-expanded") == "true"
    assert more.text_content() == "Show less"
    assert text.bounding_box()["height"] > collapsed * 2
    more.click()
    assert more.get_attribute("aria-expanded") == "false"
    assert text.bounding_box()["height"] == pytest.approx(collapsed, abs=1)


def test_the_beginning_says_what_the_list_is(lists):
    marker = lists.locator("#messages .history-marker")
    lists.evaluate("() => window.list.setHistoryState('start')")
    assert marker.text_content() == "This is the beginning of the room."
    lists.evaluate(
        "() => window.list.setBeginning('This is the beginning of your conversation with bob.')"
    )
    assert marker.text_content() == "This is the beginning of your conversation with bob."


# -- the chat page ---------------------------------------------------------------------------

SCRIPT_OF_A_MORNING = [
    ("bob", 0, "Morning! The **deploy** is done, see https://example.com/deploys/42."),
    ("bob", 1, "Notes:\n- `make check` passes\n- ~~old flag~~ removed\n- *italics* work"),
    ("bob", 2, "> can we ship friday?\n\nyes, @alice"),
    ("alice", 3, "Here is the fix:\n```python\ndef add(a, b):\n    return a + b\n```"),
    ("alice", 4, LONG),
    ("carol", 30, "<b>not bold</b>, [bad](javascript:alert(1)) and ![img](https://x/y.png)"),
    ("carol", 31, "1. one\n2. two\n3. three"),
]


def seed_morning(room: str) -> None:
    from lambdas.models import Message

    with Message.batch_write() as batch:
        for i, (user, minute, text) in enumerate(SCRIPT_OF_A_MORNING):
            at = T0 + timedelta(minutes=minute)
            batch.save(
                Message(
                    room,
                    ulid_at(at, i),
                    user_id=f"{user}-id",
                    username=user,
                    text=text,
                    sent_at=at,
                )
            )


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_the_chat_page_shows_markdown_groups_and_a_collapsed_message(
    open_chat, room, width, height
):
    seed_morning(room)
    page = open_chat(
        room,
        "alice",
        viewport={"width": width, "height": height},
        locale="en-GB",
        timezone_id="Europe/Paris",
    )
    wait_until(page, "() => document.querySelectorAll('#messages li.message').length === 7")
    page.locator("#messages .more").wait_for()
    continued = page.evaluate(
        "() => [...document.querySelectorAll('#messages li.message')]"
        ".map((li) => li.classList.contains('continued'))"
    )
    assert continued == [False, True, True, False, True, False, True]
    first = page.locator("#messages li.message").first
    assert first.locator("strong").text_content() == "deploy"
    assert first.locator("a").get_attribute("href") == "https://example.com/deploys/42"
    assert page.locator("#messages pre code").text_content() == "def add(a, b):\n    return a + b\n"
    assert page.locator("#messages b, #messages img, #messages script").count() == 0
    assert page.locator("#messages .mention.me", has_text="@alice").count() == 1
    (ARTIFACTS / "h2").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "h2" / f"chat-markdown-{width}.png"))
    # A continued message shows its time on hover, clear of its buttons.
    second = page.locator("#messages li.message").nth(1)
    second.hover()
    assert second.locator(".meta time").bounding_box()["width"] > 1
    page.screenshot(path=str(ARTIFACTS / "h2" / f"chat-markdown-{width}-hover.png"))
    serious = [v for v in axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert serious == []
