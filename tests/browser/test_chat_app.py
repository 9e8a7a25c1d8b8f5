"""The chat page as one app in Chromium: the sidebar of every room with live counts, switching
rooms in place (drafts, scroll, cached messages, Back/Forward, no frames leaking between rooms),
the phone layout's slide-out panels, the keyboard paths (skip link, quick switcher, ↑ to edit)
and the "new messages ↓" button, with axe-core on each state."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from tests.browser.chatpage import (
    ARTIFACTS,
    axe_violations,
    fake_notifications,
    send,
    shown,
    wait_until,
)

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = ARTIFACTS / "h3"

# Set once per document: a full page load loses it.
MARK = "window.__sameDocument = true"
SAME_DOCUMENT = "() => window.__sameDocument === true"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def serious(page) -> list[dict]:
    return [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]


@pytest.fixture
def app_rooms(users) -> dict[str, str]:
    """Bob's rooms besides #general: a public one, alice's private one he is a member of, and
    his conversation with alice; made before Chromium starts (the ORM is not async-safe)."""
    from chat.services.direct import direct_open
    from chat.services.members import member_add
    from chat.services.rooms import room_create
    from lambdas.models import Room

    people = {u.username: str(u.pk) for u in get_user_model().objects.all()}
    public = f"pub-{uuid.uuid4().hex[:8]}"
    room_create(name=public, title="Random", description="Anything goes", created_by="carol")
    private = f"priv-{uuid.uuid4().hex[:8]}"
    room_create(
        name=private,
        title="Plans",
        description="Where we plan",
        created_by="alice",
        private=True,
        creator_id=people["alice"],
    )
    member_add(room=Room.get(private), user_id=people["bob"], username="bob", added_by="alice")
    direct = direct_open(
        people=[(people["alice"], "alice"), (people["bob"], "bob")], opened_by="alice"
    ).name
    return {"public": public, "private": private, "direct": direct}


def entry(page, room: str):
    return page.locator(f"#switcher li[data-room='{room}']")


def open_in_place(page, room: str) -> None:
    """Click the room's sidebar entry and wait for it to be shown and live."""
    entry(page, room).locator("a").click()
    wait_until(page, "(room) => document.querySelector('#messages').dataset.room === room", room)
    page.wait_for_selector("#status[data-state=live]")


def test_the_app_layout_at_desktop_and_phone_widths(app_rooms, open_chat):
    """Sidebar, messages and details side by side at 1440 px with no serious axe violation;
    on a phone the messages take the screen and the panels slide out."""
    alice = open_chat(app_rooms["private"], "alice")
    for text in ("Shall we meet on **Friday**?", "Works for me", "@bob are you in?"):
        send(alice, text)
    bob = open_chat(app_rooms["private"], "bob", viewport=DESKTOP)
    bob.locator("#messages li.message", has_text="are you in").wait_for()
    assert bob.locator("#switcher a[aria-current=page]").text_content().strip() != ""
    assert bob.locator("#sidebar").is_visible() and bob.locator("#details").is_visible()
    assert bob.locator("#details-toggle").is_hidden()
    shot(bob, "desktop")
    assert serious(bob) == []

    bob.keyboard.press("Control+k")
    bob.locator("#quick-switch-input").wait_for()
    shot(bob, "desktop-quick-switch")
    assert serious(bob) == []
    bob.keyboard.press("Escape")

    phone = open_chat(app_rooms["private"], "bob", viewport=PHONE, is_mobile=True)
    phone.locator("#messages li.message", has_text="are you in").wait_for()
    assert phone.locator("#sidebar").is_hidden()
    shot(phone, "phone")
    assert serious(phone) == []
    phone.click("#sidebar-toggle")
    phone.locator("#sidebar.open").wait_for()
    wait_until(phone, "() => document.querySelector('#sidebar').getBoundingClientRect().left >= 0")
    shot(phone, "phone-sidebar")
    assert serious(phone) == []
    phone.keyboard.press("Escape")
    phone.click("#details-toggle")
    wait_until(
        phone, "() => document.querySelector('#details').getBoundingClientRect().right <= 390"
    )
    shot(phone, "phone-details")
    assert serious(phone) == []


def test_switching_rooms_keeps_drafts_scroll_and_messages_without_a_page_load(app_rooms, open_chat):
    """Bob reads his private room scrolled up, drafts a reply, moves to the conversation and
    back: the same document throughout, the URL and title follow, his draft and place are
    kept, the cached messages are there at once and what was said meanwhile is added."""
    private, direct = app_rooms["private"], app_rooms["direct"]
    alice = open_chat(private, "alice")
    for n in range(40):
        send(alice, f"line {n} " + "words " * 12)
    alice.locator("#messages li.message.own:not(.pending)", has_text="line 39").wait_for()

    bob = open_chat(private, "bob", viewport=DESKTOP)
    bob.locator("#messages li.message", has_text="line 39").wait_for()
    bob.evaluate(MARK)
    bob.evaluate("document.querySelector('#messages').scrollTop = 300")
    bob.fill("#message-input", "half a thought")

    open_in_place(bob, direct)
    assert bob.url.endswith(f"/rooms/{direct}/")
    assert bob.title().startswith("alice")
    assert bob.evaluate("document.activeElement.id") == "message-input"
    assert bob.input_value("#message-input") == ""
    assert entry(bob, direct).locator("a").get_attribute("aria-current") == "page"
    assert entry(bob, private).locator("a").get_attribute("aria-current") is None
    assert bob.locator("#messages li.message").count() == 0
    send(alice, "said while bob was away")  # alice is still in the private room

    open_in_place(bob, private)
    wait_until(bob, SAME_DOCUMENT)
    assert bob.input_value("#message-input") == "half a thought"
    assert bob.evaluate("document.querySelector('#messages').scrollTop") == 300
    bob.locator("#messages li.message", has_text="said while bob was away").wait_for()
    assert len([m for m in shown(bob) if m["text"].startswith("line ")]) == 40
    wait_until(bob, SAME_DOCUMENT)


def test_back_and_forward_switch_rooms_in_place(app_rooms, open_chat):
    private, direct = app_rooms["private"], app_rooms["direct"]
    bob = open_chat(private, "bob")
    bob.evaluate(MARK)
    open_in_place(bob, direct)
    bob.go_back()
    wait_until(bob, "(r) => document.querySelector('#messages').dataset.room === r", private)
    assert bob.url.endswith(f"/rooms/{private}/")
    assert bob.locator(".room-name").text_content().startswith("Plans")
    bob.go_forward()
    wait_until(bob, "(r) => document.querySelector('#messages').dataset.room === r", direct)
    bob.wait_for_selector("#status[data-state=live]")
    assert bob.locator(".room-name").text_content() == "alice"
    wait_until(bob, SAME_DOCUMENT)


def test_messages_of_the_room_left_do_not_reach_the_room_shown(app_rooms, open_chat):
    """Alice writes in the private room just as Bob moves to their conversation: nothing of
    hers lands in the conversation's list; back in the room, her message is there."""
    private, direct = app_rooms["private"], app_rooms["direct"]
    alice = open_chat(private, "alice")
    bob = open_chat(private, "bob")
    entry(bob, direct).locator("a").click()
    send(alice, "for the room only")
    wait_until(bob, "(r) => document.querySelector('#messages').dataset.room === r", direct)
    bob.wait_for_selector("#status[data-state=live]")
    send(alice, "also for the room")
    alice.locator("#messages li.message.own:not(.pending)", has_text="also for").wait_for()
    send(bob, "hello alice")
    bob.locator("#messages li.message.own:not(.pending)", has_text="hello alice").wait_for()
    assert [m["text"] for m in shown(bob)] == ["hello alice"]
    assert bob.locator(f"ol.messages[data-room='{direct}'] li.message").count() == 1

    open_in_place(bob, private)
    bob.locator("#messages li.message", has_text="also for the room").wait_for()
    bob.locator("#messages li.message", has_text="for the room only").wait_for()
    assert "hello alice" not in [m["text"] for m in shown(bob)]


def test_the_sidebar_counts_three_rooms_live(app_rooms, open_chat):
    """Bob (in #general) has joined a public room by opening it; Alice writes in it, in their
    private room and in their conversation: each entry counts, the mention too, and opening
    one clears its badges."""
    public, private, direct = app_rooms["public"], app_rooms["private"], app_rooms["direct"]
    joined = open_chat(public, "bob")  # opening it joins it
    joined.close()
    bob = open_chat("general", "bob")
    assert entry(bob, public).count() == 1  # listed under Rooms
    alice = open_chat(public, "alice")
    send(alice, "in the public room")
    send(alice, "@bob did you see?")
    entry(bob, public).locator(".badge.unread:not([hidden])", has_text="2").wait_for()
    assert entry(bob, public).locator(".badge.mention").text_content() == "@1"

    alice.goto(alice.url.replace(f"/rooms/{public}/", f"/rooms/{private}/"))
    alice.wait_for_selector("#status[data-state=live]")
    send(alice, "in the private room")
    entry(bob, private).locator(".badge.unread:not([hidden])", has_text="1").wait_for()

    alice.goto(alice.url.replace(f"/rooms/{private}/", f"/rooms/{direct}/"))
    alice.wait_for_selector("#status[data-state=live]")
    send(alice, "just to you")
    entry(bob, direct).locator(".badge.unread:not([hidden])", has_text="1").wait_for()
    assert entry(bob, public).locator(".badge.unread").text_content() == "2"

    open_in_place(bob, public)
    assert entry(bob, public).locator(".badge.unread").is_hidden()
    assert entry(bob, public).locator(".badge.mention").is_hidden()
    bob.locator("#messages li.message", has_text="did you see").wait_for()
    assert entry(bob, private).locator(".badge.unread").text_content() == "1"


def test_a_mention_in_a_public_room_notifies_a_hidden_page(app_rooms, open_chat):
    """Bob sits in #general with his tab hidden; Alice names him in a public room he has
    joined: a notification, the title counts it, and the entry's mention badge. Clicking the
    notification shows that room, in place."""
    public = app_rooms["public"]
    joined = open_chat(public, "bob")  # opening it joins it
    joined.close()
    bob = open_chat("general", "bob", setup=fake_notifications("granted"))
    title = bob.title()
    bob.evaluate("window.__setHidden(true)")
    alice = open_chat(public, "alice")
    send(alice, "@bob lunch?")
    bob.wait_for_function("window.__notes.length === 1")
    assert bob.evaluate("window.__notes") == [
        {"title": f"alice mentioned you in #{public}", "body": "@bob lunch?"}
    ]
    assert bob.title() == f"(1) {title}"
    entry(bob, public).locator(".badge.mention:not([hidden])", has_text="@1").wait_for()
    bob.evaluate(MARK)
    bob.evaluate("window.__setHidden(false); window.__noteClicks[0]()")
    wait_until(bob, "(room) => document.querySelector('#messages').dataset.room === room", public)
    bob.locator("#messages li.message", has_text="lunch?").wait_for()
    assert bob.evaluate(SAME_DOCUMENT) and bob.url.endswith(f"/rooms/{public}/")


def test_a_mention_in_the_public_room_shown_notifies_when_hidden(app_rooms, open_chat):
    public = app_rooms["public"]
    bob = open_chat(public, "bob", setup=fake_notifications("granted"))
    bob.evaluate("window.__setHidden(true)")
    alice = open_chat(public, "alice")
    send(alice, "not for anyone")
    send(alice, "@bob over here")
    bob.wait_for_function("window.__notes.length === 1")
    assert bob.evaluate("window.__notes")[0]["title"] == f"alice mentioned you in #{public}"


# Every `markread` and `ping` the page sends, recorded in the page (so waits can poll it there).
MARKS = """
window.__marks = [];
window.__pings = [];
const originalSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  const frame = JSON.parse(data);
  if (frame.action === "markread") window.__marks.push(frame.id);
  if (frame.action === "ping") window.__pings.push(frame.read ?? null);
  return originalSend.call(this, data);
};
"""


def test_read_marks_ride_on_the_keep_alive(app_rooms, open_chat):
    """A reader at the bottom marks the room read soon after it is shown, then sends nothing per
    message: no `markread`, no ping (the keep-alive's ping carries the read position; the
    page's timings keep it minutes away, so here the page being shown again sends it); leaving
    the room sends what was read since at once."""
    public, direct = app_rooms["public"], app_rooms["direct"]
    bob = open_chat(public, "bob", setup=lambda page: page.add_init_script(MARKS))
    alice = open_chat(public, "alice")
    send(alice, "first")
    bob.locator("#messages li.message", has_text="first").wait_for()
    wait_until(bob, "() => window.__marks.length === 1")
    for n in range(3):
        send(alice, f"more {n}")
    bob.locator("#messages li.message", has_text="more 2").wait_for()

    def newest() -> str:
        return bob.evaluate(
            "[...document.querySelectorAll('#messages li.message')].at(-1).dataset.id"
        )

    read = newest()
    bob.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # shown again
    wait_until(bob, "(id) => window.__pings.includes(id)", read)
    assert bob.evaluate("window.__marks.length") == 1
    assert bob.evaluate("window.__pings") == [read]  # none for the four changes heard
    send(alice, "after the ping")
    bob.locator("#messages li.message", has_text="after the ping").wait_for()
    last = newest()
    entry(bob, direct).locator("a").click()
    wait_until(bob, "(id) => window.__marks.at(-1) === id", last)
    assert bob.evaluate("window.__marks.length") == 2 and last != read


def test_the_phone_layout_opens_and_closes_its_panels_by_keyboard(app_rooms, open_chat):
    private, direct = app_rooms["private"], app_rooms["direct"]
    bob = open_chat(private, "bob", viewport=PHONE, is_mobile=True)
    assert bob.locator("#sidebar").is_hidden()
    bob.focus("#sidebar-toggle")
    bob.keyboard.press("Enter")
    bob.locator("#sidebar.open").wait_for()
    assert bob.get_attribute("#sidebar-toggle", "aria-expanded") == "true"
    assert bob.evaluate("document.activeElement.closest('#sidebar') !== null")
    bob.keyboard.press("Escape")
    bob.locator("#sidebar").wait_for(state="hidden")
    assert bob.get_attribute("#sidebar-toggle", "aria-expanded") == "false"
    assert bob.evaluate("document.activeElement.id") == "sidebar-toggle"

    bob.focus("#details-toggle")
    bob.keyboard.press("Enter")
    bob.locator("#details.open").wait_for()
    assert bob.evaluate("document.activeElement.closest('#details') !== null")
    bob.click("#backdrop", position={"x": 20, "y": 400})
    bob.locator("#details").wait_for(state="hidden")
    assert bob.evaluate("document.activeElement.id") == "details-toggle"

    # A room opened from the sidebar closes it and takes focus to its composer.
    bob.click("#sidebar-toggle")
    bob.locator("#sidebar.open").wait_for()
    open_in_place(bob, direct)
    bob.locator("#sidebar").wait_for(state="hidden")
    assert bob.evaluate("document.activeElement.id") == "message-input"


def test_the_skip_link_goes_to_the_message_box(app_rooms, open_chat):
    bob = open_chat(app_rooms["private"], "bob")
    link = bob.locator(".skip-link")
    assert link.text_content() == "Skip to the message box"
    assert not link.is_visible() or link.bounding_box()["y"] < 0  # off screen until focused
    link.focus()
    assert link.bounding_box()["y"] >= 0
    bob.keyboard.press("Enter")
    assert bob.evaluate("document.activeElement.id") == "message-input"
    # Elsewhere the first Tab stop skips to the page's content.
    with bob.expect_navigation():  # the rooms page loaded (a Tab before lands on the old one)
        bob.click("#nav-rooms")
    bob.keyboard.press("Tab")
    assert bob.evaluate("document.activeElement.textContent") == "Skip to content"
    bob.keyboard.press("Enter")
    assert bob.evaluate("document.activeElement.id") == "content"


def test_the_quick_switcher_by_keyboard(app_rooms, open_chat):
    private, direct = app_rooms["private"], app_rooms["direct"]
    bob = open_chat(private, "bob")
    bob.evaluate(MARK)
    bob.keyboard.press("Control+k")
    dialog = bob.locator("#quick-switch")
    dialog.wait_for()
    assert bob.evaluate("document.activeElement.id") == "quick-switch-input"
    bob.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert bob.evaluate("document.activeElement.id") == "message-input"

    bob.keyboard.press("Control+k")
    bob.keyboard.type("ali")
    options = bob.locator("#quick-switch-list [role=option]")
    assert options.all_text_contents() == ["alice"]
    bob.keyboard.press("Backspace")
    bob.keyboard.press("Backspace")
    bob.keyboard.press("Backspace")
    bob.keyboard.press("ArrowDown")
    selected = bob.locator("#quick-switch-list [aria-selected=true]")
    chosen = selected.get_attribute("data-room")
    assert bob.get_attribute(
        "#quick-switch-input", "aria-activedescendant"
    ) == selected.get_attribute("id")
    bob.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    wait_until(bob, "(r) => document.querySelector('#messages').dataset.room === r", chosen)
    assert chosen in (private, direct)
    assert bob.evaluate("document.activeElement.id") == "message-input"
    wait_until(bob, SAME_DOCUMENT)


def test_arrow_up_in_an_empty_composer_edits_the_last_message(app_rooms, open_chat):
    bob = open_chat(app_rooms["private"], "bob")
    send(bob, "first")
    send(bob, "second")
    bob.locator("#messages li.message.own:not(.pending)", has_text="second").wait_for()
    bob.focus("#message-input")
    bob.keyboard.press("ArrowUp")
    edit = bob.locator("#messages li.message textarea.edit-input")
    edit.wait_for()
    assert edit.input_value() == "second"
    assert bob.evaluate("document.activeElement.classList.contains('edit-input')")


def test_new_messages_button_when_scrolled_up(app_rooms, open_chat):
    private = app_rooms["private"]
    alice = open_chat(private, "alice")
    for n in range(30):
        send(alice, f"filler {n} " + "words " * 12)
    alice.locator("#messages li.message.own:not(.pending)", has_text="filler 29").wait_for()
    bob = open_chat(private, "bob")
    bob.locator("#messages li.message", has_text="filler 29").wait_for()
    assert bob.locator("#new-below").is_hidden()
    bob.evaluate("document.querySelector('#messages').scrollTop = 0")
    send(alice, "news one")
    send(alice, "news two")
    bob.locator("#new-below:not([hidden])", has_text="2 new messages ↓").wait_for()
    assert serious(bob) == []
    bob.click("#new-below")
    bob.locator("#new-below").wait_for(state="hidden")
    assert bob.locator("#messages li.message", has_text="news two").is_visible()
    # Scrolled to the bottom by hand: hidden too.
    bob.evaluate("document.querySelector('#messages').scrollTop = 0")
    send(alice, "news three")
    bob.locator("#new-below:not([hidden])", has_text="1 new message ↓").wait_for()
    bob.evaluate("(l => l.scrollTop = l.scrollHeight)(document.querySelector('#messages'))")
    bob.locator("#new-below").wait_for(state="hidden")


# The composer's placeholder as drawn: its text, and whether it fits on one line of the box.
PLACEHOLDER = """() => {
    const box = document.getElementById("message-input");
    const style = getComputedStyle(box);
    const probe = document.createElement("span");
    probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap";
    probe.style.font = style.font;
    probe.textContent = box.placeholder;
    document.body.append(probe);
    const width = probe.getBoundingClientRect().width;
    probe.remove();
    const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return { text: box.placeholder, fits: width <= inner };
}"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_empty_room_and_its_composer(open_chat, room, viewport):
    """A room with no message yet: its list is a labelled group saying so (a feed holds
    articles: an empty one is what axe calls aria-required-children), the feed once a message
    is there; the composer's placeholder is one line that fits, at 1440 and 390 px."""
    page = open_chat(room, "alice", viewport={"desktop": DESKTOP, "phone": PHONE}[viewport])
    page.locator("#messages .history-marker[data-state=start]").wait_for()
    shot(page, f"empty-room-{viewport}")
    assert page.get_attribute("#messages", "role") == "group"
    assert page.get_attribute("#messages", "aria-label") == f"Messages in #{room}"
    assert serious(page) == []
    drawn = page.evaluate(PLACEHOLDER)
    assert drawn["fits"], drawn
    if viewport == "phone":
        # No hint; the room's name (long, in these tests) cut to fit, with an ellipsis
        shown = drawn["text"]
        assert shown.endswith("…") and f"Message #{room}".startswith(shown[:-1]), shown
    else:
        assert drawn["text"] == f"Message #{room} (Enter sends, Shift+Enter adds a line)"

    send(page, "The first message")
    page.locator("#messages li.message:not(.pending)", has_text="The first message").wait_for()
    wait_until(page, "() => document.getElementById('messages').getAttribute('role') === 'feed'")
    assert serious(page) == []
