"""Files in a thread's composer, through the local stack: attached by the thread panel's
paperclip, by paste and by a drop on the panel, with the room composer's chips (the same
component, mounted on the thread's composer); the reply goes with them and the other person sees
the thumbnail and the card in the thread, not in the room; at 1440 and 390 px wide, with
axe-core."""

from __future__ import annotations

import base64
import json

import pytest

from tests.browser.chatpage import record_frames, screenshot, send, wait_until
from tests.browser.test_chat_files import png, serious
from tests.browser.test_chat_threads import open_thread_of

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# A screenshot pasted into the thread's box: the clipboard's file, no text.
PASTE = """(data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
    const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true,
                                                cancelable: true });
    document.getElementById("thread-input").dispatchEvent(paste);
}"""


def thread_chip(page, name: str):
    return page.locator("#thread-attachments .chip", has=page.locator(".chip-name", has_text=name))


def wait_thread_ready(page, name: str) -> None:
    thread_chip(page, name).and_(page.locator("[data-state=ready]")).wait_for()


def reply_with_files(page, count: int, text: str | None = None):
    """The last reply in the thread panel showing `count` files (and `text`, if given)."""
    wait_until(
        page,
        """([n, text]) => [...document.querySelectorAll("#thread-messages li.message")]
              .some((li) => { const box = li.querySelector(".files");
                  return !li.classList.contains("pending") && box && !box.hidden
                      && box.childElementCount === n
                      && (text === null || li.querySelector(".text")?.textContent === text); })""",
        [count, text],
    )
    return page.locator(
        "#thread-messages li.message:has(> .files:not([hidden]))",
        has=page.locator(f".files > :nth-child({count})"),
    ).last


def thumbnails_loaded(page, where: str) -> None:
    wait_until(
        page,
        """(where) => {
            const imgs = [...document.querySelectorAll(where + " .file-thumb img")];
            return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
        }""",
        where,
    )


def sendmessages(frames: list[str]) -> list[dict]:
    return [f for f in map(json.loads, frames) if f.get("action") == "sendmessage"]


def test_files_in_a_thread_by_button_and_paste(open_chat, room):
    sent: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(sent), viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Designs for the launch page?")
    open_thread_of(alice, "Designs for the launch page?")
    open_thread_of(bob, "Designs for the launch page?")
    notes = b"Launch page\n\n- hero image\n- pricing table\n" * 20

    # Given two files attached by the thread's own paperclip (its chips, not the room's)
    assert alice.get_attribute("#thread-attach", "aria-label") == "Attach files to the reply"
    with alice.expect_file_chooser() as chooser:
        alice.click("#thread-attach")
    chooser.value.set_files(
        [
            {"name": "launch-hero.png", "mimeType": "image/png", "buffer": png(1200, 600)},
            {"name": "launch-notes.txt", "mimeType": "text/plain", "buffer": notes},
        ]
    )
    thread_chip(alice, "launch-hero.png").wait_for()
    assert alice.locator("#attachments .chip").count() == 0
    # When Alice replies before they are checked, the reply waits for them (as in the room)
    alice.fill("#thread-input", "Hero and notes attached")
    alice.press("#thread-input", "Enter")
    assert alice.input_value("#thread-input") == ""

    # Then Bob sees the thumbnail and the card in the thread, and the reply is not in the room
    theirs = reply_with_files(bob, 2, "Hero and notes attached")
    thumbnails_loaded(bob, "#thread-messages")
    assert theirs.locator(".file-thumb img").get_attribute("alt") == "launch-hero.png"
    assert theirs.locator(".file-card .file-name").text_content() == "launch-notes.txt"
    assert bob.locator("#messages li.message", has_text="Hero and notes attached").count() == 0
    bob.locator("#messages .thread-count", has_text="1 reply").wait_for()
    alice.locator("#thread-attachments").wait_for(state="hidden")
    first = sendmessages(sent)[-1]
    assert first["thread"] and len(first["files"]) == 2 and "also_in_room" not in first

    # When Alice pastes a screenshot into the thread's box and sends it with nothing typed
    alice.focus("#thread-input")
    alice.evaluate(PASTE, base64.b64encode(png(640, 360)).decode())
    wait_thread_ready(alice, "image.png")
    assert alice.input_value("#thread-input") == ""
    alice.press("#thread-input", "Enter")
    # Then Bob gets the image alone, in the thread
    pasted = reply_with_files(bob, 1, "")
    thumbnails_loaded(bob, "#thread-messages")
    assert pasted.locator(".file-thumb img").get_attribute("alt") == "image.png"
    bob.locator("#messages .thread-count", has_text="2 replies").wait_for()
    second = sendmessages(sent)[-1]
    assert second["thread"] == first["thread"] and len(second["files"]) == 1
    assert not serious(bob)
    screenshot(bob, "thread-files-received-desktop")


def test_files_dropped_on_the_thread_go_with_the_reply(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    send(alice, "Logs from last night?")
    open_thread_of(alice, "Logs from last night?")
    drag = """(type) => {
        if (!window.__drag) {
            window.__drag = new DataTransfer();
            window.__drag.items.add(new File(["GET /health 200\\n"], "server.log",
                                             { type: "text/plain" }));
        }
        const init = { dataTransfer: window.__drag, bubbles: true, cancelable: true };
        document.querySelector("#thread-messages").dispatchEvent(new DragEvent(type, init));
    }"""
    # Given a file dragged over the thread: the thread's drop target shows, not the room's
    alice.evaluate(drag, "dragenter")
    alice.evaluate(drag, "dragover")
    assert alice.locator("#thread-drop-target").is_visible()
    assert not alice.locator("#drop-target").is_visible()
    # When it is dropped it is attached to the reply, and the reply goes with it
    alice.evaluate(drag, "drop")
    alice.locator("#thread-drop-target").wait_for(state="hidden")
    wait_thread_ready(alice, "server.log")
    assert alice.locator("#attachments .chip").count() == 0
    alice.press("#thread-input", "Enter")
    mine = reply_with_files(alice, 1, "")
    assert mine.locator(".file-name").text_content() == "server.log"


@pytest.mark.parametrize("viewport", {"desktop": DESKTOP, "phone": PHONE})
def test_screenshots_of_the_thread_composer_with_files(open_chat, room, viewport):
    """The thread panel with a reply's image and card, and its composer with chips (ready,
    refused) and the note: looked at, and checked by axe-core."""
    size = {"desktop": DESKTOP, "phone": PHONE}[viewport]
    alice = open_chat(room, "alice", viewport=size)
    send(alice, "The **budget** for Q3, anyone?")
    open_thread_of(alice, "budget for Q3")
    alice.set_input_files(
        "#thread-file-input",
        [
            {"name": "q3-chart.png", "mimeType": "image/png", "buffer": png(900, 500)},
            {"name": "q3-budget.csv", "mimeType": "text/csv", "buffer": b"item,eur\nads,9\n" * 80},
        ],
    )
    wait_thread_ready(alice, "q3-chart.png")
    wait_thread_ready(alice, "q3-budget.csv")
    alice.fill("#thread-input", "Chart and the sheet")
    alice.press("#thread-input", "Enter")
    reply_with_files(alice, 2, "Chart and the sheet")
    thumbnails_loaded(alice, "#thread-messages")
    # The next reply's files: one ready, one refused
    alice.set_input_files(
        "#thread-file-input",
        [
            {"name": "q4-draft.png", "mimeType": "image/png", "buffer": png(800, 450)},
            {"name": "macro.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
        ],
    )
    wait_thread_ready(alice, "q4-draft.png")
    thread_chip(alice, "macro.exe").and_(alice.locator("[data-state=failed]")).wait_for()
    assert alice.locator("#thread-attachments-note").is_visible()
    box = alice.locator("#thread").bounding_box()
    assert box["x"] + box["width"] <= size["width"]
    assert not serious(alice)
    screenshot(alice, f"thread-files-composer-{viewport}")
