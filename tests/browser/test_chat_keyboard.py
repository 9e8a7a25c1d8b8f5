"""The message list and the composer by keyboard in Chromium: the list is one Tab stop (a WAI-ARIA
feed with arrow keys inside), Enter goes into a message's buttons and Escape back, the emoji
picker behind "Other…" works without a mouse, ↑'s editLast() edits one's newest message, and the
@-suggestions are an ARIA combobox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chatpage import ARTIFACTS, axe_violations, wait_until
from tests.browser.test_chat_grouping import lists, message, upsert  # noqa: F401
from tests.browser.test_chat_history import seed
from tests.browser.test_chat_markdown import harness

FOCUSED = "() => document.activeElement"


def focused_text(page) -> str | None:
    return page.evaluate(
        "() => document.activeElement.closest('li.message')?.querySelector('.text')?.textContent"
    )


def focused(page) -> dict:
    return page.evaluate(
        """() => { const el = document.activeElement;
            return { tag: el.tagName, role: el.getAttribute('role'),
                     cls: el.className, label: el.getAttribute('aria-label'),
                     text: el.textContent }; }"""
    )


def tab_stops(page, within: str) -> int:
    return page.evaluate(
        """(within) => [...document.querySelectorAll(within + ' *')].filter(
            (el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0).length""",
        within,
    )


def test_the_message_list_is_one_tab_stop_with_arrow_keys_inside(open_chat, room):
    seed(room, 12)
    page = open_chat(room, "alice")
    wait_until(page, "() => document.querySelectorAll('#messages li.message').length === 12")
    feed = page.locator("#messages")
    assert feed.get_attribute("role") == "feed"
    articles = page.locator("#messages > li.message")
    assert articles.first.get_attribute("role") == "article"
    # One stop: the newest message, and its own buttons (no other message's).
    newest = articles.last
    assert newest.get_attribute("tabindex") == "0"
    stops = page.evaluate(
        """() => [...document.querySelectorAll('#messages *')].filter((el) => el.tabIndex >= 0)
            .map((el) => el.closest('li.message') === document.querySelector(
                '#messages > li.message:last-child'))"""
    )
    assert stops and all(stops)

    # From the composer, Shift+Tab reaches the list: the newest message's buttons, then itself.
    page.focus("#message-input")
    for _ in range(20):
        page.keyboard.press("Shift+Tab")
        if focused(page)["role"] == "article":
            break
    assert focused_text(page) == "seeded 11"

    page.keyboard.press("ArrowUp")
    assert focused_text(page) == "seeded 10"
    assert articles.nth(10).get_attribute("tabindex") == "0"
    assert newest.get_attribute("tabindex") == "-1"
    page.keyboard.press("Home")
    assert focused_text(page) == "seeded 00"
    page.keyboard.press("PageDown")
    assert focused_text(page) == "seeded 10"
    page.keyboard.press("End")
    assert focused_text(page) == "seeded 11"
    page.keyboard.press("PageUp")
    assert focused_text(page) == "seeded 01"
    page.keyboard.press("ArrowDown")
    assert focused_text(page) == "seeded 02"
    # Scrolled into view.
    assert page.evaluate(
        """() => { const r = document.activeElement.getBoundingClientRect();
            const box = document.getElementById('messages').getBoundingClientRect();
            return r.top >= box.top - 1 && r.bottom <= box.bottom + 1; }"""
    )

    # Enter goes into the message's actions; Escape comes back to the message.
    page.keyboard.press("Enter")
    assert focused(page)["label"] == "React to the message from bob"
    page.keyboard.press("Escape")
    assert focused(page)["role"] == "article"
    assert focused_text(page) == "seeded 02"
    page.keyboard.press("F2")
    assert focused(page)["label"] == "React to the message from bob"
    # Tab from the message passes its own buttons only, then leaves the list.
    page.keyboard.press("Escape")
    presses = 0
    while page.evaluate("() => document.activeElement.closest('#messages') !== null"):
        page.keyboard.press("Tab")
        presses += 1
    assert presses == 3  # its React and Reply buttons, then out (bob's: no Edit or Delete)

    page.evaluate("() => document.getElementById('messages').scrollTop = 0")
    serious = [v for v in axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert serious == []


def test_new_messages_come_with_the_right_tab_stops(lists):  # noqa: F811
    upsert(lists, message(1, "bob", 0, "see https://example.com"), message(2, "alice", 1))
    assert tab_stops(lists, "#messages") >= 2  # the active (newest) message and its buttons
    wait_until(
        lists,
        """() => [...document.querySelectorAll('#messages > li.message:first-of-type *')]
            .every((el) => el.tabIndex < 0)""",
    )
    lists.locator("#messages > li.message").last.focus()
    upsert(lists, message(3, "bob", 2, "a [link](https://example.org)"))
    # The new one's link and buttons are not tab stops: the active message is still alice's.
    wait_until(
        lists,
        """() => [...document.querySelectorAll('#messages > li.message:last-child a, '
            + '#messages > li.message:last-child button')].every((el) => el.tabIndex === -1)""",
    )


def test_the_emoji_picker_by_keyboard(lists):  # noqa: F811
    theirs = message(1, "bob", 0, "pick one")
    upsert(lists, theirs)
    article = lists.locator("#messages > li.message")
    article.focus()
    lists.keyboard.press("Enter")
    assert focused(lists)["label"] == "React to the message from bob"
    lists.keyboard.press("Enter")  # the palette opens, focus on its first emoji
    assert focused(lists)["text"] == "👍"
    other = article.locator("button.pick-other")
    other.focus()
    lists.keyboard.press("Enter")
    picker = lists.get_by_role("dialog", name="Pick an emoji to react with")
    picker.wait_for()
    assert focused(lists)["text"] == "👍"
    (ARTIFACTS / "h2").mkdir(parents=True, exist_ok=True)
    lists.screenshot(path=str(ARTIFACTS / "h2" / "emoji-picker.png"))
    serious = [v for v in axe_violations(lists) if v["impact"] in {"serious", "critical"}]
    assert serious == []
    lists.keyboard.press("ArrowRight")
    lists.keyboard.press("ArrowDown")  # the grid: one row down
    assert focused(lists)["text"] == lists.evaluate(
        "() => document.querySelectorAll('.emoji-grid button')[9].textContent"
    )
    # Escape closes it and gives focus back to "Other…".
    lists.keyboard.press("Escape")
    assert picker.count() == 0
    assert focused(lists)["cls"] == "pick-other"

    lists.keyboard.press("Enter")
    field = lists.get_by_label("Any emoji")
    field.fill("ok")
    field.press("Enter")
    assert field.get_attribute("aria-invalid") == "true"
    assert "one emoji" in lists.locator(".emoji-error").text_content()
    field.fill("🦄")
    field.press("Enter")
    assert lists.evaluate("() => window.calls") == [["react", theirs["id"], "🦄", False]]
    assert picker.count() == 0
    assert focused(lists)["cls"] == "react"

    # A click outside closes it too.
    lists.keyboard.press("Enter")
    article.locator("button.pick-other").click()
    picker.wait_for()
    lists.mouse.click(5, 5)
    assert picker.count() == 0
    # Escape from the palette: back to React, then to the message.
    article.locator("button.pick").first.focus()
    lists.keyboard.press("Escape")
    assert focused(lists)["cls"] == "react"
    assert article.locator(".palette").count() == 0
    lists.keyboard.press("Escape")
    assert focused(lists)["role"] == "article"


def test_edit_last_edits_the_viewers_newest_message(lists):  # noqa: F811
    """The list's editLast() (chat.js calls it on ↑ in an empty composer)."""
    assert lists.evaluate("() => window.list.editLast()") is False
    mine = message(1, "alice", 0, "my **first**")
    upsert(lists, mine, message(2, "bob", 1), message(3, "alice", 2, "deleted", deleted=True))
    lists.evaluate("() => window.list.addPending('c1', 'pending')")
    assert lists.evaluate("() => window.list.editLast()") is True
    editor = lists.locator("#messages li.message .edit-input")
    assert editor.input_value() == "my **first**"
    assert lists.evaluate("() => document.activeElement.classList.contains('edit-input')")
    editor.fill("my *second*")
    editor.press("Enter")
    assert lists.evaluate("() => window.calls") == [["edit", mine["id"], "my *second*"]]


COMBO_BODY = (
    "<form class='composer' style='margin-top:12rem'>"
    "<ul id=mention-suggestions class=mention-suggestions aria-label='Members to mention' hidden>"
    "</ul><label for=message-input>Message</label><textarea id=message-input></textarea></form>"
)
COMBO_SCRIPT = """
import { MentionCompleter } from '/static/chat/mentions.js';
const input = document.getElementById('message-input');
window.completer = new MentionCompleter(
    input, document.getElementById('mention-suggestions'), ['carol', 'bob', 'carla']);
input.addEventListener('keydown', (event) => window.completer.key(event))"""


@pytest.fixture
def combo(live_server) -> Iterator:
    with harness(live_server, COMBO_BODY, COMBO_SCRIPT) as page:
        yield page


def test_the_mention_suggestions_are_an_aria_combobox(combo):
    box = combo.locator("#message-input")
    assert box.get_attribute("role") == "combobox"
    assert box.get_attribute("aria-autocomplete") == "list"
    assert box.get_attribute("aria-controls") == "mention-suggestions"
    assert box.get_attribute("aria-expanded") == "false"
    assert box.get_attribute("aria-activedescendant") is None

    box.type("hi @ca")
    options = combo.get_by_role("option")
    assert options.all_text_contents() == ["@carla", "@carol"]
    assert box.get_attribute("aria-expanded") == "true"
    first, second = options.nth(0), options.nth(1)
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    assert first.get_attribute("aria-selected") == "true"

    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == second.get_attribute("id")
    assert second.get_attribute("aria-selected") == "true"
    assert first.get_attribute("aria-selected") == "false"
    box.press("ArrowUp")
    assert first.get_attribute("aria-selected") == "true"
    box.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    assert box.get_attribute("aria-activedescendant") is None

    box.fill("")
    box.type("@car")
    box.press("ArrowDown")
    box.press("Enter")
    assert box.input_value() == "@carol "
    assert box.get_attribute("aria-expanded") == "false"

    # Another room's members, without a reload.
    combo.evaluate("() => window.completer.setNames(['dave'])")
    box.type("@d")
    assert options.all_text_contents() == ["@dave"]
    box.press("Tab")
    assert box.input_value() == "@carol @dave "
    serious = [v for v in axe_violations(combo) if v["impact"] in {"serious", "critical"}]
    assert serious == []
