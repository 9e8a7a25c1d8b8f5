// Threads on the page without the DOM (static/chat/thread-summary.js): where a frame goes, and
// what a parent's summary says.
import assert from "node:assert/strict";
import { test } from "node:test";

import { agoText, placeOf, replierNames, summaryText } from "../../static/chat/thread-summary.js";

test("a message goes to the room, a reply to its thread, an in-room reply to both", () => {
  assert.deepEqual(placeOf({ id: "A" }), { room: true, thread: null });
  assert.deepEqual(placeOf({ id: "B", thread: "A" }), { room: false, thread: "A" });
  assert.deepEqual(placeOf({ id: "C", thread: "A", in_room: true }), { room: true, thread: "A" });
  assert.deepEqual(placeOf({ id: "D", thread: "" }), { room: true, thread: null });
});

test("times since the last reply read as people say them", () => {
  const now = Date.parse("2026-12-07T12:00:00Z");
  assert.equal(agoText(now - 20_000, now), "just now");
  assert.equal(agoText(now - 3 * 60_000, now), "3 min ago");
  assert.equal(agoText(now - 2 * 3_600_000, now), "2 h ago");
  assert.equal(agoText(now - 30 * 3_600_000, now), "yesterday");
  assert.equal(agoText(now - 4 * 86_400_000, now), "4 days ago");
  assert.equal(agoText(now + 5_000, now), "just now"); // a clock slightly behind the server's
});

test("the summary counts replies and says when the last came", () => {
  const now = Date.parse("2026-12-07T12:00:00Z");
  assert.equal(summaryText(undefined, now), null);
  assert.equal(summaryText({ count: 0 }, now), null);
  assert.equal(summaryText({ count: 1, last_at: "2026-12-07T11:59:50Z" }, now),
    "1 reply · last reply just now");
  assert.equal(summaryText({ count: 3, last_at: "2026-12-07T11:55:00Z" }, now),
    "3 replies · last reply 5 min ago");
  assert.equal(summaryText({ count: 2 }, now), "2 replies");
  assert.deepEqual(
    replierNames({ users: [{ username: "cy" }, { username: "bob" }, {}, { username: "a" },
      { username: "z" }] }),
    ["cy", "bob", "a"],
  );
});
