// The outbox's state machine (static/chat/outbox.js), on a fake clock and a fake socket.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Outbox } from "../../static/chat/outbox.js";

class Clock {
  constructor() {
    this.time = 1_000_000;
    this.timers = new Map();
    this.next = 1;
  }
  now = () => this.time;
  setTimeout = (fn, ms) => {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  };
  clearTimeout = (id) => { this.timers.delete(id); };
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
  }
}

class MemoryStorage {
  constructor() { this.items = new Map(); }
  get length() { return this.items.size; }
  key(i) { return [...this.items.keys()][i] ?? null; }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
}

function make({ storage = new MemoryStorage(), clock = new Clock(), live = true, ids } = {}) {
  const sent = [];
  const changes = [];
  let n = 0;
  const socket = { up: live };
  const outbox = new Outbox({
    send: (frame) => (socket.up ? (sent.push(frame), true) : false),
    onChange: (entry, change) => changes.push({ id: entry.id, state: entry.state, ...change }),
    storage,
    key: "t",
    now: clock.now,
    timers: clock,
    newId: () => (ids ? ids.shift() : `c${++n}`),
  });
  if (live) outbox.opened();
  return { outbox, sent, changes, clock, storage, socket };
}

const texts = (frames) => frames.map((f) => f.message);

test("one send in flight at a time, in the order written", () => {
  const { outbox, sent } = make();
  outbox.add("a");
  outbox.add("b");
  outbox.add("c");
  assert.deepEqual(texts(sent), ["a"]);
  assert.equal(outbox.get("c2").state, "pending");
  outbox.acknowledged("c1");
  assert.deepEqual(texts(sent), ["a", "b"]);
  outbox.acknowledged("c2");
  outbox.acknowledged("c3");
  assert.deepEqual(texts(sent), ["a", "b", "c"]);
  assert.deepEqual(outbox.list(), []);
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c2", "c3"]);
});

test("a rate-limited send waits retry_after, goes again with its id, and holds the rest", () => {
  const { outbox, sent, clock } = make();
  outbox.add("a");
  outbox.add("b");
  outbox.refused("c1", { code: "rate_limited", retryAfter: 0.4 });
  assert.equal(outbox.get("c1").state, "waiting");
  assert.equal(outbox.get("c1").reason, "rate_limited");
  assert.equal(outbox.get("c2").state, "waiting"); // behind it, for the same reason
  assert.equal(sent.length, 1);
  clock.advance(399);
  assert.equal(sent.length, 1);
  clock.advance(1);
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c1"]);
  outbox.acknowledged("c1");
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c1", "c2"]);
});

test("a refusal that retrying cannot fix fails for good and the next send goes", () => {
  const { outbox, sent, clock } = make();
  outbox.add("hi @stranger");
  outbox.add("b");
  outbox.refused("c1", { code: "invalid_mention", message: "@stranger is not a member" });
  const failed = outbox.get("c1");
  assert.equal(failed.state, "failed");
  assert.equal(failed.code, "invalid_mention");
  assert.equal(failed.text, "hi @stranger");
  assert.deepEqual(texts(sent), ["hi @stranger", "b"]);
  // Never sent again by a reconnect or a timer.
  outbox.closed();
  outbox.opened();
  clock.advance(120_000);
  assert.equal(texts(sent).filter((t) => t === "hi @stranger").length, 1);
  assert.equal(outbox.get("c1").state, "failed");
  // Retry sends it, with the same id; discard takes it out.
  outbox.acknowledged("c2");
  outbox.retry("c1");
  assert.equal(sent.at(-1).clientMessageId, "c1");
  outbox.refused("c1", { code: "invalid_mention" });
  assert.equal(outbox.discard("c1").text, "hi @stranger");
  assert.deepEqual(outbox.list(), []);
});

test("unavailable backs off and gives up after its attempts", () => {
  const { outbox, sent, clock } = make();
  outbox.add("a");
  for (let attempt = 0; attempt < 6; attempt += 1) {
    outbox.refused("c1", { code: "unavailable" });
    assert.equal(outbox.get("c1").state, "waiting");
    clock.advance(outbox.get("c1").retryAt - clock.time); // 1, 2, 4 … 30 s
  }
  outbox.refused("c1", { code: "unavailable" });
  assert.equal(outbox.get("c1").state, "failed");
  assert.equal(sent.length, 7);
});

test("a send waiting out `unavailable` goes at once on a new socket (maybe another Region's)", () => {
  const { outbox, sent } = make();
  outbox.add("a");
  outbox.refused("c1", { code: "unavailable" });
  outbox.refused("c1", { code: "unavailable" });
  assert.equal(outbox.get("c1").reason, "unavailable");
  assert.equal(sent.length, 1); // its second try waits 2 s
  outbox.opened(); // the planned hand-over: the old socket is not lost first
  assert.equal(sent.length, 2);
  assert.equal(outbox.get("c1").state, "pending");
  assert.equal(sent[1].clientMessageId, "c1");
});

test("offline sends wait, and go in order once a socket is live", () => {
  const { outbox, sent, socket } = make({ live: false });
  outbox.add("a");
  outbox.add("b");
  assert.equal(outbox.get("c1").reason, "offline");
  assert.equal(sent.length, 0);
  socket.up = true;
  outbox.opened();
  assert.deepEqual(texts(sent), ["a"]);
  // The socket dies with "a" in flight: it goes again on the next one.
  socket.up = false;
  outbox.closed();
  assert.equal(outbox.get("c1").reason, "offline");
  socket.up = true;
  outbox.opened();
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c1"]);
});

test("not_connected waits for the replacing socket, not a timer", () => {
  const { outbox, sent, clock } = make();
  outbox.add("a");
  outbox.refused("c1", { code: "not_connected" });
  clock.advance(60_000);
  assert.equal(sent.length, 1);
  outbox.opened();
  assert.equal(sent.length, 2);
});

test("region_moved keeps the send, never failed, and sends it once on the next socket", () => {
  const { outbox, sent, changes, clock } = make();
  outbox.add("a");
  outbox.refused("c1", { code: "region_moved", message: "reconnect" });
  outbox.closed(); // the server closes the socket after telling it
  clock.advance(60_000);
  assert.equal(sent.length, 1);
  assert.ok(!changes.some((change) => change.state === "failed"));
  outbox.opened(); // the page reconnected through the domain, to the active Region
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c1"]);
});

test("an unanswered send goes again after the ack timeout, with the same id", () => {
  const { outbox, sent, clock } = make();
  outbox.add("a");
  clock.advance(15_000);
  assert.deepEqual(sent.map((f) => f.clientMessageId), ["c1", "c1"]);
});

test("unsent messages survive a reload and are sent once; failed ones stay failed", () => {
  const storage = new MemoryStorage();
  const clock = new Clock();
  const first = make({ storage, clock, live: false });
  first.outbox.add("queued 1");
  first.outbox.add("queued 2");
  first.outbox.add("bad");
  first.outbox.get("c3").state = "failed"; // as a refusal would leave it
  first.outbox.setState(first.outbox.get("c3"), "failed", { code: "invalid_mention", message: "no" });
  const second = make({ storage, clock, live: false });
  second.outbox.restore();
  assert.deepEqual(second.outbox.list().map((e) => [e.id, e.text, e.state]), [
    ["c1", "queued 1", "waiting"],
    ["c2", "queued 2", "waiting"],
    ["c3", "bad", "failed"],
  ]);
  second.socket.up = true;
  second.outbox.opened();
  second.outbox.acknowledged("c1");
  second.outbox.acknowledged("c2");
  assert.deepEqual(second.sent.map((f) => f.clientMessageId), ["c1", "c2"]);
  assert.deepEqual([...storage.items.keys()], ["t.c3"]);
});

test("a restored message older than the receipt's safe age is not sent by itself", () => {
  const storage = new MemoryStorage();
  const clock = new Clock();
  make({ storage, clock, live: false }).outbox.add("old");
  clock.advance(13 * 60 * 60_000);
  const later = make({ storage, clock });
  later.outbox.restore();
  assert.equal(later.outbox.get("c1").state, "failed");
  assert.equal(later.outbox.get("c1").code, "expired");
  assert.equal(later.sent.length, 0);
});

test("another tab's copy of a send clears it from storage too", () => {
  const { outbox, storage } = make({ live: false });
  outbox.add("a");
  const other = make({ storage });
  other.outbox.restore();
  assert.equal(outbox.acknowledged("c1"), true);
  assert.equal(storage.length, 0);
});

test("a message with files sends their ids, with its clientMessageId, again the same on retry", () => {
  const { outbox, sent, clock } = make();
  const files = [
    { id: "up1", name: "a.png", size: 10, type: "image/png", progress: 1 },
    { id: "up2", name: "b.pdf", size: 20, type: "application/pdf" },
  ];
  outbox.add("", { files });
  clock.advance(15_000); // unanswered: sent again, the same frame
  assert.deepEqual(sent, [
    { action: "sendmessage", message: "", clientMessageId: "c1", files: ["up1", "up2"] },
    { action: "sendmessage", message: "", clientMessageId: "c1", files: ["up1", "up2"] },
  ]);
  assert.deepEqual(outbox.get("c1").files[0], { id: "up1", name: "a.png", size: 10, type: "image/png" });
  outbox.add("plain");
  outbox.acknowledged("c1");
  assert.deepEqual(sent.at(-1), { action: "sendmessage", message: "plain", clientMessageId: "c2" });
});

test("a message's files survive a reload with it", () => {
  const storage = new MemoryStorage();
  const clock = new Clock();
  make({ storage, clock, live: false }).outbox.add("caption", {
    files: [{ id: "up1", name: "a.png", size: 10, type: "image/png" }],
  });
  const later = make({ storage, clock });
  later.outbox.restore();
  assert.deepEqual(later.sent, [
    { action: "sendmessage", message: "caption", clientMessageId: "c1", files: ["up1"] },
  ]);
  assert.equal(later.outbox.get("c1").files[0].name, "a.png");
});
