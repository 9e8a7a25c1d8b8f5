"""bench/page_model.py answers as the page's own modules do: both run the same generated input
sequences (the JS under node) and must agree on every decision."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

from bench.page_model import (
    ANSWERED_ACTIONS,
    KEEPALIVE_MS,
    MARK_FIRST_MS,
    TYPING_MAX_ONLINE,
    TypingNotices,
)

ROOT = Path(__file__).resolve().parents[2]

# Reads [[event, …], …] on stdin; each event is {"t", "kind": "input"|"sent"|"reset", …};
# writes what each `input` answered.
TYPING_DRIVER = """
import { TypingNotices } from "./static/chat/typing.js";
let text = "";
for await (const chunk of process.stdin) text += chunk;
const answers = JSON.parse(text).map((events) => {
  let now = 0;
  const notices = new TypingNotices({ now: () => now });
  return events.map((e) => {
    now = e.t;
    if (e.kind === "input") return notices.input({ hasText: e.hasText, online: e.online });
    if (e.kind === "sent") notices.sent();
    else notices.reset();
    return null;
  });
});
process.stdout.write(JSON.stringify(answers));
"""


def page_answers(driver: str, cases: list) -> list:
    """What a node module script (reading JSON `cases` on stdin, writing JSON) answers."""
    js = subprocess.run(
        ["node", "--input-type=module", "-e", driver],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return json.loads(js.stdout)


def sequences(count: int, seed: int = 24) -> list[list[dict]]:
    """Keystrokes at human and machine speeds, pauses around the policy's thresholds, sends
    that go or fail, an empty composer, crowded rooms and room changes."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        t, events = 0, []
        for _ in range(rng.randint(1, 60)):
            t += rng.choice([0, 1, 50, 200, 999, 1000, 1001, 3000, 9999, 10_000, 10_001, 30_000])
            kind = rng.choices(["input", "sent", "reset"], weights=[10, 3, 1])[0]
            event = {"t": t, "kind": kind}
            if kind == "input":
                event |= {"hasText": rng.random() < 0.85, "online": rng.choice([0, 5, 20, 21, 100])}
            events.append(event)
        found.append(events)
    return found


def python_answers(events: list[dict]) -> list[bool | None]:
    clock = [0]
    notices = TypingNotices(lambda: clock[0])
    answers = []
    for event in events:
        clock[0] = event["t"]
        if event["kind"] == "input":
            answers.append(notices.input(has_text=event["hasText"], online=event["online"]))
            continue
        notices.sent() if event["kind"] == "sent" else notices.reset()
        answers.append(None)
    return answers


def test_typing_notices_agree_with_the_page():
    cases = sequences(300)
    page = page_answers(TYPING_DRIVER, cases)
    ours = [python_answers(events) for events in cases]
    assert ours == page
    decided = [a for answers in ours for a in answers if a is not None]
    assert any(decided) and not all(decided)  # the inputs reach both answers


def test_the_keep_alive_and_the_first_read_mark_are_the_pages():
    """The model pings when the page does (connection.js's interval, counted from the last
    frame the server answers) and marks a room
    read as soon after it is shown (chat.js), and chat.js sends no ping per change heard."""
    driver = """
    import { ANSWERED_ACTIONS, DEFAULT_TIMINGS } from "./static/chat/connection.js";
    process.stdout.write(JSON.stringify([DEFAULT_TIMINGS.pingIntervalMs, ANSWERED_ACTIONS]));
    """
    assert page_answers(driver, []) == [KEEPALIVE_MS, list(ANSWERED_ACTIONS)]
    chat = (ROOT / "static" / "chat" / "chat.js").read_text()
    assert re.search(r"^const MARK_FIRST_MS = (\d+);$", chat, re.M).group(1) == str(MARK_FIRST_MS)
    # The pings the page sends: the keep-alive's, a repair's after a reconnect, and one when it
    # is shown again: never one for each change it hears.
    assert chat.count("connection.ping()") == 2


def test_the_page_and_the_server_stop_typing_notices_at_the_same_size():
    from lambdas.services.messages import TYPING_MAX_RECIPIENTS

    driver = """
    import { TYPING_MAX_ONLINE } from "./static/chat/typing.js";
    process.stdout.write(JSON.stringify(TYPING_MAX_ONLINE));
    """
    assert page_answers(driver, []) == TYPING_MAX_ONLINE == TYPING_MAX_RECIPIENTS
