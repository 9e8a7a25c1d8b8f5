"""A message's files across a reload, through the local stack: a draft's uploaded files (by their
upload ids) and its text come back after a reload and are sent; while a file is still uploading
the browser asks before leaving (beforeunload), and one that was cut off by the reload comes back
saying so, its message's text back in the box; the same in a thread's composer."""

from __future__ import annotations

import io
import json
import os

from tests.browser.chatpage import record_frames, screenshot, send
from tests.browser.test_chat_files import chip, message_with_files, png, serious, slow_uploads
from tests.browser.test_chat_thread_files import reply_with_files, thread_chip, wait_thread_ready
from tests.browser.test_chat_threads import open_thread_of

DESKTOP = {"width": 1440, "height": 900}

KEPT = """() => Object.keys(sessionStorage).filter((key) => key.endsWith(".files"))"""


def noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress (random pixels): its upload takes as long as its size says."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def ready(page, name: str) -> None:
    chip(page, name).and_(page.locator("[data-state=ready]")).wait_for()


def dialogs_of(page) -> list[str]:
    """Every dialog the page raises, by type, accepted (a reload goes on)."""
    seen: list[str] = []

    def accept(dialog) -> None:
        seen.append(dialog.type)
        dialog.accept()

    page.on("dialog", accept)
    return seen


def reloaded(page) -> None:
    page.reload()
    page.wait_for_selector("#status[data-state=live]")


def test_a_draft_with_uploaded_files_survives_a_reload_and_is_sent(open_chat, room, site):
    sent: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(sent), viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    dialogs = dialogs_of(alice)
    image = png(800, 500)
    notes = b"Minutes\n\n- ship on Friday\n" * 30
    # Given two files uploaded and checked, and a caption typed (by the person: the page has been
    # used, so a beforeunload handler that asked would be heard)
    alice.click("#message-input")
    alice.set_input_files(
        "#file-input",
        [
            {"name": "whiteboard.png", "mimeType": "image/png", "buffer": image},
            {"name": "minutes.txt", "mimeType": "text/plain", "buffer": notes},
        ],
    )
    ready(alice, "whiteboard.png")
    ready(alice, "minutes.txt")
    alice.keyboard.type("Whiteboard and minutes")

    # When the page is reloaded (nothing is uploading: the browser does not ask)
    reloaded(alice)
    assert dialogs == []
    # Then the text and both files are back, ready, by their upload ids
    ready(alice, "whiteboard.png")
    ready(alice, "minutes.txt")
    assert alice.input_value("#message-input") == "Whiteboard and minutes"
    assert not alice.locator("#attachments-note").is_visible()
    assert not serious(alice)
    screenshot(alice, "files-draft-reloaded-desktop")

    # And Enter sends them: Bob gets the text, the thumbnail and the card; the original downloads
    alice.press("#message-input", "Enter")
    theirs = message_with_files(bob, 2)
    assert theirs.locator(".text").text_content() == "Whiteboard and minutes"
    bob.locator("#messages .file-thumb img[alt='whiteboard.png']").wait_for()
    assert theirs.locator(".file-card .file-name").text_content() == "minutes.txt"
    theirs.locator(".file-thumb").click()
    link = bob.locator("dialog#file-viewer a.file-download").get_attribute("href")
    assert bob.request.get(f"{site}{link}").body() == image
    frames = [f for f in map(json.loads, sent) if f.get("action") == "sendmessage"]
    assert len(frames) == 1 and len(frames[0]["files"]) == 2
    # Nothing is kept once it went
    alice.locator("#attachments").wait_for(state="hidden")
    assert alice.evaluate(KEPT) == []
    reloaded(alice)
    assert alice.locator("#attachments .chip").count() == 0
    assert alice.input_value("#message-input") == ""


def test_leaving_while_a_file_uploads_asks_first_and_says_what_was_lost(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    slow_uploads(alice, 50_000)  # the big one (720 KB) takes about 15 s
    alice.click("#message-input")  # the page has been used: Chromium asks only then
    alice.set_input_files(
        "#file-input",
        [
            {"name": "big.png", "mimeType": "image/png", "buffer": noise_png(600, 400)},
            {"name": "note.txt", "mimeType": "text/plain", "buffer": b"the small one\n"},
        ],
    )
    ready(alice, "note.txt")
    chip(alice, "big.png").and_(alice.locator("[data-state=uploading]")).wait_for()
    # Given a message waiting for its files
    alice.keyboard.type("Both files, please")
    alice.press("#message-input", "Enter")
    alice.locator("#attachments-note", has_text="as soon as its files are uploaded").wait_for()

    # When the tab is closed: the browser asks first (and staying keeps everything)
    asked: list[str] = []

    def stay(dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    alice.once("dialog", stay)
    alice.close(run_before_unload=True)
    alice.wait_for_timeout(200)  # the dialog is answered; the page stays
    assert asked == ["beforeunload"]
    assert not alice.is_closed()
    assert chip(alice, "big.png").get_attribute("data-state") == "uploading"

    # When the page is reloaded anyway (leaving is confirmed)
    dialogs = dialogs_of(alice)
    reloaded(alice)
    assert dialogs == ["beforeunload"]
    # Then the finished file is back and ready; the cut-off one says it was lost, and the
    # message's text is back in the box, not sent
    ready(alice, "note.txt")
    lost = chip(alice, "big.png")
    assert lost.get_attribute("data-state") == "failed"
    assert lost.locator(".chip-status").text_content() == (
        "not uploaded: the page was left before it finished. Attach it again"
    )
    note = alice.locator("#attachments-note")
    assert note.is_visible() and "when the page was left are lost" in note.text_content()
    assert alice.input_value("#message-input") == "Both files, please"
    alice.locator("#notice", has_text="still uploading when the page was left").wait_for()
    assert alice.locator("#messages li.message", has_text="Both files").count() == 0
    assert not serious(alice)
    screenshot(alice, "files-interrupted-reloaded-desktop")

    # And removing the lost one sends the rest, with the text
    lost.locator(".chip-remove").click()
    alice.press("#message-input", "Enter")
    theirs = message_with_files(bob, 1)
    assert theirs.locator(".text").text_content() == "Both files, please"
    assert theirs.locator(".file-name").text_content() == "note.txt"


def test_a_thread_reply_with_files_survives_a_reload(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Photos from the offsite?")
    open_thread_of(alice, "Photos from the offsite?")
    open_thread_of(bob, "Photos from the offsite?")
    # Given a file attached to a reply, and its text typed
    alice.set_input_files(
        "#thread-file-input",
        [{"name": "offsite.png", "mimeType": "image/png", "buffer": png(600, 400)}],
    )
    wait_thread_ready(alice, "offsite.png")
    alice.fill("#thread-input", "Here is the group photo")
    # When the page is reloaded and the thread opened again
    reloaded(alice)
    open_thread_of(alice, "Photos from the offsite?")
    # Then the reply's text and file are back, and it goes
    wait_thread_ready(alice, "offsite.png")
    assert thread_chip(alice, "offsite.png").count() == 1
    assert alice.input_value("#thread-input") == "Here is the group photo"
    alice.press("#thread-input", "Enter")
    theirs = reply_with_files(bob, 1, "Here is the group photo")
    assert theirs.locator(".file-thumb img").get_attribute("alt") == "offsite.png"
