"""Reading and driving the chat page in browser tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import DEADLINE

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Every wait of a chat page's (Playwright counts in milliseconds): it ends when its condition
# holds, and only a hang runs past it.
DEADLINE_MS = DEADLINE * 1000


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def send(page, text: str) -> None:
    """Type a message into the composer and press Enter."""
    page.fill("#message-input", text)
    page.press("#message-input", "Enter")


def shown(page) -> list[dict]:
    """The messages on the page, top to bottom: id, author, text and state classes."""
    return page.evaluate(
        """() => [...document.querySelectorAll("#messages li.message")].map((li) => ({
            id: li.dataset.id || null,
            author: li.querySelector(".author").textContent,
            text: li.querySelector(".text")?.textContent ?? null,
            pending: li.classList.contains("pending"),
            own: li.classList.contains("own"),
            deleted: li.classList.contains("deleted"),
        }))"""
    )


def record_frames(into: list[str], event: str = "framesent"):
    """A page `setup` that appends every frame its WebSockets send (or, with "framereceived",
    receive) to `into`."""
    return lambda page: page.on(
        "websocket", lambda ws: ws.on(event, lambda payload: into.append(payload))
    )


def wait_until(page, script: str, arg=None, timeout: float | None = None) -> None:
    """Wait for a JavaScript predicate on the page (polls on animation frames)."""
    page.wait_for_function(script, arg=arg, timeout=timeout)


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, context: str = "body") -> list[dict]:
    """axe-core's WCAG 2 A/AA violations on the page (within `context`): id, impact, nodes."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async (context) => {
            const result = await axe.run(context, {
                runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
            });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")),
            }));
        }""",
        context,
    )
    return found


# Chromium headless has no notification centre to look at: the page's Notification is recorded
# in window.__notes instead (window.__noteClicks[i]() clicks the i-th), and
# window.__setHidden(true) tells the page it is hidden, as a backgrounded tab would be.
_NOTIFICATIONS = """
window.__notes = [];
window.__noteClicks = [];
window.Notification = class {
  static permission = PERMISSION;
  static async requestPermission() { this.permission = "granted"; return "granted"; }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  addEventListener(type, listener) { if (type === "click") window.__noteClicks.push(listener); }
  close() {}
};
let hidden = false;
Object.defineProperty(document, "visibilityState", {
  get: () => (hidden ? "hidden" : "visible"),
});
window.__setHidden = (value) => {
  hidden = value;
  document.dispatchEvent(new Event("visibilitychange"));
};
"""


def fake_notifications(permission: str = "default"):
    """An `open_chat` setup: notifications recorded, with the permission already given or not."""
    script = _NOTIFICATIONS.replace("PERMISSION", json.dumps(permission))
    return lambda page: page.add_init_script(script)
