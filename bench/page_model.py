"""The chat page's policies for the frames it sends by itself, in Python, for clients that cost
what the page costs (`make cost`, issue 24). Each mirrors a module of `static/chat/`, and
tests/bench/test_page_model.py runs both on the same inputs and requires the same answers.

- TypingNotices: static/chat/typing.js (one `typing` frame per composing burst).
- KEEPALIVE_MS, ANSWERED_ACTIONS: static/chat/connection.js (the only pings: one after
  KEEPALIVE_MS without a frame of those actions sent; each carries what was read since the last
  mark).
- MARK_FIRST_MS: static/chat/chat.js (the `markread` soon after a room is shown).
"""

from __future__ import annotations

import math

# static/chat/connection.js, chat.js
KEEPALIVE_MS = 7 * 60_000
ANSWERED_ACTIONS = ("ping", "sendmessage")
MARK_FIRST_MS = 300

# static/chat/typing.js
TYPING_IDLE_MS = 10_000
TYPING_DELAY_MS = 1_000
TYPING_MAX_ONLINE = 20


class TypingNotices:
    def __init__(self, now) -> None:
        self.now = now
        self.burst_start: float | None = None
        self.last_input = -math.inf
        self.told = False

    def input(self, *, has_text: bool, online: int = 0) -> bool:
        now = self.now()
        if self.burst_start is None or now - self.last_input >= TYPING_IDLE_MS:
            self.burst_start = now
            self.told = False
        self.last_input = now
        return (
            has_text
            and not self.told
            and online <= TYPING_MAX_ONLINE
            and now - self.burst_start >= TYPING_DELAY_MS
        )

    def sent(self) -> None:
        self.told = True

    def reset(self) -> None:
        self.burst_start = None
        self.told = False
        self.last_input = -math.inf
