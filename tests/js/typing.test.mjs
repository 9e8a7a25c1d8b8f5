// The typing policy (static/chat/typing.js): at most one `typing` frame per composing burst.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  TYPING_DELAY_MS,
  TYPING_IDLE_MS,
  TYPING_MAX_ONLINE,
  TypingNotices,
} from "../../static/chat/typing.js";

/** Keystrokes every `every` ms for `duration` ms from `start`; the frames the policy sends. */
function typeFor(notices, clock, { start, duration, every = 200, online = 5 }) {
  const frames = [];
  for (let t = start; t <= start + duration; t += every) {
    clock.now = t;
    if (notices.input({ hasText: true, online })) {
      notices.sent();
      frames.push(t);
    }
  }
  return frames;
}

function fresh() {
  const clock = { now: 0 };
  return [new TypingNotices({ now: () => clock.now }), clock];
}

test("a 30-second composition is one frame (the old 3-second throttle sent 11)", () => {
  const [notices, clock] = fresh();
  const frames = typeFor(notices, clock, { start: 0, duration: 30_000 });
  assert.deepEqual(frames, [TYPING_DELAY_MS]);
  const oldPolicy = Math.floor(30_000 / 3000) + 1;
  assert.equal(oldPolicy, 11);
});

test("a quick reply sent within the delay tells nobody", () => {
  const [notices, clock] = fresh();
  assert.deepEqual(typeFor(notices, clock, { start: 0, duration: 600 }), []);
});

test("a pause as long as the idle time starts a new burst, a shorter one does not", () => {
  const [notices, clock] = fresh();
  typeFor(notices, clock, { start: 0, duration: 5_000 });
  const shortPause = typeFor(notices, clock, { start: 5_000 + TYPING_IDLE_MS - 1, duration: 3_000 });
  assert.deepEqual(shortPause, []);
  const last = clock.now;
  const longPause = typeFor(notices, clock, { start: last + TYPING_IDLE_MS, duration: 3_000 });
  assert.deepEqual(longPause, [last + TYPING_IDLE_MS + TYPING_DELAY_MS]);
});

test("an empty composer sends nothing, and a frame that could not go is tried again", () => {
  const [notices, clock] = fresh();
  clock.now = 0;
  assert.equal(notices.input({ hasText: false }), false);
  clock.now = 2_000;
  assert.equal(notices.input({ hasText: true }), true); // not sent(): the socket was closed
  clock.now = 2_200;
  assert.equal(notices.input({ hasText: true }), true);
  notices.sent();
  clock.now = 2_400;
  assert.equal(notices.input({ hasText: true }), false);
});

test("nobody is told in a room of more than the limit", () => {
  const [notices, clock] = fresh();
  const big = typeFor(notices, clock, { start: 0, duration: 5_000, online: TYPING_MAX_ONLINE + 1 });
  assert.deepEqual(big, []);
  notices.reset();
  const small = typeFor(notices, clock, { start: 10_000, duration: 5_000, online: TYPING_MAX_ONLINE });
  assert.deepEqual(small, [10_000 + TYPING_DELAY_MS]);
});
