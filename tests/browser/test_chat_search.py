"""Message search on the chat page (static/chat/search.js): Enter searches, results show the
matched words as <mark>s, Escape closes them, "No results" and errors are said, and a result
opens its room at that message, paged back to if it is old (a reply: with its thread open); no
serious axe violation with results open, at desktop and phone widths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.chatpage import ARTIFACTS, axe_violations, wait_until
from tests.browser.test_chat_history import ulid_at

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TARGET = 7  # of 130 messages: three history pages back from the newest


@pytest.fixture
def seeded(users, room) -> list[str]:
    """130 messages from carol in `room`, the TARGET-th about a "flamingo", indexed by the
    backfill command (before Chromium starts: the ORM is not async-safe)."""
    from django.core.management import call_command

    from lambdas.models import Message

    ids = []
    with Message.batch_write() as batch:
        for i in range(130):
            sent_at = START + timedelta(minutes=i)
            text = "the flamingo <b>budget</b> is approved" if i == TARGET else f"note {i:03d}"
            message = Message(
                room,
                ulid_at(sent_at, i),
                user_id="carol-id",
                username="carol",
                text=text,
                sent_at=sent_at,
                seq=i + 1,
                rev=i + 1,
            )
            batch.save(message)
            ids.append(message.message_id)
    call_command("search_backfill", "--room", room, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return ids


def search(page, text: str) -> None:
    page.fill("#search-input", text)
    page.press("#search-input", "Enter")


def results_shown(page) -> str:
    wait_until(page, "() => !document.querySelector('#search-results').hidden")
    wait_until(page, "() => !document.querySelector('#search-results').hasAttribute('aria-busy')")
    return page.locator("#search-results .search-status").text_content()


def test_a_result_opens_its_room_at_the_message(seeded, room, make_room, open_chat):
    other = make_room()
    page = open_chat(other, "alice")
    # When alice, in another room, searches for a word of an old message
    search(page, "flamingos")
    assert results_shown(page) == "1 result"
    hit = page.locator("#search-results .search-hit a")
    assert hit.locator("mark").all_text_contents() == ["flamingo"]
    assert hit.locator(".search-snippet").text_content() == "the flamingo <b>budget</b> is approved"
    assert hit.locator(".search-where").text_content() == f"#{room}"
    # Escape closes the results and gives the field its focus back
    page.press("#search-input", "Escape")
    wait_until(page, "() => document.querySelector('#search-results').hidden")
    assert page.evaluate("() => document.activeElement.id") == "search-input"
    # And opening the result shows its room, paged back to the message, which takes focus
    search(page, "flamingo")
    results_shown(page)
    page.click("#search-results .search-hit a")
    wait_until(
        page,
        "(id) => document.activeElement?.dataset?.id === id"
        " && document.activeElement.classList.contains('search-target')",
        seeded[TARGET],
    )
    (ARTIFACTS / "search").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search" / "opened-at-message.png"))
    assert page.url.endswith(f"/rooms/{room}/")
    assert page.locator("#search-results").is_hidden()
    held = page.evaluate("() => [...document.querySelectorAll('#messages li.message')].length")
    assert held >= 130 - TARGET  # the pages between the newest and it, loaded in order
    # The message is in view
    assert page.evaluate(
        """(id) => {
            const item = document.querySelector(`#messages li.message[data-id="${id}"]`);
            const list = document.getElementById('messages').getBoundingClientRect();
            const box = item.getBoundingClientRect();
            return box.top >= list.top && box.bottom <= list.bottom;
        }""",
        seeded[TARGET],
    )


def test_a_results_link_opens_the_rooms_page_at_the_message(seeded, room, open_chat, site):
    page = open_chat(room, "alice")
    search(page, "flamingo")
    results_shown(page)
    href = page.get_attribute("#search-results .search-hit a", "href")
    assert href == f"/rooms/{room}/?message={seeded[TARGET]}"
    # As in a new tab: the room's page, loaded at that address
    page.goto(site + href)
    wait_until(
        page,
        "(id) => document.activeElement?.dataset?.id === id",
        seeded[TARGET],
    )
    assert page.url.endswith(f"/rooms/{room}/")  # the address is the room's again


def test_no_results_and_errors_are_said(seeded, room, open_chat):
    page = open_chat(room, "alice")
    search(page, "xylophone")
    assert results_shown(page) == "No results"
    search(page, "flamingo before:someday")
    assert results_shown(page) == "before: takes a date as YYYY-MM-DD, such as 2026-12-01"
    assert page.locator(".search-status").get_attribute("data-state") == "error"
    search(page, "from:carol in:" + room)
    assert results_shown(page) == "20 results shown, more below"
    page.click(".search-more")
    wait_until(page, "() => document.querySelectorAll('.search-hit').length === 40")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_results_are_accessible_at_desktop_and_phone_widths(seeded, room, open_chat, viewport):
    page = open_chat(room, "alice", viewport=VIEWPORTS[viewport])
    search(page, "flamingo OR note")
    results_shown(page)
    folder = ARTIFACTS / "search"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"search-results-{viewport}.png"))
    serious = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
    assert serious == []


@pytest.fixture
def reply(seeded, room) -> str:
    """bob's reply about a "pelican" to the TARGET message, indexed with its thread (before
    Chromium starts, as `seeded`); the parent's id."""
    from django.core.management import call_command

    from lambdas.models import Message, Replier

    parent = Message.get(room, seeded[TARGET])
    sent_at = START + timedelta(minutes=200)
    Message(
        room,
        ulid_at(sent_at, 500),
        user_id="bob-id",
        username="bob",
        text="the pelican agrees",
        sent_at=sent_at,
        seq=131,
        rev=131,
        thread=parent.message_id,
        tn=1,
    ).save()
    parent.update(
        actions=[
            Message.reply_count.set(1),
            Message.last_reply_at.set(sent_at),
            Message.repliers.set([Replier(user_id="bob-id", username="bob")]),
        ]
    )
    call_command("search_backfill", "--room", room, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return parent.message_id


def test_a_reply_found_opens_its_thread_beside_the_room(reply, room, open_chat):
    page = open_chat(room, "alice")
    search(page, "pelican")
    assert results_shown(page) == "1 result"
    page.click("#search-results .search-hit a")
    # The room at the parent, and the thread open beside it with the reply
    wait_until(page, "() => !document.getElementById('thread').hidden")
    wait_until(
        page,
        "(text) => document.getElementById('thread').textContent.includes(text)",
        "the pelican agrees",
    )
    assert page.locator(f"#messages li.message[data-id='{reply}']").is_visible()
