"""Reading and driving the chat page in browser tests."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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


def wait_until(page, script: str, arg=None, timeout: float = 10_000) -> None:
    """Wait for a JavaScript predicate on the page (polls on animation frames)."""
    page.wait_for_function(script, arg=arg, timeout=timeout)
