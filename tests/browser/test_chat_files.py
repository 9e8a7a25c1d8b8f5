"""Files in the chat page, through the local stack (the site, the local S3, the thumbnail
function): attached by the paperclip and by paste, uploaded with progress, then "checking…",
then sent; the other person sees the thumbnail, opens the viewer and downloads the original
byte for byte; a refused file says why and sends nothing; a cancelled upload leaves nothing; at
desktop and phone widths, with axe-core."""

from __future__ import annotations

import base64
import io

import pytest

from tests.browser.chatpage import axe_violations, record_frames, screenshot, wait_until

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Every chip state a page showed, in order (a MutationObserver sees each one, however fast the
# local upload is).
WATCH_CHIPS = """
window.__chipStates = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    const chip = change.target.closest?.(".chip");
    if (chip && change.attributeName === "data-state") {
      window.__chipStates.push([chip.querySelector(".chip-name").textContent, chip.dataset.state]);
    }
  }
}).observe(document.getElementById("attachments"), {
  subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"],
});
"""


def png(width: int, height: int) -> bytes:
    """A real PNG with something to see in it (a gradient and a bar)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(width):
        draw.line([(x, 0), (x, height)], fill=(40 + x * 180 // width, 90, 200 - x * 120 // width))
    draw.rectangle([width // 8, height // 3, width * 5 // 8, height // 2], fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def serious(page, context: str = "body") -> list[dict]:
    return [v for v in axe_violations(page, context) if v["impact"] in ("serious", "critical")]


def watch_chips(page) -> None:
    page.evaluate(WATCH_CHIPS)


def chip(page, name: str):
    return page.locator("#attachments .chip", has=page.locator(".chip-name", has_text=name))


def wait_ready(page, name: str) -> None:
    chip(page, name).and_(page.locator("[data-state=ready]")).wait_for()


def message_with_files(page, count: int):
    message = page.locator("#messages li.message:not(.pending):has(> .files:not([hidden]))")
    wait_until(
        page,
        """(n) => [...document.querySelectorAll("#messages li.message:not(.pending) .files")]
              .some((box) => !box.hidden && box.childElementCount === n)""",
        count,
    )
    return message.last


def thumbnail_loaded(page) -> None:
    wait_until(
        page,
        """() => [...document.querySelectorAll("#messages .file-thumb img")]
              .some((img) => img.complete && img.naturalWidth > 0)""",
    )


def slow_uploads(page, bytes_per_second: int) -> None:
    """Chromium's own network throttling: uploads take long enough to watch (and cancel)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def test_button_upload_progress_thumbnail_viewer_and_download(open_chat, room, site):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    image = png(1200, 800)
    notes = (b"Release notes\n\n- files in messages\n- thumbnails\n" * 60)[:2048]
    watch_chips(alice)
    slow_uploads(alice, 400_000)  # about a quarter of a second for the image: progress shows

    # Given two files attached by the paperclip's file input (several at once)
    with alice.expect_file_chooser() as chooser:
        alice.click("#attach")
    assert alice.get_attribute("#attach", "aria-label") == "Attach files"
    chooser.value.set_files(
        [
            {"name": "release-diagram.png", "mimeType": "image/png", "buffer": image},
            {"name": "release-notes.txt", "mimeType": "text/plain", "buffer": notes},
        ]
    )
    chip(alice, "release-diagram.png").wait_for()
    alice.fill("#message-input", "The diagram and the notes")
    # When Alice presses Enter before the uploads are done, the message waits for them
    alice.press("#message-input", "Enter")
    assert alice.input_value("#message-input") == ""
    alice.locator("#attachments-note", has_text="as soon as its files are uploaded").wait_for()
    assert alice.locator("#messages li.message.pending").count() == 0

    # Then it goes with both files once each was uploaded (with progress) and checked
    mine = message_with_files(alice, 2)
    alice.locator("#attachments").wait_for(state="hidden")
    states = [s for name, s in alice.evaluate("window.__chipStates") if name.endswith(".png")]
    assert states[-3:] == ["uploading", "checking", "ready"], states
    assert mine.locator(".text").text_content() == "The diagram and the notes"

    # Bob sees the thumbnail (its box sized from the image: 320 × 213) and the notes' card
    theirs = message_with_files(bob, 2)
    thumbnail_loaded(bob)
    thumb = theirs.locator(".file-thumb img")
    assert thumb.get_attribute("alt") == "release-diagram.png"
    assert (thumb.get_attribute("width"), thumb.get_attribute("height")) == ("320", "213")
    card = theirs.locator(".file-card")
    assert card.locator(".file-name").text_content() == "release-notes.txt"
    assert card.locator(".file-details").text_content() == "2 KB · Text"
    screenshot(alice, "files-message-desktop")

    # He opens the viewer: modal, named, focus inside; Escape closes it and focus comes back
    theirs.locator(".file-thumb").click()
    viewer = bob.locator("dialog#file-viewer[open]")
    viewer.wait_for()
    assert bob.evaluate("document.activeElement.classList.contains('file-viewer-close')")
    wait_until(bob, "() => document.querySelector('#file-viewer img').naturalWidth === 1200")
    assert viewer.locator("img").get_attribute("alt") == "release-diagram.png"
    assert viewer.locator("h2").text_content() == "release-diagram.png"
    assert not serious(bob)
    screenshot(bob, "files-viewer-desktop")
    bob.keyboard.press("Tab")  # focus goes round inside the dialog
    assert bob.evaluate("document.activeElement.matches('#file-viewer a.file-download')")
    bob.keyboard.press("Shift+Tab")
    assert bob.evaluate("document.activeElement.matches('#file-viewer .file-viewer-close')")
    original = viewer.locator("a.file-download").get_attribute("href")
    bob.keyboard.press("Escape")
    viewer.wait_for(state="detached")
    assert bob.evaluate("document.activeElement.classList.contains('file-thumb')")

    # And downloads both originals byte for byte, through the site's short-lived links
    assert bob.request.get(f"{site}{original}").body() == image
    card_link = card.locator("a.file-download").get_attribute("href")
    assert bob.request.get(f"{site}{card_link}").body() == notes
    assert not serious(bob)

    # The thread panel shows the files too (its list is the same MessageList)
    theirs.hover()
    theirs.locator("button.reply").click()
    parent = bob.locator("#thread-messages li.message", has_text="The diagram and the notes")
    parent.locator(".file-thumb img[alt='release-diagram.png']").wait_for()
    assert parent.locator(".file-card .file-name").text_content() == "release-notes.txt"
    screenshot(bob, "files-thread-desktop")


def test_a_pasted_screenshot_is_sent_without_a_caption(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    shot = base64.b64encode(png(640, 360)).decode()

    # Given a screenshot pasted into the message box (the clipboard's file, no text)
    alice.focus("#message-input")
    alice.evaluate(
        """(data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
            const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true,
                                                        cancelable: true });
            document.getElementById("message-input").dispatchEvent(paste);
        }""",
        shot,
    )
    wait_ready(alice, "image.png")
    assert alice.input_value("#message-input") == ""
    # When Alice sends it with nothing typed
    alice.press("#message-input", "Enter")
    # Then Bob gets the image alone
    theirs = message_with_files(bob, 1)
    thumbnail_loaded(bob)
    assert theirs.locator(".text").text_content() == ""
    assert theirs.locator(".file-thumb img").get_attribute("alt") == "image.png"


# A drag of files over the room, then their drop: `drag(type)` dispatches one event of it.
DRAG = """(type) => {
    if (!window.__drag) {
        window.__drag = new DataTransfer();
        const file = new File(["dropped text\\n"], "dropped.txt", { type: "text/plain" });
        window.__drag.items.add(file);
    }
    const init = { dataTransfer: window.__drag, bubbles: true, cancelable: true };
    document.querySelector("#messages").dispatchEvent(new DragEvent(type, init));
}"""


def test_files_dropped_on_the_room_are_attached(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    # Given a file dragged over the room: the drop target shows
    alice.evaluate(DRAG, "dragenter")
    alice.evaluate(DRAG, "dragover")
    assert alice.locator("#drop-target").is_visible()
    # When it is dropped: it is attached, and the target goes
    alice.evaluate(DRAG, "drop")
    alice.locator("#drop-target").wait_for(state="hidden")
    wait_ready(alice, "dropped.txt")
    alice.press("#message-input", "Enter")
    mine = message_with_files(alice, 1)
    assert mine.locator(".file-name").text_content() == "dropped.txt"


def test_a_refused_file_says_why_and_nothing_is_sent(open_chat, room):
    sent: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(sent), viewport=DESKTOP)
    # Given a program, and text renamed to .png (refused by its content once uploaded)
    alice.set_input_files(
        "#file-input",
        [
            {"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" * 50},
            {"name": "holiday.png", "mimeType": "image/png", "buffer": b"not an image at all\n"},
        ],
    )
    exe, fake = chip(alice, "setup.exe"), chip(alice, "holiday.png")
    exe.and_(alice.locator("[data-state=failed]")).wait_for()
    fake.and_(alice.locator("[data-state=failed]")).wait_for()
    assert exe.locator(".chip-status").text_content() == "type not allowed"
    assert fake.locator(".chip-status").text_content().startswith("rejected: ")
    assert alice.locator("#attachments-note").is_visible()

    # When she tries to send: nothing goes, and she is told why
    alice.fill("#message-input", "Look at this")
    alice.press("#message-input", "Enter")
    alice.locator("#notice", has_text="could not be attached").wait_for()
    assert alice.input_value("#message-input") == "Look at this"
    assert not [f for f in sent if '"sendmessage"' in f]
    # The whole page: the composer with its chips and their errors, and the empty room's list
    # (a group until its first message, not an empty feed).
    assert not serious(alice)
    screenshot(alice, "files-refused-desktop")

    # Then removing both lets the text go alone
    exe.locator(".chip-remove").click()
    fake.locator(".chip-remove").click()
    alice.locator("#attachments").wait_for(state="hidden")
    alice.press("#message-input", "Enter")
    alice.locator("#messages li.message:not(.pending)", has_text="Look at this").wait_for()
    frames = [f for f in sent if '"sendmessage"' in f]
    assert len(frames) == 1 and '"files"' not in frames[0], frames


def test_cancelling_an_upload_removes_it_and_sends_the_rest(open_chat, room):
    sent: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(sent), viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    slow_uploads(alice, 100_000)
    big = png(2400, 1800)  # large enough to be caught on its way at this speed
    small = b"just a small note\n"
    alice.set_input_files(
        "#file-input",
        [
            {"name": "big.png", "mimeType": "image/png", "buffer": big},
            {"name": "note.txt", "mimeType": "text/plain", "buffer": small},
        ],
    )
    # Given the big one on its way, with its progress shown
    chip(alice, "big.png").and_(alice.locator("[data-state=uploading]")).wait_for()
    remove = chip(alice, "big.png").locator(".chip-remove")
    assert remove.get_attribute("aria-label") == "Cancel the upload of big.png"
    # When Alice cancels it and sends
    remove.click()
    chip(alice, "big.png").wait_for(state="detached")
    wait_ready(alice, "note.txt")
    alice.fill("#message-input", "Only the note")
    alice.press("#message-input", "Enter")
    # Then only the note goes
    theirs = message_with_files(bob, 1)
    assert theirs.locator(".file-name").text_content() == "note.txt"
    frames = [f for f in sent if '"sendmessage"' in f]
    assert len(frames) == 1 and frames[0].count('"files"') == 1, frames


@pytest.mark.parametrize("viewport", {"desktop": DESKTOP, "phone": PHONE})
def test_screenshots_of_chips_files_and_viewer(open_chat, room, viewport):
    """The composer with chips (ready, checking or uploading, refused), a message with an image
    and a file card, and the viewer: looked at, and checked by axe-core."""
    alice = open_chat(room, "alice", viewport={"desktop": DESKTOP, "phone": PHONE}[viewport])
    alice.set_input_files(
        "#file-input",
        [
            {"name": "screenshot.png", "mimeType": "image/png", "buffer": png(900, 1200)},
            {"name": "budget-2027.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n" * 300},
        ],
    )
    wait_ready(alice, "screenshot.png")
    wait_ready(alice, "budget-2027.csv")
    alice.fill("#message-input", "Here is the **portrait** screenshot and the budget")
    alice.press("#message-input", "Enter")
    message_with_files(alice, 2)
    thumbnail_loaded(alice)
    # A second message's files in the composer: one ready, one refused.
    alice.set_input_files(
        "#file-input",
        [
            {"name": "diagram.png", "mimeType": "image/png", "buffer": png(800, 450)},
            {"name": "installer.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
        ],
    )
    wait_ready(alice, "diagram.png")
    chip(alice, "installer.exe").and_(alice.locator("[data-state=failed]")).wait_for()
    assert not serious(alice)
    screenshot(alice, f"files-composer-{viewport}")
    alice.locator("#messages .file-thumb").last.click()
    alice.locator("dialog#file-viewer[open]").wait_for()
    wait_until(alice, "() => document.querySelector('#file-viewer img').naturalWidth > 0")
    assert not serious(alice)
    screenshot(alice, f"files-viewer-{viewport}")
