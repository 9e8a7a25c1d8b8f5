"""History: the newest page on open, older pages on scroll-up, days and times as the viewer's."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from tests.browser.chatpage import screenshot, shown, wait_until

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FIRST_DAY = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)  # 22:30 on 1 March in Paris
NEXT_DAY = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 on 2 March in Paris


def ulid_at(moment: datetime, sequence: int) -> str:
    """A ULID for a past moment (lambdas.ids only makes ids for now or later in this process)."""

    def encode(value: int, length: int) -> str:
        return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(length)))

    return encode(int(moment.timestamp() * 1000), 10) + encode(
        int.from_bytes(os.urandom(8), "big") << 16 | sequence, 16
    )


def seed(room: str, count: int) -> list[str]:
    """`count` messages from bob, a minute apart: the first five on one day, the rest the next."""
    from lambdas.models import Message

    ids = []
    with Message.batch_write() as batch:
        for i in range(count):
            sent_at = (FIRST_DAY if i < 5 else NEXT_DAY) + timedelta(minutes=i)
            message = Message(
                room,
                ulid_at(sent_at, i),
                user_id="bob-id",
                username="bob",
                text=f"seeded {i:02d}",
                sent_at=sent_at,
            )
            batch.save(message)
            ids.append(message.message_id)
    return ids


def test_history_loads_on_open_and_older_pages_on_scroll_up(open_chat, room):
    """50 newest on open; scrolling up adds the 10 older above, in order, keeping the place."""
    ids = seed(room, 60)
    page = open_chat(room, "alice", locale="en-GB", timezone_id="Europe/Paris")
    wait_until(page, "() => document.querySelectorAll('#messages li.message').length === 50")
    messages = shown(page)
    assert [m["id"] for m in messages] == ids[10:]
    assert [m["text"] for m in messages] == [f"seeded {i:02d}" for i in range(10, 60)]
    assert page.locator(".history-marker").get_attribute("data-state") == "more"
    # The viewer's time zone and locale: 09:10 UTC is 10:10 in Paris, 24-hour in en-GB.
    first_time = page.locator("#messages li.message time").first
    assert first_time.get_attribute("datetime") == "2024-03-02T09:10:00.000Z"
    assert first_time.text_content() == "10:10"
    # Opened at the newest message.
    below = page.evaluate(
        "() => { const l = document.getElementById('messages');"
        " return l.scrollHeight - l.scrollTop - l.clientHeight; }"
    )
    assert below < 5

    anchor = page.locator(f"li.message[data-id='{ids[10]}']")
    page.eval_on_selector("#messages", "(list) => { list.scrollTop = 0; }")
    wait_until(page, "() => document.querySelectorAll('#messages li.message').length === 60")
    messages = shown(page)
    assert [m["id"] for m in messages] == ids
    assert len({m["id"] for m in messages}) == 60
    assert page.locator(".history-marker").get_attribute("data-state") == "start"
    # The page came in above: the message that was at the top is still in view, not pushed away.
    top = page.evaluate(
        "(id) => document.querySelector(`li.message[data-id='${id}']`).getBoundingClientRect().top"
        " - document.getElementById('messages').getBoundingClientRect().top",
        ids[10],
    )
    assert 0 <= top < 100, top
    assert anchor.is_visible()

    # One separator per local day, right before that day's first message.
    separators = page.locator("#messages li.day-separator time")
    assert separators.evaluate_all("(ts) => ts.map((t) => t.getAttribute('datetime'))") == [
        "2024-03-01",
        "2024-03-02",
    ]
    labels = separators.all_text_contents()  # e.g. "Friday, 1 March 2024" (ICU versions differ)
    assert [label.split()[0].strip(",") for label in labels] == ["Friday", "Saturday"]
    assert [" ".join(label.split()[1:]) for label in labels] == ["1 March 2024", "2 March 2024"]
    order = page.evaluate(
        "() => [...document.querySelectorAll('#messages > li')].map((li) =>"
        " li.classList.contains('day-separator') ? 'day' : li.dataset.id || li.className)"
    )
    assert order == ["history-marker", "day", *ids[:5], "day", *ids[5:]]
    screenshot(page, "chat-history")
