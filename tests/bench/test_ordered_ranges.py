"""bench/ordered.py's RoomLog takes a Region's takeover (10^6 numbers called empty at once) in
one step, as the page must: the drill's pages would otherwise note a million numbers one by
one on the event loop."""

from __future__ import annotations

import time

from bench.ordered import RoomLog


def loaded(position: int) -> RoomLog:
    log = RoomLog()
    log.receive({"type": "history", "messages": [], "rev": position}, now=0)
    return log


def test_an_empty_range_from_the_position_moves_it_in_one_step():
    log = loaded(3)
    jumped = 3 + 1_000_000
    log.receive({"type": "message", "id": "m", "rev": jumped + 1, "seq": 4}, now=0)
    assert log._gap() and log.position == 3
    started = time.perf_counter()
    log.receive(
        {"type": "history", "since": 3, "messages": [], "empty": [[4, jumped]], "to": jumped + 1},
        now=1,
    )
    assert time.perf_counter() - started < 0.05  # 10^6 numbers noted one by one: ~1 s
    assert log.position == jumped + 1 and not log.ahead and not log._gap()


def test_a_range_beyond_a_gap_is_noted_and_the_gap_stays():
    log = loaded(3)
    log.receive({"type": "changes", "messages": [], "empty": [[6, 8]]}, now=0)
    assert log.position == 3 and log.ahead == {6, 7, 8} and log._gap()
    log.receive({"type": "changes", "messages": [], "empty": [[4, 5]]}, now=0)
    assert log.position == 8 and not log.ahead
