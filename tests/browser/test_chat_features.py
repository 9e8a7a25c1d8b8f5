"""Presence, typing, editing and deleting, safe links and the composer, between two pages."""

from tests.browser.chatpage import record_frames, screenshot, send, shown, wait_until

ONLINE = "() => [...document.querySelectorAll('#presence li')].map((li) => li.textContent)"


def presence(page) -> list[str]:
    return page.evaluate(ONLINE)


def wait_presence(page, names: list[str]) -> None:
    wait_until(page, f"(names) => JSON.stringify(({ONLINE})()) === JSON.stringify(names)", names)


def test_presence_shows_each_person_once_and_follows_joins_and_leaves(open_chat, room):
    """Both pages list alice and bob; alice's second tab adds nobody; bob leaving removes him."""
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    wait_presence(alice, ["alice", "bob"])
    wait_presence(bob, ["alice", "bob"])

    second_tab = alice.context.new_page()
    second_tab.goto(alice.url)
    second_tab.wait_for_selector("#status[data-state=live]")
    wait_presence(second_tab, ["alice", "bob"])
    assert presence(bob) == ["alice", "bob"]
    assert alice.locator("#presence li.self").all_text_contents() == ["alice"]

    bob.close()
    wait_presence(alice, ["alice"])
    wait_presence(second_tab, ["alice"])


def test_typing_shows_on_the_other_pages_until_the_message_arrives(open_chat, room):
    """Typing for more than a second sends one frame for the whole burst; others see "alice is
    typing…", cleared by her message (the policy's timings: tests/js/typing.test.mjs)."""
    sent = []
    alice = open_chat(room, "alice", setup=record_frames(sent))
    bob = open_chat(room, "bob")
    carol = open_chat(room, "carol")

    alice.type("#message-input", "hello there", delay=150)  # 11 keystrokes over 1.5 s or more
    bob.wait_for_selector("#typing:has-text('alice is typing…')")
    assert alice.locator("#typing").text_content() == ""  # never told about herself
    alice.type("#message-input", " and more", delay=20)
    # One burst, one typing frame: not one per keystroke, nor one every few seconds.
    assert sent.count('{"action":"typing"}') == 1

    carol.type("#message-input", "me too", delay=250)
    bob.wait_for_selector("#typing:has-text('alice and carol are typing…')")
    alice.wait_for_selector("#typing:has-text('carol is typing…')")

    alice.press("#message-input", "Enter")
    bob.locator("#messages li.message", has_text="hello there and more").wait_for()
    # At once, not after the 15 s an indicator otherwise lasts.
    assert bob.locator("#typing").text_content() == "carol is typing…"
    carol.press("#message-input", "Enter")
    bob.locator("#messages li.message", has_text="me too").wait_for()
    assert bob.locator("#typing").text_content() == ""


def test_edit_and_delete_propagate_and_only_the_allowed_see_the_buttons(open_chat, room):
    """Alice edits her message, staff bob deletes it, she deletes her other; both pages agree."""
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    send(alice, "first draft")
    send(alice, "second thoughts")
    for page in (alice, bob):
        wait_until(
            page, "() => document.querySelectorAll('#messages li.message[data-id]').length == 2"
        )
    first, second = [m["id"] for m in shown(bob)]
    mine = alice.locator(f"li.message[data-id='{first}']")
    theirs = bob.locator(f"li.message[data-id='{first}']")
    # Alice may edit and delete her own; bob (staff) may only delete it.
    assert mine.locator("button.edit").count() == 1 and mine.locator("button.delete").count() == 1
    assert (
        theirs.locator("button.edit").count() == 0 and theirs.locator("button.delete").count() == 1
    )

    mine.hover()
    mine.locator("button.edit").click()
    editor = mine.locator("textarea.edit-input")
    assert editor.input_value() == "first draft"
    editor.fill("never mind")
    editor.press("Escape")  # cancelled: nothing sent, the text is back
    assert mine.locator(".text").text_content() == "first draft"
    mine.hover()
    mine.locator("button.edit").click()
    editor.fill("final text")
    editor.press("Enter")
    theirs.locator(".text", has_text="final text").wait_for()
    assert theirs.locator(".edited").is_visible()
    mine.locator(".edited").wait_for()
    assert mine.locator(".text").text_content() == "final text"

    bob.on("dialog", lambda dialog: dialog.accept())
    theirs.hover()
    theirs.locator("button.delete").click()
    mine.and_(alice.locator(".deleted")).wait_for()
    assert mine.locator(".text").text_content() == "message deleted"
    assert mine.locator("button").count() == 0

    alice.on("dialog", lambda dialog: dialog.accept())
    own_second = alice.locator(f"li.message[data-id='{second}']")
    own_second.hover()
    own_second.locator("button.delete").click()
    bob.locator(f"li.message.deleted[data-id='{second}']").wait_for()
    assert [(m["id"], m["text"], m["deleted"]) for m in shown(bob)] == [
        (first, "message deleted", True),
        (second, "message deleted", True),
    ]
    # A reload shows the same from history.
    bob.reload()
    bob.wait_for_selector("#messages li.message.deleted >> nth=1")
    assert [(m["id"], m["text"], m["deleted"]) for m in shown(bob)] == [
        (first, "message deleted", True),
        (second, "message deleted", True),
    ]


def test_links_are_safe_and_markup_stays_text(open_chat, room):
    """Only http(s) URLs become links (rel noopener, new tab); javascript: and HTML stay text."""
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    text = (
        "see https://example.com/a_(b)?q=1&r=<2>. or javascript:alert(document.domain) "
        'or <a href="javascript:alert(1)">click</a> or [x](javascript:alert(1)) '
        "data:text/html,<script>alert(1)</script> HTTP://EXAMPLE.ORG/caps"
    )
    send(alice, text)
    item = bob.locator("#messages li.message", has_text="see https://")
    item.wait_for()
    assert item.locator(".text").text_content() == text
    links = item.locator("a").evaluate_all(
        "(links) => links.map((a) => [a.getAttribute('href'), a.textContent, a.rel, a.target])"
    )
    assert links == [
        [
            "https://example.com/a_(b)?q=1&r=",
            "https://example.com/a_(b)?q=1&r=",
            "noopener noreferrer nofollow",
            "_blank",
        ],
        [
            "http://example.org/caps",
            "HTTP://EXAMPLE.ORG/caps",
            "noopener noreferrer nofollow",
            "_blank",
        ],
    ]
    assert bob.locator("#messages script, #messages img").count() == 0

    long_word = "x" * 3000
    send(alice, long_word)
    bob.locator("#messages li.message", has_text="xxxx").wait_for()
    overflow = bob.evaluate(
        "() => { const l = document.getElementById('messages');"
        " return l.scrollWidth - l.clientWidth; }"
    )
    assert overflow == 0  # the long word wraps instead of widening the list
    screenshot(bob, "chat-links")


def test_composer_counts_characters_and_refuses_messages_over_the_limit(open_chat, room):
    """The counter shows "n / 4000" (code points), turns `over` past it, and Enter sends nothing."""
    alice = open_chat(room, "alice")
    alice.fill("#message-input", "hello, 世界 🎉")
    assert alice.locator("#char-count").text_content() == "11 / 4000"
    alice.fill("#message-input", "y" * 4001)
    assert alice.locator("#char-count").text_content() == "4001 / 4000"
    assert alice.locator("#char-count.over").count() == 1
    assert alice.locator("#send").is_disabled()
    alice.press("#message-input", "Enter")
    assert alice.locator("#messages li.message").count() == 0
    assert (
        alice.locator("#notice").text_content().startswith("Messages are at most 4000 characters")
    )

    alice.fill("#message-input", "y" * 4000)
    assert alice.locator("#char-count.over").count() == 0
    alice.click("#send")
    alice.locator("#messages li.message.own:not(.pending)").wait_for()
    assert alice.locator("#char-count").text_content() == "0 / 4000"

    alice.fill("#message-input", "line one")
    alice.press("#message-input", "Shift+Enter")
    alice.type("#message-input", "line two")
    assert alice.locator("#message-input").input_value() == "line one\nline two"
